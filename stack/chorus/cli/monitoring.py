"""`chorusctl monitor`, `alerts` and `query`: Prometheus and Alertmanager beside a local stack (`chorus.monitor`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from chorus.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    Commands,
    CommandError,
    SharedOptions,
    config_of,
    emit,
    gateway_url,
    http_ready,
    table,
)
from chorus.tokens import SigningKeyError

if TYPE_CHECKING:  # the monitor's modules load only for the commands that use them
    from chorus.monitor import MonitorClient, MonitorSettings, MonitorState


def add_monitor(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl monitor`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    monitor = commands.add_parser(
        "monitor", parents=[shared.watch], help="run Prometheus and Alertmanager over a running local stack until Ctrl-C",
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
    monitor.set_defaults(handler=monitor_command)


def add_alerts(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl alerts`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    alerts = commands.add_parser(
        "alerts", parents=[shared.client], help="show the monitor's alerts and the notifications on-call would have got",
        description="Ask the monitor of the local stack (`chorusctl up --monitor` or `chorusctl monitor`) for its "
        "URLs, the alerts pending or firing now, and every notification Alertmanager delivered. With --wait, "
        "wait until alert NAME fires (or, with --resolved, resolves) and its notification is delivered.",
        epilog="Exit code 1 if no monitor runs or --wait timed out. Example: chorusctl alerts --wait ChorusJoinShedding",
    )
    alerts.add_argument("--wait", metavar="NAME", default=None, help="wait until this alert fires and is notified")
    alerts.add_argument("--resolved", action="store_true", help="with --wait: wait until it resolves instead")
    alerts.add_argument("--timeout", type=float, default=600.0, metavar="S", help="with --wait: give up after S seconds (default: 600)")
    alerts.set_defaults(handler=alerts_command)


def add_query(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl query`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    query = commands.add_parser(
        "query", parents=[shared.client], help="run a PromQL query on the monitor's Prometheus",
        description="Run an instant PromQL query on the Prometheus of the local stack's monitor and print one "
        "line per series: its labels and value.",
        epilog="Exit code 1 if no monitor runs or the query is invalid. Example: chorusctl query 'sum by (job) (up)'",
    )
    query.add_argument("promql", metavar="PROMQL", help="the query")
    query.set_defaults(handler=query_command)


def monitor_settings(args: argparse.Namespace) -> MonitorSettings:
    """The monitor's settings from `--prometheus-port`, `--alertmanager-port`, `--time-scale`, `--rules`.

    Args:
        args: The parsed arguments of `up --monitor` or `monitor`.

    Returns:
        The settings, every interval divided by `--time-scale`.

    Raises:
        CommandError: A port or the time scale is out of bounds (exit 2).
    """
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


def monitor_command(args: argparse.Namespace) -> int:
    """Run `chorusctl monitor`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from chorus.monitor.foreground import run_monitor

    config = config_of(args)
    settings = monitor_settings(args)
    packager = args.packager
    if packager is None:
        url = f"http://{config.packager.host}:{config.packager.port}"
        packager = url if config.packager.port and http_ready(url) else ""
    from chorus.credentials import operator_token_for

    try:
        token = operator_token_for(config.gateway.token, gateway_url(args))
    except SigningKeyError as exc:
        raise CommandError(f"signing key: {exc}", EXIT_USAGE) from None
    return run_monitor(gateway_url(args), packager, settings, token)


def monitor_client(args: argparse.Namespace) -> tuple[MonitorClient, MonitorState]:
    """A client of the local stack's running monitor, and its state.

    Args:
        args: The parsed arguments (`--gateway` names the stack).

    Returns:
        The client and the state the monitor wrote (its URLs).

    Raises:
        CommandError: No monitor runs beside this stack.
    """
    from chorus.monitor import MonitorClient, MonitorError, read_state

    try:
        state = read_state(gateway_url(args))
    except MonitorError as exc:
        raise CommandError(str(exc)) from None
    return MonitorClient(state.prometheus_url, Path(state.notifications_file)), state


def alerts_command(args: argparse.Namespace) -> int:
    """Run `chorusctl alerts`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from dataclasses import asdict

    from chorus.monitor import MonitorError

    if not 0 < args.timeout <= 3600:
        raise CommandError("--timeout must be above 0 and at most 3600 seconds", EXIT_USAGE)
    client, state = monitor_client(args)
    try:
        if args.wait:
            if args.resolved:
                client.wait_for_resolved(args.wait, timeout_s=args.timeout)
            else:
                client.wait_for_alert(args.wait, timeout_s=args.timeout)
            note = client.wait_for_notification(args.wait, "resolved" if args.resolved else "firing", timeout_s=args.timeout)
            emit(args, asdict(note), f"{note.status} {note.alertname} {note.labels.get('severity', '')} "
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
    lines.append(table(rows) if active else "no alert is pending or firing")
    lines.append("")
    if notes:
        rows = [["RECEIVED", "STATUS", "ALERT", "SEVERITY", "TEAM", "RUNBOOK"]]
        for n in notes:
            rows.append([time.strftime("%H:%M:%S", time.localtime(n.received_at)), n.status, n.alertname,
                         n.labels.get("severity", ""), n.labels.get("team", ""), n.runbook_url])
        lines.append(table(rows))
    else:
        lines.append("no notification yet")
    emit(args, data, "\n".join(lines))
    return EXIT_OK


def query_command(args: argparse.Namespace) -> int:
    """Run `chorusctl query`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from chorus.monitor import MonitorError

    if not 0 < len(args.promql) <= 10_000:
        raise CommandError("PROMQL must be 1 to 10,000 characters", EXIT_USAGE)
    client, _state = monitor_client(args)
    try:
        result = client.query(args.promql)
    except MonitorError as exc:
        raise CommandError(str(exc)) from None
    lines = []
    for item in result:
        labels = ", ".join(f'{k}="{v}"' for k, v in sorted(item["metric"].items()))
        lines.append(f"{{{labels}}} {item['value'][1]}")
    emit(args, result, "\n".join(lines) if lines else "(no series)")
    return EXIT_OK
