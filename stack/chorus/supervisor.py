"""`chorusctl up`: run the gateway, the fan-out nodes and the packager on this machine, and keep them running.

Each service is a real process (`python -m chorus.gateway`, `python -m
chorus.fanout`, `python -m chorus.packager`) reading the same configuration
file, in its own process group; their logs go to this terminal. The gateway
starts first; origin node N (`fanout-N`) listens on `fanout.port + N - 1`, edge
node N (`edge-N`, when `fanout.edges` is above 0) on
`fanout.port + fanout.nodes + N - 1` (free ports chosen by `up` when
`fanout.port` is 0), and each registers with the gateway. The packager listens
on `packager.port` (a free port when 0).

Readiness is checked against the process `up` started, not whatever answers on
the port: every service answers with its instance id (`Chorus-Instance`, set by
`up` per process through `CHORUS_INSTANCE`), and `up` only counts answers that
carry the id it gave. A service that fails during start-up stops everything
(exit 1), so `ready` is never printed for another stack that happens to be
answering on the same ports.

Once ready, `up` supervises: a service that dies is reported (a line naming it,
its pid and how it ended), the others keep running, and it is started again
after a delay that doubles while it keeps dying (`supervisor.*` in the
configuration). When it answers its readiness check again, `up` says so. `up`
exits only on Ctrl-C or SIGTERM (0: every process group stopped, SIGTERM then
SIGKILL after `supervisor.stop_timeout_s`), or when the gateway cannot be kept
up (`supervisor.gateway_max_restarts` deaths in a row; exit 1).

`chorusctl restart SERVICE...` (from another shell, as the same user) asks a running `up` to
restart services of its run one after the other - stop, start, wait until ready - and
`chorusctl restart all --rotate-key` restarts every service with a new signing key
(`chorus.upcontrol`).

`--state-file PATH` keeps a JSON document of every service (name, pid, state,
restarts, last exit) up to date, for scripts and drills. With `--monitor`,
Prometheus and Alertmanager (`chorus.monitor`) start after the services and watch
them until the stack stops.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from chorus.config import ChorusConfig, SupervisorConfig
from chorus.monitor import Monitor, MonitorError, MonitorSettings
from chorus.monitor.foreground import start_for_stack, stop_for_stack
from chorus.credentials import remove_run_token, write_run_token
from chorus.upcontrol import ControlError, ControlServer, RestartRequest
from chorus.service import INSTANCE_ENV, INSTANCE_HEADER
from chorus.tokens import SigningKeyError, SigningKeyMissing, new_signing_key, operator_token, resolve_signing_key

START_TIMEOUT_S = 30.0
"""How long a service may take to answer its readiness check, at start-up and after a restart."""

POLL_S = 0.1
"""How often `up` looks at its processes and readiness checks."""

_PR_SET_PDEATHSIG = 1


class UpError(Exception):
    """The stack could not be started or kept up; the message says why."""


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived while the stack was starting."""


@dataclass
class Child:
    """One supervised service process.

    Attributes:
        name: `gateway`, `packager` or the node id.
        args: Its `python` arguments (without `--config`).
        ready_url: The URL that answers 200 (or 503 `draining` for a node) with its instance id once it serves.
        url: Its address as printed for people.
        process: The running process, or `None` while it waits to be restarted.
        instance: The instance id given to the current process.
        state: `starting`, `ready`, `restarting` (waiting out its delay) or `stopped`.
        started_at: When the current process started (monotonic seconds).
        restarts: How many times it was started again.
        failures: Deaths in a row, each after less than `stable_after_s` (the backoff exponent).
        restart_at: When it is due to start again (monotonic seconds), while `restarting`.
        last_exit: How its last process ended, e.g. `killed by SIGKILL`, or `""`.
        generation: How many processes it has had (part of each one's instance id).
        slow_start_said: Whether `up` already said the current process is slow to become ready.
    """

    name: str
    args: list[str]
    ready_url: str
    url: str
    process: subprocess.Popen[bytes] | None = None
    instance: str = ""
    state: str = "starting"
    started_at: float = 0.0
    restarts: int = 0
    failures: int = 0
    restart_at: float = 0.0
    last_exit: str = ""
    generation: int = 0
    slow_start_said: bool = False

    def view(self) -> dict[str, Any]:
        """The child as written to the state file.

        Returns:
            A JSON-ready mapping.
        """
        return {
            "name": self.name,
            "pid": self.process.pid if self.process is not None else None,
            "state": self.state,
            "url": self.url,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "instance": self.instance,
        }


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


def free_port(host: str, taken: set[int] | None = None) -> int:
    """A TCP port that is free on `host` now (for a service configured with port 0) and not in `taken`.

    Args:
        host: The address.
        taken: Ports already handed out (or about to be bound), never returned.

    Returns:
        The port.
    """
    while True:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port not in (taken or set()):
            return port


def describe_exit(code: int) -> str:
    """How a process ended, for people: `exit 1` or `killed by SIGKILL`.

    Args:
        code: `Popen.returncode` (negative: the signal that killed it).

    Returns:
        The phrase.
    """
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def restart_delay(policy: SupervisorConfig, failures: int) -> float:
    """The wait before restarting a service that died `failures` times in a row (1 for the first death).

    Args:
        policy: The `supervisor` configuration.
        failures: Deaths in a row, at least 1.

    Returns:
        `restart_delay_s * 2 ** (failures - 1)`, at most `restart_delay_max_s` (or `restart_delay_s`, if larger).
    """
    cap = max(policy.restart_delay_max_s, policy.restart_delay_s)
    return float(min(cap, policy.restart_delay_s * 2 ** min(max(failures - 1, 0), 30)))


def _die_with_parent() -> None:
    """In a child before exec: get SIGTERM if `up` itself dies (Linux), so no service is left orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Starts, watches, restarts and stops the local stack.

    Args:
        config: The loaded configuration (validated before anything starts).
        config_path: Its file, passed to every service.
        nodes: How many origin fan-out nodes; `None` uses `fanout.nodes`.
        say: Where progress lines go (default: stderr).
        edges: How many edge nodes; `None` uses `fanout.edges`.
        packager: Whether to run the HLS packager.
        state_file: Where to keep the JSON state of every service, or `None`.
        clock: Monotonic clock.

    Attributes:
        packager_url: The packager's URL once started (empty without one).
        children: The supervised services, in start order.
        instance: This run's id; each process gets `INSTANCE/NAME/GENERATION`.
    """

    def __init__(
        self,
        config: ChorusConfig,
        config_path: Path,
        nodes: int | None = None,
        say: Callable[[str], None] | None = None,
        edges: int | None = None,
        packager: bool = True,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
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
        self.policy = config.supervisor
        self.children: list[Child] = []
        self.instance = f"up-{os.getpid()}-{secrets.token_hex(4)}"
        self.state_file = state_file
        self._say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self._clock = clock
        self._stop = False
        self._env: dict[str, str] = {}
        self._http = httpx.Client(timeout=1.0)
        self._key = b""
        self._wrote_run_token = False
        self._control: ControlServer | None = None

    # ----------------------------------------------------------------- set-up

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
        self._key = resolve_signing_key(self.config.gateway.token, env)
        return env

    def plan(self) -> list[Child]:
        """The services to run, in start order: gateway, origin nodes, edge nodes, packager.

        Returns:
            The children (not started).

        Raises:
            UpError: `gateway.port` is 0 (the nodes need a fixed address to register with).
        """
        if self.config.gateway.port == 0:
            raise UpError("gateway.port is 0; `chorusctl up` needs a fixed gateway port for the nodes to register")
        gateway_url = self.config.gateway_url
        children = [Child("gateway", ["-m", "chorus.gateway"], f"{gateway_url}/readyz", gateway_url)]
        fanout = self.config.fanout
        named = [(node, "origin") for node in node_ids(self.nodes)] + [(node, "edge") for node in edge_ids(self.edges)]
        taken = {self.config.gateway.port}  # free a moment ago is not enough: never hand out a port twice
        for index, (node, role) in enumerate(named):
            port = fanout.port + index if fanout.port else free_port(fanout.host, taken)
            taken.add(port)
            args = ["-m", "chorus.fanout", "--node-id", node, "--port", str(port), "--gateway", gateway_url]
            if role == "edge":
                args[2:2] = ["--role", "edge"]
            children.append(Child(node, args, f"http://{fanout.host}:{port}/readyz", f"ws://{fanout.host}:{port}"))
        if self.packager:
            packager = self.config.packager
            port = packager.port or free_port(packager.host, taken)
            self.packager_url = f"http://{packager.host}:{port}"
            children.append(Child("packager", ["-m", "chorus.packager", "--port", str(port), "--gateway", gateway_url],
                                  f"{self.packager_url}/readyz", self.packager_url))
        return children

    # ----------------------------------------------------------------- one child

    def _spawn(self, child: Child) -> None:
        """Start a child's process in its own process group, with its own instance id."""
        child.generation += 1
        child.instance = f"{self.instance}/{child.name}/{child.generation}"
        env = {**self._env, INSTANCE_ENV: child.instance}
        command = [sys.executable, *child.args, "--config", str(self.config_path)]
        child.process = subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=_die_with_parent)
        child.started_at = self._clock()
        child.state = "starting"
        child.slow_start_said = False
        self._write_state()

    def is_ready(self, child: Child) -> bool:
        """Whether the child's own process answers its readiness check.

        An answer counts only if it carries the instance id `up` gave this process: another
        process answering on the same port (another stack) never makes a child ready.

        Args:
            child: The child.

        Returns:
            Whether it is ready (a node told to drain counts: it is up and registered).
        """
        try:
            response = self._http.get(child.ready_url)
        except httpx.HTTPError:
            return False
        if response.headers.get(INSTANCE_HEADER) != child.instance:
            return False
        return response.status_code == 200 or (response.status_code == 503 and response.text.startswith("draining"))

    def _exited(self, child: Child) -> int | None:
        """The child's exit code if its process ended, else `None`."""
        return child.process.poll() if child.process is not None else None

    # ----------------------------------------------------------------- start-up

    def _wait_ready(self, child: Child) -> None:
        """Wait until a child started at start-up is ready.

        Raises:
            UpError: It (or another child) exited, or it is not ready after `START_TIMEOUT_S`.
            StopRequested: Ctrl-C or SIGTERM arrived.
        """
        deadline = self._clock() + START_TIMEOUT_S
        while not self.is_ready(child):
            for started in self.children:
                code = self._exited(started)
                if code is not None:
                    raise UpError(f"{started.name} did not start ({describe_exit(code)}); see its log lines above")
            if self._stop:
                raise StopRequested
            if self._clock() > deadline:
                raise UpError(f"{child.name} not ready after {START_TIMEOUT_S:.0f} s ({child.ready_url}); "
                              "see its log lines above")
            time.sleep(POLL_S)
        child.state = "ready"
        self._write_state()

    def start(self) -> None:
        """Start the gateway, then the nodes and the packager; wait until each is ready.

        Raises:
            UpError: A service failed to start.
            StopRequested: Ctrl-C or SIGTERM arrived during start-up.
        """
        self._env = self.environment()
        planned = self.plan()
        gateway, others = planned[0], planned[1:]
        self.children.append(gateway)
        self._spawn(gateway)
        self._wait_ready(gateway)
        # Only once its own gateway serves: chorusctl in other shells operates this run with this
        # operator token (a second `up` that failed on taken ports must not replace the first one's).
        write_run_token(self.config.gateway_url, self._key)
        self._wrote_run_token = True
        try:
            self._control = ControlServer(self.config.gateway_url, self.restart_on_request)
        except ControlError as exc:
            raise UpError(str(exc)) from None
        nodes = [c for c in others if c.name != "packager"]
        for child in nodes:
            self.children.append(child)
            self._spawn(child)
        for child in nodes:
            self._wait_ready(child)
        for child in others:
            if child.name == "packager":
                self.children.append(child)
                self._spawn(child)
                self._wait_ready(child)
        for child in self.children:
            kind = {"gateway": "", "packager": f" (HLS at {self.packager_url}/hls/SPACE/index.m3u8)"}.get(
                child.name, " (edge)" if child.name.startswith("edge-") else " (origin)")
            self._say(f"chorus up: {child.name} {child.url}{kind} pid {child.process.pid if child.process else '?'}")
        if self.monitor_settings is not None:
            try:
                self.monitor = start_for_stack(self.config.gateway_url, self.packager_url, self.monitor_settings,
                                               self._say, operator_token(self._key, "chorus-up"))
            except MonitorError as exc:
                raise UpError(f"monitor: {exc}") from None
        self._say("chorus up: ready - try `chorusctl status`; Ctrl-C stops everything")

    # ----------------------------------------------------------------- supervision

    def supervise_once(self) -> None:
        """Look at every child once: report deaths, restart those due, note those ready again.

        Raises:
            UpError: The gateway died more than `supervisor.gateway_max_restarts` times in a row.
        """
        now = self._clock()
        for child in self.children:
            code = self._exited(child)
            if code is not None and child.state in ("starting", "ready"):
                self._died(child, code, now)
            elif child.state == "restarting" and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                assert child.process is not None
                self._say(f"chorus up: {child.name} restarted (pid {child.process.pid}, restart {child.restarts})")
            elif child.state == "starting" and child.restarts:
                self._check_restarted(child, now)

    def _check_restarted(self, child: Child, now: float) -> None:
        """Note a restarted child that answers its readiness check, or say once that it is slow to."""
        if self.is_ready(child):
            child.state = "ready"
            self._write_state()
            self._say(f"chorus up: {child.name} ready again after {now - child.started_at:.1f} s "
                      f"(restart {child.restarts})")
        elif now - child.started_at > START_TIMEOUT_S and not child.slow_start_said:
            child.slow_start_said = True
            assert child.process is not None
            self._say(f"chorus up: {child.name} (pid {child.process.pid}) runs but is not ready after "
                      f"{START_TIMEOUT_S:.0f} s ({child.ready_url}); see its log lines")

    def _died(self, child: Child, code: int, now: float) -> None:
        """Report a dead child and schedule its restart (or give up on the gateway)."""
        assert child.process is not None
        pid, ran = child.process.pid, now - child.started_at
        child.last_exit = describe_exit(code)
        child.failures = 1 if ran >= self.policy.stable_after_s else child.failures + 1
        child.process = None
        if child.name == "gateway" and child.failures > self.policy.gateway_max_restarts:
            child.state = "stopped"
            self._write_state()
            raise UpError(f"the gateway cannot be kept up: it died {child.failures} times in a row "
                          f"(last: pid {pid}, {child.last_exit}, after {ran:.1f} s; "
                          f"supervisor.gateway_max_restarts is {self.policy.gateway_max_restarts}); see its log lines above")
        delay = restart_delay(self.policy, child.failures)
        child.state = "restarting"
        child.restart_at = now + delay
        self._write_state()
        extra = " (the gateway keeps spaces in memory: they are gone, nodes register again)" if child.name == "gateway" else ""
        self._say(f"chorus up: {child.name} died (pid {pid}, {child.last_exit}) after {ran:.1f} s; "
                  f"restarting in {delay:.1f} s{extra}")

    # ----------------------------------------------------------------- restarts on request

    def restart_on_request(self, request: RestartRequest, say: Callable[[str], None]) -> tuple[bool, str]:
        """Restart the services a `chorusctl restart` asked for, one after the other.

        Each is stopped (its process group: SIGTERM, then SIGKILL after `supervisor.stop_timeout_s`),
        started again and waited for until ready. With a new key, every service restarts with it,
        and this run's operator token is written again, signed with it.

        Args:
            request: The services (or `all`) and maybe a new signing key.
            say: Sends a progress line to the caller.

        Returns:
            `(ok, message)`: whether every service came back ready, and a summary.
        """
        known = {child.name: child for child in self.children}
        names = [child.name for child in self.children] if request.services == ("all",) else list(request.services)
        unknown = [name for name in names if name not in known]
        if unknown:
            return False, f"this run has no {', '.join(unknown)} (it runs {', '.join(known)})"
        if request.key is not None:
            env = {**self._env, self.config.gateway.token.key_env: request.key}
            try:
                key = resolve_signing_key(self.config.gateway.token, env)
            except SigningKeyError as exc:
                return False, f"new signing key refused: {exc}"
            self._env, self._key = env, key
            self._say("chorus up: restarting every service with a new signing key (asked by chorusctl restart)")
        for name in names:
            child = known[name]
            self._say(f"chorus up: restarting {name} (asked by chorusctl restart)")
            say(f"{name}: stopping")
            self._stop_child(child)
            self._spawn(child)
            assert child.process is not None
            say(f"{name}: started (pid {child.process.pid}), waiting until ready")
            if not self._ready_within(child, START_TIMEOUT_S):
                child.restarts += 1  # from here, supervision reports it as a restarted child
                return False, (f"{name} did not become ready within {START_TIMEOUT_S:.0f} s; the restarts stopped "
                               f"there ({', '.join(names[names.index(name) + 1:]) or 'none'} left as they were): "
                               "see the `chorusctl up` terminal")
            child.state = "ready"
            self._write_state()
            self._say(f"chorus up: {name} ready again (pid {child.process.pid})")
            say(f"{name}: ready")
        if request.key is None:
            self._key = resolve_signing_key(self.config.gateway.token, self._env)  # a key file may have changed
        if self._wrote_run_token:
            write_run_token(self.config.gateway_url, self._key)
        return True, f"restarted {', '.join(names)}: all ready"

    def _stop_child(self, child: Child) -> None:
        """Stop one child's process group (SIGTERM, then SIGKILL after `supervisor.stop_timeout_s`) and reap it."""
        process = child.process
        child.process = None
        child.state = "stopped"
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=self.policy.stop_timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        child.last_exit = "restarted on request"

    def _ready_within(self, child: Child, timeout_s: float) -> bool:
        """Wait until a child answers its readiness check (False if it exits or the time runs out)."""
        deadline = self._clock() + timeout_s
        while not self.is_ready(child):
            if self._exited(child) is not None or self._clock() > deadline or self._stop:
                return False
            time.sleep(POLL_S)
        return True

    def wait(self) -> None:
        """Supervise until a stop is asked (Ctrl-C, SIGTERM).

        Raises:
            UpError: The gateway cannot be kept up.
        """
        while not self._stop:
            self.supervise_once()
            if self._control is not None:
                self._control.poll()
            if self.monitor is not None:
                try:
                    self.monitor.check_alive()
                except MonitorError as exc:
                    raise UpError(f"monitor: {exc}") from None
            time.sleep(POLL_S)

    def request_stop(self, *_args: object) -> None:
        """Ask `wait` to return (the signal handler)."""
        self._stop = True

    def stop(self) -> None:
        """Stop the monitor, then every service's process group (SIGTERM, then SIGKILL after `stop_timeout_s`),
        last started first."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if self.monitor is not None:
            stop_for_stack(self.monitor, self.config.gateway_url)
            self.monitor = None
        running = [c for c in reversed(self.children) if c.process is not None]
        for child in running:
            assert child.process is not None
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        deadline = self._clock() + self.policy.stop_timeout_s
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.1, deadline - self._clock()))
            except subprocess.TimeoutExpired:
                self._say(f"chorus up: {child.name} (pid {child.process.pid}) did not stop within "
                          f"{self.policy.stop_timeout_s:g} s; killing its process group")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
            child.state = "stopped"
        for child in self.children:
            child.state = "stopped"
            child.process = None
        self._write_state()
        self._http.close()
        if self._wrote_run_token:
            remove_run_token(self.config.gateway_url)

    # ----------------------------------------------------------------- state file

    def state(self) -> dict[str, Any]:
        """The supervisor's state, as written to `--state-file`.

        Returns:
            `pid` (of `up`), `instance`, `gateway` (its URL) and `children` (each service's view).
        """
        return {"pid": os.getpid(), "instance": self.instance, "gateway": self.config.gateway_url,
                "children": [child.view() for child in self.children]}

    def _write_state(self) -> None:
        """Write the state file atomically (if one was asked for)."""
        if self.state_file is None:
            return
        partial = self.state_file.with_name(self.state_file.name + ".partial")
        partial.write_text(json.dumps(self.state(), indent=2) + "\n")
        partial.replace(self.state_file)


def run_up(
    config: ChorusConfig,
    config_path: Path,
    nodes: int | None = None,
    edges: int | None = None,
    packager: bool = True,
    state_file: Path | None = None,
    monitor: MonitorSettings | None = None,
) -> int:
    """Run and supervise the stack in the foreground until Ctrl-C or SIGTERM.

    Args:
        config: The validated configuration.
        config_path: Its file.
        nodes: How many origin fan-out nodes (default: `fanout.nodes`).
        edges: How many edge nodes (default: `fanout.edges`).
        packager: Whether to run the HLS packager.
        state_file: Where to keep the JSON state of every service, or `None`.
        monitor: When given, also run Prometheus and Alertmanager over the stack with these settings
            (`chorus.monitor`); they stop with it.

    Returns:
        0 after a clean stop, 1 if the stack could not start, the gateway could not be kept up or the monitor failed.
    """
    supervisor = Supervisor(config, config_path, nodes, edges=edges, packager=packager, state_file=state_file,
                            monitor=monitor)
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
