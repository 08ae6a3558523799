"""Where a running monitor can be found: a small state file per local gateway.

`chorusctl up --monitor` and `chorusctl monitor` write it when their Prometheus is
ready and remove it when they stop; `chorusctl alerts` and `chorusctl query` read it
to reach that Prometheus. The file is named after the gateway's port, so two stacks
on one machine do not mix.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from chorus.monitor.binaries import MonitorError


@dataclass(frozen=True)
class MonitorState:
    """How to reach a running monitor.

    Attributes:
        gateway_url: The gateway it watches.
        prometheus_url: Its Prometheus.
        alertmanager_url: Its Alertmanager.
        receiver_url: Its notification receiver's webhook (GET `/notifications` beside it).
        notifications_file: The receiver's JSON-lines file.
        pid: The process that runs it.
    """

    gateway_url: str
    prometheus_url: str
    alertmanager_url: str
    receiver_url: str
    notifications_file: str
    pid: int


def state_path(gateway_url: str) -> Path:
    """The state file of the monitor watching `gateway_url`.

    Args:
        gateway_url: e.g. `http://127.0.0.1:8080`.

    Returns:
        A path in the system's temporary folder.
    """
    parts = urlsplit(gateway_url)
    return Path(tempfile.gettempdir()) / f"chorus-monitor-{parts.hostname}-{parts.port}.json"


def write_state(state: MonitorState) -> Path:
    """Write the state file (readable by this user only).

    Returns:
        Its path.
    """
    path = state_path(state.gateway_url)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(state), indent=2))
    partial.chmod(0o600)
    partial.replace(path)
    return path


def remove_state(gateway_url: str, pid: int) -> None:
    """Remove the state file if process `pid` wrote it."""
    path = state_path(gateway_url)
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def read_state(gateway_url: str) -> MonitorState:
    """The running monitor of `gateway_url`.

    Raises:
        MonitorError: None runs (no state file, or the process that wrote it is gone).
    """
    path = state_path(gateway_url)
    hint = "start one with `chorusctl up --monitor` or, beside a running stack, `chorusctl monitor`"
    try:
        state = MonitorState(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise MonitorError(f"no monitor is watching the gateway at {gateway_url}: {hint}") from None
    except (OSError, ValueError, TypeError) as exc:
        raise MonitorError(f"{path}: unreadable monitor state ({exc.__class__.__name__}): delete it and {hint}") from None
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        raise MonitorError(f"the monitor of {gateway_url} (pid {state.pid}) has stopped: {hint}") from None
    except PermissionError:
        pass
    return state
