"""Chorus: a live-audio "spaces" stack.

A few hosts and speakers talk; many listeners hear them. The package holds the
services and the `chorusctl` command:

- `chorus.gateway` - the control plane (spaces, roles, admission, join tokens,
  placement, presence), an HTTP API with an OpenAPI document;
- `chorus.fanout` - the media path: relays speakers' 20 ms Opus frames to
  listeners over WebSocket;
- `chorus.config` and `chorus.catalog` - the configuration and the service
  catalog, validated by typed schemas;
- `chorus.cli` - `chorusctl`, which runs the stack locally and drives it.
"""

__version__ = "0.1.0"
