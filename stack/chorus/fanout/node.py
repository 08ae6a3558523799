"""A fan-out node: verifies join tokens, accepts speakers and listeners, relays audio, drains.

Everything happens on one asyncio event loop. The node serves, on one port:

- `GET /v1/media?token=...` - the media WebSocket (see `chorus.protocol`);
- `GET /metrics` - Prometheus metrics;
- `GET /healthz` - 200 while the process serves (liveness);
- `GET /readyz` - 200 when registered with the gateway and not draining (readiness);
- `GET /status` - the node's state as JSON (URLs, sessions: operators only, with an
  operator token, see `chorus.operator`).

Join tokens are single-use on a node (`chorus.fanout.replay`), and a client has
`chorus.httpguard.HANDSHAKE_TIMEOUT_S` to complete its handshake.

A node is an `origin` or an `edge` (the cascade). An origin takes a space's
speakers, its listeners when there are no edges, and the subscriptions of edge
nodes (join tokens with role `edge`). An edge takes listeners only: for each
space its listeners hear, it subscribes to the space's origin like a listener
(`chorus.fanout.upstream`) and relays what it receives to them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.http11 import Request, Response

from chorus.config import ChorusConfig
from chorus.fanout.replay import AdmittedTokens
from chorus.fanout.room import Room, RoomStats
from chorus.fanout.upstream import GrantSource, Upstream
from chorus.httpguard import HANDSHAKE_TIMEOUT_S
from chorus.logs import log_event
from chorus.operator import REFUSED, operator_from_header
from chorus.metrics import FanoutMetrics, watch_event_loop_lag
from chorus.protocol import (
    CLOSE_BAD_MESSAGE,
    CLOSE_ENDED,
    CLOSE_RECONNECT,
    MEDIA_PATH,
    NodeRole,
    End,
    EndOfStream,
    ProtocolError,
    Reconnect,
    Welcome,
    encode_control,
    parse_control,
    split_records,
)
from chorus.service import INSTANCE_HEADER, instance_id
from chorus.tokens import JoinClaims, TokenError, rejoin_ticket, verify_join_token

ROLES = ("origin", "edge")
"""Roles a node registers with: an `origin` takes speakers (and edges and listeners); an `edge`
subscribes to a space's origin like a listener does and serves listeners only."""


def http_response(status: int, body: str | bytes, content_type: str = "text/plain; charset=utf-8") -> Response:
    """Build a plain HTTP response for the node's non-WebSocket endpoints.

    Args:
        status: The HTTP status code.
        body: The body.
        content_type: Its media type.

    Returns:
        The response.
    """
    data = body.encode() if isinstance(body, str) else body
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(data))), ("Connection", "close"),
                       (INSTANCE_HEADER, instance_id())])
    return Response(status, HTTPStatus(status).phrase, headers, data)


class FanoutNode:
    """One fan-out node.

    Args:
        config: The whole configuration (`fanout` and `audio` sections are used).
        node_id: The node's id, e.g. `fanout-1`; join tokens must name it.
        key: The signing key shared with the gateway.
        host: Address to bind; `None` uses `fanout.host`.
        port: Port to bind; `None` uses `fanout.port` (0 takes any free port).
        role: `origin` or `edge`.
        registry: Metrics registry; `None` creates one.
        logger: Logger for events; `None` uses `chorus`.

    Attributes:
        node_id: The node's id.
        role: The node's role.
        config: The configuration.
        metrics: The node's metrics.
        rooms: Space id to its room on this node.
        draining: Whether the node accepts no one new.
        registered: Whether the last report reached the gateway.
        upstreams: On an edge, space id to its subscription to the space's origin.
        grants: On an edge, where upstream grants come from (set by `chorus.fanout.link.GatewayLink`).
    """

    def __init__(
        self,
        config: ChorusConfig,
        node_id: str,
        key: bytes,
        *,
        host: str | None = None,
        port: int | None = None,
        role: NodeRole = "origin",
        registry: CollectorRegistry | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"node role must be one of {', '.join(ROLES)}, not {role!r}")
        self.node_id = node_id
        self.role = role
        self.config = config
        self.host = host if host is not None else config.fanout.host
        self.port = port if port is not None else config.fanout.port
        self.metrics = FanoutMetrics(registry or CollectorRegistry(), node_id)
        self.metrics.listener_cap.labels(node=node_id).set(config.fanout.listener_cap)
        for known_role in ROLES:
            self.metrics.role.labels(node=node_id, role=known_role).set(1 if known_role == role else 0)
        self.metrics.upstream_connected.labels(node=node_id).set(1)
        self.log = logger or logging.getLogger("chorus")
        self.rooms: dict[str, Room] = {}
        self.draining = False
        self.registered = False
        self.upstreams: dict[str, Upstream] = {}
        self.grants: GrantSource | None = None
        self._upstream_tasks: dict[str, asyncio.Task[None]] = {}
        self._edges: set[ServerConnection] = set()
        self._upstream_reconnects = 0
        self._upstream_reconnects_counted = 0
        self._key = key
        self._claims: dict[ServerConnection, JoinClaims] = {}
        self._admitted = AdmittedTokens()
        self._served: dict[Connection, JoinClaims] = {}
        self._pending: set[ServerConnection] = set()
        self._connected: list[str] = []
        self._disconnected: list[str] = []
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._drain_task: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self._stats = RoomStats()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind the port and start serving (returns once listening)."""
        fanout = self.config.fanout
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            compression=None,
            ping_interval=fanout.heartbeat_interval_s,
            ping_timeout=fanout.heartbeat_interval_s,
            max_size=fanout.max_message_bytes,
            open_timeout=HANDSHAKE_TIMEOUT_S,
            close_timeout=2,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._tasks.append(asyncio.create_task(watch_event_loop_lag(self.metrics.event_loop_lag)))
        self._tasks.append(asyncio.create_task(self._refresh_gauges_forever()))
        log_event(self.log, "node_listening", node=self.node_id, url=self.url, role=self.role)

    async def stop(self) -> None:
        """Close every connection and the port; stop background tasks."""
        for task in self._tasks:
            task.cancel()
        if self._drain_task is not None:
            self._drain_task.cancel()
        for space in list(self._upstream_tasks):
            self._stop_upstream(space)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        log_event(self.log, "node_stopped", node=self.node_id)

    @property
    def url(self) -> str:
        """The node's WebSocket base URL, e.g. `ws://127.0.0.1:8090`."""
        return f"ws://{self.host}:{self.port}"

    # ----------------------------------------------------------------- state

    @property
    def receiver_count(self) -> int:
        """Connections receiving audio from the node: listeners and edge subscriptions (the cap counts both)."""
        return sum(len(room.listeners) for room in self.rooms.values())

    @property
    def listener_count(self) -> int:
        """Listeners connected to the node (edge subscriptions not included)."""
        return self.receiver_count - len(self._edges)

    @property
    def edge_count(self) -> int:
        """Edge nodes subscribed to spaces on this node."""
        return len(self._edges)

    @property
    def upstream_connected(self) -> bool:
        """Whether every upstream subscription is connected (always true on an origin)."""
        return all(upstream.connected for upstream in self.upstreams.values())

    @property
    def speaker_count(self) -> int:
        """Hosts and speakers connected to the node."""
        return sum(len(room.publishers) for room in self.rooms.values())

    def status(self) -> dict[str, Any]:
        """The node's state, as served on `/status`.

        Returns:
            A JSON-ready mapping.
        """
        return {
            "node": self.node_id,
            "role": self.role,
            "url": self.url,
            "draining": self.draining,
            "registered": self.registered,
            "listeners": self.listener_count,
            "edges": self.edge_count,
            "speakers": self.speaker_count,
            "listener_cap": self.config.fanout.listener_cap,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "upstream_connected": self.upstream_connected,
            "spaces": {
                space: {
                    "listeners": len(room.listeners) - sum(1 for c in room.listeners if c in self._edges),
                    "speakers": len(room.publishers),
                    **({"origin": self.upstreams[space].origin, "upstream_connected": self.upstreams[space].connected}
                       if space in self.upstreams else {}),
                }
                for space, room in sorted(self.rooms.items())
            },
        }

    def take_report(self) -> dict[str, Any]:
        """The load report for the gateway: the status, every connected session (`sessions`, which the
        gateway reconciles with), and the session changes since the last report, handed over (see
        `return_report`).

        Returns:
            The report body.
        """
        body = self.status()
        body["sessions"] = [
            {"id": claims.session, "space": claims.space, "user": claims.user, "role": claims.role}
            for claims in self._served.values() if claims.role != "edge"
        ]
        body["connected"], self._connected = self._connected, []
        body["disconnected"], self._disconnected = self._disconnected, []
        return body

    def return_report(self, body: dict[str, Any]) -> None:
        """Put back the session changes of a report that did not reach the gateway.

        Args:
            body: A body from `take_report`.
        """
        self._connected[:0] = body.get("connected", [])
        self._disconnected[:0] = body.get("disconnected", [])

    def _room(self, space: str) -> Room:
        """The room of `space`, created on first use."""
        room = self.rooms.get(space)
        if room is None:
            fanout = self.config.fanout
            room = Room(
                space=space,
                frames_per_message=fanout.frames_per_message,
                send_queue_limit=fanout.send_queue_limit,
                hold_s=fanout.frames_per_message * self.config.audio.frame_ms / 1000,
                on_slow=self._drop_slow,
                stats=self._stats,
            )
            self.rooms[space] = room
        return room

    # ----------------------------------------------------------------- HTTP and handshake

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer plain HTTP endpoints; verify the token and capacity before a media handshake."""
        url = urlsplit(request.path)
        if url.path == MEDIA_PATH:
            return self._admit(connection, parse_qs(url.query).get("token", [""])[0])
        if url.path == "/metrics":
            self._refresh_gauges()
            return http_response(200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
        if url.path == "/healthz":
            return http_response(200, "ok\n")
        if url.path == "/readyz":
            ready = self.registered and not self.draining
            reason = "ready" if ready else ("draining" if self.draining else "not registered with the gateway")
            return http_response(200 if ready else 503, reason + "\n")
        if url.path == "/status":
            try:
                operator_from_header(request.headers.get("Authorization"), self._key)
            except TokenError:
                return http_response(401, REFUSED + "\n")
            return http_response(200, json.dumps(self.status()), "application/json")
        return http_response(404, f"no such endpoint: {url.path}; try {MEDIA_PATH}, /metrics, /healthz, /readyz, /status\n")

    def _admit(self, connection: ServerConnection, token: str) -> Response | None:
        """Verify a join token locally and check the node can take the connection."""
        try:
            claims = verify_join_token(token, self._key, self.node_id)
        except TokenError as exc:
            self.metrics.token_failures.labels(node=self.node_id, reason=exc.reason).inc()
            log_event(self.log, "token_refused", level=logging.WARNING, node=self.node_id, reason=exc.reason)
            return http_response(401, f"join token refused: {exc.reason}; join again through the gateway\n")
        if self.role == "edge" and claims.role not in ("listener", "packager"):
            log_event(self.log, "connection_refused", node=self.node_id, space=claims.space, reason="edge_takes_listeners")
            return http_response(403, f"{self.node_id} is an edge node and takes listeners only, not {claims.role}s\n")
        refusal = None
        if self.draining:
            refusal = "draining"
        elif not claims.publishes and self.receiver_count + len(self._pending) >= self.config.fanout.listener_cap:
            refusal = "full"
        if refusal is not None:
            self.metrics.refused.labels(node=self.node_id, reason=refusal).inc()
            log_event(self.log, "connection_refused", node=self.node_id, space=claims.space, reason=refusal)
            return http_response(503, f"node {refusal}; join again through the gateway\n")
        if not self._admitted.admit(claims.session, claims.expires_at):
            self.metrics.token_replays.labels(node=self.node_id).inc()
            log_event(self.log, "token_replayed", level=logging.WARNING, node=self.node_id, space=claims.space,
                      session=claims.session)
            return http_response(401, "join token refused: already used (join tokens are single-use); "
                                 "join again through the gateway\n")
        self._claims[connection] = claims
        if not claims.publishes:
            self._pending.add(connection)
        return None

    # ----------------------------------------------------------------- connections

    async def _handle(self, connection: ServerConnection) -> None:
        """Serve one media connection from handshake to close."""
        claims = self._claims.pop(connection, None)
        self._pending.discard(connection)
        if claims is None:
            return
        self._served[connection] = claims
        room = self._room(claims.space)
        role = "speaker" if claims.publishes else ("edge" if claims.role == "edge" else "listener")
        (room.publishers if claims.publishes else room.listeners)[connection] = None
        if role == "edge":
            self._edges.add(connection)
        if not claims.publishes:
            self._cap_send_buffer(connection)
        if self.role == "edge" and claims.space not in self._upstream_tasks:
            self._start_upstream(claims.space, room)
        self._connected.append(claims.session)
        self.metrics.connections.labels(node=self.node_id, role=role).inc()
        log_event(self.log, f"{role}_connected", node=self.node_id, space=claims.space, user=claims.user, session=claims.session)
        try:
            await connection.send(encode_control(Welcome(node=self.node_id, space=claims.space, role=claims.role,
                                                         frames_per_message=self.config.fanout.frames_per_message)))
            if claims.publishes:
                await self._receive_audio(connection, room, claims)
            else:
                await connection.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            self._served.pop(connection, None)
            room.listeners.pop(connection, None)
            room.publishers.pop(connection, None)
            self._edges.discard(connection)
            if claims.publishes:
                room.flush()
            if room.empty and self.rooms.get(claims.space) is room:
                room.flush()
                self.rooms.pop(claims.space, None)
                self._stop_upstream(claims.space)
            self._disconnected.append(claims.session)
            self.metrics.connections.labels(node=self.node_id, role=role).dec()
            log_event(self.log, f"{role}_disconnected", node=self.node_id, space=claims.space, session=claims.session,
                      code=connection.close_code)

    async def _receive_audio(self, connection: ServerConnection, room: Room, claims: JoinClaims) -> None:
        """Relay a speaker's frames into the room until it disconnects."""
        async for message in connection:
            if isinstance(message, str):
                try:
                    instruction = parse_control(message)
                except ProtocolError as exc:
                    log_event(self.log, "bad_message", level=logging.WARNING, node=self.node_id, space=claims.space,
                              error=str(exc))
                    await connection.close(CLOSE_BAD_MESSAGE, "malformed control message")
                    return
                if isinstance(instruction, EndOfStream):
                    room.flush()
                continue
            try:
                records = split_records(message)
            except ProtocolError as exc:
                log_event(self.log, "bad_message", level=logging.WARNING, node=self.node_id, space=claims.space, error=str(exc))
                await connection.close(CLOSE_BAD_MESSAGE, "malformed media message")
                return
            room.ingest(records)

    # ----------------------------------------------------------------- cascade (edge nodes)

    def _start_upstream(self, space: str, room: Room) -> None:
        """Subscribe to a space's origin so this edge's room receives its audio."""
        if self.grants is None:
            log_event(self.log, "upstream_unavailable", level=logging.WARNING, node=self.node_id, space=space,
                      reason="no gateway link to ask for upstream grants")
            return
        upstream = Upstream(self.node_id, space, room, self.grants, self.config.fanout.upstream_retry_max_s,
                            self.end_space, self.log)
        self.upstreams[space] = upstream
        self._upstream_tasks[space] = asyncio.create_task(upstream.run())

    def _stop_upstream(self, space: str) -> None:
        """Drop a space's subscription to its origin (its last listener left, or the node stops)."""
        task = self._upstream_tasks.pop(space, None)
        upstream = self.upstreams.pop(space, None)
        if task is not None:
            task.cancel()
        if upstream is not None:
            self._upstream_reconnects += upstream.reconnects
            log_event(self.log, "upstream_closed", node=self.node_id, space=space, frames=upstream.frames)

    def _cap_send_buffer(self, connection: ServerConnection) -> None:
        """Set a receiver's kernel send buffer to `fanout.socket_send_buffer_bytes` (0: leave it).

        Past this buffer, frames wait in the connection's own write buffer, which the room
        measures against `fanout.send_queue_limit`; an autotuned kernel buffer of megabytes would
        hide a listener that stopped reading for minutes.
        """
        size = self.config.fanout.socket_send_buffer_bytes
        sock = connection.transport.get_extra_info("socket")
        if size and sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
            except OSError as exc:
                log_event(self.log, "send_buffer_not_set", level=logging.WARNING, node=self.node_id, error=str(exc))

    def _drop_slow(self, space: str, connection: Connection) -> None:
        """Disconnect a listener whose send queue passed the limit, and count it."""
        self.metrics.slow_listener_drops.labels(node=self.node_id).inc()
        log_event(self.log, "listener_dropped", level=logging.WARNING, node=self.node_id, space=space,
                  reason="slow_queue", queued_bytes=connection.transport.get_write_buffer_size())
        connection.transport.abort()

    # ----------------------------------------------------------------- control from the gateway

    def apply(self, instructions: dict[str, Any]) -> None:
        """Act on the gateway's answer to a report: drain or resume, end spaces.

        Args:
            instructions: `{"drain": bool, "ended_spaces": [space ids]}`.
        """
        if instructions.get("drain") and not self.draining:
            self.start_drain()
        elif not instructions.get("drain", self.draining) and self.draining:
            self.resume()
        for space in instructions.get("ended_spaces", []):
            self.end_space(space)

    def start_drain(self) -> None:
        """Stop accepting connections and tell everyone to reconnect through the gateway."""
        if self.draining:
            return
        self.draining = True
        self.metrics.draining.labels(node=self.node_id).set(1)
        log_event(self.log, "drain_started", node=self.node_id, listeners=self.listener_count, speakers=self.speaker_count)
        self._drain_task = asyncio.create_task(self._drain())

    def resume(self) -> None:
        """Leave drain mode and accept connections again."""
        self.draining = False
        self.metrics.draining.labels(node=self.node_id).set(0)
        if self._drain_task is not None:
            self._drain_task.cancel()
            self._drain_task = None
        log_event(self.log, "drain_cancelled", node=self.node_id)

    def _reconnect_message(self, connection: Connection) -> str:
        """The `reconnect` instruction for one client, with its rejoin ticket.

        The ticket (signed with the shared key, for this client's user, space, role and session)
        lets the gateway admit the rejoin ahead of new joins: a drain moves listeners the gateway
        already admitted, and must not be shed by the join rate it is spread against. Edge
        subscriptions get none: edges resubscribe through the gateway's upstream endpoint.
        """
        claims = self._served.get(connection)
        if claims is None or claims.role == "edge":
            return encode_control(Reconnect(reason="drain", node=self.node_id))
        return encode_control(Reconnect(reason="drain", node=self.node_id,
                                        ticket=rejoin_ticket(self._key, self.node_id, claims)))

    def _send_reconnects(self, connections: list[Connection]) -> None:
        """Send each connection its own `reconnect` instruction, without waiting for any of them."""
        for connection in connections:
            broadcast([connection], self._reconnect_message(connection))

    async def _drain(self) -> None:
        """Tell speakers, then listeners, to reconnect, spread over `drain_spread_s`; close stragglers."""
        fanout = self.config.fanout
        publishers = [c for room in self.rooms.values() for c in room.publishers]
        listeners = [c for room in self.rooms.values() for c in room.listeners]
        self._send_reconnects(publishers)
        slices = max(1, int(fanout.drain_spread_s * 10)) if listeners else 0
        size = -(-len(listeners) // slices) if listeners else 0
        for index in range(slices):
            chunk = listeners[index * size : (index + 1) * size]
            if chunk:
                self._send_reconnects(chunk)
            if fanout.drain_spread_s and index < slices - 1:
                await asyncio.sleep(fanout.drain_spread_s / slices)
        log_event(self.log, "drain_notified", node=self.node_id, speakers=len(publishers), listeners=len(listeners))
        await asyncio.sleep(fanout.drain_grace_s)
        remaining = [c for room in self.rooms.values() for c in room.connections()]
        await _close_all(remaining, CLOSE_RECONNECT, "node draining")
        log_event(self.log, "drain_complete", node=self.node_id, closed=len(remaining))

    def end_space(self, space: str) -> None:
        """Tell a space's connections it ended and close them.

        Args:
            space: The space id.
        """
        room = self.rooms.get(space)
        if room is None:
            return
        room.flush()
        connections = room.connections()
        broadcast(connections, encode_control(End(space=space)))
        asyncio.create_task(_close_all(connections, CLOSE_ENDED, "space ended"))
        log_event(self.log, "space_ended", node=self.node_id, space=space, connections=len(connections))

    # ----------------------------------------------------------------- metrics

    def _refresh_gauges(self) -> None:
        """Copy the node's state into its gauges and counters."""
        node = self.node_id
        self.metrics.listeners.labels(node=node).set(self.listener_count)
        self.metrics.spaces.labels(node=node).set(len(self.rooms))
        self.metrics.registered.labels(node=node).set(1 if self.registered else 0)
        self.metrics.upstream_connected.labels(node=node).set(1 if self.upstream_connected else 0)
        reconnects = self._upstream_reconnects + sum(u.reconnects for u in self.upstreams.values())
        self.metrics.upstream_reconnects.labels(node=node).inc(max(0, reconnects - self._upstream_reconnects_counted))
        self._upstream_reconnects_counted = max(reconnects, self._upstream_reconnects_counted)
        stats = self._stats
        self.metrics.frames_in.labels(node=node).inc(stats.frames_in)
        self.metrics.frames_out.labels(node=node).inc(stats.frames_out)
        self.metrics.messages_out.labels(node=node).inc(stats.messages_out)
        stats.frames_in = stats.frames_out = stats.messages_out = 0

    async def _refresh_gauges_forever(self) -> None:
        """Once a second: refresh gauges and counters (also done on every scrape), and forget
        handshakes that were admitted but never reached the handler (the client went away)."""
        while True:
            await asyncio.sleep(1.0)
            self._refresh_gauges()
            gone = [c for c in self._claims if c.state is State.CLOSED]
            for connection in gone:
                self._claims.pop(connection, None)
                self._pending.discard(connection)


async def _close_all(connections: Iterable[Connection], code: int, reason: str) -> None:
    """Close connections concurrently, each within its close timeout."""
    await asyncio.gather(*(c.close(code, reason) for c in connections), return_exceptions=True)
