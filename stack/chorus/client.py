"""Clients of Chorus: the gateway's HTTP API, a speaker and a listener.

`chorusctl` is built on these, and so are the end-to-end tests. Both media
clients behave as a well-mannered app should: a shed join waits the jittered
`Retry-After` the gateway gave; a `reconnect` instruction (the node is
draining) or a lost connection sends them back through the gateway, which
places them again (the join says why: `reconnect` is `drain` or `network`); an
ended space stops them. Every rejoin waits a jittered exponential backoff
(`ReconnectBackoff`: full jitter from `RECONNECT_BASE_S`, capped at
`RECONNECT_MAX_S`, and never less than a `Retry-After`), so clients of a dead
node - which the gateway keeps naming until it marks the node stale - do not
hammer the gateway with joins.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from chorus.fanout.upstream import backoff_s
from chorus.protocol import (
    CLOSE_ENDED,
    End,
    EndOfStream,
    Frame,
    Reconnect,
    ReconnectReason,
    Role,
    encode_control,
    join_request,
    pack_frames,
    read_until_instructed,
    unpack_frames,
)
from chorus.tokens import service_token

HOST_SECRET_HEADER = "X-Chorus-Host-Secret"
"""The header carrying a space's host secret (as `chorus.gateway.spaces.HOST_SECRET_HEADER`)."""

RECONNECT_BASE_S = 0.25
"""Ceiling of the first rejoin's random delay; it doubles with every failed attempt."""

RECONNECT_MAX_S = 5.0
"""Largest ceiling of a rejoin's random delay (about `gateway.node_timeout_s`: by then the gateway
has marked a dead node stale and places the client elsewhere)."""

RECONNECT_STABLE_S = 2.0
"""A connection that lasted this long resets the backoff; one that drops sooner counts as a failure."""


class ReconnectBackoff:
    """When a media client may try again: jittered exponential backoff, honouring `Retry-After`.

    Args:
        base_s: The first ceiling.
        cap_s: The largest ceiling.
        rng: Random source.

    Attributes:
        failures: Failed attempts since the last stable connection.
    """

    def __init__(self, base_s: float = RECONNECT_BASE_S, cap_s: float = RECONNECT_MAX_S,
                 rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self._rng = rng or random.Random()

    def delay_s(self, retry_after_s: float = 0.0) -> float:
        """The wait before the next attempt (full jitter, at least `retry_after_s`); counts a failure.

        Args:
            retry_after_s: The gateway's `Retry-After`, if it gave one.

        Returns:
            Seconds to wait.
        """
        delay = max(retry_after_s, backoff_s(self.failures, self.base_s, self.cap_s, self._rng))
        self.failures += 1
        return delay

    def connected_for(self, seconds: float) -> None:
        """Record how long a connection lasted: a stable one resets the backoff.

        Args:
            seconds: How long it was open.
        """
        if seconds >= RECONNECT_STABLE_S:
            self.failures = 0


class GatewayError(Exception):
    """The gateway answered with an error, or could not be reached.

    Attributes:
        status: The HTTP status (0 when unreachable).
        detail: The gateway's explanation.
    """

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail


class JoinShed(GatewayError):
    """A join shed with `503`; retry after `retry_after_s`.

    Attributes:
        retry_after_s: The delay the gateway asked for.
        reason: `rate`, `sessions` or `capacity`.
    """

    def __init__(self, detail: str, retry_after_s: float, reason: str) -> None:
        super().__init__(503, detail)
        self.retry_after_s = retry_after_s
        self.reason = reason


class GatewayClient:
    """The gateway's HTTP API.

    Args:
        base_url: E.g. `http://127.0.0.1:8080`.
        timeout_s: Per-request timeout.
        service: For a Chorus service (the packager): its name, sent with every join as a service
            token so the gateway grants the service's own role.
        key: The signing key the service token is signed with (with `service`).
        operator_token: An operator token (`chorus.tokens.operator_token`), sent with the operations
            calls (`status`, `nodes`, `drain`, `resume`); `None` sends none, and those calls get `401`.

    Attributes:
        host_secrets: Space id to its host secret: filled by `create_space`, sent by `end_space`,
            `promote` and joins as `host`. Set entries to act as the host of a space created elsewhere.
    """

    def __init__(self, base_url: str, timeout_s: float = 5.0, service: str | None = None, key: bytes | None = None,
                 operator_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)
        self._service = service
        self._key = key
        self._operator = {"Authorization": f"Bearer {operator_token}"} if operator_token else {}
        self.host_secrets: dict[str, str] = {}
        if (service is None) != (key is None):
            raise ValueError("a service credential needs both the service's name and the signing key")

    @property
    def service(self) -> str | None:
        """The service whose credential this client carries (e.g. `packager`), or `None`."""
        return self._service

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API and return the decoded JSON (or text).

        Args:
            method: HTTP method.
            path: Path, e.g. `/v1/spaces`.
            **kwargs: Passed to `httpx` (`json=`, `params=`).

        Returns:
            The body.

        Raises:
            JoinShed: A `503` from the join endpoint.
            GatewayError: Any other error status, or the gateway is unreachable.
        """
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayError(0, f"gateway {self.base_url} unreachable: {exc or exc.__class__.__name__}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text.strip()}
            detail = body.get("detail", response.reason_phrase) if isinstance(body, dict) else str(body)
            if response.status_code == 503 and isinstance(body, dict) and "retry_after_s" in body:
                raise JoinShed(str(detail), float(body["retry_after_s"]), str(body.get("reason", "")))
            raise GatewayError(response.status_code, detail if isinstance(detail, str) else str(detail))
        if "json" in response.headers.get("content-type", ""):
            return response.json()
        return response.text

    async def create_space(self, title: str, host: str) -> dict[str, Any]:
        """Create a space; its host secret is kept in `host_secrets`.

        Args:
            title: Its title.
            host: Its host.

        Returns:
            The space (with `host_secret`).
        """
        space = await self.request("POST", "/v1/spaces", json={"title": title, "host": host})
        if isinstance(space, dict) and space.get("host_secret"):
            self.host_secrets[str(space["id"])] = str(space["host_secret"])
        return space

    def _as_host(self, space_id: str) -> dict[str, str]:
        """The header proving this client is the space's host, if it knows the secret."""
        secret = self.host_secrets.get(space_id)
        return {HOST_SECRET_HEADER: secret} if secret else {}

    async def spaces(self, include_ended: bool = False) -> list[dict[str, Any]]:
        """List spaces.

        Args:
            include_ended: Include ended spaces.

        Returns:
            The spaces.
        """
        return await self.request("GET", "/v1/spaces", params={"include_ended": str(include_ended).lower()})

    async def space(self, space_id: str) -> dict[str, Any]:
        """Get a space.

        Args:
            space_id: Its id.

        Returns:
            The space.
        """
        return await self.request("GET", f"/v1/spaces/{space_id}")

    async def end_space(self, space_id: str, by: str) -> dict[str, Any]:
        """End a space, as its host (with its host secret from `host_secrets`).

        Args:
            space_id: Its id.
            by: The host's user name (for the record).

        Returns:
            The ended space.
        """
        return await self.request("POST", f"/v1/spaces/{space_id}/end", json={"user": by},
                                  headers=self._as_host(space_id))

    async def raise_hand(self, space_id: str, user: str) -> dict[str, Any]:
        """Raise a hand.

        Args:
            space_id: The space.
            user: Who.

        Returns:
            The space.
        """
        return await self.request("POST", f"/v1/spaces/{space_id}/hands", json={"user": user})

    async def promote(self, space_id: str, user: str, by: str) -> dict[str, Any]:
        """Promote a user to speaker.

        Args:
            space_id: The space.
            user: Who becomes a speaker.
            by: The host's user name (for the record; its host secret from `host_secrets` proves it).

        Returns:
            The space.
        """
        return await self.request("POST", f"/v1/spaces/{space_id}/speakers", json={"user": user, "by": by},
                                  headers=self._as_host(space_id))

    async def join(
        self,
        space_id: str,
        user: str,
        role: Role = "listener",
        reconnect: ReconnectReason | None = None,
        ticket: str | None = None,
    ) -> dict[str, Any]:
        """Ask to join once.

        Args:
            space_id: The space.
            user: Who.
            role: `host`, `speaker`, `listener`, or `packager` (a client made with the packager's
                service credential only).
            reconnect: For a join after a lost connection, why (`drain`, `network`, `unknown`).
            ticket: The rejoin ticket a draining node handed out, if any.

        Returns:
            The grant (`token`, `url`, `node`, `session`...).

        Raises:
            JoinShed: Shed; retry after `retry_after_s`.
            GatewayError: Rejected or unreachable.
        """
        headers = self._as_host(space_id) if role == "host" else {}
        if self._service is not None and self._key is not None:
            headers["Authorization"] = f"Bearer {service_token(self._key, self._service)}"
        return await self.request("POST", f"/v1/spaces/{space_id}/join", json=join_request(user, role, reconnect, ticket),
                                  headers=headers)

    async def join_patiently(
        self,
        space_id: str,
        user: str,
        role: Role = "listener",
        max_wait_s: float = 60.0,
        reconnect: ReconnectReason | None = None,
        ticket: str | None = None,
    ) -> dict[str, Any]:
        """Join, waiting out `503`s as the gateway asks, for at most `max_wait_s`.

        Args:
            space_id: The space.
            user: Who.
            role: The role.
            max_wait_s: Give up (re-raising the last `JoinShed`) after waiting this long in total.
            reconnect: For a join after a lost connection, why (`drain`, `network`, `unknown`).
            ticket: The rejoin ticket a draining node handed out, if any.

        Returns:
            The grant.
        """
        deadline = time.monotonic() + max_wait_s
        while True:
            try:
                return await self.join(space_id, user, role, reconnect, ticket)
            except JoinShed as shed:
                if time.monotonic() + shed.retry_after_s > deadline:
                    raise
                await asyncio.sleep(shed.retry_after_s)

    async def status(self) -> dict[str, Any]:
        """The gateway's status: spaces, sessions, nodes.

        Returns:
            The status.
        """
        return await self.request("GET", "/v1/status", headers=self._operator)

    async def drain(self, node: str) -> dict[str, Any]:
        """Drain a fan-out node.

        Args:
            node: The node id.

        Returns:
            The node.
        """
        return await self.request("POST", f"/v1/nodes/{node}/drain", headers=self._operator)

    async def resume(self, node: str) -> dict[str, Any]:
        """Let a drained node accept again.

        Args:
            node: The node id.

        Returns:
            The node.
        """
        return await self.request("POST", f"/v1/nodes/{node}/resume", headers=self._operator)

    async def node(self, node: str) -> dict[str, Any]:
        """One node.

        Args:
            node: The node id.

        Returns:
            The node.
        """
        return await self.request("GET", f"/v1/nodes/{node}", headers=self._operator)


def media_url(grant: dict[str, Any]) -> str:
    """The WebSocket URL to connect with a grant (its `url` with the token).

    Args:
        grant: A join grant.

    Returns:
        The URL.
    """
    return f"{grant['url']}?token={grant['token']}"


@dataclass
class SessionLog:
    """What a media client went through.

    Attributes:
        nodes: The node of each connection, in order.
        joins: Times it asked the gateway to join, the first included (waiting out sheds counts once).
        reconnects: Connections after the first.
        ended: Whether the space ended.
        frames: Frames sent (speaker) or received (listener).
        messages: Media messages received (listener).
    """

    nodes: list[str] = field(default_factory=list)
    joins: int = 0
    reconnects: int = 0
    ended: bool = False
    frames: int = 0
    messages: int = 0


class Listener:
    """Receives a space's audio, re-joining through the gateway whenever told to.

    Args:
        gateway: The gateway client.
        space: The space id.
        user: The listener's name.
        on_frames: Called with each message's frames.
        max_join_wait_s: How long to wait out shed joins before giving up.
        role: `listener`, or `packager` for the packager (its `gateway` carries the service credential).
    """

    def __init__(
        self,
        gateway: GatewayClient,
        space: str,
        user: str,
        on_frames: Callable[[list[Frame]], None],
        max_join_wait_s: float = 60.0,
        role: Role = "listener",
    ) -> None:
        self.gateway = gateway
        self.role = role
        self.space = space
        self.user = user
        self.on_frames = on_frames
        self.max_join_wait_s = max_join_wait_s
        self.log = SessionLog()
        self.connected = asyncio.Event()
        self._backoff = ReconnectBackoff()
        self._reconnect_reason: ReconnectReason | None = None
        self._ticket: str | None = None

    async def run(self, seconds: float | None = None) -> SessionLog:
        """Listen until the space ends, `seconds` pass, or the task is cancelled.

        Args:
            seconds: How long to listen; `None` for as long as the space lasts.

        Returns:
            What happened.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._listen()
        return self.log

    async def _listen(self) -> None:
        """Join, receive, and re-join (with backoff) until the space ends."""
        while not self.log.ended:
            try:
                self.log.joins += 1
                grant = await self.gateway.join_patiently(self.space, self.user, self.role, self.max_join_wait_s,
                                                          self._reconnect_reason, self._ticket)
            except GatewayError as exc:
                if exc.status == 410:
                    self.log.ended = True
                    return
                if exc.status != 0 or not self.log.nodes:
                    raise
                await asyncio.sleep(self._backoff.delay_s(1.0))
                continue
            self._reconnect_reason = "network"
            self._ticket = None
            opened_at: float | None = None
            try:
                socket = await connect(media_url(grant), compression=None, max_size=2**22, open_timeout=10)
                opened_at = time.monotonic()
                self.log.nodes.append(grant["node"])
                if len(self.log.nodes) > 1:
                    self.log.reconnects += 1
                try:
                    if await self._receive(socket):
                        self._reconnect_reason = "drain"
                finally:
                    await socket.close()  # a normal close (1000), also when the listener is cancelled
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
                if isinstance(exc, ConnectionClosed) and exc.rcvd is not None and exc.rcvd.code == CLOSE_ENDED:
                    self.log.ended = True
                    return
            finally:
                self.connected.clear()
            if opened_at is not None:
                self._backoff.connected_for(time.monotonic() - opened_at)
            if not self.log.ended:
                await asyncio.sleep(self._backoff.delay_s())

    async def _receive(self, socket: ClientConnection) -> bool:
        """Receive until the node says reconnect or end, or the connection closes; return whether told to reconnect."""

        def media(message: bytes) -> None:
            frames = unpack_frames(message)
            self.log.frames += len(frames)
            self.log.messages += 1
            self.on_frames(frames)

        instruction = await read_until_instructed(socket, media, on_welcome=lambda _welcome: self.connected.set())
        if isinstance(instruction, Reconnect):
            self._ticket = instruction.ticket
            return True
        if isinstance(instruction, End):
            self.log.ended = True
        return False


class Speaker:
    """Sends encoded audio frames to a space in real time, re-joining whenever told to.

    Frames are sent on an absolute clock (frame `i` at start + `i * frame_ms`), so
    time spent re-joining is lost audio, not delay - as in a live call. One
    background task at a time re-joins, waiting a `ReconnectBackoff` delay before
    each attempt; a join refused for good (e.g. `403`) stops the run with that error.

    Args:
        gateway: The gateway client.
        space: The space id.
        user: The speaker's name (the host, or a promoted speaker).
        role: `host` or `speaker`.
        frame_ms: Duration of one frame.
        source: The stream id put in every frame (random if `None`).
        max_join_wait_s: How long to wait out shed joins before giving up.
    """

    def __init__(
        self,
        gateway: GatewayClient,
        space: str,
        user: str,
        role: Role = "host",
        frame_ms: int = 20,
        source: int | None = None,
        max_join_wait_s: float = 60.0,
    ) -> None:
        self.gateway = gateway
        self.space = space
        self.user = user
        self.role = role
        self.frame_s = frame_ms / 1000
        self.source = source if source is not None else random.randrange(1, 65536)
        self.max_join_wait_s = max_join_wait_s
        self.log = SessionLog()
        self._socket: ClientConnection | None = None
        self._reconnect = asyncio.Event()
        self._reconnect_reason: ReconnectReason | None = None
        self._ticket: str | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._backoff = ReconnectBackoff()
        self._refused: GatewayError | None = None

    async def run(self, packets: Sequence[bytes]) -> SessionLog:
        """Send every packet, one per frame, in real time; then say end-of-stream and leave.

        Args:
            packets: Encoded frames (e.g. from `chorus.audio.OpusEncoder`).

        Returns:
            What happened.
        """
        await self._connect()
        try:
            start = time.monotonic()
            for seq, packet in enumerate(packets):
                delay = start + seq * self.frame_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.log.ended:
                    break
                if self._reconnect.is_set() and self._socket is not None:
                    await self._drop_socket()
                if self._socket is None:
                    if self._refused is not None:
                        raise self._refused
                    if self._connecting is None or self._connecting.done():
                        self._tasks = [task for task in self._tasks if not task.done()]
                        self._connecting = asyncio.create_task(self._rejoin())
                        self._tasks.append(self._connecting)
                    continue
                frame = Frame(self.source, seq, time.time_ns() // 1000, packet)
                try:
                    await self._socket.send(pack_frames([frame]))
                    self.log.frames += 1
                except ConnectionClosed:
                    self._socket = None
            if self._socket is not None:
                with contextlib.suppress(ConnectionClosed):
                    await self._socket.send(encode_control(EndOfStream()))
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._drop_socket()
        return self.log

    async def _rejoin(self) -> None:
        """Re-join until connected, the space ends or a join is refused for good, backing off between attempts."""
        retry_after = 0.0
        while self._socket is None and not self.log.ended:
            await asyncio.sleep(self._backoff.delay_s(retry_after))
            retry_after = 0.0
            try:
                await self._connect()
            except JoinShed as shed:
                retry_after = shed.retry_after_s
            except GatewayError as exc:
                if exc.status == 410:
                    self.log.ended = True
                elif exc.status not in (0, 429) and exc.status < 500:
                    self._refused = exc
                    return
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                continue

    async def _connect(self) -> None:
        """Join through the gateway and open the media connection."""
        self.log.joins += 1
        grant = await self.gateway.join_patiently(self.space, self.user, self.role, self.max_join_wait_s,
                                                  self._reconnect_reason, self._ticket)
        self._ticket = None
        socket = await connect(media_url(grant), compression=None, open_timeout=10)
        self.log.nodes.append(grant["node"])
        if len(self.log.nodes) > 1:
            self.log.reconnects += 1
        self._reconnect.clear()
        self._reconnect_reason = "network"
        self._socket = socket
        self._tasks.append(asyncio.create_task(self._watch(socket)))

    async def _watch(self, socket: ClientConnection) -> None:
        """Read control messages; flag a reconnect when told to or when the connection drops."""
        opened_at = time.monotonic()
        try:
            instruction = await read_until_instructed(socket)
            if isinstance(instruction, Reconnect):
                self._reconnect_reason = "drain"
                self._ticket = instruction.ticket
            elif isinstance(instruction, End):
                self.log.ended = True
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == CLOSE_ENDED:
                self.log.ended = True
        self._backoff.connected_for(time.monotonic() - opened_at)
        if socket is self._socket:
            self._reconnect.set()

    async def _drop_socket(self) -> None:
        """Close the current media connection, if any."""
        socket, self._socket = self._socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(), 2)

