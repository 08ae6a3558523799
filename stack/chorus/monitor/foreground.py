"""The monitor for a person: start it beside a local stack, say where it is, run until Ctrl-C.

Used by `chorusctl up --monitor` (inside `up`) and `chorusctl monitor` (beside a running `up`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

from chorus.monitor.binaries import MonitorError
from chorus.monitor.config import targets_from_gateway
from chorus.monitor.runner import Monitor, MonitorSettings
from chorus.monitor.state import MonitorState, remove_state, write_state


def start_for_stack(gateway_url: str, packager_url: str, settings: MonitorSettings,
                    say: Callable[[str], None], token: str | None = None) -> Monitor:
    """Start a monitor over a running stack, wait for its first scrape, publish its state, print its URLs.

    Args:
        gateway_url: The stack's gateway.
        packager_url: Its packager, or `""`.
        settings: Ports, intervals, rules.
        say: Where the progress lines go.
        token: An operator token, to list the gateway's nodes.

    Returns:
        The started monitor (stop it with `stop_for_stack`).

    Raises:
        MonitorError: It could not start; nothing is left running.
    """
    monitor = Monitor(targets_from_gateway(gateway_url, packager_url, token=token), settings)
    monitor.start()
    try:
        monitor.wait_for_targets(timeout_s=max(30.0, 4 * settings.scrape_interval_s))
        write_state(MonitorState(gateway_url, monitor.prometheus_url, monitor.alertmanager_url, monitor.receiver_url,
                                 str(monitor.notifications_file), os.getpid()))
    except BaseException:
        monitor.stop()
        raise
    scaled = f", rules {settings.time_scale:g}x faster" if settings.time_scale != 1 else ""
    say(f"chorus monitor: prometheus {monitor.prometheus_url} (scraping {len(monitor.targets)} targets every "
        f"{settings.scrape_interval_s:g} s{scaled})")
    say(f"chorus monitor: alertmanager {monitor.alertmanager_url}")
    say(f"chorus monitor: notifications {monitor.receiver_url.removesuffix('/alerts')}/notifications "
        f"(file {monitor.notifications_file})")
    say("chorus monitor: ready - try `chorusctl alerts` and `chorusctl query up`")
    return monitor


def stop_for_stack(monitor: Monitor, gateway_url: str) -> None:
    """Stop a monitor started by `start_for_stack` and withdraw its state file."""
    remove_state(gateway_url, os.getpid())
    monitor.stop()


def run_monitor(gateway_url: str, packager_url: str, settings: MonitorSettings, token: str | None = None) -> int:
    """Run a monitor beside a running stack, in the foreground until Ctrl-C or SIGTERM.

    Args:
        gateway_url: The stack's gateway.
        packager_url: Its packager, or `""`.
        settings: Ports, intervals, rules.
        token: An operator token, to list the gateway's nodes.

    Returns:
        0 after a clean stop, 1 if it failed to start or Prometheus/Alertmanager died.
    """
    stop = False

    def request_stop(*_args: object) -> None:
        nonlocal stop
        stop = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    monitor: Monitor | None = None
    try:
        monitor = start_for_stack(gateway_url, packager_url, settings,
                                  lambda line: print(line, file=sys.stderr, flush=True), token)
        while not stop:
            monitor.check_alive()
            time.sleep(0.2)
        print("chorus monitor: stopping", file=sys.stderr, flush=True)
        return 0
    except MonitorError as exc:
        print(f"error: chorus monitor: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if monitor is not None:
            stop_for_stack(monitor, gateway_url)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
