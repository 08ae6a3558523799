"""A real Prometheus and Alertmanager beside the local stack, and what on-call would have been paged with.

`Monitor` runs Debian's `prometheus` and `prometheus-alertmanager` binaries on
loopback (never as services), in a temporary folder, with a generated scrape
configuration that labels every Chorus target the way production's relabelling
does, the real `stack/deploy/prometheus/alerts.yaml` loaded, and alerts routed to
a `NotificationReceiver` that records each notification. `chorusctl up --monitor`
and `chorusctl monitor` are built on it; so are the tests and the drills.

Example:
    ```python
    from chorus.monitor import Monitor, MonitorSettings, targets_from_gateway

    with Monitor(targets_from_gateway("http://127.0.0.1:8080"), MonitorSettings(scrape_interval_s=1)) as monitor:
        monitor.wait_for_targets()
        monitor.query('up{job="chorus-gateway"}')
        alert = monitor.wait_for_alert("ChorusFanoutNodeDown", timeout_s=180)
        monitor.wait_for_resolved("ChorusFanoutNodeDown", timeout_s=180)
        monitor.notifications()
    ```
"""

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "MonitorError": "binaries",
    "PRODUCTION_RELABEL": "config", "Target": "config", "alertmanager_config": "config",
    "prometheus_config": "config", "scale_rules": "config", "targets_from_gateway": "config",
    "Notification": "receiver", "NotificationReceiver": "receiver",
    "Monitor": "runner", "MonitorClient": "runner", "MonitorSettings": "runner",
    "MonitorState": "state", "read_state": "state", "state_path": "state", "write_state": "state",
}
"""Each public name and the submodule it lives in: imported on first use, so a caller that needs only
`chorus.monitor.promtool` (the handbook's checks) does not load the HTTP client and the runner."""

if TYPE_CHECKING:
    from chorus.monitor.binaries import MonitorError
    from chorus.monitor.config import (
        PRODUCTION_RELABEL,
        Target,
        alertmanager_config,
        prometheus_config,
        scale_rules,
        targets_from_gateway,
    )
    from chorus.monitor.receiver import Notification, NotificationReceiver
    from chorus.monitor.runner import Monitor, MonitorClient, MonitorSettings
    from chorus.monitor.state import MonitorState, read_state, state_path, write_state


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "PRODUCTION_RELABEL",
    "Monitor",
    "MonitorClient",
    "MonitorError",
    "MonitorSettings",
    "MonitorState",
    "Notification",
    "NotificationReceiver",
    "Target",
    "alertmanager_config",
    "prometheus_config",
    "read_state",
    "scale_rules",
    "state_path",
    "targets_from_gateway",
    "write_state",
]
