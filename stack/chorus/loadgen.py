"""The load generator behind `chorusctl loadgen`: crowds of listeners against a local Chorus.

Scenarios:

- `join-storm` - joins arrive at a fixed rate (by default 10x `gateway.join_rate_per_s`);
  a shed join (`503`) is counted and not retried; admitted listeners connect and
  listen to the end. Shows that admission sheds cleanly and admitted listeners
  keep their audio.
- `listeners` - listeners join at a fixed rate, waiting out `Retry-After` as real
  clients do, and listen to the end.
- `reconnect-storm` - listeners join and listen; a third of the way in, every
  connection drops at once (as in a network blip) and every client joins again
  with jittered exponential backoff (and at least the `Retry-After` it is given),
  telling the gateway it reconnects (`reconnect: network`).
- `slow-listeners` - listeners join; a share of them stop reading after they
  connect (with a small receive buffer), as a phone on a bad network does. The
  fan-out must drop the slow ones and keep the others fed. The speaker sends
  real 20 ms Opus frames: the node caps every listener socket's kernel send
  buffer (`fanout.socket_send_buffer_bytes`), so a stalled listener's backlog
  reaches `fanout.send_queue_limit` within seconds.

Every run is bounded: at most `HARD_MAX_CLIENTS` clients and `HARD_MAX_SECONDS`
seconds, whatever is asked (closing takes at most `CLOSE_TIMEOUT_S` more), and
it refuses any target that is not a loopback address (the gateway and every
fan-out node it is sent to). Ctrl-C (SIGINT) ends the run early with the summary
of what happened so far; a second Ctrl-C aborts. Progress goes to stderr once a
second; the result is a `LoadResult` with a summary table.

Joins go out on a schedule (client N's first join is due `N / rate` seconds in)
through at most `MAX_JOINS_IN_FLIGHT` connections: a join due while all are busy
waits for one, and goes out late. Never queueing more requests than connections
keeps the HTTP client's pool cheap (a pool with thousands of waiting requests
spends its time rescanning them and sends almost nothing). The summary shows the
rate really offered next to the rate asked, and a run that offered less than
`OFFERED_SHARE_REQUIRED` of it is incomplete, saying how far it fell short.

The summary accounts for every join request: each one was admitted, shed,
refused with another status, timed out, failed to connect, or was still
unanswered when the run ended. A run in which a client never got to send its
first join, or a join went unanswered, timed out or could not connect, did not
measure what it was asked to: `LoadResult.complete` is false and the table
says why (on a small machine, a large crowd at a high rate can outrun the
client itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from chorus.client import GatewayClient, GatewayError, Speaker, media_url
from chorus.config import ChorusConfig
from chorus.fanout.upstream import backoff_s
from chorus.protocol import MEDIA_PATH, End, JoinBody, Reconnect, ReconnectReason, join_request, read_until_instructed, unpack_frames

SCENARIOS = ("join-storm", "listeners", "reconnect-storm", "slow-listeners")
"""The scenarios `chorusctl loadgen` runs."""

HARD_MAX_CLIENTS = 2000
"""No run starts more clients than this, whatever is asked."""

HARD_MAX_SECONDS = 120.0
"""No run lasts longer than this (plus at most `CLOSE_TIMEOUT_S` to close), whatever is asked."""

CLOSE_TIMEOUT_S = 10.0
"""Longest time a run spends closing its clients and ending its space after its duration."""

MAX_JOINS_IN_FLIGHT = 100
"""Join requests in flight at once (and HTTP connections to the gateway); a join due beyond it waits."""

LATE_AFTER_S = 0.1
"""A join sent this much after it was due counts as late."""

OFFERED_SHARE_REQUIRED = 0.9
"""A run that offered less than this share of the asked join rate did not measure what was asked."""

STARVED_AFTER_S = 1.0
"""An admitted listener that heard nothing for this long at the end of a run counts as starved."""

SLOW_RECEIVE_BUFFER = 2048
"""Receive buffer (bytes) of a slow listener's socket, so its node's send queue fills quickly."""


class LoadgenError(Exception):
    """The run cannot start (a non-loopback target, a bound exceeded); the message says why."""


def require_loopback(url: str) -> None:
    """Refuse a URL whose host is not a loopback address.

    Args:
        url: An `http://` or `ws://` URL.

    Raises:
        LoadgenError: The host resolves to anything but loopback (or does not resolve).
    """
    host = urlsplit(url).hostname or ""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        raise LoadgenError(f"cannot resolve {host!r} in {url}; loadgen targets 127.0.0.1 only") from None
    outside = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback)
    if not addresses or outside:
        raise LoadgenError(f"refusing to load {url}: {host} is not a loopback address ({', '.join(outside) or 'none'}); "
                           "loadgen targets 127.0.0.1 only")


@dataclass
class LoadPlan:
    """What to run.

    Attributes:
        scenario: One of `SCENARIOS`.
        clients: How many listeners.
        rate_per_s: Joins started per second.
        duration_s: How long the run lasts (the speaker speaks and listeners listen this long).
        space: The space to join; `None` creates one with a speaker for the run and ends it after.
        slow_share: For `slow-listeners`, the share of listeners that stop reading.
        slow_rejoin: For `slow-listeners`, whether a dropped slow listener rejoins (and stalls again),
            as a phone on a bad network does: the node keeps dropping for as long as the run lasts.
        misroute_share: The share of listeners behind a load balancer in front of the nodes: each of
            their media connections goes to any node the gateway lists, at random, not to the one
            their grant names. A node refuses a token naming another (`wrong_node`) and the listener
            joins again: the cause the token-failures runbook's `wrong_node` row describes. Listing
            the nodes takes an operator credential.
    """

    scenario: str
    clients: int
    rate_per_s: float
    duration_s: float
    space: str | None = None
    slow_share: float = 0.5
    slow_rejoin: bool = False
    misroute_share: float = 0.0

    def check(self) -> None:
        """Enforce the hard bounds.

        Raises:
            LoadgenError: A bound is exceeded or a value is out of range.
        """
        if self.scenario not in SCENARIOS:
            raise LoadgenError(f"unknown scenario {self.scenario!r}; one of {', '.join(SCENARIOS)}")
        if not 1 <= self.clients <= HARD_MAX_CLIENTS:
            raise LoadgenError(f"--clients must be between 1 and {HARD_MAX_CLIENTS}")
        if not 0 < self.duration_s <= HARD_MAX_SECONDS:
            raise LoadgenError(f"--duration must be above 0 and at most {HARD_MAX_SECONDS:.0f} s")
        if not 0 < self.rate_per_s <= 100_000:
            raise LoadgenError("--rate must be above 0 and at most 100000 joins/s")
        if not 0 <= self.slow_share <= 1:
            raise LoadgenError("--slow-share must be between 0 and 1")
        if not 0 <= self.misroute_share <= 1:
            raise LoadgenError("--misroute-share must be between 0 and 1")


@dataclass
class ClientStats:
    """One simulated listener.

    Attributes:
        index: Its number.
        slow: Whether it stops reading (slow-listeners).
        misrouted: Whether a load balancer picks its node (see `LoadPlan.misroute_share`).
        misroutes: Its media connections a node refused because the token named another node.
        attempts: Join requests it sent.
        sheds: Those answered `503`.
        admits: Those admitted.
        admitted: Whether a join was admitted.
        connected: Whether its media connection is open now.
        frames: Frames received.
        drops: Times its node closed its connection without being asked.
        reconnected: Whether it connected again after the reconnect storm's drop.
        last_frame_at: When it last received audio (monotonic), 0 if never.
        join_latencies: Seconds each join request took.
        started: Whether its start time came before the run ended (it sent, or was sending, a join).
        joining: Whether a join request is in flight now.
        refused: Join requests answered with a status other than 200 and 503.
        timeouts: Join requests that timed out (connecting, waiting for a pooled connection, or the answer).
        connection_errors: Join requests that failed otherwise before an answer (refused connection...).
        media_errors: Media connections that failed (refused handshake, unreachable node).
        ticket: The rejoin ticket its draining node handed out, sent with its next join.
        due_s: When its first join was due, seconds into the run.
        sent_s: When its first join really went out, seconds into the run (-1: not yet).
    """

    index: int
    slow: bool = False
    misrouted: bool = False
    misroutes: int = 0
    attempts: int = 0
    sheds: int = 0
    admits: int = 0
    admitted: bool = False
    connected: bool = False
    frames: int = 0
    drops: int = 0
    reconnected: bool = False
    ticket: str | None = None
    last_frame_at: float = 0.0
    join_latencies: list[float] = field(default_factory=list)
    started: bool = False
    joining: bool = False
    refused: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    media_errors: int = 0
    due_s: float = 0.0
    sent_s: float = -1.0

    @property
    def errors(self) -> int:
        """Failures other than sheds: refused joins, join timeouts and connection errors, media errors."""
        return self.refused + self.timeouts + self.connection_errors + self.media_errors


@dataclass
class LoadResult:
    """The outcome of a run.

    Attributes:
        scenario: The scenario.
        clients: Listeners simulated.
        duration_s: How long it ran.
        attempted: Join requests sent.
        admitted: Join requests admitted.
        shed: Join requests shed with `503`.
        shed_without_retry_after: Sheds that lacked a `Retry-After` header (a defect).
        errors: Other failures: `refused + timeouts + connection_errors + media_errors`.
        p50_join_ms: Median join latency.
        p99_join_ms: 99th percentile join latency.
        frames_received: Frames received by all listeners.
        drops: Connections the nodes closed without being asked.
        listening: Admitted listeners connected at the end.
        starved: Admitted, connected listeners that heard nothing in the last `STARVED_AFTER_S`.
        reconnected: For `reconnect-storm`, listeners connected again after the drop.
        p99_reconnect_s: For `reconnect-storm`, the 99th percentile time to connect again.
        slow: For `slow-listeners`, listeners that stopped reading.
        slow_dropped: For `slow-listeners`, slow listeners the node dropped.
        misrouted: Listeners behind the load balancer (`--misroute-share`).
        misroutes: Their connections refused because they reached another node than their grant's.
        space: The space used.
        refused: Join requests answered with a status other than 200 and 503.
        timeouts: Join requests that timed out.
        connection_errors: Join requests that failed before an answer for another reason.
        unanswered: Join requests still in flight when the run ended.
        media_errors: Media connections that failed.
        not_started: Clients whose first join was not sent before the run ended (not due yet, or
            waiting for a free connection).
        asked_rate_per_s: The join rate asked for.
        offered_rate_per_s: The rate at which first joins really went out (see `offered_rate`).
        late_joins: First joins sent more than `LATE_AFTER_S` after they were due.
        max_late_ms: The latest a first join went out, after it was due.
        interrupted: Whether Ctrl-C ended the run before its duration.
        not_started_due: Clients whose first join was due before the run ended but never went out.
    """

    scenario: str
    clients: int
    duration_s: float
    attempted: int
    admitted: int
    shed: int
    shed_without_retry_after: int
    errors: int
    p50_join_ms: float
    p99_join_ms: float
    frames_received: int
    drops: int
    listening: int
    starved: int
    reconnected: int = 0
    p99_reconnect_s: float = 0.0
    slow: int = 0
    slow_dropped: int = 0
    misrouted: int = 0
    misroutes: int = 0
    space: str = ""
    refused: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    unanswered: int = 0
    media_errors: int = 0
    not_started: int = 0
    asked_rate_per_s: float = 0.0
    offered_rate_per_s: float = 0.0
    late_joins: int = 0
    max_late_ms: float = 0.0
    interrupted: bool = False
    not_started_due: int = 0

    @property
    def fell_short(self) -> bool:
        """Whether the run offered less than `OFFERED_SHARE_REQUIRED` of the asked rate (with 10 joins or more due)."""
        due = self.attempted_first + self.not_started_due
        return due >= 10 and self.offered_rate_per_s < OFFERED_SHARE_REQUIRED * self.asked_rate_per_s

    @property
    def attempted_first(self) -> int:
        """First joins sent (one per started client)."""
        return self.clients - self.not_started

    @property
    def unaccounted(self) -> int:
        """Join requests in none of the outcomes (0 unless the accounting itself is wrong)."""
        return self.attempted - (self.admitted + self.shed + self.refused + self.timeouts + self.connection_errors
                                 + self.unanswered)

    @property
    def incomplete_reasons(self) -> list[str]:
        """Why the run did not measure what it was asked to (empty when it did).

        Returns:
            One phrase per reason.
        """
        reasons = []
        if self.interrupted:
            reasons.append(f"interrupted by Ctrl-C after {self.duration_s:.1f} s")
        if self.not_started:
            reasons.append(f"{self.not_started} of {self.clients} clients never sent a join before the run ended")
        if self.unanswered:
            reasons.append(f"{self.unanswered} of {self.attempted} joins were still unanswered at the end")
        if self.timeouts:
            reasons.append(f"{self.timeouts} joins timed out")
        if self.connection_errors:
            reasons.append(f"{self.connection_errors} joins could not connect to the gateway")
        if self.unaccounted:
            reasons.append(f"{self.unaccounted} joins are unaccounted for")
        if self.fell_short:
            reasons.append(
                f"offered {self.offered_rate_per_s:.0f} joins/s of the {self.asked_rate_per_s:g} asked "
                f"({100 * self.offered_rate_per_s / self.asked_rate_per_s:.0f}%): {self.late_joins} joins went out late, "
                f"up to {self.max_late_ms:.0f} ms (answers came slower than {MAX_JOINS_IN_FLIGHT} connections in "
                "flight could keep up with, or this machine is busy)"
                + (f", {self.not_started_due} due never went out" if self.not_started_due else ""))
        return reasons

    @property
    def complete(self) -> bool:
        """Whether every client sent its join and every join got an answer from the gateway."""
        return not self.incomplete_reasons

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready mapping.

        Returns:
            The result, with `complete` and `incomplete_reasons`.
        """
        return {**asdict(self), "complete": self.complete, "incomplete_reasons": self.incomplete_reasons}

    def table(self) -> str:
        """The summary table for people.

        Returns:
            The text.
        """
        rows = [
            ("scenario", self.scenario), ("space", self.space), ("clients", self.clients),
            ("clients not started", self.not_started), ("duration s", f"{self.duration_s:.1f}"),
            ("rate asked /s", f"{self.asked_rate_per_s:g}"), ("rate offered /s", f"{self.offered_rate_per_s:.0f}"),
            ("late joins", f"{self.late_joins} (up to {self.max_late_ms:.0f} ms)"),
            ("attempted", self.attempted), ("  admitted", self.admitted), ("  shed (503)", self.shed),
            ("  refused (other status)", self.refused), ("  timed out", self.timeouts),
            ("  connection errors", self.connection_errors), ("  unanswered at end", self.unanswered),
            ("shed without Retry-After", self.shed_without_retry_after), ("media errors", self.media_errors),
            ("errors", self.errors), ("p50 join ms", f"{self.p50_join_ms:.1f}"), ("p99 join ms", f"{self.p99_join_ms:.1f}"),
            ("frames received", self.frames_received), ("drops", self.drops), ("listening at end", self.listening),
            ("starved at end", self.starved),
        ]
        if self.scenario == "reconnect-storm":
            rows += [("reconnected", self.reconnected), ("p99 reconnect s", f"{self.p99_reconnect_s:.2f}")]
        if self.scenario == "slow-listeners":
            rows += [("slow listeners", self.slow), ("slow listeners dropped", self.slow_dropped)]
        if self.misrouted:
            rows += [("misrouted listeners", self.misrouted), ("refused as wrong node", self.misroutes)]
        if self.complete:
            rows.append(("run", "complete: every join was answered"))
        else:
            rows.append(("run", "INCOMPLETE - did not measure what was asked: " + "; ".join(self.incomplete_reasons)
                         + " (fewer --clients, a lower --rate or a longer --duration)"))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def _percentile(values: list[float], q: float) -> float:
    """The q-th percentile of values (0 if empty)."""
    import numpy as np  # here, not at the top: `chorusctl` starts faster without numpy

    return float(np.percentile(values, q)) if values else 0.0


class LoadRun:
    """One run of a scenario against a gateway.

    Args:
        plan: What to run.
        config: The configuration (audio format for the speaker).
        gateway_url: The gateway (must be loopback).
        progress: Called with a progress line about once a second (default: stderr).
        operator_token: An operator token, to list the nodes a misrouting load balancer spreads
            listeners over (needed only with `LoadPlan.misroute_share`).
    """

    def __init__(
        self, plan: LoadPlan, config: ChorusConfig, gateway_url: str, progress: Callable[[str], None] | None = None,
        operator_token: str | None = None,
    ) -> None:
        plan.check()
        require_loopback(gateway_url)
        self.plan = plan
        self.config = config
        self.gateway_url = gateway_url
        self.clients = [ClientStats(i) for i in range(plan.clients)]
        for stats in self.clients[plan.clients - round(plan.clients * plan.misroute_share):]:
            stats.misrouted = True
        self._operator_token = operator_token
        self._balanced: list[str] = []
        self._progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
        self._rng = random.Random()
        self._http: httpx.AsyncClient | None = None
        self._start = 0.0
        self._stop = asyncio.Event()
        self._drop_now = asyncio.Event()
        self._reconnect_times: list[float] = []
        self._shed_without_retry_after = 0
        self._checked_hosts: set[str] = set()
        self._slots = asyncio.Semaphore(MAX_JOINS_IN_FLIGHT)
        self._sigint_caught = False

    async def run(self) -> LoadResult:
        """Run the scenario to the end.

        Returns:
            The result.
        """
        plan = self.plan
        limits = httpx.Limits(max_connections=MAX_JOINS_IN_FLIGHT, max_keepalive_connections=MAX_JOINS_IN_FLIGHT)
        interrupt = asyncio.Event()
        self._catch_sigint(interrupt)
        try:
            async with httpx.AsyncClient(base_url=self.gateway_url, timeout=10.0, limits=limits) as http, \
                    GatewayClient(self.gateway_url) as gateway:
                self._http = http
                space, speaker_task = await self._prepare(gateway)
                self._start = time.monotonic()
                tasks = [asyncio.create_task(self._client(stats, space)) for stats in self.clients]
                helpers = [asyncio.create_task(self._report_forever())]
                if plan.scenario == "reconnect-storm":
                    helpers.append(asyncio.create_task(self._drop_later()))
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(interrupt.wait(), min(plan.duration_s, HARD_MAX_SECONDS))
                finally:
                    ended_at = time.monotonic()
                    self._stop.set()
                    result = self._result(space, ended_at, interrupted=interrupt.is_set())
                    await self._close(tasks + helpers, speaker_task, gateway, space)
        finally:
            self._release_sigint()
        self._progress(f"loadgen {plan.scenario}: done")
        return result

    async def _close(self, tasks: list[asyncio.Task[Any]], speaker: asyncio.Task[Any] | None, gateway: GatewayClient,
                     space: str) -> None:
        """Cancel every client and helper, stop the speaker and end the run's space, within `CLOSE_TIMEOUT_S`."""
        for task in (*tasks, *([speaker] if speaker else [])):
            task.cancel()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.gather(*tasks, *([speaker] if speaker else []), return_exceptions=True)
                if speaker is not None:
                    with contextlib.suppress(Exception):
                        await gateway.end_space(space, "loadgen-host")
        except TimeoutError:
            self._progress(f"loadgen {self.plan.scenario}: clients still closing after {CLOSE_TIMEOUT_S:g} s; leaving them")

    def _catch_sigint(self, interrupt: asyncio.Event) -> None:
        """Make the first Ctrl-C end the run early (with its summary); the second one aborts as usual."""
        loop = asyncio.get_running_loop()

        def first() -> None:
            self._progress(f"loadgen {self.plan.scenario}: interrupted; stopping and summing up "
                           "(Ctrl-C again to abort)")
            interrupt.set()
            self._release_sigint()

        try:
            loop.add_signal_handler(signal.SIGINT, first)
            self._sigint_caught = True
        except (RuntimeError, ValueError, NotImplementedError):
            self._sigint_caught = False  # not the main thread: leave SIGINT alone

    def _release_sigint(self) -> None:
        """Give SIGINT back to its default handling."""
        if self._sigint_caught:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
            self._sigint_caught = False

    async def _list_nodes(self) -> list[str]:
        """The media URLs of every node the gateway lists (what a load balancer in front of them would balance over)."""
        async with GatewayClient(self.gateway_url, operator_token=self._operator_token) as operator:
            try:
                status = await operator.status()
            except GatewayError as exc:
                raise LoadgenError(f"--misroute-share needs the node list from the gateway's /v1/status: {exc}") from None
        urls = sorted(node["url"] + MEDIA_PATH for node in status["nodes"] if node["state"] != "stale")
        for url in urls:
            require_loopback(url)
        if len(urls) < 2:
            raise LoadgenError(f"--misroute-share needs two nodes or more to misroute between; the gateway lists {len(urls)}")
        return urls

    async def _prepare(self, gateway: GatewayClient) -> tuple[str, asyncio.Task[Any] | None]:
        """The space to load: the one given, or a new one with a speaker sending a test signal."""
        if self.plan.misroute_share:
            self._balanced = await self._list_nodes()
        if self.plan.space is not None:
            await gateway.space(self.plan.space)
            return self.plan.space, None
        space = (await gateway.create_space(f"loadgen {self.plan.scenario}", "loadgen-host"))["id"]
        audio = self.config.audio
        from chorus.audio import reference_packets  # numpy and PyAV, only when a speaker is needed

        packets = reference_packets(audio, min(self.plan.duration_s, HARD_MAX_SECONDS) + 5)
        speaker = Speaker(gateway, space, "loadgen-host", "host", audio.frame_ms)
        task = asyncio.create_task(speaker.run(packets))
        await asyncio.sleep(0.3)
        return space, task

    # ----------------------------------------------------------------- one client

    async def _client(self, stats: ClientStats, space: str) -> None:
        """One listener's life in the scenario."""
        plan = self.plan
        stats.due_s = stats.index / plan.rate_per_s
        await asyncio.sleep(max(0.0, self._start + stats.due_s - time.monotonic()))
        if self._stop.is_set():
            return
        patient = plan.scenario != "join-storm"
        stats.slow = plan.scenario == "slow-listeners" and stats.index < round(plan.clients * plan.slow_share)
        reconnect: ReconnectReason | None = None
        storm_at: float | None = None
        failures = 0
        while not self._stop.is_set():
            grant, retry_after = await self._join(stats, space, reconnect)
            if grant is None:
                if not patient or retry_after is None:
                    return
                wait = max(retry_after, backoff_s(failures, 0.5, 8.0, self._rng)) if reconnect else retry_after
                failures += 1
                await asyncio.sleep(wait)
                continue
            stats.admits += 1
            stats.ticket = None
            stats.admitted = True
            failures = 0
            outcome = await self._listen(stats, grant, storm_at)
            storm_at = None
            if outcome == "stop":
                return
            if outcome == "misrouted":  # refused by the wrong node: join again, as its client would
                failures += 1
                await asyncio.sleep(backoff_s(failures, 0.5, 8.0, self._rng))
                continue
            if outcome == "storm":
                reconnect, storm_at = "network", time.monotonic()
                await asyncio.sleep(backoff_s(0, 0.5, 8.0, self._rng))
                continue
            if outcome in ("dropped", "reconnect"):
                if not patient or (stats.slow and not plan.slow_rejoin):
                    return
                reconnect = "drain" if outcome == "reconnect" else "network"
                await asyncio.sleep(backoff_s(failures, 0.5, 8.0, self._rng))
                failures += 1

    async def _join(self, stats: ClientStats, space: str,
                    reconnect: ReconnectReason | None) -> tuple[dict[str, Any] | None, float | None]:
        """Send one join; return the grant, or `None` and the Retry-After (None when not retryable)."""
        assert self._http is not None
        body = join_request(f"loadgen-{stats.index}", "listener", reconnect or None, stats.ticket or None)
        async with self._slots:
            if self._stop.is_set():
                return None, None
            if not stats.started:
                stats.started = True
                stats.sent_s = time.monotonic() - self._start
            return await self._send_join(stats, space, body)

    async def _send_join(self, stats: ClientStats, space: str, body: JoinBody) -> tuple[dict[str, Any] | None, float | None]:
        """Send one join request (holding one of the in-flight slots) and sort its answer."""
        assert self._http is not None
        stats.attempts += 1
        stats.joining = True
        started = time.perf_counter()
        try:
            response = await self._http.post(f"/v1/spaces/{space}/join", json=body)
        except httpx.TimeoutException:
            stats.joining = False
            stats.timeouts += 1
            return None, 1.0
        except httpx.HTTPError:
            stats.joining = False
            stats.connection_errors += 1
            return None, 1.0
        stats.joining = False
        stats.join_latencies.append(time.perf_counter() - started)
        if response.status_code == 200:
            return response.json(), None
        if response.status_code == 503:
            stats.sheds += 1
            header = response.headers.get("Retry-After")
            if header is None:
                self._shed_without_retry_after += 1
            return None, float(header) if header and header.isdigit() else 1.0
        stats.refused += 1
        return None, None

    async def _listen(self, stats: ClientStats, grant: dict[str, Any], storm_at: float | None) -> str:
        """Connect with a grant and receive until the run stops; say how it ended.

        `storm_at` is when the reconnect storm cut this client's previous connection, if it did.

        Returns:
            `stop` (the run ended), `storm` (the reconnect storm cut the connection), `dropped`
            (the node closed it), `reconnect` (the node said reconnect), `misrouted` (a node other
            than the grant's refused it), `failed` (no connection).
        """
        target = self._rng.choice(self._balanced) if stats.misrouted else grant["url"]
        url = media_url({**grant, "url": target})
        host = urlsplit(url).hostname or ""
        if host not in self._checked_hosts:
            require_loopback(url)
            self._checked_hosts.add(host)
        try:
            sock = None
            if stats.slow:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RECEIVE_BUFFER)
                sock.setblocking(False)
                split = urlsplit(url)
                await asyncio.get_running_loop().sock_connect(sock, (split.hostname, split.port))
            async with connect(url, sock=sock, compression=None, max_size=2**22, open_timeout=10,
                               max_queue=1 if stats.slow else 16) as ws:
                stats.connected = True
                if storm_at is not None:
                    stats.reconnected = True
                    self._reconnect_times.append(time.monotonic() - storm_at)
                return await self._receive(stats, ws)
        except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
            if stats.connected:
                stats.drops += 1
                return "dropped"
            if target != grant["url"] and isinstance(exc, InvalidStatus) and exc.response.status_code == 401:
                stats.misroutes += 1
                return "misrouted"
            stats.media_errors += 1
            return "failed"
        finally:
            stats.connected = False

    async def _receive(self, stats: ClientStats, ws: ClientConnection) -> str:
        """Receive frames until the run stops, the storm hits, or the node ends the connection."""
        cut_by: list[str] = []

        async def cut_when_told() -> None:
            stop = asyncio.create_task(self._stop.wait())
            storm = asyncio.create_task(self._drop_now.wait())
            try:
                await asyncio.wait([stop, storm], return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                storm.cancel()
            cut_by.append("stop" if self._stop.is_set() else "storm")
            ws.transport.abort()

        watcher = asyncio.create_task(cut_when_told())
        try:
            if stats.slow:
                await ws.recv()  # the welcome, then never read again
                while True:  # with reading paused, only a write notices that the node hung up
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(ws.wait_closed(), 0.5)
                        break
                    await ws.ping()
            else:

                def count(message: bytes) -> None:
                    stats.frames += len(unpack_frames(message))
                    stats.last_frame_at = time.monotonic()

                instruction = await read_until_instructed(ws, count)
                if isinstance(instruction, Reconnect):
                    stats.ticket = instruction.ticket
                    return "reconnect"
                if isinstance(instruction, End):
                    return "stop"
        except ConnectionClosed:
            pass
        finally:
            watcher.cancel()
        if cut_by:
            return cut_by[0]
        if self._stop.is_set():
            return "stop"
        stats.drops += 1
        return "dropped"

    async def _drop_later(self) -> None:
        """For `reconnect-storm`: cut every connection at once a third of the way in."""
        await asyncio.sleep(self.plan.duration_s / 3)
        self._progress(f"loadgen {self.plan.scenario}: dropping every connection at once")
        self._drop_now.set()
        await asyncio.sleep(0.05)
        self._drop_now.clear()

    # ----------------------------------------------------------------- reporting

    async def _report_forever(self) -> None:
        """Print a progress line once a second."""
        while True:
            await asyncio.sleep(1.0)
            c = self.clients
            elapsed = time.monotonic() - self._start
            self._progress(
                f"loadgen {self.plan.scenario} {elapsed:5.1f}s  "
                f"offered {self._offered_rate(elapsed):.0f}/s of {self.plan.rate_per_s:g}/s  "
                f"waiting {sum(1 for s in c if not s.started and s.due_s <= elapsed)}  "
                f"attempted {sum(s.attempts for s in c)}  admitted {sum(s.admitted for s in c)}  "
                f"shed {sum(s.sheds for s in c)}  in flight {sum(s.joining for s in c)}  "
                f"errors {sum(s.errors for s in c)}  connected {sum(s.connected for s in c)}  "
                f"frames {sum(s.frames for s in c)}  drops {sum(s.drops for s in c)}"
            )

    def _offered_rate(self, elapsed: float) -> float:
        """The rate at which first joins went out: those sent, over the time it took to send them.

        On schedule, the `n` joins due by now took `n / rate` seconds; if they went out later,
        the time to the last one counts instead, so lateness lowers the rate.
        """
        sent = [s.sent_s for s in self.clients if s.started]
        if not sent:
            return 0.0
        due = sum(1 for s in self.clients if s.due_s <= elapsed)
        window = max(due / self.plan.rate_per_s, max(sent) + 1 / self.plan.rate_per_s)
        return len(sent) / window

    def _result(self, space: str, ended_at: float, interrupted: bool = False) -> LoadResult:
        """Sum the clients up."""
        c = self.clients
        elapsed = ended_at - self._start
        lateness = [s.sent_s - s.due_s for s in c if s.started]
        latencies = [latency for s in c for latency in s.join_latencies]
        listening = [s for s in c if s.connected and not s.slow]
        starved = [s for s in listening if ended_at - s.last_frame_at > STARVED_AFTER_S]
        slow = [s for s in c if s.slow]
        return LoadResult(
            scenario=self.plan.scenario,
            clients=len(c),
            duration_s=ended_at - self._start,
            attempted=sum(s.attempts for s in c),
            admitted=sum(s.admits for s in c),
            shed=sum(s.sheds for s in c),
            shed_without_retry_after=self._shed_without_retry_after,
            errors=sum(s.errors for s in c),
            p50_join_ms=_percentile(latencies, 50) * 1000,
            p99_join_ms=_percentile(latencies, 99) * 1000,
            frames_received=sum(s.frames for s in c),
            drops=sum(s.drops for s in c if not s.slow),
            listening=len(listening),
            starved=len(starved),
            reconnected=sum(s.reconnected for s in c),
            p99_reconnect_s=_percentile(self._reconnect_times, 99),
            slow=len(slow),
            slow_dropped=sum(1 for s in slow if s.drops),
            misrouted=sum(s.misrouted for s in c),
            misroutes=sum(s.misroutes for s in c),
            space=space,
            refused=sum(s.refused for s in c),
            timeouts=sum(s.timeouts for s in c),
            connection_errors=sum(s.connection_errors for s in c),
            unanswered=sum(s.joining for s in c),
            media_errors=sum(s.media_errors for s in c),
            not_started=sum(not s.started for s in c),
            asked_rate_per_s=self.plan.rate_per_s,
            offered_rate_per_s=self._offered_rate(elapsed),
            late_joins=sum(1 for late in lateness if late > LATE_AFTER_S),
            max_late_ms=max(lateness, default=0.0) * 1000,
            interrupted=interrupted,
            not_started_due=sum(1 for s in c if not s.started and s.due_s < elapsed),
        )
