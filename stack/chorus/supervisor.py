"""`chorusctl up`: run the gateway, the fan-out nodes and the packager on this machine, in the foreground.

Each service is a real process (`python -m chorus.gateway`, `python -m
chorus.fanout`, `python -m chorus.packager`) reading the same configuration
file; their logs go to this terminal. The gateway starts first; origin node N
(`fanout-N`) listens on `fanout.port + N - 1`, edge node N (`edge-N`, when
`fanout.edges` is above 0) on `fanout.port + fanout.nodes + N - 1` (any free
port when `fanout.port` is 0), and each registers with the gateway. The
packager listens on `packager.port` (a free port when 0). Ctrl-C or SIGTERM
stops every process cleanly; if one dies, the others are stopped too and `up`
exits 1. With `--monitor`, Prometheus and Alertmanager (`chorus.monitor`) start
after the services and watch them until the stack stops.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from chorus.config import ChorusConfig
from chorus.monitor import Monitor, MonitorError, MonitorSettings
from chorus.monitor.foreground import start_for_stack, stop_for_stack
from chorus.tokens import SigningKeyError, SigningKeyMissing, new_signing_key, resolve_signing_key

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class UpError(Exception):
    """The stack could not be started; the message says why."""


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived while the stack was starting."""


@dataclass
class Child:
    """One service process.

    Attributes:
        name: `gateway` or the node id.
        process: The process.
    """

    name: str
    process: subprocess.Popen[bytes]


def node_ids(count: int) -> list[str]:
    """The ids `chorusctl up` gives its nodes: `fanout-1` ... `fanout-N`.

    Args:
        count: How many nodes.

    Returns:
        The ids.
    """
    return [f"fanout-{i}" for i in range(1, count + 1)]


def edge_ids(count: int) -> list[str]:
    """The ids `chorusctl up` gives its edge nodes: `edge-1` ... `edge-N`.

    Args:
        count: How many edges.

    Returns:
        The ids.
    """
    return [f"edge-{i}" for i in range(1, count + 1)]


def free_port(host: str) -> int:
    """A TCP port that is free on `host` now (for a service configured with port 0).

    Args:
        host: The address.

    Returns:
        The port.
    """
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class Supervisor:
    """Starts, watches and stops the local stack.

    Args:
        config: The loaded configuration (validated before anything starts).
        config_path: Its file, passed to every service.
        nodes: How many origin fan-out nodes; `None` uses `fanout.nodes`.
        say: Where progress lines go (default: stderr).
        edges: How many edge nodes; `None` uses `fanout.edges`.
        packager: Whether to run the HLS packager.
        monitor: When given, also run Prometheus and Alertmanager over the stack with these settings
            (`chorus.monitor`), started last and stopped first.

    Attributes:
        packager_url: The packager's URL once started (empty without one).
        monitor: The running monitor, if asked for (after `start`).
    """

    def __init__(
        self,
        config: ChorusConfig,
        config_path: Path,
        nodes: int | None = None,
        say: Callable[[str], None] | None = None,
        edges: int | None = None,
        packager: bool = True,
        monitor: MonitorSettings | None = None,
    ) -> None:
        self.config = config
        self.monitor_settings = monitor
        self.monitor: Monitor | None = None
        self.config_path = config_path.resolve()
        self.nodes = nodes if nodes is not None else config.fanout.nodes
        self.edges = edges if edges is not None else config.fanout.edges
        self.packager = packager
        self.packager_url = ""
        self.children: list[Child] = []
        self._say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self._stop = False

    def environment(self) -> dict[str, str]:
        """The services' environment: this one, plus a signing key for the run if none is configured.

        A key that is set but unusable (too short, an unreadable key file) is an error,
        not a reason to quietly use another one: the services elsewhere would refuse it.

        Returns:
            The environment.

        Raises:
            UpError: The configured signing key is unusable.
        """
        env = dict(os.environ)
        try:
            resolve_signing_key(self.config.gateway.token, env)
        except SigningKeyMissing:
            env[self.config.gateway.token.key_env] = new_signing_key()
            self._say(f"chorus up: no signing key configured; using a random one for this run "
                      f"(set {self.config.gateway.token.key_env} to choose it)")
        except SigningKeyError as exc:
            raise UpError(f"signing key unusable: {exc}") from None
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        """Start one service process."""
        command = [sys.executable, *args, "--config", str(self.config_path)]
        self.children.append(Child(name, subprocess.Popen(command, env=env)))

    def _check_children(self) -> None:
        """Raise if any service process has exited."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise UpError(f"{child.name} exited with code {code}; see its log lines above")

    def _wait_for(self, what: str, ready: Callable[[], bool]) -> None:
        """Poll `ready` until true, a child dies, a stop is asked, or the start timeout passes."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            self._check_children()
            if self._stop:
                raise StopRequested
            if time.monotonic() > deadline:
                raise UpError(f"{what} not ready after {START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)

    def start(self) -> None:
        """Start the gateway, then the nodes and the packager; wait until all are registered or ready.

        Raises:
            UpError: A service failed to start.
        """
        if self.config.gateway.port == 0:
            raise UpError("gateway.port is 0; `chorusctl up` needs a fixed gateway port for the nodes to register")
        env = self.environment()
        gateway_url = self.config.gateway_url
        self._spawn("gateway", ["-m", "chorus.gateway"], env)
        self._wait_for("gateway", lambda: _get(f"{gateway_url}/readyz") is not None)
        base = self.config.fanout.port
        for index, node in enumerate(node_ids(self.nodes)):
            port = base + index if base else 0
            self._spawn(node, ["-m", "chorus.fanout", "--node-id", node, "--port", str(port), "--gateway", gateway_url], env)
        for index, node in enumerate(edge_ids(self.edges)):
            port = base + self.nodes + index if base else 0
            self._spawn(node, ["-m", "chorus.fanout", "--node-id", node, "--role", "edge", "--port", str(port),
                               "--gateway", gateway_url], env)
        wanted = set(node_ids(self.nodes)) | set(edge_ids(self.edges))

        def registered() -> bool:
            listed = _get(f"{gateway_url}/v1/nodes")
            return listed is not None and wanted <= {n["id"] for n in listed.json() if n["state"] != "stale"}

        self._wait_for("fan-out nodes", registered)
        if self.packager:
            packager = self.config.packager
            port = packager.port or free_port(packager.host)
            self.packager_url = f"http://{packager.host}:{port}"
            self._spawn("packager", ["-m", "chorus.packager", "--port", str(port), "--gateway", gateway_url], env)
            self._wait_for("packager", lambda: _get(f"{self.packager_url}/readyz") is not None)
        nodes = {n["id"]: n["url"] for n in (_get(f"{gateway_url}/v1/nodes") or httpx.Response(200, json=[])).json()}
        self._say(f"chorus up: gateway {gateway_url}")
        for node in node_ids(self.nodes):
            self._say(f"chorus up: {node} {nodes.get(node, '?')} (origin)")
        for node in edge_ids(self.edges):
            self._say(f"chorus up: {node} {nodes.get(node, '?')} (edge)")
        if self.packager:
            self._say(f"chorus up: packager {self.packager_url} (HLS at {self.packager_url}/hls/SPACE/index.m3u8)")
        if self.monitor_settings is not None:
            try:
                self.monitor = start_for_stack(gateway_url, self.packager_url, self.monitor_settings, self._say)
            except MonitorError as exc:
                raise UpError(f"monitor: {exc}") from None
        self._say("chorus up: ready - try `chorusctl status`; Ctrl-C stops everything")

    def wait(self) -> None:
        """Block until a stop is asked (Ctrl-C, SIGTERM), a service dies or the monitor fails.

        Raises:
            UpError: A service (or Prometheus, or Alertmanager) exited on its own.
        """
        while not self._stop:
            self._check_children()
            if self.monitor is not None:
                try:
                    self.monitor.check_alive()
                except MonitorError as exc:
                    raise UpError(f"monitor: {exc}") from None
            time.sleep(0.2)

    def request_stop(self, *_args: object) -> None:
        """Ask `wait` to return (the signal handler)."""
        self._stop = True

    def stop(self) -> None:
        """Stop the monitor, then every service (SIGTERM, then SIGKILL after `STOP_TIMEOUT_S`), nodes first."""
        if self.monitor is not None:
            stop_for_stack(self.monitor, self.config.gateway_url)
            self.monitor = None
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        self.children.clear()


def _get(url: str) -> httpx.Response | None:
    """GET a URL; the response if it answered 200, else `None`."""
    try:
        response = httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return None
    return response if response.status_code == 200 else None


def run_up(
    config: ChorusConfig,
    config_path: Path,
    nodes: int | None = None,
    edges: int | None = None,
    packager: bool = True,
    monitor: MonitorSettings | None = None,
) -> int:
    """Run the stack in the foreground until Ctrl-C or SIGTERM.

    Args:
        config: The validated configuration.
        config_path: Its file.
        nodes: How many origin fan-out nodes (default: `fanout.nodes`).
        edges: How many edge nodes (default: `fanout.edges`).
        packager: Whether to run the HLS packager.
        monitor: When given, also run Prometheus and Alertmanager over the stack with these settings
            (`chorus.monitor`); they stop with it.

    Returns:
        0 after a clean stop, 1 if a service (or the monitor) failed.
    """
    supervisor = Supervisor(config, config_path, nodes, edges=edges, packager=packager, monitor=monitor)
    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, supervisor.request_stop)
    code = 0
    try:
        supervisor.start()
        supervisor.wait()
        print("chorus up: stopping", file=sys.stderr, flush=True)
    except StopRequested:
        print("chorus up: stopping during start-up", file=sys.stderr, flush=True)
    except UpError as exc:
        print(f"error: chorus up: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == 0:
        print("chorus up: stopped", file=sys.stderr, flush=True)
    return code
