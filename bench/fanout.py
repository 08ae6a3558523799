"""Listeners per fan-out process at 50 frames/s: Chorus's node against a bare websockets broadcast, and a cascade.

Run:  .venv/bin/python bench/fanout.py [--max-listeners 6000] [--step-seconds 3] [--budget-s 300] [--edges 2]

Each server runs alone in its own process on 127.0.0.1: a real Chorus fan-out
node (`chorus.fanout.node.FanoutNode`, configuration from stack/config/chorus.yaml,
listener cap lifted) and, as the ceiling, the same broadcast done by the bare
`websockets` library (`broadcast()` of every frame to every listener, no
batching, no queue limits, no tokens). A publisher process sends real Opus
frames at 50 frames/s stamped with their capture time; this process holds the
listeners with a minimal WebSocket client and measures each frame's delivery
latency (arrival - capture). Listeners are added in steps, and at each step the
servers are measured in turn (only the measured server's publisher runs), so a
busy neighbour on a shared machine hits them alike. A step passes when p99
latency < 250 ms and >= 98 % of the frames arrive (a failing step is measured
twice). The result is the largest passing step of each server and the ratio to
the ceiling, printed as Markdown with the machine. Bounded by --budget-s.

The fourth server is a cascade: one origin node and --edges edge nodes, each its
own process. The publisher sends to the origin, every edge subscribes to the
origin (as `chorus.fanout.upstream` does, with an edge token minted by the bench
instead of a gateway grant) and the listeners are spread evenly over the edges,
so every frame crosses two fan-out hops before its latency is measured; its
server CPU is the origin's and the edges' together.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import os
import platform
import resource
import signal
import struct
import subprocess
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FRAME_RATE = 50
P99_LIMIT_MS = 250.0
DELIVERY_FLOOR = 0.98
KEY = "bench-signing-key-0123456789abcdef0123456789"
STEPS = (100, 250, 500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000)
_RECORD = struct.Struct(">HIQH")


# ----------------------------------------------------------------------------- servers (child processes)


async def serve_chorus(frames_per_message: int | None, node_id: str = "bench-1", origin_url: str = "") -> None:
    """Run a Chorus fan-out node on a free port (no gateway: tokens are minted by the bench).

    With `origin_url` the node is an edge that subscribes to the origin `bench-1` at that URL.
    """
    from chorus.config import load_config
    from chorus.fanout.node import FanoutNode
    from chorus.tokens import TokenIssuer

    config = load_config(ROOT / "stack" / "config" / "chorus.yaml", env={})
    fanout = {"listener_cap": 1_000_000}
    if frames_per_message:
        fanout["frames_per_message"] = frames_per_message
    config = config.model_copy(update={"fanout": config.fanout.model_copy(update=fanout)})
    node = FanoutNode(config, node_id, KEY.encode(), host="127.0.0.1", port=0, role="edge" if origin_url else "origin")
    if origin_url:
        issuer = TokenIssuer(KEY.encode(), config.gateway.token)
        grants = itertools.count()  # join tokens are single-use: each subscription gets its own

        async def grant(space: str) -> dict[str, object]:
            token, expires = issuer.issue(user=node_id, space=space, role="edge", node="bench-1", session=f"up-{node_id}-{next(grants)}")
            return {"space": space, "origin": "bench-1", "url": f"{origin_url}/v1/media", "token": token,
                    "expires_at": expires}

        node.grants = grant
    await node.start()
    print(f"PORT {node.port} FRAMES_PER_MESSAGE {config.fanout.frames_per_message}", flush=True)
    await asyncio.Future()


async def serve_bare() -> None:
    """Run the ceiling: a websockets server that broadcasts every published message to every listener."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    listeners: set[ServerConnection] = set()

    async def handler(connection: ServerConnection) -> None:
        if connection.request.path.startswith("/publish"):
            with contextlib.suppress(ConnectionClosed):
                async for message in connection:
                    broadcast(listeners, message)
            return
        listeners.add(connection)
        try:
            await connection.wait_closed()
        finally:
            listeners.discard(connection)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]} FRAMES_PER_MESSAGE 1", flush=True)
        await asyncio.Future()


async def publish(url: str) -> None:
    """Send real Opus frames at 50 frames/s on an absolute clock, stamped with their capture time."""
    from websockets.asyncio.client import connect

    from chorus.audio import reference_packets
    from chorus.config import AudioConfig
    from chorus.protocol import Frame, pack_frames

    packets = reference_packets(AudioConfig(), 4.0)
    running = asyncio.Event()  # SIGUSR2 runs, SIGUSR1 pauses; the process keeps answering pings meanwhile
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, running.clear)
    loop.add_signal_handler(signal.SIGUSR2, running.set)
    async with connect(url, compression=None) as socket:
        print("PUBLISHING", flush=True)
        seq = 0
        while True:
            if not running.is_set():
                await running.wait()
                start = time.monotonic() - seq / FRAME_RATE  # restart the clock rather than burst
            delay = start + seq / FRAME_RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = Frame(1, seq, time.time_ns() // 1000, packets[seq % len(packets)])
            await socket.send(pack_frames([frame]))
            seq += 1


# ----------------------------------------------------------------------------- listeners (this process)


@dataclass
class Meter:
    """What the listeners received: frame count and per-frame latencies (microseconds)."""

    frames: int = 0
    latencies: array = field(default_factory=lambda: array("q"))
    recording: bool = False

    def reset(self) -> None:
        """Start a new measurement window."""
        self.frames = 0
        self.latencies = array("q")


class ListenerProtocol(asyncio.Protocol):
    """A minimal WebSocket client: upgrade, then parse server frames and time each audio record."""

    def __init__(self, host: str, path: str, meter: Meter, ready: asyncio.Future[None]) -> None:
        self.host, self.path, self.meter, self.ready = host, path, meter, ready
        self.buffer = b""
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        transport.write(request.encode())  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before upgrade"))

    def data_received(self, data: bytes) -> None:  # noqa: D102
        buffer = self.buffer + data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if b" 101 " not in buffer[: buffer.find(b"\r\n")]:
                self.ready.set_exception(ConnectionError(buffer[:80].decode(errors="replace")))
                self.transport.close()
                return
            self.upgraded = True
            self.ready.set_result(None)
            buffer = buffer[end + 4 :]
        now_us = time.time_ns() // 1000
        offset, size = 0, len(buffer)
        meter = self.meter
        while size - offset >= 2:
            opcode, length = buffer[offset] & 0x0F, buffer[offset + 1] & 0x7F
            head = 2
            if length == 126:
                if size - offset < 4:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 4], "big")
                head = 4
            elif length == 127:
                if size - offset < 10:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 10], "big")
                head = 10
            if size - offset < head + length:
                break
            start = offset + head
            if opcode == 2 and meter.recording:
                count = buffer[start + 3]
                position = start + 4
                for _ in range(count):
                    _source, _seq, captured, payload = _RECORD.unpack_from(buffer, position)
                    meter.latencies.append(now_us - captured)
                    position += _RECORD.size + payload
                meter.frames += count
            elif opcode == 9:  # ping -> pong (client frames are masked; a zero mask keeps the payload)
                payload = buffer[start : start + length]
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 8:
                self.transport.close()
            offset = start + length
        self.buffer = buffer[offset:]


@dataclass
class Step:
    """One measured step."""

    listeners: int
    p50_ms: float
    p99_ms: float
    delivered: float
    server_cpu: float
    client_cpu: float

    @property
    def passed(self) -> bool:
        """Whether the step meets the latency and delivery targets."""
        return self.p99_ms < P99_LIMIT_MS and self.delivered >= DELIVERY_FLOOR


def _step(meter: Meter, listeners: int, started: float, pids: list[int], server_cpu: float, client_cpu: float) -> Step:
    """Close a measurement window opened at `started` with the CPU counters read then (servers' CPU summed)."""
    elapsed = time.monotonic() - started
    latencies = np.frombuffer(meter.latencies, dtype=np.int64) / 1000 if meter.latencies else np.array([1e9])
    return Step(
        listeners=listeners,
        p50_ms=float(np.percentile(latencies, 50)),
        p99_ms=float(np.percentile(latencies, 99)),
        delivered=meter.frames / (listeners * FRAME_RATE * elapsed),
        server_cpu=(sum(_cpu_seconds(pid) for pid in pids) - server_cpu) / elapsed,
        client_cpu=(_own_cpu_seconds() - client_cpu) / elapsed,
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """User + system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _spawn(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start this script in another mode; return the process and its first output line."""
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "CHORUS__LOGGING__LEVEL": "warning"})
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


class Variant:
    """One server under test, its paused-or-running publisher, and its listeners.

    Args:
        name: Label in the report.
        kind: `bare`, `chorus` or `cascade` (an origin and `edges` edge nodes; listeners on the edges).
        frames_per_message: For Chorus, 0 keeps the configured value.
        edges: For a cascade, how many edge nodes.
    """

    def __init__(self, name: str, kind: str, frames_per_message: int = 0, edges: int = 0) -> None:
        self.kind = kind
        server, banner = _spawn("--serve", "bare" if kind == "bare" else "chorus",
                                "--frames-per-message", str(frames_per_message))
        self.servers = [server]
        parts = banner.split()
        port, self.frames_per_message = int(parts[1]), int(parts[3])
        self.name = name.format(fpm=self.frames_per_message, edges=edges)
        if kind == "bare":
            self.targets, publish_url = [(port, lambda: "/listen")], f"ws://127.0.0.1:{port}/publish"
        else:
            from chorus.config import load_config
            from chorus.tokens import TokenIssuer

            token = load_config(ROOT / "stack" / "config" / "chorus.yaml", env={}).gateway.token
            issuer = TokenIssuer(KEY.encode(), token)

            sessions = itertools.count()

            def path(node: str) -> Callable[[], str]:
                # Join tokens are single-use per node: every listener connection gets its own.
                return lambda: "/v1/media?token=" + issuer.issue(user="l", space="bench", role="listener", node=node,
                                                                 session=f"l{next(sessions)}")[0]

            publish_url = f"ws://127.0.0.1:{port}/v1/media?token=" + issuer.issue(
                user="h", space="bench", role="host", node="bench-1", session="h")[0]
            self.targets = [(port, path("bench-1"))]
            if kind == "cascade":
                self.targets = []
                for index in range(1, edges + 1):
                    node = f"bench-edge-{index}"
                    edge, edge_banner = _spawn("--serve", "chorus", "--frames-per-message", str(frames_per_message),
                                               "--node-id", node, "--origin-url", f"ws://127.0.0.1:{port}")
                    self.servers.append(edge)
                    self.targets.append((int(edge_banner.split()[1]), path(node)))
        self.publisher, _ = _spawn("--publish", publish_url)
        # The publisher starts paused; SIGUSR2 runs it during this variant's windows, SIGUSR1 pauses it.
        self.meter = Meter()
        self.transports: list[asyncio.BaseTransport] = []
        self.steps: list[Step] = []
        self.done = False

    async def grow(self, target: int) -> None:
        """Open listener connections until there are `target`."""
        loop = asyncio.get_running_loop()
        while len(self.transports) < target:
            batch = min(200, target - len(self.transports))
            readies = [loop.create_future() for _ in range(batch)]
            chosen = [self.targets[(len(self.transports) + i) % len(self.targets)] for i in range(batch)]
            made = await asyncio.gather(*(
                loop.create_connection(
                    lambda r=r, t=t: ListenerProtocol(f"127.0.0.1:{t[0]}", t[1](), self.meter, r), "127.0.0.1", t[0])
                for r, t in zip(readies, chosen)))
            self.transports.extend(t for t, _ in made)
            await asyncio.wait_for(asyncio.gather(*readies), 30)

    async def window(self, listeners: int, step_s: float) -> Step:
        """Run the publisher, let it settle, measure one window, pause it again."""
        self.publisher.send_signal(signal.SIGUSR2)
        try:
            self.meter.recording = True
            await asyncio.sleep(1.0)
            self.meter.reset()
            pids = [server.pid for server in self.servers]
            server_cpu = sum(_cpu_seconds(pid) for pid in pids)
            client_cpu, started = _own_cpu_seconds(), time.monotonic()
            await asyncio.sleep(step_s)
            return _step(self.meter, listeners, started, pids, server_cpu, client_cpu)
        finally:
            self.meter.recording = False
            self.publisher.send_signal(signal.SIGUSR1)
            await asyncio.sleep(0.3)  # let the last frames drain before the next variant's window

    def close(self) -> None:
        """Drop the listeners and stop both processes."""
        for transport in self.transports:
            transport.abort()
        self.transports.clear()
        for process in (self.publisher, *reversed(self.servers)):
            process.terminate()
            process.wait(10)


async def ramp(variants: list[Variant], step_s: float, max_listeners: int, deadline: float) -> None:
    """Step up the listeners of every variant together, measuring them in turn at each step.

    Measuring the variants within seconds of each other at every step keeps a noisy neighbour
    on a shared machine from favouring one of them. A variant stops at its first failing step
    (measured twice), and its listeners are closed.
    """
    for target in (s for s in STEPS if s <= max_listeners):
        live = [v for v in variants if not v.done]
        if not live or time.monotonic() + len(live) * (step_s + 2) * 2 > deadline:
            break
        for variant in live:
            await variant.grow(target)
            step = await variant.window(target, step_s)
            if not step.passed:
                print(f"  {variant.name}: {target} listeners: p99 {step.p99_ms:.0f} ms, "
                      f"delivered {step.delivered:.1%}; measuring once more", file=sys.stderr, flush=True)
                step = await variant.window(target, step_s)
            variant.steps.append(step)
            print(f"  {variant.name}: {target:6} listeners: p50 {step.p50_ms:7.1f} ms  p99 {step.p99_ms:7.1f} ms  "
                  f"delivered {step.delivered:6.1%}  server CPU {step.server_cpu:5.0%}  "
                  f"listeners' CPU {step.client_cpu:5.0%}", file=sys.stderr, flush=True)
            if not step.passed:
                variant.done = True
                variant.close()


def _best(steps: list[Step]) -> Step | None:
    """The largest passing step."""
    passed = [s for s in steps if s.passed]
    return passed[-1] if passed else None


def _machine() -> str:
    """CPU model, cores, Python and OS."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def _row(name: str, best: Step | None, steps: list[Step], per_message: int) -> str:
    """One summary row (without its last cell)."""
    limit = "" if steps and not steps[-1].passed else " (not reached)"
    if best is None:
        return f"| {name} | 0 | - | - | - | - | - | {FRAME_RATE / per_message:g} |"
    return (f"| {name} | {best.listeners}{limit} | {best.p50_ms:.1f} | {best.p99_ms:.1f} | {best.delivered:.1%} | "
            f"{best.server_cpu:.0%} | {best.client_cpu:.0%} | {FRAME_RATE / per_message:g} |")


async def main(args: argparse.Namespace) -> None:
    """Measure the ceiling and Chorus (one frame per message, and as configured); print the report."""
    started = time.monotonic()
    print(f"bench/fanout.py: ramping listeners, {args.step_seconds:.0f} s per step, budget {args.budget_s:.0f} s",
          file=sys.stderr)
    variants = [
        Variant("bare `websockets` broadcast (ceiling)", "bare"),
        Variant("Chorus fan-out node, frames_per_message=1", "chorus", 1),
        Variant("Chorus fan-out node, as configured (frames_per_message={fpm})", "chorus", 0),
    ]
    if args.edges:
        variants.append(Variant("Chorus cascade: origin + {edges} edges, as configured (frames_per_message={fpm})",
                                "cascade", 0, args.edges))
    try:
        await ramp(variants, args.step_seconds, args.max_listeners, started + args.budget_s)
    finally:
        for variant in variants:
            if not variant.done:
                variant.close()
    runs = [(v.name, v.steps, v.frames_per_message) for v in variants]
    best = [_best(steps) for _, steps, _ in runs]
    ceiling = best[0].listeners if best[0] else 0
    print(f"### Fan-out capacity at {FRAME_RATE} frames/s (p99 < {P99_LIMIT_MS:.0f} ms, >= {DELIVERY_FLOOR:.0%} delivered)\n")
    print(f"Machine: {_machine()}. Loopback; each server, its publisher and the listeners in separate processes "
          f"(the listeners' process shares the machine with the server); at each step the servers are "
          f"measured in turn, {args.step_seconds:.0f} s each; {time.monotonic() - started:.0f} s in all. The "
          f"cascade's server CPU is its {args.edges + 1} processes' together, and its latency covers both hops.\n")
    print("| server | max listeners | p50 ms | p99 ms | delivered | server CPU | listeners' CPU "
          "| messages/s per listener | ratio to ceiling |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (name, steps, used), top in zip(runs, best):
        ratio = f"{top.listeners / ceiling:.2f}" if top and ceiling else "-"
        print(_row(name, top, steps, used) + f" {ratio} |")
    print("\n`not reached`: the largest step passed; the limit is higher than --max-listeners or the time budget.")
    print("Delivered is frames received over frames expected in the window (window edges can exceed 100 %).\n")
    counts = sorted({s.listeners for _, steps, _ in runs for s in steps})
    print("| listeners | " + " | ".join(_short(n, u) + " p50 / p99 ms" for n, _, u in runs) + " |")
    print("|---:|" + "---:|" * len(runs))
    for count in counts:
        cells = []
        for _, steps, _ in runs:
            step = next((s for s in steps if s.listeners == count), None)
            cells.append(f"{step.p50_ms:.1f} / {step.p99_ms:.1f}{'' if step.passed else ' (fail)'}" if step else "-")
        print(f"| {count} | " + " | ".join(cells) + " |")


def _short(name: str, per_message: int) -> str:
    """A server's column title in the per-step table."""
    if name.startswith("bare"):
        return "bare"
    return ("cascade" if "cascade" in name else "Chorus") + f" fpm={per_message}"


def _parse() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-listeners", type=int, default=6000,
                        help="largest step per server (default: 6000; three servers' listeners are open at once)")
    parser.add_argument("--step-seconds", type=float, default=3.0, help="measurement window per step (default: 3)")
    parser.add_argument("--budget-s", type=float, default=300.0, help="stop ramping after this long (default: 300)")
    parser.add_argument("--edges", type=int, default=2, help="edge nodes of the cascade (default: 2; 0 skips it)")
    parser.add_argument("--serve", choices=("chorus", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--node-id", default="bench-1", help=argparse.SUPPRESS)
    parser.add_argument("--origin-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--publish", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--frames-per-message", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    options = _parse()
    if options.serve:
        asyncio.run(serve_chorus(options.frames_per_message, options.node_id, options.origin_url)
                    if options.serve == "chorus" else serve_bare())
    elif options.publish:
        asyncio.run(publish(options.publish))
    else:
        asyncio.run(main(options))
