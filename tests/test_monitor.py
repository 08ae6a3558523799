"""The monitor (`chorus.monitor`): its generated configuration, receiver, and its one-line failures.

Prometheus and Alertmanager run for real on free loopback ports; the tutorial test and the
live-series test cover a monitor over a real stack end to end.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from chorus.monitor import (
    PRODUCTION_RELABEL,
    Monitor,
    MonitorError,
    MonitorSettings,
    NotificationReceiver,
    Target,
    scale_rules,
)
from chorus.monitor.runner import RULES_FILE
from chorus_support import free_port, real_stack
from conftest import BIN

needs_prometheus = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v prometheus && command -v prometheus-alertmanager"], capture_output=True).returncode != 0,
    reason="prometheus missing: `make setup` installs it",
)


def test_the_relabelling_is_the_one_the_rules_header_prescribes() -> None:
    header = [line[1:] for line in RULES_FILE.read_text().splitlines() if line.startswith("#")]
    start = next(i for i, line in enumerate(header) if line.strip() == "relabel_configs:")
    block = []
    for line in header[start + 1:]:
        if not line.strip().startswith("- {"):
            break
        block.append(line)
    assert yaml.safe_load("\n".join(block).replace("    -", "-")) == PRODUCTION_RELABEL


def test_scale_rules_divides_for_and_windows_only() -> None:
    text = "      - alert: X\n        expr: rate(x[5m]) > 0.25 and avg_over_time(y[2m]) > 1\n        for: 10m\n"
    scaled = scale_rules(text, 10)
    assert "rate(x[30s]) > 0.25" in scaled and "avg_over_time(y[12s]) > 1" in scaled and "for: 1m" not in scaled
    assert re.search(r"for: 60s$", scaled, re.M)
    assert scale_rules(text, 1) == text
    with pytest.raises(MonitorError, match="below 1"):
        scale_rules(text, 0.5)


def test_scaled_real_rules_still_pass_promtool(tmp_path: Path) -> None:
    from chorus.monitor.promtool import check_rules

    scaled = tmp_path / "alerts.yaml"
    scaled.write_text(scale_rules(RULES_FILE.read_text(), 10))
    assert check_rules([scaled]) == []


def test_target_carries_kubernetes_discovery_labels() -> None:
    entry = Target("chorus-fanout-edge", "edge-1", "127.0.0.1:9").file_sd()
    assert entry == {"targets": ["127.0.0.1:9"], "labels": {
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": "chorus-fanout-edge",
        "__meta_kubernetes_namespace": "chorus", "__meta_kubernetes_pod_name": "edge-1"}}


def test_receiver_records_alertmanager_payloads_and_bounds_input(tmp_path: Path) -> None:
    receiver = NotificationReceiver(tmp_path / "n.jsonl")
    receiver.start()
    try:
        payload = {"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "ChorusDeadAir", "team": "media"},
                                                   "annotations": {"runbook_url": "http://h/runbooks/dead-air/", "summary": "s"},
                                                   "startsAt": "2026-11-30T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]}
        assert httpx.post(receiver.url, json=payload).status_code == 200
        assert httpx.post(receiver.url, content=b"x" * (2 << 20)).status_code == 413
        assert httpx.post(receiver.url, content=b"not json").status_code == 400
        assert httpx.post(receiver.url.replace("/alerts", "/other"), json=payload).status_code == 404
        listed = httpx.get(receiver.url.replace("/alerts", "/notifications")).json()
        assert [(n["alertname"], n["status"], n["runbook_url"], n["labels"]["team"]) for n in listed] == [
            ("ChorusDeadAir", "firing", "http://h/runbooks/dead-air/", "media")]
        assert json.loads((tmp_path / "n.jsonl").read_text())["summary"] == "s"
    finally:
        receiver.stop()


@needs_prometheus
def test_a_taken_port_is_one_line_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MonitorError) as info:
            Monitor([], MonitorSettings(prometheus_port=port)).start()
    assert str(info.value) == f"port {port} on 127.0.0.1 is taken: stop what listens there or choose another (--prometheus-port)"


def test_a_missing_binary_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(BIN))
    with pytest.raises(MonitorError, match=r"^prometheus not found on PATH: run `make setup`"):
        Monitor([]).start()


@needs_prometheus
def test_rules_promtool_rejects_stop_the_start_at_their_line(tmp_path: Path) -> None:
    bad = tmp_path / "alerts.yaml"
    bad.write_text(RULES_FILE.read_text().replace('up{job=~"chorus-fanout|chorus-fanout-edge"} == 0', 'up{job=~"chorus-fanout" == 0'))
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if 'up{job=~"chorus-fanout" == 0' in text)
    with pytest.raises(MonitorError) as info:
        Monitor([], MonitorSettings(rules_file=bad, workdir=tmp_path / "work")).start()
    assert str(info.value).startswith(f"{bad}:{line}:")
    assert "could not parse expression" in str(info.value) and "fix them and retry" in str(info.value)


@needs_prometheus
def test_monitor_starts_and_stops_cleanly_on_free_ports(tmp_path: Path) -> None:
    with Monitor([], MonitorSettings(scrape_interval_s=1, evaluation_interval_s=1, workdir=tmp_path / "w")) as monitor:
        assert httpx.get(f"{monitor.alertmanager_url}/-/ready").status_code == 200
        assert monitor.query("vector(1)")[0]["value"][1] == "1"
        pids = [p.process.pid for p in monitor._processes]
        # The generated configuration loads the rules file and production's relabelling.
        config = yaml.safe_load((tmp_path / "w" / "prometheus.yml").read_text())
        assert config["scrape_configs"][0]["relabel_configs"] == PRODUCTION_RELABEL
        assert config["rule_files"] == [str(RULES_FILE)]
        # Absent-based alerts pend with no targets at all: the rules are really evaluated.
        assert monitor.wait_for_alert("ChorusGatewayDown", state="pending", timeout_s=30)
        with pytest.raises(MonitorError, match="^Prometheus refused /api/v1/query: bad_data"):
            monitor.query("sum(")
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_alerts_without_a_monitor_is_one_line() -> None:
    port = free_port()
    result = subprocess.run([str(BIN / "chorusctl"), "alerts", "--gateway", f"http://127.0.0.1:{port}"], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == (f"error: no monitor is watching the gateway at http://127.0.0.1:{port}: start one with "
                             "`chorusctl up --monitor` or, beside a running stack, `chorusctl monitor`\n")


@needs_prometheus
def test_up_with_a_taken_prometheus_port_exits_1_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AssertionError, match="exited during start-up") as info:
            with real_stack(nodes=1, up_args=("--monitor", "--prometheus-port", str(port))):
                pass
    output = str(info.value)
    assert f"error: chorus up: monitor: port {port} on 127.0.0.1 is taken" in output
    assert "Traceback" not in output
