"""`chorusctl`: run Chorus locally and drive it.

Every command prints for people by default and, with `--json`, one JSON
document for scripts. Client commands talk to the gateway named by `--gateway`
(default: `gateway.host` and `gateway.port` of the configuration).

Exit codes: 0 success, 1 the operation failed (service unreachable, refused,
nothing received), 2 bad usage or bad configuration; `status` also exits 3 when
the stack serves but is degraded (a node stale or not ready).

Credentials travel with the commands (`chorus.credentials`): operations (`status`,
`drain`) send an operator token; `spaces create` keeps the space's host secret and
`spaces end`, `spaces promote` and `speak` (as the host) send it. Text that others
wrote (titles, user names) is printed with control characters escaped (`chorus.text`).

The commands live by group, one module each: `chorus.cli.supervision` (`up`),
`chorus.cli.monitoring` (`monitor`, `alerts`, `query`), `chorus.cli.operations`
(`status`, `drain`, `token`), `chorus.cli.spaces`, `chorus.cli.configuration`
(`config`), `chorus.cli.media` (`speak`, `listen`, `presence`, `tone`) and
`chorus.cli.load` (`capacity`, `loadgen`); what they share is in
`chorus.cli.common`. `chorus.cli.main` is the `chorusctl` entry point.
"""

from __future__ import annotations

from chorus.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
