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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from chorus import __version__
from chorus.audio import AudioError, OpusEncoder, Timeline, frames_of, load_pcm, reference_signal, write_wav
from chorus.catalog import CatalogError, compared_services, load_catalog, port_disagreements
from chorus.client import GatewayClient, GatewayError, Listener, Speaker
from chorus.config import ENV_PREFIX, ChorusConfig, ConfigError, default_config_path, load_config
from chorus.credentials import HostSecrets, operator_token_for
from chorus.ids import is_space_id
from chorus.loadgen import (
    CLOSE_TIMEOUT_S,
    HARD_MAX_CLIENTS,
    HARD_MAX_SECONDS,
    MAX_JOINS_IN_FLIGHT,
    OFFERED_SHARE_REQUIRED,
    SCENARIOS,
)
from chorus.protocol import Frame
from chorus.text import printable
from chorus.tokens import SigningKeyError, SigningKeyMissing, resolve_signing_key

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DEGRADED = 3
"""`chorusctl status`: the stack serves, but a node is stale or not ready."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit with code 2 and a hint."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print usage and the error, then exit 2."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class CommandError(Exception):
    """A command failed; the message is printed as `error: ...` and the exit code is `code`.

    Attributes:
        code: The exit code.
    """

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    """Build the `chorusctl` parser (the handbook's CLI reference is generated from it).

    Returns:
        The parser with every command.
    """
    parser = _Parser(
        prog="chorusctl",
        description="Run Chorus, the live-audio spaces stack, on this machine and drive it: start the "
        "services, create spaces, speak and listen with real audio, drain fan-out nodes, check the "
        "configuration.",
        epilog="Exit codes: 0 success, 1 the operation failed, 2 bad usage or bad configuration (`status` also "
        "3: degraded, see its help). "
        f"Any configuration key can be overridden from the environment, e.g. {ENV_PREFIX}FANOUT__LISTENER_CAP=10.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="the configuration file (default: $CHORUS_CONFIG, else stack/config/chorus.yaml)",
    )
    # Options shared by commands, as parent parsers: `client` for those that talk to the gateway, `output`
    # for those that only print; both take `--json`.
    client = argparse.ArgumentParser(add_help=False)
    client.add_argument("--gateway", metavar="URL", default=None,
                        help="the gateway's URL (default: http://gateway.host:gateway.port from the configuration)")
    output = argparse.ArgumentParser(add_help=False)
    for shared in (client, output):
        shared.add_argument("--json", action="store_true", help="print one JSON document instead of text")

    # Options of the monitor (Prometheus + Alertmanager beside the stack), shared by `up --monitor` and `monitor`.
    watch = argparse.ArgumentParser(add_help=False)
    watch.add_argument("--prometheus-port", type=int, default=0, metavar="PORT",
                       help="Prometheus's port on 127.0.0.1 (default: a free one, printed)")
    watch.add_argument("--alertmanager-port", type=int, default=0, metavar="PORT",
                       help="Alertmanager's port on 127.0.0.1 (default: a free one, printed)")
    watch.add_argument("--time-scale", type=float, default=1.0, metavar="F",
                       help="run the alert rules F times faster: every for: and rate window, and the scrape and "
                       "evaluation intervals, divided by F (default: 1, production's timing)")
    watch.add_argument("--rules", type=Path, default=None, metavar="FILE",
                       help="the alerting rules to load (default: stack/deploy/prometheus/alerts.yaml)")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    up = commands.add_parser(
        "up", parents=[watch], help="run the gateway, the fan-out nodes and the packager in the foreground, restarting any that dies",
        description="Start the gateway, fanout.nodes origin fan-out nodes, fanout.edges edge nodes and the HLS "
        "packager on this machine from the configuration, each as its own process in its own process group, "
        "with their logs in this terminal, and supervise them. `ready` is printed once every process it started "
        "answers its readiness check with the instance id up gave it (never for another stack on the same "
        "ports); a failure during start-up stops everything (exit 1). A service that dies afterwards is "
        "reported ('chorus up: NAME died (pid P, killed by SIGKILL) after T s; restarting in D s'), the others "
        "keep running, and it is started again after supervisor.restart_delay_s, doubled while it keeps dying "
        "within supervisor.stable_after_s, up to supervisor.restart_delay_max_s ('NAME restarted', then "
        "'NAME ready again'). Ctrl-C or SIGTERM stops every process group (SIGTERM, then SIGKILL after "
        "supervisor.stop_timeout_s) and exits 0.",
        epilog="Exit codes: 0 stopped on Ctrl-C or SIGTERM; 1 a service failed to start, or the gateway died more "
        "than supervisor.gateway_max_restarts times in a row (without it nothing can be joined); 2 bad usage or "
        "configuration. Example: chorusctl up --nodes 1 --edges 2 --state-file /tmp/chorus-up.json",
    )
    up.add_argument("--nodes", type=int, default=None, metavar="N", help="how many origin fan-out nodes (default: fanout.nodes)")
    up.add_argument("--edges", type=int, default=None, metavar="N",
                    help="how many edge nodes, which take the listeners and subscribe to origins (default: fanout.edges)")
    up.add_argument("--no-packager", action="store_true", help="do not run the HLS packager")
    up.add_argument("--monitor", action="store_true",
                    help="also run Prometheus and Alertmanager over the stack (see `chorusctl monitor --help`); "
                    "the --prometheus-port, --alertmanager-port, --time-scale and --rules options apply to it")
    up.add_argument("--state-file", type=Path, default=None, metavar="PATH",
                    help="keep a JSON document of every service here (name, pid, state, url, restarts, last_exit), "
                    "rewritten on every change, for scripts and drills (default: none)")
    up.set_defaults(handler=_cmd_up)

    monitor = commands.add_parser(
        "monitor", parents=[watch], help="run Prometheus and Alertmanager over a running local stack until Ctrl-C",
        description="Beside a running `chorusctl up`, start Prometheus and Alertmanager on 127.0.0.1 (the Debian "
        "binaries, installed by `make setup`) in a temporary folder. Every service is scraped with the job, "
        "namespace and pod labels production gives it; the real alert rules are loaded; Alertmanager sends every "
        "notification to a local receiver that records it (alert, labels, runbook_url). Prints the URLs; "
        "`chorusctl alerts` shows what fired and what on-call would have been paged with.",
        epilog="Exit code 1 if it cannot start (a binary missing, a port taken, rules promtool rejects) or "
        "Prometheus or Alertmanager dies. Example: chorusctl monitor --time-scale 10",
    )
    monitor.add_argument("--gateway", metavar="URL", default=None,
                         help="the gateway's URL (default: http://gateway.host:gateway.port from the configuration)")
    monitor.add_argument("--packager", metavar="URL", default=None,
                         help="the packager's URL (default: packager.host:packager.port when it answers)")
    monitor.set_defaults(handler=_cmd_monitor)

    alerts = commands.add_parser(
        "alerts", parents=[client], help="show the monitor's alerts and the notifications on-call would have got",
        description="Ask the monitor of the local stack (`chorusctl up --monitor` or `chorusctl monitor`) for its "
        "URLs, the alerts pending or firing now, and every notification Alertmanager delivered. With --wait, "
        "wait until alert NAME fires (or, with --resolved, resolves) and its notification is delivered.",
        epilog="Exit code 1 if no monitor runs or --wait timed out. Example: chorusctl alerts --wait ChorusJoinShedding",
    )
    alerts.add_argument("--wait", metavar="NAME", default=None, help="wait until this alert fires and is notified")
    alerts.add_argument("--resolved", action="store_true", help="with --wait: wait until it resolves instead")
    alerts.add_argument("--timeout", type=float, default=600.0, metavar="S", help="with --wait: give up after S seconds (default: 600)")
    alerts.set_defaults(handler=_cmd_alerts)

    query = commands.add_parser(
        "query", parents=[client], help="run a PromQL query on the monitor's Prometheus",
        description="Run an instant PromQL query on the Prometheus of the local stack's monitor and print one "
        "line per series: its labels and value.",
        epilog="Exit code 1 if no monitor runs or the query is invalid. Example: chorusctl query 'sum by (job) (up)'",
    )
    query.add_argument("promql", metavar="PROMQL", help="the query")
    query.set_defaults(handler=_cmd_query)

    status = commands.add_parser(
        "status", parents=[client], help="show each service's health, the nodes, listeners and spaces",
        description="Ask the gateway for spaces, sessions and nodes, and each service for its readiness. Sessions "
        "are counted as the nodes report them connected (a slow node's sessions come back at its next report); "
        "joins admitted whose client has not reached its node yet are shown as 'N joining'. A node "
        "that stopped reporting is listed as stale until the gateway forgets it, gateway.node_expiry_s after it "
        "went stale.",
        epilog="Exit codes: 0 healthy (the gateway is ready and every node is ready, or draining on purpose); "
        "1 down (the gateway is unreachable or not ready, or no origin node is ready, so no space can be "
        "placed); 2 bad usage or bad configuration; 3 degraded (it serves, but a node is stale or not ready: "
        "look at the STATE and READY columns).",
    )
    status.set_defaults(handler=_cmd_status)

    spaces = commands.add_parser("spaces", help="list, show, create and end spaces; raise hands, promote speakers",
                                 description="Work with spaces: live audio rooms.")
    space_commands = spaces.add_subparsers(dest="spaces_command", metavar="ACTION", parser_class=_Parser)
    space_commands.required = True
    listing = space_commands.add_parser("list", parents=[client], help="list live spaces",
                                        description="List live spaces with their presence counts.")
    listing.add_argument("--all", action="store_true", help="include ended spaces")
    listing.set_defaults(handler=_cmd_spaces_list)
    show = space_commands.add_parser("show", parents=[client], help="show one space",
                                     description="Show a space: host, speakers, raised hands, node, presence.")
    show.add_argument("space", type=space_id, metavar="ID", help="the space id, e.g. sp-1a2b3c4d")
    show.set_defaults(handler=_cmd_spaces_show)
    create = space_commands.add_parser("create", parents=[client], help="create a space",
                                       description="Create a live space; prints its id.",
                                       epilog="Example: chorusctl spaces create --title 'Town hall' --host alice")
    create.add_argument("--title", required=True, help="the space's title")
    create.add_argument("--host", default="host", help="the host's user name (default: host)")
    create.set_defaults(handler=_cmd_spaces_create)
    end = space_commands.add_parser("end", parents=[client], help="end a space",
                                    description="End a space; its listeners are told it ended.")
    end.add_argument("space", type=space_id, metavar="ID", help="the space id")
    end.add_argument("--by", default=None, help="the host's user name (default: the space's host)")
    end.set_defaults(handler=_cmd_spaces_end)

    hand = space_commands.add_parser("hand", parents=[client], help="raise a hand: ask the host to let you speak",
                                     description="Raise USER's hand in a space; the host sees raised hands in order.")
    hand.add_argument("space", type=space_id, metavar="ID", help="the space id")
    hand.add_argument("--user", required=True, help="who raises a hand")
    hand.set_defaults(handler=_cmd_spaces_hand)
    promote = space_commands.add_parser(
        "promote", parents=[client], help="make a user a speaker (the host's call)",
        description="Promote USER to speaker; they can then `chorusctl speak FILE --space ID --user USER`.",
    )
    promote.add_argument("space", type=space_id, metavar="ID", help="the space id")
    promote.add_argument("user", metavar="USER", help="who becomes a speaker")
    promote.add_argument("--by", default=None, help="the host's user name (default: the space's host)")
    promote.set_defaults(handler=_cmd_spaces_promote)

    drain = commands.add_parser(
        "drain", parents=[client], help="drain a fan-out node: no one new, everyone reconnects elsewhere",
        description="Tell the gateway to drain NODE: the gateway places no one new on it, and the node tells "
        "its speakers and listeners to reconnect through the gateway, which places them on other nodes.",
        epilog="Example: chorusctl drain fanout-1 --wait; undo with chorusctl drain fanout-1 --undo",
    )
    drain.add_argument("node", metavar="NODE", help="the node id, e.g. fanout-1 (see chorusctl status)")
    drain.add_argument("--undo", action="store_true", help="resume the node instead: accept clients again")
    drain.add_argument("--wait", action="store_true", help="wait until the node has no listeners left")
    drain.add_argument("--timeout", type=float, default=60.0, metavar="S", help="longest wait with --wait (default: 60)")
    drain.set_defaults(handler=_cmd_drain)

    config = commands.add_parser("config", help="check or show the configuration",
                                 description="Validate or print the configuration the services load.")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", parser_class=_Parser)
    config_commands.required = True
    check = config_commands.add_parser(
        "check", parents=[output], help="validate the configuration and its agreement with the catalog",
        description="Validate the configuration (with environment overrides), check its ports agree with "
        "stack/catalog.yaml, and check the token signing key the services will load (found, not set, or "
        "unusable and why). A bad file prints one line: path:line: key: message.",
        epilog="Exit codes: 0 valid (a signing key that is not set is reported, not an error: `chorusctl up` "
        "generates one per run), 1 ports disagree with the catalog, 2 invalid configuration or a signing key "
        "the services would refuse to start with (shorter than gateway.token.min_key_bytes, or an unreadable "
        "gateway.token.key_file).",
    )
    check.set_defaults(handler=_cmd_config_check)
    show_config = config_commands.add_parser(
        "show", parents=[output], help="print the effective configuration (file + environment overrides)",
        description="Print every key's effective value: the file, defaults for keys it omits, and environment overrides.",
    )
    show_config.set_defaults(handler=_cmd_config_show)

    speak = commands.add_parser(
        "speak", parents=[client], help="send an audio file to a space as a speaker, in real time",
        description="Join SPACE as a speaker (the host by default) and send FILE (WAV or any format FFmpeg "
        "reads) as Opus frames in real time, re-joining through the gateway if the node drains.",
        epilog="Example: chorusctl speak talk.wav --space sp-1a2b3c4d",
    )
    speak.add_argument("file", type=Path, metavar="FILE.wav", help="the audio to send")
    speak.add_argument("--space", required=True, type=space_id, metavar="ID", help="the space id")
    speak.add_argument("--user", default=None, help="who speaks (default: the space's host); others must be promoted")
    speak.set_defaults(handler=_cmd_speak)

    listen = commands.add_parser(
        "listen", parents=[client], help="record what a listener of a space hears, to a WAV file",
        description="Join SPACE as a listener, decode the audio and write it to OUT.wav when done: after "
        "--seconds, when the space ends, or on Ctrl-C. Re-joins through the gateway when its node drains.",
        epilog="Exit code 1 if no audio was received. Example: chorusctl listen --space sp-1a2b3c4d --out heard.wav --seconds 10",
    )
    listen.add_argument("--space", required=True, type=space_id, metavar="ID", help="the space id")
    listen.add_argument("--out", required=True, type=Path, metavar="OUT.wav", help="the WAV file to write")
    listen.add_argument("--seconds", type=float, default=None, metavar="N", help="stop after N seconds (default: until the space ends)")
    listen.add_argument("--user", default=None, help="the listener's name (default: listener-<pid>)")
    listen.set_defaults(handler=_cmd_listen)

    presence = commands.add_parser(
        "presence", parents=[client], help="follow a space's aggregate presence counts, one line per tick",
        description="Subscribe to a space's presence: one aggregate message per gateway.presence_tick_ms.",
    )
    presence.add_argument("--space", required=True, type=space_id, metavar="ID", help="the space id")
    presence.add_argument("--ticks", type=int, default=5, metavar="N", help="stop after N ticks (default: 5)")
    presence.set_defaults(handler=_cmd_presence)

    capacity = commands.add_parser(
        "capacity", parents=[output], help="how many fan-out nodes and edges a space of N listeners needs",
        description="Plan one space's audience from the configuration's caps: fanout.listener_cap and "
        "fanout.headroom give the listeners one node takes; packager.hls_share sends part of the audience to "
        "HLS through a CDN; the rest needs one origin and, past one node, edges (each subscribes to the origin "
        "once). Also checks the gateway's session cap and shows how long admitting the room takes. Every step "
        "of the arithmetic is printed.",
        epilog="Exit code 1 if the configured caps cannot carry the audience (the output says which setting to "
        "change). Example: chorusctl capacity --listeners 700000",
    )
    capacity.add_argument("--listeners", type=int, required=True, metavar="N", help="the audience of the space")
    capacity.add_argument("--hls-share", type=float, default=None, metavar="F",
                          help="share of the audience on HLS, 0..1 (default: packager.hls_share)")
    capacity.set_defaults(handler=_cmd_capacity)

    loadgen = commands.add_parser(
        "loadgen", parents=[client], help="load a local Chorus with crowds of listeners (bounded, loopback only)",
        description="Run a load scenario against the gateway and print a summary (attempted, admitted, shed, "
        "p50/p99 join latency, frames received, drops). join-storm: joins at --rate (default 10x "
        "gateway.join_rate_per_s), sheds are not retried, admitted listeners listen to the end. listeners: "
        "listeners join at --rate, waiting out Retry-After. reconnect-storm: listeners join, then every "
        "connection drops at once and all rejoin with jittered exponential backoff. slow-listeners: a share of "
        "the listeners stop reading; the fan-out must drop them and keep the others fed. Without --space a "
        "space is created with a speaker sending a test signal, and ended after the run. Joins go out on "
        f"schedule through at most {MAX_JOINS_IN_FLIGHT} connections in flight; a join due while all are busy "
        "waits and goes out late. Progress goes to stderr once a second, with the rate offered so far. Ctrl-C "
        "ends the run early and prints the summary of what happened; a second Ctrl-C aborts.",
        epilog=f"Bounded: at most {HARD_MAX_CLIENTS} clients and {HARD_MAX_SECONDS:.0f} s, plus at most "
        f"{CLOSE_TIMEOUT_S:.0f} s to close; targets loopback "
        "addresses only. The summary accounts for every join (admitted, shed, refused, timed out, connection "
        "error, unanswered at the end), shows the rate offered beside the rate asked, and says INCOMPLETE when "
        "the run did not measure what was asked: a client never sent its join, a join got no answer, the run "
        f"offered less than {OFFERED_SHARE_REQUIRED:.0%} of --rate (it says how far it fell short), or Ctrl-C "
        "ended it. Exit code 1 if the run was incomplete, an admitted listener "
        "lost its audio (dropped or starved, slow listeners excepted) or a shed join had no Retry-After. Example: chorusctl loadgen join-storm "
        "--clients 500 --duration 10",
    )
    loadgen.add_argument("scenario", choices=SCENARIOS, metavar="SCENARIO", help=f"one of: {', '.join(SCENARIOS)}")
    loadgen.add_argument("--clients", type=int, default=200, metavar="N", help="listeners to simulate (default: 200)")
    loadgen.add_argument("--rate", type=float, default=None, metavar="R",
                         help="joins started per second (default: 10x gateway.join_rate_per_s for join-storm, "
                         "gateway.join_rate_per_s otherwise)")
    loadgen.add_argument("--duration", type=float, default=10.0, metavar="S", help="how long the run lasts (default: 10)")
    loadgen.add_argument("--space", default=None, type=space_id, metavar="ID", help="load this space (default: create one with a speaker)")
    loadgen.add_argument("--slow-share", type=float, default=0.5, metavar="F",
                         help="slow-listeners: share of listeners that stop reading (default: 0.5)")
    loadgen.set_defaults(handler=_cmd_loadgen)

    token = commands.add_parser(
        "token", parents=[client], help="print an operator token, e.g. for `curl -H \"Authorization: Bearer ...\"`",
        description="Print an operator token for the operations endpoints (detailed status, drain, resume; the "
        "fan-out nodes' and the packager's /status): signed with the signing key when it is set "
        "(gateway.token.key_env or key_file), else the token a local `chorusctl up` wrote for its run.",
        epilog='Example: curl -s -H "Authorization: Bearer $(chorusctl token)" http://127.0.0.1:8091/status',
    )
    token.set_defaults(handler=_cmd_token)

    tone = commands.add_parser(
        "tone", help="write a test signal (chirp and tones) to a WAV file, to speak with",
        description="Write a speech-band test signal at audio.sample_rate; handy with `chorusctl speak`.",
    )
    tone.add_argument("out", type=Path, metavar="OUT.wav", help="the WAV file to write")
    tone.add_argument("--seconds", type=float, default=5.0, metavar="N", help="duration (default: 5)")
    tone.add_argument("--silent", action="store_true",
                      help="write digital silence instead, to rehearse dead air (a speaker on stage, nothing heard)")
    tone.set_defaults(handler=_cmd_tone)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `chorusctl`.

    Args:
        argv: Arguments (default: `sys.argv[1:]`).

    Returns:
        The exit code.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or EXIT_OK)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except GatewayError as exc:
        hint = ""
        if exc.status == 401:
            hint = ("; set the stack's signing key (gateway.token.key_env or key_file) or run against this "
                    "machine's `chorusctl up`, which writes an operator token for chorusctl")
        elif exc.status == 403 and "host secret" in exc.detail:
            hint = "; only the shell user who created the space with `chorusctl spaces create` holds its host secret"
        print(f"error: {printable(str(exc))}{hint}", file=sys.stderr)
        return EXIT_FAILED
    except AudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader closed the pipe (`chorusctl ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


# --------------------------------------------------------------------------- helpers


def _config(args: argparse.Namespace) -> ChorusConfig:
    """The configuration named by `--config` (raises ConfigError)."""
    return load_config(args.config)


def _gateway_url(args: argparse.Namespace) -> str:
    """`--gateway`, else the configuration's gateway URL."""
    return args.gateway or _config(args).gateway_url


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print JSON with `--json` (control characters escaped by JSON), else the text, each line with its
    control characters escaped (untrusted fields are escaped where they are formatted too)."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(printable(line) for line in text.split("\n")))


def _operator_token(args: argparse.Namespace) -> str | None:
    """The operator token for the gateway, or `None` (the operations calls then get a 401 with a hint)."""
    try:
        return operator_token_for(_config(args).gateway.token, _gateway_url(args))
    except SigningKeyError:
        return None


def _with_gateway(args: argparse.Namespace, action: Callable[[GatewayClient], Awaitable[Any]]) -> Any:
    """Run `action` with a gateway client carrying the user's credentials, and return its result.

    The client carries an operator token (if one is at hand) and the host secret of `args.space`
    (if this user created it); a space it creates has its host secret kept for later commands.
    """
    url = _gateway_url(args)
    secrets = HostSecrets(url)

    async def run() -> Any:
        async with GatewayClient(url, operator_token=_operator_token(args)) as gateway:
            space = getattr(args, "space", None)
            known = secrets.get(space) if isinstance(space, str) else None
            if known:
                gateway.host_secrets[space] = known
            try:
                return await action(gateway)
            finally:
                for created, secret in gateway.host_secrets.items():
                    if created != space:
                        secrets.save(created, secret)

    return asyncio.run(run())


def _table(rows: list[list[str]]) -> str:
    """Render rows (the first is the header) as aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _space_line(space: dict[str, Any]) -> list[str]:
    """One space as a table row (what users wrote, escaped)."""
    presence = space["presence"]
    return [printable(str(space["id"])), "live" if space["live"] else "ended", str(presence["listeners"]),
            str(presence["speakers"]), str(presence["hands"]), printable(space["node"] or "-"),
            printable(str(space["host"])), printable(str(space["title"]))]


def _http_ready(url: str) -> bool:
    """Whether a service's `/readyz` answers 200."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


# --------------------------------------------------------------------------- commands


def _cmd_up(args: argparse.Namespace) -> int:
    """`chorusctl up`."""
    from chorus.supervisor import run_up

    config = _config(args)
    if args.nodes is not None and not 1 <= args.nodes <= 64:
        raise CommandError("--nodes must be between 1 and 64", EXIT_USAGE)
    if args.edges is not None and not 0 <= args.edges <= 256:
        raise CommandError("--edges must be between 0 and 256", EXIT_USAGE)
    settings = _monitor_settings(args) if args.monitor else None
    return run_up(config, args.config or default_config_path(), args.nodes, args.edges, not args.no_packager,
                  args.state_file, settings)


def _monitor_settings(args: argparse.Namespace) -> Any:
    """The monitor's settings from `--prometheus-port`, `--alertmanager-port`, `--time-scale`, `--rules`."""
    from chorus.monitor import MonitorSettings
    from chorus.monitor.config import DEFAULT_SCRAPE_INTERVAL_S

    for flag, port in (("--prometheus-port", args.prometheus_port), ("--alertmanager-port", args.alertmanager_port)):
        if not 0 <= port <= 65535:
            raise CommandError(f"{flag} must be between 0 and 65535", EXIT_USAGE)
    if not 1 <= args.time_scale <= 100:
        raise CommandError("--time-scale must be between 1 and 100", EXIT_USAGE)
    settings = MonitorSettings(prometheus_port=args.prometheus_port, alertmanager_port=args.alertmanager_port,
                               time_scale=args.time_scale,
                               scrape_interval_s=DEFAULT_SCRAPE_INTERVAL_S / args.time_scale,
                               evaluation_interval_s=DEFAULT_SCRAPE_INTERVAL_S / args.time_scale)
    if args.rules is not None:
        settings.rules_file = args.rules
    return settings


def _cmd_monitor(args: argparse.Namespace) -> int:
    """`chorusctl monitor`."""
    from chorus.monitor.foreground import run_monitor

    config = _config(args)
    settings = _monitor_settings(args)
    packager = args.packager
    if packager is None:
        url = f"http://{config.packager.host}:{config.packager.port}"
        packager = url if config.packager.port and _http_ready(url) else ""
    from chorus.credentials import operator_token_for

    try:
        token = operator_token_for(config.gateway.token, _gateway_url(args))
    except SigningKeyError as exc:
        raise CommandError(f"signing key: {exc}", EXIT_USAGE) from None
    return run_monitor(_gateway_url(args), packager, settings, token)


def _monitor_client(args: argparse.Namespace) -> Any:
    """A client of the local stack's running monitor, and its state (raises CommandError when none runs)."""
    from chorus.monitor import MonitorClient, MonitorError, read_state

    try:
        state = read_state(_gateway_url(args))
    except MonitorError as exc:
        raise CommandError(str(exc)) from None
    return MonitorClient(state.prometheus_url, Path(state.notifications_file)), state


def _cmd_alerts(args: argparse.Namespace) -> int:
    """`chorusctl alerts`."""
    from dataclasses import asdict

    from chorus.monitor import MonitorError

    if not 0 < args.timeout <= 3600:
        raise CommandError("--timeout must be above 0 and at most 3600 seconds", EXIT_USAGE)
    client, state = _monitor_client(args)
    try:
        if args.wait:
            if args.resolved:
                client.wait_for_resolved(args.wait, timeout_s=args.timeout)
            else:
                client.wait_for_alert(args.wait, timeout_s=args.timeout)
            note = client.wait_for_notification(args.wait, "resolved" if args.resolved else "firing", timeout_s=args.timeout)
            _emit(args, asdict(note), f"{note.status} {note.alertname} {note.labels.get('severity', '')} "
                  f"team={note.labels.get('team', '')}: {note.summary}\n  runbook: {note.runbook_url}")
            return EXIT_OK
        active = client.alerts()
        notes = client.notifications()
    except MonitorError as exc:
        raise CommandError(str(exc)) from None
    data = {"prometheus": state.prometheus_url, "alertmanager": state.alertmanager_url,
            "alerts": active, "notifications": [asdict(n) for n in notes]}
    lines = [f"prometheus    {state.prometheus_url}", f"alertmanager  {state.alertmanager_url}", ""]
    rows = [["ALERT", "STATE", "SINCE", "LABELS"]]
    for alert in sorted(active, key=lambda a: (a["state"] != "firing", a["labels"]["alertname"])):
        labels = ",".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()) if k != "alertname")
        rows.append([alert["labels"]["alertname"], alert["state"], alert.get("activeAt", "")[:19], labels])
    lines.append(_table(rows) if active else "no alert is pending or firing")
    lines.append("")
    if notes:
        rows = [["RECEIVED", "STATUS", "ALERT", "SEVERITY", "TEAM", "RUNBOOK"]]
        for n in notes:
            rows.append([time.strftime("%H:%M:%S", time.localtime(n.received_at)), n.status, n.alertname,
                         n.labels.get("severity", ""), n.labels.get("team", ""), n.runbook_url])
        lines.append(_table(rows))
    else:
        lines.append("no notification yet")
    _emit(args, data, "\n".join(lines))
    return EXIT_OK


def _cmd_query(args: argparse.Namespace) -> int:
    """`chorusctl query`."""
    from chorus.monitor import MonitorError

    if not 0 < len(args.promql) <= 10_000:
        raise CommandError("PROMQL must be 1 to 10,000 characters", EXIT_USAGE)
    client, _state = _monitor_client(args)
    try:
        result = client.query(args.promql)
    except MonitorError as exc:
        raise CommandError(str(exc)) from None
    lines = []
    for item in result:
        labels = ", ".join(f'{k}="{v}"' for k, v in sorted(item["metric"].items()))
        lines.append(f"{{{labels}}} {item['value'][1]}")
    _emit(args, result, "\n".join(lines) if lines else "(no series)")
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    """`chorusctl status`."""
    url = _gateway_url(args)
    status = _with_gateway(args, lambda gateway: gateway.status())
    gateway_ready = _http_ready(url)
    for node in status["nodes"]:
        node["ready"] = _http_ready(node["url"].replace("ws://", "http://", 1)) if node["state"] != "stale" else False
    status["gateway"] = {"url": url, "ready": gateway_ready}
    code = status_exit_code(gateway_ready, status["nodes"])
    status["health"] = {EXIT_OK: "healthy", EXIT_FAILED: "down", EXIT_DEGRADED: "degraded"}[code]
    sessions = status["sessions"]
    lines = [
        f"gateway  {url}  {'ready' if gateway_ready else 'NOT READY'}  up {status['uptime_s']:.0f} s",
        f"spaces   {status['spaces']} live",
        f"sessions {sessions['host']} host, {sessions['speaker']} speaker, {sessions['listener']} listener "
        + (f"connected, {status['joining']} joining " if status.get("joining") else "")
        + f"(cap {status['max_sessions']}); admission bucket {status['admission_tokens']:.0f} tokens",
        "",
    ]
    if status["nodes"]:
        rows = [["NODE", "ROLE", "STATE", "READY", "LISTENERS", "EDGES", "CAP", "HEADROOM", "SPACES", "URL"]]
        for n in status["nodes"]:
            rows.append([n["id"], n["role"], n["state"], "yes" if n["ready"] else "no", str(n["listeners"]),
                         str(n.get("edges", 0)), str(n["listener_cap"]), str(n["headroom"]), str(n["spaces"]), n["url"]])
        lines.append(_table(rows))
    else:
        lines.append("no fan-out nodes registered - start them with `chorusctl up`")
    _emit(args, status, "\n".join(lines))
    return code


def status_exit_code(gateway_ready: bool, nodes: list[dict[str, Any]]) -> int:
    """`chorusctl status`'s exit code for what it saw.

    Args:
        gateway_ready: Whether the gateway's `/readyz` answered 200.
        nodes: The gateway's nodes, each with `role`, `state` and the `ready` the command probed.

    Returns:
        `EXIT_FAILED` (down: gateway not ready, or no origin node ready to take a space), `EXIT_DEGRADED`
        (a node is stale or not ready, and it is not draining), else `EXIT_OK`.
    """
    if not gateway_ready or not any(n["role"] == "origin" and n["ready"] and n["state"] in ("accepting", "full")
                                   for n in nodes):
        return EXIT_FAILED
    if any(not n["ready"] and n["state"] != "draining" for n in nodes):
        return EXIT_DEGRADED
    return EXIT_OK


def _cmd_spaces_list(args: argparse.Namespace) -> int:
    """`chorusctl spaces list`."""
    spaces = _with_gateway(args, lambda gateway: gateway.spaces(include_ended=args.all))
    rows = [["SPACE", "STATE", "LISTENERS", "SPEAKERS", "HANDS", "NODE", "HOST", "TITLE"]] + [_space_line(s) for s in spaces]
    _emit(args, spaces, _table(rows) if spaces else "no spaces - create one with `chorusctl spaces create --title T`")
    return EXIT_OK


def _cmd_spaces_show(args: argparse.Namespace) -> int:
    """`chorusctl spaces show`."""
    space = _with_gateway(args, lambda gateway: gateway.space(args.space))
    presence = space["presence"]
    text = "\n".join([
        f"space     {space['id']}  ({'live' if space['live'] else 'ended'})",
        f"title     {printable(space['title'])}",
        f"host      {printable(space['host'])}",
        f"speakers  {printable(', '.join(space['speakers'])) or '-'}",
        f"hands     {printable(', '.join(space['hands'])) or '-'}",
        f"node      {space['node'] or '-'}",
        f"presence  {presence['listeners']} listeners, {presence['speakers']} speakers (tick {presence['tick']})",
    ])
    _emit(args, space, text)
    return EXIT_OK


def _cmd_spaces_create(args: argparse.Namespace) -> int:
    """`chorusctl spaces create`."""
    space = _with_gateway(args, lambda gateway: gateway.create_space(args.title, args.host))
    _emit(args, space, space["id"])
    if not args.json:  # the id alone on stdout, so `SPACE=$(chorusctl spaces create ...)` works
        print(f"created {printable(repr(space['title']))}, host {printable(space['host'])}; "
              f"speak with: chorusctl speak FILE.wav --space {space['id']}", file=sys.stderr)
    return EXIT_OK


def _cmd_spaces_end(args: argparse.Namespace) -> int:
    """`chorusctl spaces end`."""

    async def end(gateway: GatewayClient) -> dict[str, Any]:
        by = args.by or (await gateway.space(args.space))["host"]
        return await gateway.end_space(args.space, by)

    space = _with_gateway(args, end)
    _emit(args, space, f"ended {space['id']}")
    return EXIT_OK


def _cmd_spaces_hand(args: argparse.Namespace) -> int:
    """`chorusctl spaces hand`."""
    space = _with_gateway(args, lambda gateway: gateway.raise_hand(args.space, args.user))
    _emit(args, space, f"{args.user} raised a hand in {space['id']} (hands: {', '.join(space['hands']) or '-'})")
    return EXIT_OK


def _cmd_spaces_promote(args: argparse.Namespace) -> int:
    """`chorusctl spaces promote`."""

    async def promote(gateway: GatewayClient) -> dict[str, Any]:
        by = args.by or (await gateway.space(args.space))["host"]
        return await gateway.promote(args.space, args.user, by)

    space = _with_gateway(args, promote)
    _emit(args, space, f"{args.user} is a speaker in {space['id']} (speakers: {', '.join(space['speakers'])})")
    return EXIT_OK


def _cmd_drain(args: argparse.Namespace) -> int:
    """`chorusctl drain`."""

    async def drain(gateway: GatewayClient) -> dict[str, Any]:
        node = await (gateway.resume(args.node) if args.undo else gateway.drain(args.node))
        if args.wait and not args.undo:
            deadline = time.monotonic() + args.timeout
            while node["listeners"] > 0 or node["speakers"] > 0 or node["state"] != "draining":
                if time.monotonic() > deadline:
                    raise CommandError(f"{args.node} still has {node['listeners']} listeners after {args.timeout:.0f} s")
                await asyncio.sleep(0.5)
                node = await gateway.node(args.node)
        return node

    node = _with_gateway(args, drain)
    if args.undo:
        text = f"{node['id']} resumed: it accepts clients again (state {node['state']})"
    elif args.wait:
        text = f"{node['id']} drained: no listeners left"
    else:
        text = (f"{node['id']} draining: no new clients; its {node['listeners']} listeners are being told to "
                f"reconnect (follow with `chorusctl status`)")
    _emit(args, node, text)
    return EXIT_OK


def space_id(text: str) -> str:
    """An argparse type for a space id (`chorus.ids`: letters, digits, `-` and `_`, as the gateway issues them).

    Raises:
        argparse.ArgumentTypeError: The text cannot be a space id (e.g. it holds a newline or `..`).
    """
    if not is_space_id(text):
        raise argparse.ArgumentTypeError(f"{printable(repr(text[:80]))} is not a space id (e.g. sp-1a2b3c4d)")
    return text


def display_path(path: Path | str) -> str:
    """A path as a reader would type it: relative to the current folder when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _cmd_config_check(args: argparse.Namespace) -> int:
    """`chorusctl config check`."""
    path = display_path(args.config or default_config_path())
    config = load_config(path)
    try:
        catalog = load_catalog()
    except CatalogError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    disagreements = port_disagreements(catalog, config)
    key_problem: str | None = None
    try:
        resolve_signing_key(config.gateway.token)
        key = f"found ({config.gateway.token.key_env} or key_file)"
    except SigningKeyMissing:
        key = f"not set ({config.gateway.token.key_env}); `chorusctl up` generates one per run"
    except SigningKeyError as exc:  # set, but the services would refuse it: too short, unreadable file
        key_problem = str(exc)
        key = f"unusable: {key_problem}; the services refuse to start with it"
    result = {
        "config": str(path),
        "valid": True,
        "catalog_agrees": not disagreements,
        "compared": compared_services(catalog, config),
        "disagreements": [str(d) for d in disagreements],
        "signing_key": key,
        "signing_key_usable": key_problem is None,
    }
    lines = [f"{path}: valid"]
    lines += [f"{path}: {d}" for d in disagreements] or [f"ports agree with the catalog ({', '.join(result['compared'])})"]
    lines.append(f"signing key: {key}")
    _emit(args, result, "\n".join(lines))
    if key_problem is not None:
        return EXIT_USAGE
    return EXIT_FAILED if disagreements else EXIT_OK


def _cmd_config_show(args: argparse.Namespace) -> int:
    """`chorusctl config show`."""
    data = _config(args).model_dump(mode="json")
    _emit(args, data, yaml.safe_dump(data, sort_keys=False).rstrip())
    return EXIT_OK


def _cmd_speak(args: argparse.Namespace) -> int:
    """`chorusctl speak`."""
    config = _config(args)
    samples = load_pcm(args.file, config.audio.sample_rate)
    if len(samples) == 0:
        raise CommandError(f"{args.file}: no audio samples")
    encoder = OpusEncoder(config.audio)
    packets = [p for frame in frames_of(samples, config.audio.frame_samples) for p in encoder.encode(frame)]
    packets += encoder.flush()

    async def speak(gateway: GatewayClient) -> dict[str, Any]:
        space = await gateway.space(args.space)
        user = args.user or space["host"]
        role = "host" if user == space["host"] else "speaker"
        log = await Speaker(gateway, args.space, user, role, config.audio.frame_ms).run(packets)
        return {"space": args.space, "user": user, "role": role, "frames_sent": log.frames, "frames": len(packets),
                "seconds": round(len(packets) * config.audio.frame_ms / 1000, 2), "nodes": log.nodes,
                "reconnects": log.reconnects, "ended": log.ended}

    result = _with_gateway(args, speak)
    _emit(args, result, f"sent {result['frames_sent']}/{result['frames']} frames ({result['seconds']} s) to "
                        f"{result['space']} as {result['user']} via {', '.join(result['nodes'])}")
    return EXIT_OK


def _cmd_listen(args: argparse.Namespace) -> int:
    """`chorusctl listen`."""
    config = _config(args)
    timeline = Timeline(config.audio)
    user = args.user or f"listener-{os.getpid()}"

    def record(frames: list[Frame]) -> None:
        for frame in frames:
            timeline.add(frame.source, frame.seq, frame.captured_us, frame.payload)

    async def listen(gateway: GatewayClient) -> dict[str, Any]:
        listener = Listener(gateway, args.space, user, record)
        try:
            log = await listener.run(args.seconds)
        except asyncio.CancelledError:
            log = listener.log
        return {"space": args.space, "user": user, "frames": log.frames, "messages": log.messages,
                "nodes": log.nodes, "reconnects": log.reconnects, "ended": log.ended}

    try:
        result = _with_gateway(args, listen)
    finally:
        samples = timeline.samples()
        write_wav(args.out, samples, config.audio.sample_rate)
    result["out"] = str(args.out)
    result["seconds"] = round(len(samples) / config.audio.sample_rate, 2)
    _emit(args, result, f"recorded {result['seconds']} s ({result['frames']} frames) from "
                        f"{', '.join(result['nodes']) or 'no node'} to {args.out}"
                        + (f"; reconnected {result['reconnects']} time(s)" if result["reconnects"] else ""))
    if result["frames"] == 0:
        raise CommandError(f"no audio received from {args.space}")
    return EXIT_OK


def _cmd_presence(args: argparse.Namespace) -> int:
    """`chorusctl presence`."""
    from websockets.asyncio.client import connect

    url = _gateway_url(args).replace("http://", "ws://", 1).replace("https://", "wss://", 1)

    async def follow() -> list[dict[str, Any]]:
        ticks: list[dict[str, Any]] = []
        try:
            async with connect(f"{url}/v1/spaces/{args.space}/presence/ws") as socket:
                while len(ticks) < args.ticks:
                    tick = json.loads(await socket.recv())
                    ticks.append(tick)
                    if not args.json:
                        print(f"tick {tick['tick']}: {tick['listeners']} listeners, {tick['speakers']} speakers, "
                              f"{tick['hands']} hands{'' if tick['live'] else ' (ended)'}", flush=True)
        except OSError as exc:
            raise CommandError(f"gateway {url} unreachable: {exc}") from None
        except Exception as exc:  # websockets raises several handshake errors
            raise CommandError(f"presence of {args.space} unavailable: {exc}") from None
        return ticks

    ticks = asyncio.run(follow())
    if args.json:
        print(json.dumps(ticks, indent=2))
    return EXIT_OK


def _cmd_token(args: argparse.Namespace) -> int:
    """`chorusctl token`."""
    try:
        token = operator_token_for(_config(args).gateway.token, _gateway_url(args))
    except SigningKeyError as exc:
        raise CommandError(f"signing key unusable: {exc}", EXIT_USAGE) from None
    if token is None:
        raise CommandError("no operator credential: set the stack's signing key (gateway.token.key_env or key_file), "
                           "or start the stack on this machine with `chorusctl up`, which writes one for chorusctl")
    _emit(args, {"token": token}, token)
    return EXIT_OK


def _cmd_tone(args: argparse.Namespace) -> int:
    """`chorusctl tone`."""
    rate = _config(args).audio.sample_rate
    if not 0 < args.seconds <= 3600:
        raise CommandError("--seconds must be above 0 and at most 3600", EXIT_USAGE)
    signal = reference_signal(args.seconds, rate)
    write_wav(args.out, signal * 0 if args.silent else signal, rate)
    print(f"wrote {args.seconds} s of {'silence' if args.silent else 'test signal'} to {args.out}")
    return EXIT_OK


def _cmd_capacity(args: argparse.Namespace) -> int:
    """`chorusctl capacity`."""
    from chorus.capacity import plan_capacity, render_plan

    try:
        plan = plan_capacity(_config(args), args.listeners, args.hls_share)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    _emit(args, plan.to_json(), render_plan(plan))
    return EXIT_OK if plan.fits else EXIT_FAILED


def _cmd_loadgen(args: argparse.Namespace) -> int:
    """`chorusctl loadgen`."""
    from chorus.loadgen import LoadgenError, LoadPlan, LoadRun

    config = _config(args)
    configured = config.gateway.join_rate_per_s
    rate = args.rate if args.rate is not None else (10 * configured if args.scenario == "join-storm" else configured)
    plan = LoadPlan(args.scenario, args.clients, rate, args.duration, args.space, args.slow_share)
    try:
        run = LoadRun(plan, config, _gateway_url(args))
    except LoadgenError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    print(f"loadgen {plan.scenario}: {plan.clients} clients at {plan.rate_per_s:g} joins/s for {plan.duration_s:g} s "
          f"against {run.gateway_url} (gateway.join_rate_per_s is {configured:g})", file=sys.stderr, flush=True)
    try:
        result = asyncio.run(run.run())
    except LoadgenError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    _emit(args, result.to_json(), result.table())
    if not result.complete:
        print(f"error: loadgen {plan.scenario} did not complete: {'; '.join(result.incomplete_reasons)}",
              file=sys.stderr)
    healthy = result.drops == 0 and result.starved == 0 and result.shed_without_retry_after == 0 and result.complete
    return EXIT_OK if healthy else EXIT_FAILED
