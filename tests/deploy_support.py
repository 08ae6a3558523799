"""Helpers for the deployment tests: run the checks over a tree, make broken copies, run real services."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from chorus.catalog import load_catalog
from chorus.deploy.findings import Finding
from chorus.deploy.promql import exported_series
from chorus.deploy.rules import check_rules
from chorus.metrics import service_registries
from conftest import ROOT
from handbook import sources
from handbook.project import Project
from handbook.runner import run_checks

SIGNING_KEY = "deploy-test-signing-key-0123456789abcdef"
"""A signing key long enough for `gateway.token.min_key_bytes`."""

ALERTS_FILE = sources.ALERTS_DIR / "alerts.yaml"


def series() -> dict[str, frozenset[str]]:
    """Every series the services export, from their registries."""
    return exported_series(service_registries())


def site_url(root: Path) -> str:
    """The handbook's `site_url` from `mkdocs.yml`, as the handbook reads it (`sources.site_settings`)."""
    return sources.site_settings(root).site_url


def _problems(root: Path, family: str) -> list[str]:
    """Every problem of one check family over `root`, as `path:line: CODE message`, run by `handbook check`."""
    report = run_checks(Project(root), [family])
    return [f"{p.path}:{p.line}: {p.code} {p.message}" for p in report.problems]


def manifest_problems(root: Path) -> list[str]:
    """Every problem in `root`'s manifests (family DP), as `handbook check --select DP` reports them."""
    return _problems(root, "DP")


def rule_findings(root: Path) -> list[Finding]:
    """The findings of `chorus.deploy.rules` over `root`'s alert rules."""
    doc = sources.read_yaml(root, ALERTS_FILE)
    return check_rules(doc.data, series(), load_catalog(root / sources.CATALOG))


def rule_problems(root: Path) -> list[str]:
    """Every problem in `root`'s alert rules (family AR), as `handbook check --select AR` reports them."""
    return _problems(root, "AR")


def copy_tree(target: Path) -> Path:
    """Copy what the deployment checks read (catalog, config, manifests, rules, mkdocs.yml) into `target`."""
    for rel in (sources.CATALOG, sources.CONFIG, Path("mkdocs.yml")):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, target / rel)
    for folder in (sources.KUBERNETES_DIR, sources.ALERTS_DIR):
        shutil.copytree(ROOT / folder, target / folder)
    return target


def mutate(root: Path, rel: Path | str, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in a file of the tree with `new`."""
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{rel}: expected exactly one {old!r}, found {text.count(old)}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(root: Path, rel: Path | str, anchor: str) -> int:
    """The 1-based line where the first occurrence of `anchor` starts in a file of the tree."""
    text = (root / rel).read_text(encoding="utf-8")
    assert anchor in text, f"{rel}: no {anchor!r}"
    return text[: text.index(anchor)].count("\n") + 1


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_env() -> dict[str, str]:
    """This environment without `CHORUS*` variables, plus a test signing key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS")}
    env["CHORUS_SIGNING_KEY"] = SIGNING_KEY
    return env


@contextmanager
def running_services(names: list[str], timeout_s: float = 20.0) -> Iterator[dict[str, str]]:
    """Run services as real processes on free loopback ports, each as its Deployment runs it.

    Args:
        names: Catalog service names (`gateway`, `fanout`, `packager`); the gateway is always run.
        timeout_s: Longest wait for every `/healthz` to answer.

    Yields:
        Service name to its base URL (`http://127.0.0.1:PORT`).
    """
    env = service_env()
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    commands = {"gateway": (["--host", "127.0.0.1", "--port", str(gateway_port)], gateway_port)}
    for name in names:
        port = free_port()
        if name == "fanout":
            commands[name] = (["--node-id", "deploy-test-1", "--host", "127.0.0.1", "--port", str(port), "--gateway", gateway_url], port)
        elif name == "packager":
            commands[name] = (["--host", "127.0.0.1", "--port", str(port), "--gateway", gateway_url], port)
    processes = {
        name: subprocess.Popen([sys.executable, "-m", f"chorus.{name}", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for name, (args, _) in commands.items()
    }
    urls = {name: f"http://127.0.0.1:{port}" for name, (_, port) in commands.items()}
    try:
        deadline = time.monotonic() + timeout_s
        for name, url in urls.items():
            while True:
                if processes[name].poll() is not None:
                    raise AssertionError(f"{name} exited: {processes[name].stderr.read().decode()}")  # type: ignore[union-attr]
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} did not answer /healthz within {timeout_s} s")
                time.sleep(0.1)
        yield urls
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `predicate` (errors count as false) until true; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)
