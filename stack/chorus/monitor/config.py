"""The generated configuration: scrape targets labelled like production, Prometheus and Alertmanager files.

Production scrapes each Chorus pod through Kubernetes service discovery and relabels it
(the header of `stack/deploy/prometheus/alerts.yaml`): `job` from the pod's
`app.kubernetes.io/name` label, `namespace` and `pod` from discovery. Locally the
same discovery labels are written into a file-discovery target file and the same
`relabel_configs` turn them into `job`, `namespace` and `pod`, so every rule and
runbook query sees the labels it would see in production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from chorus.monitor.binaries import MonitorError

NAMESPACE = "chorus"
"""The namespace of every Chorus pod (stack/deploy/kubernetes/00-namespace.yaml)."""

JOBS = {"gateway": "chorus-gateway", "origin": "chorus-fanout", "edge": "chorus-fanout-edge", "packager": "chorus-packager"}
"""The `job` of each kind of process: its catalog workload, which is its pods' `app.kubernetes.io/name`."""

PRODUCTION_RELABEL: list[dict[str, Any]] = [
    {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "target_label": "job"},
    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
]
"""The relabelling the rules file's header prescribes (a test keeps the two equal)."""

DEFAULT_SCRAPE_INTERVAL_S = 15.0
"""Production's scrape and rule evaluation interval (the rules file's header)."""


@dataclass(frozen=True)
class Target:
    """One process to scrape.

    Attributes:
        job: Its `job` label: the catalog workload, e.g. `chorus-fanout`.
        pod: Its `pod` label: locally the process name (`gateway`, `fanout-1`, `edge-1`, `packager`),
            which for fan-out nodes is also the node id, as in production.
        address: `host:port` serving `/metrics`.
    """

    job: str
    pod: str
    address: str

    def file_sd(self) -> dict[str, Any]:
        """This target as a file-discovery entry carrying Kubernetes' discovery labels."""
        return {
            "targets": [self.address],
            "labels": {
                "__meta_kubernetes_pod_label_app_kubernetes_io_name": self.job,
                "__meta_kubernetes_namespace": NAMESPACE,
                "__meta_kubernetes_pod_name": self.pod,
            },
        }


def duration(seconds: float) -> str:
    """A Prometheus duration for `seconds` (milliseconds when not whole seconds), e.g. `15s`, `1500ms`.

    Args:
        seconds: A positive number of seconds.

    Returns:
        The duration text.
    """
    millis = max(1, round(seconds * 1000))
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def prometheus_config(
    targets_file: Path, rules_file: Path, alertmanager: str, scrape_interval_s: float, evaluation_interval_s: float
) -> dict[str, Any]:
    """The Prometheus configuration: one scrape job over the target file, production's relabelling.

    Args:
        targets_file: The file-discovery JSON file (rewritten to change targets; Prometheus re-reads it).
        rules_file: The alerting rules to load.
        alertmanager: `host:port` of the Alertmanager to send alerts to.
        scrape_interval_s: How often to scrape.
        evaluation_interval_s: How often to evaluate the rules.

    Returns:
        The configuration, ready to dump as YAML.
    """
    return {
        "global": {
            "scrape_interval": duration(scrape_interval_s),
            "scrape_timeout": duration(min(10.0, scrape_interval_s)),
            "evaluation_interval": duration(evaluation_interval_s),
        },
        "rule_files": [str(rules_file)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": "chorus",
                "metrics_path": "/metrics",
                "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "1s"}],
                "relabel_configs": PRODUCTION_RELABEL,
            }
        ],
    }


def alertmanager_config(receiver_url: str, group_wait_s: float = 1.0) -> dict[str, Any]:
    """The Alertmanager configuration: every alert, grouped per alert and labels, to one webhook.

    Grouping by every label (`...`) makes each alert its own notification, sent after
    `group_wait_s` and again when it resolves, as on-call would see it.

    Args:
        receiver_url: The webhook URL that records notifications.
        group_wait_s: How long Alertmanager waits before the first notification of a group.

    Returns:
        The configuration, ready to dump as YAML.
    """
    return {
        "route": {
            "receiver": "record",
            "group_by": ["..."],
            "group_wait": duration(group_wait_s),
            "group_interval": duration(max(1.0, group_wait_s)),
            "repeat_interval": "4h",
        },
        "receivers": [{"name": "record", "webhook_configs": [{"url": receiver_url, "send_resolved": True}]}],
    }


_FOR_LINE = re.compile(r"^(\s*for:\s*)(\S+)\s*$", re.MULTILINE)
_RANGE = re.compile(r"\[(\d+(?:ms|s|m|h|d))\]")
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _seconds(text: str) -> float:
    """Seconds in a simple Prometheus duration such as `5m` or `1h30m`."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise MonitorError(f"cannot scale duration {text!r}: use a plain Prometheus duration such as 5m")
    return sum(int(n) * _UNIT_S[u] for n, u in parts)


def scale_rules(text: str, factor: float) -> str:
    """A rules file with every `for:` and every range window divided by `factor`, for fast drills.

    With `factor=10`, `for: 10m` becomes `for: 1m` and `rate(x[5m])` becomes `rate(x[30s])`;
    scrape and evaluation intervals must be divided by the same factor so that a window
    still spans as many scrapes as in production. Thresholds are untouched.

    Args:
        text: The rules file's text.
        factor: How many times faster; 1 returns `text` unchanged.

    Returns:
        The scaled text.

    Raises:
        MonitorError: `factor` is below 1, or a duration cannot be scaled.
    """
    if factor < 1:
        raise MonitorError(f"time scale {factor} is below 1: a drill can only run faster than production")
    if factor == 1:
        return text
    text = _FOR_LINE.sub(lambda m: m.group(1) + duration(_seconds(m.group(2)) / factor), text)
    return _RANGE.sub(lambda m: "[" + duration(_seconds(m.group(1)) / factor) + "]", text)


def _address(url: str) -> str:
    """`host:port` of an http(s)/ws URL."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise MonitorError(f"cannot scrape {url!r}: expected a URL with a host and a port")
    return f"{parts.hostname}:{parts.port}"


def targets_from_gateway(gateway_url: str, packager_url: str = "", timeout_s: float = 5.0,
                         token: str | None = None) -> list[Target]:
    """The targets of a running local stack: the gateway, every node it knows, and the packager if given.

    Args:
        gateway_url: The gateway's URL, e.g. `http://127.0.0.1:8080`.
        packager_url: The packager's URL, or `""` when it does not run.
        timeout_s: How long to wait for the gateway's answer.
        token: An operator token: the gateway lists its nodes to operators only (`chorus.operator`).

    Returns:
        The targets, gateway first.

    Raises:
        MonitorError: The gateway cannot be asked for its nodes.
    """
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(f"{gateway_url.rstrip('/')}/v1/nodes", timeout=timeout_s, headers=headers)
        response.raise_for_status()
        nodes = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise MonitorError(f"cannot list the nodes at {gateway_url}/v1/nodes ({exc.__class__.__name__}): start the stack with `chorusctl up` first") from None
    targets = [Target(JOBS["gateway"], "gateway", _address(gateway_url))]
    for node in sorted(nodes, key=lambda n: (n.get("role") != "origin", str(n.get("id")))):
        targets.append(Target(JOBS["edge" if node.get("role") == "edge" else "origin"], str(node["id"]), _address(str(node["url"]))))
    if packager_url:
        targets.append(Target(JOBS["packager"], "packager", _address(packager_url)))
    return targets
