"""`Monitor`: start and stop Prometheus, Alertmanager and the notification receiver; ask them things."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

from chorus.monitor.binaries import MonitorError, find_binary
from chorus.monitor.config import (
    DEFAULT_SCRAPE_INTERVAL_S,
    Target,
    alertmanager_config,
    prometheus_config,
    scale_rules,
)
from chorus.monitor.promtool import check_rules
from chorus.monitor.receiver import Notification, NotificationReceiver, read_notifications

RULES_FILE = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yaml"
"""The real alerting rules."""

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0



@dataclass
class MonitorSettings:
    """How to run the monitor; the defaults are production's intervals and the real rules.

    Attributes:
        rules_file: The alerting rules to load.
        scrape_interval_s: How often Prometheus scrapes (production: 15 s).
        evaluation_interval_s: How often it evaluates the rules (production: 15 s).
        time_scale: Divide every `for:` and range window of the rules by this (1: unchanged); divide
            the intervals by the same factor yourself. See `chorus.monitor.config.scale_rules`.
        prometheus_port: Prometheus's port on 127.0.0.1 (0: a free one).
        alertmanager_port: Alertmanager's port (0: a free one).
        receiver_port: The notification receiver's port (0: a free one).
        workdir: Where configuration, data, logs and notifications go (None: a new temporary
            folder, removed on stop unless `keep_workdir`).
        keep_workdir: Keep the folder after stopping.
        group_wait_s: Alertmanager's wait before the first notification of an alert.
    """

    rules_file: Path = RULES_FILE
    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S
    evaluation_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S
    time_scale: float = 1.0
    prometheus_port: int = 0
    alertmanager_port: int = 0
    receiver_port: int = 0
    workdir: Path | None = None
    keep_workdir: bool = False
    group_wait_s: float = 1.0


@dataclass
class _Process:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


def _claim_port(port: int, flag: str) -> int:
    """`port` if it is free on 127.0.0.1 (or any free port when 0); else a one-line MonitorError."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise MonitorError(f"port {port} on 127.0.0.1 is taken: stop what listens there or choose another ({flag})") from None
        return int(probe.getsockname()[1])


def _last_error(log: Path) -> str:
    """The most telling line of a Prometheus/Alertmanager log (the last `level=error`), or its last line."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if "level=error" in line or "err=" in line]
    line = (errors or lines or ["no log"])[-1]
    for key in ("err=", "msg="):
        if key in line:
            return line[line.index(key):][:300]
    return line[:300]



class MonitorClient:
    """Questions to a running monitor: PromQL, alerts, recorded notifications, and waiting for them.

    `Monitor` is one; `MonitorClient.from_state` reaches one another process started
    (`chorusctl up --monitor` writes where it runs to a state file).

    Args:
        prometheus_url: Prometheus's URL.
        notifications_file: The receiver's JSON-lines file.
        poll_s: How often the `wait_for_*` methods ask.

    Attributes:
        prometheus_url: Prometheus's URL.
        notifications_file: The receiver's file.
    """

    def __init__(self, prometheus_url: str = "", notifications_file: Path = Path(), poll_s: float = 0.5) -> None:
        self.prometheus_url = prometheus_url
        self.notifications_file = notifications_file
        self._poll_s = poll_s
        self._http = httpx.Client(timeout=10.0)

    def close(self) -> None:
        """Close the HTTP connections to Prometheus."""
        self._http.close()

    def check_alive(self) -> None:
        """Raise if something this client depends on has died (a `Monitor` checks its processes)."""

    def _api(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET a Prometheus API path and return its `data`."""
        try:
            response = self._http.get(f"{self.prometheus_url}{path}", params=params)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise MonitorError(f"Prometheus at {self.prometheus_url} did not answer {path} ({exc.__class__.__name__})") from None
        if body.get("status") != "success":
            raise MonitorError(f"Prometheus refused {path}: {body.get('errorType', '')}: {body.get('error', '')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query now.

        Args:
            expr: PromQL.

        Returns:
            The result vector: each item has `metric` (labels) and `value` (`[time, "value"]`);
            a scalar result comes back as one item without `metric` labels.

        Raises:
            MonitorError: The query is invalid or Prometheus does not answer.
        """
        data = self._api("/api/v1/query", {"query": expr})
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def series(self, selector: str, since_s: float = 300.0) -> list[dict[str, str]]:
        """The series a selector matched in the last `since_s` seconds (label sets).

        Args:
            selector: A series selector, e.g. `chorus_gateway_joins_total{result="shed"}`.
            since_s: How far back to look.

        Returns:
            Their label sets (empty when nothing matches).
        """
        return list(self._api("/api/v1/series", {"match[]": selector, "start": str(time.time() - since_s)}))

    def alerts(self, name: str | None = None) -> list[dict[str, Any]]:
        """The alerts Prometheus holds now, pending or firing.

        Args:
            name: Only alerts with this `alertname`.

        Returns:
            Each alert's `labels`, `annotations`, `state` (`pending` or `firing`), `activeAt`, `value`.
        """
        found = self._api("/api/v1/alerts")["alerts"]
        return [a for a in found if name is None or a["labels"].get("alertname") == name]

    def wait_for_scrape(self, pods: set[str], timeout_s: float = 60.0) -> None:
        """Wait until the targets of these pods have each been scraped and answered.

        Args:
            pods: Their `pod` labels.
            timeout_s: How long to wait.

        Raises:
            MonitorError: Some target is still unscraped or down after `timeout_s`.
        """
        wanted = set(pods)

        def scraped() -> bool:
            active = self._api("/api/v1/targets", {"state": "active"})["activeTargets"]
            up = {t["labels"].get("pod") for t in active if t["health"] == "up"}
            return wanted <= up

        self._wait(scraped, timeout_s, f"every target ({', '.join(sorted(wanted))}) to be scraped")

    def wait_for_alert(self, name: str, state: str = "firing", timeout_s: float = 300.0,
                       labels: dict[str, str] | None = None) -> dict[str, Any]:
        """Wait until alert `name` (with `labels`, if given) is in `state`.

        Args:
            name: The alert name.
            state: `firing` or `pending`.
            timeout_s: How long to wait.
            labels: Labels the alert must carry.

        Returns:
            The alert as `alerts` gives it.

        Raises:
            MonitorError: Not in that state after `timeout_s`.
        """
        found: list[dict[str, Any]] = []

        def matching() -> bool:
            found[:] = [a for a in self.alerts(name) if a["state"] == state
                        and all(a["labels"].get(k) == v for k, v in (labels or {}).items())]
            return bool(found)

        self._wait(matching, timeout_s, f"alert {name} to be {state}")
        return found[0]

    def wait_for_resolved(self, name: str, timeout_s: float = 300.0, labels: dict[str, str] | None = None) -> None:
        """Wait until alert `name` (with `labels`, if given) is neither pending nor firing.

        Raises:
            MonitorError: Still active after `timeout_s`.
        """
        self._wait(lambda: not [a for a in self.alerts(name) if all(a["labels"].get(k) == v for k, v in (labels or {}).items())],
                   timeout_s, f"alert {name} to resolve")

    def notifications(self) -> list[Notification]:
        """Every notification the receiver recorded, oldest first."""
        return read_notifications(self.notifications_file)

    def wait_for_notification(self, name: str, status: str = "firing", timeout_s: float = 60.0) -> Notification:
        """Wait until Alertmanager has delivered a notification of `name` with `status` (`firing`/`resolved`).

        Raises:
            MonitorError: None arrived within `timeout_s`.
        """
        found: list[Notification] = []

        def arrived() -> bool:
            found[:] = [n for n in self.notifications() if n.alertname == name and n.status == status]
            return bool(found)

        self._wait(arrived, timeout_s, f"a {status} notification of {name}")
        return found[0]

    def _wait(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise MonitorError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(self._poll_s)


class Monitor(MonitorClient):
    """Prometheus and Alertmanager on loopback beside a local stack, recording what would have paged.

    Use as a context manager, or call `start` and `stop`. Nothing binds outside 127.0.0.1;
    every process is stopped (SIGTERM, then SIGKILL) by `stop`.

    Args:
        targets: What to scrape (see `targets_from_gateway`); change later with `set_targets`.
        settings: Ports, intervals, rules, folder.

    Attributes:
        settings: The settings.
        workdir: The folder in use (after `start`).
        prometheus_url: e.g. `http://127.0.0.1:41234` (after `start`).
        alertmanager_url: Alertmanager's URL (after `start`).
        receiver_url: The webhook URL; GET its `/notifications` for the recorded list.
        notifications_file: The JSON-lines file of recorded notifications.
        rules_file: The rules Prometheus loaded (a scaled copy when `time_scale` > 1).
    """

    def __init__(self, targets: list[Target], settings: MonitorSettings | None = None) -> None:
        self.settings = settings or MonitorSettings()
        super().__init__(poll_s=min(0.5, max(0.05, self.settings.evaluation_interval_s / 4)))
        self.targets = list(targets)
        self.workdir = Path()
        self.alertmanager_url = ""
        self.receiver_url = ""
        self.rules_file = self.settings.rules_file
        self._processes: list[_Process] = []
        self._receiver: NotificationReceiver | None = None
        self._own_workdir = False

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Monitor:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Check the rules, write the configuration, start the receiver, Alertmanager and Prometheus.

        Returns once both answer `/-/ready`.

        Raises:
            MonitorError: A binary is missing, a port is taken, the rules are rejected, or a process
                did not start; everything already started is stopped again.
        """
        settings = self.settings
        prometheus_bin, alertmanager_bin = find_binary("prometheus"), find_binary("alertmanager")
        if not settings.rules_file.is_file():
            raise MonitorError(f"{settings.rules_file}: rules file not found: pass an existing rules file")
        prometheus_port = _claim_port(settings.prometheus_port, "--prometheus-port")
        alertmanager_port = _claim_port(settings.alertmanager_port, "--alertmanager-port")
        if settings.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="chorus-monitor-"))
            self._own_workdir = not settings.keep_workdir
        else:
            self.workdir = settings.workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start(prometheus_bin, alertmanager_bin, prometheus_port, alertmanager_port)
        except BaseException:
            self.stop()
            raise

    def _start(self, prometheus_bin: str, alertmanager_bin: str, prometheus_port: int, alertmanager_port: int) -> None:
        settings = self.settings
        self.rules_file = settings.rules_file.resolve()
        if settings.time_scale != 1:
            self.rules_file = self.workdir / "alerts.scaled.yaml"
            self.rules_file.write_text(scale_rules(settings.rules_file.read_text(encoding="utf-8"), settings.time_scale))
        problems = check_rules([self.rules_file])
        if problems:
            raise MonitorError(f"{problems[0].format()} (promtool check rules rejects the rules; fix them and retry)")
        self.notifications_file = self.workdir / "notifications.jsonl"
        self._receiver = NotificationReceiver(self.notifications_file, settings.receiver_port)
        self._receiver.start()
        self.receiver_url = self._receiver.url
        self.set_targets(self.targets)
        am_config = self.workdir / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_config(self.receiver_url, settings.group_wait_s), sort_keys=False))
        self.alertmanager_url = f"http://127.0.0.1:{alertmanager_port}"
        self._spawn("alertmanager", [
            alertmanager_bin, f"--config.file={am_config}", f"--storage.path={self.workdir / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{alertmanager_port}", "--cluster.listen-address=",
            f"--web.external-url={self.alertmanager_url}",
        ])
        self._wait_ready("alertmanager", self.alertmanager_url)
        config = prometheus_config(self.workdir / "targets.json", self.rules_file, f"127.0.0.1:{alertmanager_port}",
                                   settings.scrape_interval_s, settings.evaluation_interval_s)
        prom_config = self.workdir / "prometheus.yml"
        prom_config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        self._spawn("prometheus", [
            prometheus_bin, f"--config.file={prom_config}", f"--storage.tsdb.path={self.workdir / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}", "--storage.tsdb.retention.time=1d",
            f"--web.external-url={self.prometheus_url}", "--web.enable-lifecycle",
        ])
        self._wait_ready("prometheus", self.prometheus_url)

    def _spawn(self, name: str, command: list[str]) -> None:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=self.workdir, start_new_session=True)
        self._processes.append(_Process(name, process, log))

    def _wait_ready(self, name: str, url: str) -> None:
        proc = next(p for p in self._processes if p.name == name)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.process.poll() is not None:
                raise MonitorError(f"{name} exited at start (code {proc.process.returncode}): {_last_error(proc.log)} (full log: {proc.log})")
            try:
                if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise MonitorError(f"{name} not ready at {url} after {START_TIMEOUT_S:.0f} s: see {proc.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop Prometheus, Alertmanager and the receiver; remove the temporary folder if it is ours."""
        for proc in reversed(self._processes):
            if proc.process.poll() is None:
                proc.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in reversed(self._processes):
            try:
                proc.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.process.pid, signal.SIGKILL)
                proc.process.wait()
        self._processes.clear()
        if self._receiver is not None:
            self._receiver.stop()
            self._receiver = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._own_workdir = False
        self.close()

    def set_targets(self, targets: list[Target]) -> None:
        """Replace what Prometheus scrapes (it re-reads the target file within a second).

        Args:
            targets: The new targets.
        """
        self.targets = list(targets)
        path = self.workdir / "targets.json"
        partial = path.with_suffix(".json.tmp")
        partial.write_text(json.dumps([t.file_sd() for t in self.targets], indent=2))
        partial.replace(path)


    def check_alive(self) -> None:
        """Raise if Prometheus or Alertmanager has exited."""
        for proc in self._processes:
            if proc.process.poll() is not None:
                raise MonitorError(f"{proc.name} exited (code {proc.process.returncode}): {_last_error(proc.log)}")

    def wait_for_targets(self, timeout_s: float = 60.0) -> None:
        """Wait until every current target has been scraped and answered (`wait_for_scrape` of all pods).

        Raises:
            MonitorError: Some target is still unscraped or down after `timeout_s`.
        """
        self.wait_for_scrape({t.pod for t in self.targets}, timeout_s)
