"""Joins at the gateway: admitted joins per second, join latency, and the shed path under a 10x storm.

Run:  .venv/bin/python bench/joins.py [--seconds 8] [--connections 64] [--storm-factor 10]

A real gateway (`python -m chorus.gateway`) and one fan-out node (`python -m
chorus.fanout`, so placement has somewhere to put listeners) run as their own
processes on 127.0.0.1, with stack/config/chorus.yaml plus the overrides each
phase names. This process is the crowd: a minimal keep-alive HTTP/1.1 client
(one connection per worker) sending `POST /v1/spaces/{id}/join` as listeners.

1. **admitted** - closed loop, admission unbounded (`join_rate_per_s`, `join_burst`,
   `max_sessions` and the node's cap lifted): every worker sends its next join as
   soon as the last is answered. The gateway's ceiling of admitted joins per second.
2. **storm** - open loop at `--storm-factor` x the configured `gateway.join_rate_per_s`,
   configured admission (the node's cap lifted, so every shed is admission's):
   joins are sent on a fixed schedule whatever the answers. Admitted joins per
   second should stay near the configured rate; the rest are shed with `503` and
   `Retry-After`, and the shed path's latency is what a crowd waits to be told to
   come back.

Latency is from sending the request to reading the whole answer. "Client lag" is
how late the crowd sent requests against its schedule (if it is large, this
process, not the gateway, was the limit). The services log at the configured
level to /dev/null. Printed as Markdown with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import yaml

from chorus.tokens import operator_token

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "stack" / "config" / "chorus.yaml"
KEY = "bench-signing-key-0123456789abcdef0123456789"


def _free_port() -> int:
    """A port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Stack:
    """The gateway and node processes of one phase."""

    gateway: subprocess.Popen[bytes]
    node: subprocess.Popen[bytes]
    port: int
    space: str

    def stop(self) -> None:
        """Stop both processes."""
        for process in (self.node, self.gateway):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def start_stack(overrides: dict[str, object]) -> Stack:
    """Start a gateway and one node with configuration overrides; create a space."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS")}
    env.update({"CHORUS_SIGNING_KEY": KEY, "CHORUS__GATEWAY__PORT": str(port), "CHORUS__FANOUT__PORT": "0"})
    env.update({f"CHORUS__{key.upper()}": str(value) for key, value in overrides.items()})
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    gateway = subprocess.Popen([sys.executable, "-m", "chorus.gateway", "--config", str(CONFIG)], **quiet)
    url = f"http://127.0.0.1:{port}"
    node = subprocess.Popen([sys.executable, "-m", "chorus.fanout", "--config", str(CONFIG), "--node-id", "fanout-1",
                             "--port", "0", "--gateway", url], **quiet)
    deadline = time.monotonic() + 120  # a loaded machine starts Python slowly
    while True:
        try:
            operator = {"Authorization": f"Bearer {operator_token(KEY.encode(), 'bench')}"}
            nodes = httpx.get(f"{url}/v1/nodes", timeout=1, headers=operator).json()
            if any(n["id"] == "fanout-1" and n["state"] == "accepting" for n in nodes):
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or gateway.poll() is not None or node.poll() is not None:
            raise SystemExit("bench/joins.py: the gateway or the node did not start")
        time.sleep(0.1)
    space = httpx.post(f"{url}/v1/spaces", json={"title": "bench", "host": "bench-host"}, timeout=5).json()["id"]
    return Stack(gateway, node, port, space)


@dataclass
class Tally:
    """Answers collected by the crowd."""

    admitted: list[float] = field(default_factory=list)
    shed: list[float] = field(default_factory=list)
    other: int = 0
    lags: list[float] = field(default_factory=list)
    missing_retry_after: int = 0


class Connection:
    """One keep-alive HTTP/1.1 connection that sends joins and reads their answers."""

    def __init__(self, port: int, space: str) -> None:
        self.port, self.space = port, space
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.count = 0

    async def join(self, user: str) -> tuple[int, bool]:
        """Send one join; return the status and whether a Retry-After header came with it."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        body = json.dumps({"user": user, "role": "listener"}).encode()
        self.writer.write(
            f"POST /v1/spaces/{self.space}/join HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        assert self.reader is not None
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, retry_after, closing = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "retry-after":
                retry_after = True
            elif name == "connection" and "close" in value.lower():
                closing = True
        await self.reader.readexactly(length)
        if closing:
            self.writer.close()
            self.writer = None
        return status, retry_after


async def closed_loop(stack: Stack, workers: int, seconds: float) -> tuple[Tally, float]:
    """Every worker joins again as soon as it is answered, for `seconds`."""
    tally = Tally()
    stop = time.monotonic() + seconds

    async def worker(index: int) -> None:
        connection = Connection(stack.port, stack.space)
        n = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            status, _ = await connection.join(f"w{index}-{n}")
            elapsed = time.perf_counter() - started
            (tally.admitted if status == 200 else tally.shed if status == 503 else [None]).append(elapsed)
            n += 1

    began = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    return tally, time.monotonic() - began


async def open_loop(stack: Stack, rate: float, seconds: float, workers: int) -> tuple[Tally, float]:
    """Send joins on a fixed schedule (`rate` per second) for `seconds`, spread over `workers` connections."""
    tally = Tally()
    total = int(rate * seconds)
    start = time.monotonic() + 0.2

    async def worker(index: int) -> None:
        connection = Connection(stack.port, stack.space)
        for k in range(index, total, workers):
            due = start + k / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tally.lags.append(max(0.0, time.monotonic() - due))
            started = time.perf_counter()
            status, retry_after = await connection.join(f"s{k}")
            elapsed = time.perf_counter() - started
            if status == 200:
                tally.admitted.append(elapsed)
            elif status == 503:
                tally.shed.append(elapsed)
                tally.missing_retry_after += 0 if retry_after else 1
            else:
                tally.other += 1

    await asyncio.gather(*(worker(i) for i in range(workers)))
    return tally, time.monotonic() - start


def _ms(values: list[float], q: float) -> str:
    """The q-th percentile in milliseconds, or '-'."""
    return f"{np.percentile(values, q) * 1000:.1f}" if values else "-"


def _machine() -> str:
    """CPU model, cores, Python and OS."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def main() -> None:
    """Run both phases and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each phase (default: 8)")
    parser.add_argument("--connections", type=int, default=64, help="client connections (default: 64)")
    parser.add_argument("--storm-factor", type=float, default=10.0, help="storm rate over the configured rate (default: 10)")
    args = parser.parse_args()
    if not (0 < args.seconds <= 60 and 1 <= args.connections <= 512 and 1 <= args.storm_factor <= 100):
        raise SystemExit("bench/joins.py: --seconds must be in (0, 60], --connections in [1, 512], --storm-factor in [1, 100]")
    gateway_config = yaml.safe_load(CONFIG.read_text())["gateway"]
    configured_rate = float(gateway_config["join_rate_per_s"])
    rows = []

    print(f"bench/joins.py: phase 1, closed loop, {args.connections} connections, {args.seconds:.0f} s", file=sys.stderr)
    unbounded = {"gateway__join_rate_per_s": 1_000_000, "gateway__join_burst": 10_000_000,
                 "gateway__max_sessions": 100_000_000, "fanout__listener_cap": 1_000_000}
    stack = start_stack(unbounded)
    try:
        tally, elapsed = asyncio.run(closed_loop(stack, args.connections, args.seconds))
    finally:
        stack.stop()
    rows.append(("admitted: closed loop, admission unbounded", f"as fast as answered ({args.connections} conns)",
                 tally, elapsed))

    storm_rate = configured_rate * args.storm_factor
    print(f"bench/joins.py: phase 2, open loop at {storm_rate:g} joins/s ({args.storm_factor:g}x the configured "
          f"{configured_rate:g}), {args.seconds:.0f} s", file=sys.stderr)
    stack = start_stack({"fanout__listener_cap": 1_000_000})
    try:
        tally, elapsed = asyncio.run(open_loop(stack, storm_rate, args.seconds, args.connections))
    finally:
        stack.stop()
    rows.append((f"storm: {args.storm_factor:g}x gateway.join_rate_per_s, configured admission",
                 f"{storm_rate:g}", tally, elapsed))

    print("### Joins at the gateway\n")
    print(f"Machine: {_machine()}. Loopback; gateway, fan-out node and this client in separate processes; "
          f"{args.seconds:.0f} s per phase; configured gateway.join_rate_per_s = {configured_rate:g}, "
          f"join_burst = {gateway_config['join_burst']}, priority_share = {gateway_config['priority_share']}.\n")
    print("| phase | offered joins/s | attempted | admitted/s | admitted p50 / p99 ms | shed/s | shed p50 / p99 ms "
          "| shed without Retry-After | client lag p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, offered, tally, elapsed in rows:
        attempted = len(tally.admitted) + len(tally.shed) + tally.other
        print(f"| {name} | {offered} | {attempted} | {len(tally.admitted) / elapsed:.0f} | "
              f"{_ms(tally.admitted, 50)} / {_ms(tally.admitted, 99)} | {len(tally.shed) / elapsed:.0f} | "
              f"{_ms(tally.shed, 50)} / {_ms(tally.shed, 99)} | {tally.missing_retry_after} | "
              f"{_ms(tally.lags, 99) if tally.lags else '-'} |")
    print("\nIn the storm, admitted/s above the configured rate is the burst (join_burst less the hosts' reserve) "
          "spent in the first second, spread over the phase.")


if __name__ == "__main__":
    main()
