"""Helpers for the Chorus tests: free ports, a real `chorusctl up` stack, an in-process stack."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

from chorus.client import GatewayClient, media_url
from chorus.config import ChorusConfig, load_config
from chorus.fanout.link import GatewayLink
from chorus.fanout.node import FanoutNode
from chorus.gateway.server import GatewayServer
from chorus.protocol import Frame
from chorus.tokens import operator_token
from conftest import BIN

KEY = b"chorus-test-signing-key-0123456789abcdef"
STATE_DIR = tempfile.mkdtemp(prefix="chorus-test-state-")
"""Where the `chorusctl` runs of this test session keep credentials (not the user's own state)."""


def operator_headers(key: bytes = KEY) -> dict[str, str]:
    """`Authorization` with a fresh operator token signed with `key`, for the operations endpoints."""
    return {"Authorization": f"Bearer {operator_token(key, 'tests')}"}


def operator_client(url: str, key: bytes = KEY) -> GatewayClient:
    """A gateway client carrying a fresh operator token (for `status`, `node`, `drain`, `resume`)."""
    return GatewayClient(url, operator_token=operator_token(key, "tests"))
CONFIG_FILE = Path(__file__).resolve().parents[1] / "stack" / "config" / "chorus.yaml"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    """Poll `predicate` until true; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


async def async_wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """`wait_until` for coroutines."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def background() -> AsyncIterator[list[asyncio.Task]]:
    """A list to put tasks in; on exit (failure included) they are cancelled and awaited."""
    tasks: list[asyncio.Task] = []
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def clean_env() -> dict[str, str]:
    """This environment without any `CHORUS*` variable, plus the test signing key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS")}
    env["CHORUS_SIGNING_KEY"] = KEY.decode()
    env["CHORUS_STATE_DIR"] = STATE_DIR
    return env


def stack_env(**overrides: object) -> dict[str, str]:
    """The environment for real services: a fixed test key, a free gateway port, any overrides."""
    env = clean_env()
    env["CHORUS__GATEWAY__PORT"] = str(free_port())
    env["CHORUS__FANOUT__PORT"] = "0"
    for key, value in overrides.items():
        env[f"CHORUS__{key.upper()}"] = str(value)
    return env


@dataclass
class RealStack:
    """A `chorusctl up` process and how to reach it.

    Attributes:
        process: The `chorusctl up` process.
        gateway_url: The gateway's URL.
        env: The environment it runs with (pass it to other `chorusctl` commands).
        config_path: The configuration file it loaded.
    """

    process: subprocess.Popen[str]
    gateway_url: str
    env: dict[str, str]
    config_path: Path
    output: list[str] = field(default_factory=list)

    def chorusctl(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run `chorusctl --config ... ARGS` against this stack."""
        return subprocess.run(
            [str(BIN / "chorusctl"), "--config", str(self.config_path), *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )

    def nodes(self) -> list[dict[str, object]]:
        """The gateway's node list."""
        return httpx.get(f"{self.gateway_url}/v1/nodes", timeout=5, headers=operator_headers()).json()


@contextlib.contextmanager
def real_stack(
    config_path: Path = CONFIG_FILE,
    nodes: int = 2,
    stop_signal: int = signal.SIGINT,
    edges: int = 0,
    packager: bool = False,
    up_args: tuple[str, ...] = (),
    signing_key: bool = True,
    **overrides: object,
) -> Iterator[RealStack]:
    """Run `chorusctl up` for real (gateway, nodes, edges, packager as processes) and stop it with `stop_signal`.

    The packager (off unless asked) takes a free port, in `env["CHORUS__PACKAGER__PORT"]`. Without
    `signing_key` no key is set, and `chorusctl up` makes one for the run. `up_args` are added to
    `chorusctl up` (e.g. `("--monitor",)`); `stack.output` grows with its lines while it runs.
    """
    if packager:
        overrides.setdefault("packager__port", free_port())
    env = stack_env(**overrides)
    if not signing_key:
        del env["CHORUS_SIGNING_KEY"]
    gateway_url = f"http://127.0.0.1:{env['CHORUS__GATEWAY__PORT']}"
    command = [str(BIN / "chorusctl"), "--config", str(config_path), "up", "--nodes", str(nodes), "--edges", str(edges),
               *up_args]
    process = subprocess.Popen(
        command + ([] if packager else ["--no-packager"]),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    stack = RealStack(process, gateway_url, env, config_path)
    lines: list[str] = stack.output
    reader: threading.Thread | None = None
    assert process.stdout is not None
    try:
        while True:
            line = process.stdout.readline()
            if not line:
                raise AssertionError("chorusctl up exited during start-up:\n" + "".join(lines))
            lines.append(line)
            if "chorus up: ready" in line:
                break
        # Keep reading the services' logs: once the pipe is full, every service that logs blocks.
        reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
        reader.start()
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(stop_signal)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if reader is not None:
            reader.join(timeout=5)
        else:
            lines.extend(process.stdout.readlines())
        stack.output = lines


@dataclass
class LocalStack:
    """A gateway and fan-out nodes served in this process on ephemeral ports.

    Attributes:
        config: The configuration they use.
        gateway: The gateway server.
        nodes: The fan-out nodes.
        links: Their links to the gateway.
    """

    config: ChorusConfig
    gateway: GatewayServer
    nodes: list[FanoutNode]
    links: list[GatewayLink]
    link_tasks: list[asyncio.Task] = field(default_factory=list)

    async def kill_node(self, index: int) -> None:
        """Stop node `index` as a dead pod stops: no more reports, its port closed."""
        self.link_tasks[index].cancel()
        await asyncio.gather(self.link_tasks[index], return_exceptions=True)
        await self.nodes[index].stop()

    @property
    def url(self) -> str:
        """The gateway's URL."""
        return self.gateway.url

    async def report_all(self) -> None:
        """Make every node report to the gateway now."""
        async with httpx.AsyncClient() as client:
            for link in self.links:
                await link.report_once(client)


SHARED_LOOP_FANOUT: dict[str, object] = {"send_queue_limit": 10_000, "socket_send_buffer_bytes": 0}
"""Fan-out settings for in-process tests whose listeners share the event loop with the services.

A burst the test itself puts on the loop (a join storm, a drain) stalls the listeners' reading
too, and the slow-listener policy would rightly drop them. Tests that are not about that policy
merge these into their `fanout` section; the policy has its own tests with today's values.
"""


def config_with(**sections: dict[str, object]) -> ChorusConfig:
    """The real configuration file with some keys replaced, e.g. `fanout={"listener_cap": 3}`."""
    config = load_config(CONFIG_FILE, env={})
    updates = {name: getattr(config, name).model_copy(update=values) for name, values in sections.items()}
    return config.model_copy(update=updates)


@contextlib.asynccontextmanager
async def local_stack(config: ChorusConfig, nodes: int = 1) -> AsyncIterator[LocalStack]:
    """Serve a gateway and `nodes` fan-out nodes in this event loop; nodes report every 0.1 s."""
    gateway = GatewayServer(config, KEY, host="127.0.0.1", port=0)
    await gateway.start()
    fanouts = [FanoutNode(config, f"fanout-{i}", KEY, host="127.0.0.1", port=0) for i in range(1, nodes + 1)]
    links = []
    tasks = []
    try:
        for node in fanouts:
            await node.start()
            link = GatewayLink(node, gateway.url, KEY, interval_s=0.1)
            links.append(link)
            tasks.append(asyncio.create_task(link.run()))
        stack = LocalStack(config, gateway, fanouts, links, tasks)
        await async_wait_until(lambda: all(n.registered for n in fanouts), 5, "nodes to register")
        yield stack
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for node in fanouts:
            await node.stop()
        await gateway.stop()


async def connect_non_reading_listener(gateway: GatewayClient, space: str, user: str) -> ClientConnection:
    """Join `space` as a listener that never reads, to test the fan-out's slow-listener drop.

    Its socket has a 4 KiB receive buffer and websockets stops reading after one
    queued message, so what the node sends piles up on the node's side.
    """
    grant = await gateway.join(space, user)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    host, port = grant["url"].removeprefix("ws://").split("/")[0].split(":")
    await asyncio.get_running_loop().sock_connect(raw, (host, int(port)))
    return await connect(media_url(grant), sock=raw, compression=None, max_queue=1)


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` in a Prometheus text exposition whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def frame_counter(counts: list[int], index: int) -> Callable[[list[Frame]], None]:
    """A listener callback that adds the number of frames it receives to `counts[index]`."""

    def count(frames: list[Frame]) -> None:
        counts[index] += len(frames)

    return count
