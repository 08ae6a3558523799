"""The gateway's state and decisions, independent of HTTP: joins, node reports, sweeps, status.

`chorus.gateway.app` turns HTTP requests into calls on one `Gateway` object and
its answers into responses; everything here can be driven directly by tests.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from chorus import __version__
from chorus.config import ChorusConfig
from chorus.gateway.admission import Admission
from chorus.gateway.placement import Node, Placement
from chorus.gateway.sessions import Session, SessionTable
from chorus.gateway.spaces import NOT_THE_HOST, Space, SpaceError, SpaceStore
from chorus.logs import log_event
from chorus.metrics import NODE_STATES, RECONNECT_REASONS, GatewayMetrics
from chorus.protocol import MEDIA_PATH, NodeRole, ReconnectReason, Role
from chorus.tokens import SERVICE_ROLES, RejoinTicket, TokenError, TokenIssuer, verify_rejoin_ticket


TOKEN_REFUSAL_LOG_EVERY_S = 10.0
"""A node request refused for its token is logged at most this often per path (every one is counted)."""


@dataclass(frozen=True)
class Grant:
    """An admitted join.

    Attributes:
        session: The session created.
        node: The node it was placed on.
        token: The signed join token.
        expires_at: Token expiry, seconds since the epoch.
    """

    session: Session
    node: Node
    token: str
    expires_at: float

    @property
    def url(self) -> str:
        """The media WebSocket URL to connect to (without the token)."""
        return self.node.url + MEDIA_PATH


@dataclass(frozen=True)
class UpstreamGrant:
    """Where an edge node subscribes to a space.

    Attributes:
        space: The space id.
        origin: The space's origin node.
        token: A join token with role `edge`, valid on the origin.
        expires_at: Token expiry, seconds since the epoch.
    """

    space: str
    origin: Node
    token: str
    expires_at: float

    @property
    def url(self) -> str:
        """The origin's media WebSocket URL (without the token)."""
        return self.origin.url + MEDIA_PATH


@dataclass(frozen=True)
class Refusal:
    """A join that was not admitted.

    Attributes:
        status: HTTP status: 503 when shed (retry later), 403/404/410 when rejected.
        detail: Why.
        reason: For a shed join, `rate`, `sessions` or `capacity`; else `""`.
        retry_after_s: For a shed join, the jittered delay; else 0.
    """

    status: int
    detail: str
    reason: str = ""
    retry_after_s: float = 0.0

    @property
    def shed(self) -> bool:
        """Whether the join was shed (503) rather than rejected."""
        return self.status == 503


class Gateway:
    """The control plane's state.

    Args:
        config: The configuration.
        metrics: Where to count; `None` creates a fresh registry.
        logger: Event logger.
        clock: Monotonic clock.
        rng: Random source (jitter).
    """

    def __init__(
        self,
        config: ChorusConfig,
        metrics: GatewayMetrics | None = None,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or GatewayMetrics(CollectorRegistry())
        self.metrics.initialise_labels()
        self.log = logger or logging.getLogger("chorus")
        self.clock = clock
        self.rng = rng or random.Random()
        self.spaces = SpaceStore()
        self.sessions = SessionTable()
        self.placement = Placement(self.sessions, config.fanout.headroom, config.gateway.node_timeout_s, clock,
                                   node_expiry_s=config.gateway.node_expiry_s)
        self.admission = Admission(config.gateway, clock, self.rng)
        self.issuer: TokenIssuer | None = None
        self._key: bytes | None = None
        self.started = clock()
        self._speaker_spaces: set[str] = set()
        self._used_tickets: dict[str, float] = {}
        self._token_refusals_logged: dict[str, float] = {}

    def set_key(self, key: bytes) -> None:
        """Set the signing key (join tokens cannot be issued before).

        Args:
            key: The HMAC key.
        """
        self._key = key
        self.issuer = TokenIssuer(key, self.config.gateway.token, self.rng)

    @property
    def key_or_none(self) -> bytes | None:
        """The signing key, or `None` before it is set."""
        return self._key

    @property
    def key(self) -> bytes:
        """The signing key.

        Raises:
            RuntimeError: It has not been set yet.
        """
        if self._key is None:
            raise RuntimeError("the gateway's signing key is not set; it is set when the app starts")
        return self._key

    # ----------------------------------------------------------------- joins

    def join(
        self,
        space_id: str,
        user: str,
        role: Role,
        reconnect: ReconnectReason | None = None,
        service: str | None = None,
        ticket: str | None = None,
        host_secret: str | None = None,
    ) -> Grant | Refusal:
        """Admit (or not) a join, place it and sign its token.

        Args:
            space_id: The space.
            user: Who joins.
            role: The role asked for.
            reconnect: Why the client joins again (`drain`, `network`, `unknown`), or `None` for a
                first join; counted in `chorus_gateway_reconnects_total`.
            service: The service whose credential the request carried (verified by the caller),
                or `None`; a service role (`packager`) is granted only to that service.
            ticket: A rejoin ticket from a draining node (see `rejoin`), or `None`.
            host_secret: The space's host secret, which role `host` needs.

        Returns:
            A grant, or a refusal (shed with 503 or rejected with 4xx).
        """
        started = time.perf_counter()
        if reconnect is not None:
            self.metrics.reconnects.labels(reason=reconnect if reconnect in RECONNECT_REASONS else "unknown").inc()
        rejoin = self.rejoin(ticket, space_id, user, role) if ticket else None
        outcome = self._join(space_id, user, role, service, rejoin, host_secret)
        result = "admitted" if isinstance(outcome, Grant) else ("shed" if outcome.shed else "rejected")
        self.metrics.joins.labels(result=result, role=role).inc()
        self.metrics.join_latency.observe(time.perf_counter() - started)
        if isinstance(outcome, Grant):
            log_event(self.log, "join_admitted", space=space_id, node=outcome.node.id, user=user, role=role,
                      session=outcome.session.id)
        else:
            log_event(self.log, f"join_{result}", space=space_id, user=user, role=role, status=outcome.status,
                      reason=outcome.reason or outcome.detail, retry_after_s=round(outcome.retry_after_s, 2))
        return outcome

    def rejoin(self, ticket: str, space_id: str, user: str, role: Role) -> RejoinTicket | None:
        """Accept a rejoin ticket for this join, or not (the join then goes through admission as usual).

        A ticket is accepted when its signature is the shared key's (only the gateway and the
        nodes hold it), it is unexpired and unused, it names this user, space and role, and the
        node that issued it is draining. Accepting it uses it up.

        Args:
            ticket: The ticket from the join request.
            space_id: The space joined.
            user: Who joins.
            role: The role asked for.

        Returns:
            The ticket's contents if accepted, else `None`.
        """
        try:
            claims = verify_rejoin_ticket(ticket, self.key)
        except TokenError as exc:
            log_event(self.log, "rejoin_ticket_refused", level=logging.WARNING, space=space_id, user=user, reason=exc.reason)
            return None
        node = self.placement.nodes.get(claims.node)
        problem = ""
        if (claims.space, claims.user, claims.role) != (space_id, user, role):
            problem = "not_this_join"
        elif claims.session in self._used_tickets:
            problem = "used"
        elif node is None or not (node.drain or node.reported_draining):
            problem = "node_not_draining"
        if problem:
            log_event(self.log, "rejoin_ticket_refused", level=logging.WARNING, space=space_id, user=user,
                      node=claims.node, reason=problem)
            return None
        return claims

    def _join(
        self, space_id: str, user: str, role: Role, service: str | None, rejoin: RejoinTicket | None = None,
        host_secret: str | None = None,
    ) -> Grant | Refusal:
        """The join decision itself."""
        if role in SERVICE_ROLES and service != role:
            return Refusal(403, f"role {role} is only for the {role} service, which joins with its service credential "
                           "(Authorization: Bearer, signed with the signing key); join as a listener")
        try:
            space = self.spaces.live(space_id)
        except SpaceError as exc:
            return Refusal(exc.status, str(exc))
        if role == "host" and not (space.is_host(host_secret) or rejoin is not None):
            return Refusal(403, NOT_THE_HOST)
        if not space.may_join_as(user, role):
            hint = "raise a hand and ask the host to promote you" if role == "speaker" else "join as a listener"
            return Refusal(403, f"{user} may not join {space_id} as {role}; {hint}")
        if rejoin is None:
            decision = self.admission.decide(role, len(self.sessions))
            if not decision.admitted:
                what = "joins arrive faster than admission allows" if decision.reason == "rate" else "the session cap is reached"
                return self._shed(decision.reason, f"{what}; retry after the delay")
        previous = space.node
        node = self.placement.place(space, role)
        if node is None:
            return self._shed("capacity", "no fan-out node has room for this space; retry after the delay")
        if space.node != previous:
            log_event(self.log, "space_placed", space=space.id, node=space.node, previous=previous or "-")
        if rejoin is not None:
            # A move, not a new session: the drained session makes way (it is not counted twice),
            # the ticket is used up, and no admission token is taken.
            self._used_tickets[rejoin.session] = rejoin.expires_at
            self.sessions.remove(rejoin.session)
        session = Session(f"se-{secrets.token_hex(8)}", space.id, user, role, node.id, self.clock())
        self.sessions.add(session)
        assert self.issuer is not None, "the signing key is set at start-up"
        token, expires_at = self.issuer.issue(user=user, space=space.id, role=role, node=node.id, session=session.id)
        self.metrics.tokens_issued.inc()
        return Grant(session, node, token, expires_at)

    def _shed(self, reason: str, detail: str) -> Refusal:
        """A 503 refusal with a jittered retry delay."""
        return Refusal(503, detail, reason, self.admission.retry_after_s())

    # ----------------------------------------------------------------- spaces

    def presence(self, space_id: str) -> dict[str, Any]:
        """Aggregate counts of a space: the sessions its nodes reported connected.

        Args:
            space_id: The space id (unknown ids give zeros and `live: false`).

        Returns:
            `listeners`, `speakers`, `hands`, `live`.
        """
        try:
            space: Space | None = self.spaces.get(space_id)
        except SpaceError:
            space = None
        connected = self.sessions.connected_count
        return {
            "listeners": connected(space_id, "listener"),
            "speakers": connected(space_id, "speaker") + connected(space_id, "host"),
            "hands": len(space.hands) if space else 0,
            "live": bool(space and space.live),
        }

    def end_space(self, space_id: str, host_secret: str | None) -> Space:
        """End a space; its nodes learn it at their next report.

        Args:
            space_id: The space.
            host_secret: The host secret the request carried (must be the space's).

        Returns:
            The ended space.

        Raises:
            SpaceError: 404, 410, 403.
        """
        space = self.spaces.end(space_id, host_secret)
        removed = self.sessions.remove_where(space=space_id)
        log_event(self.log, "space_ended", space=space_id, node=space.node or "-", sessions=len(removed))
        return space

    # ----------------------------------------------------------------- nodes

    def register_node(self, node_id: str, role: NodeRole, url: str, listener_cap: int) -> Node:
        """Register a fan-out node.

        Args:
            node_id: Its id.
            role: `origin` or `edge`.
            url: Its WebSocket base URL.
            listener_cap: Its cap.

        Returns:
            The node.
        """
        node = self.placement.register(node_id, role, url, listener_cap)
        log_event(self.log, "node_registered", node=node_id, role=role, url=url, listener_cap=listener_cap)
        return node

    def node_token_refused(self, reason: str, path: str) -> None:
        """Count and log a node request whose node token did not verify.

        Args:
            reason: The token failure reason (`bad_signature`: the node signs with another key).
            path: The request's path, which names the node.
        """
        self.metrics.node_token_failures.labels(reason=reason).inc()
        now = self.clock()
        if now - self._token_refusals_logged.get(path, -math.inf) < TOKEN_REFUSAL_LOG_EVERY_S:
            return
        self._token_refusals_logged[path] = now
        hint = ("the node's signing key differs from the gateway's: start it with the gateway's key "
                f"({self.config.gateway.token.key_env} or gateway.token.key_file)") if reason == "bad_signature" else \
            "the node must send `Authorization: Bearer` and a node token signed with the shared key"
        log_event(self.log, "node_token_refused", level=logging.WARNING, path=path, reason=reason, hint=hint)

    def report(self, node_id: str, report: dict[str, Any]) -> dict[str, Any] | None:
        """Take a node's load report and answer with its instructions.

        Args:
            node_id: The node.
            report: The report (see `chorus.gateway.models.NodeReport`).

        Returns:
            `{"drain": bool, "ended_spaces": [...]}`, or `None` if the node is not registered.
        """
        node = self.placement.nodes.get(node_id)
        if node is None:
            return None
        node.last_report = self.clock()
        node.report = report
        for session_id in report.get("connected", []):
            self.sessions.mark_connected(session_id)
        for session_id in report.get("disconnected", []):
            self.sessions.remove(session_id)
        if report.get("sessions") is not None:
            self._reconcile(node, report["sessions"])
        ended = []
        for space_id in report.get("spaces", {}):
            try:
                if not self.spaces.get(space_id).live:
                    ended.append(space_id)
            except SpaceError:
                continue
        return {"drain": node.drain, "ended_spaces": ended}

    def _reconcile(self, node: Node, reported: list[dict[str, Any]]) -> None:
        """Make the sessions on a node agree with the ones it says are connected.

        A connected session the node no longer lists is gone (its disconnection was lost, or the
        node restarted); a listed session the gateway does not know is learned back, connected
        (the gateway forgot it when the node went stale, or restarted itself), unless its space
        ended or a rejoin ticket moved it away on purpose. Sessions admitted but not connected
        yet are left alone: their clients may still be on the way.
        """
        listed = {str(entry["id"]): entry for entry in reported}
        gone = [i for i in self.sessions.connected_on(node.id) if i not in listed]
        for session_id in gone:
            self.sessions.remove(session_id)
        learned = 0
        for session_id, entry in listed.items():
            known = self.sessions.get(session_id)
            if known is not None:
                if not known.connected and known.node == node.id:
                    self.sessions.mark_connected(session_id)
                continue
            if session_id in self._used_tickets or not self._live(str(entry["space"])):
                continue
            self.sessions.add(Session(session_id, str(entry["space"]), str(entry["user"]), str(entry["role"]), node.id,
                                      self.clock(), connected=True))
            learned += 1
        if gone or learned:
            log_event(self.log, "sessions_reconciled", node=node.id, forgotten=len(gone), learned=learned,
                      connected=len(listed))

    def _live(self, space_id: str) -> bool:
        """Whether a space exists and has not ended."""
        try:
            return self.spaces.get(space_id).live
        except SpaceError:
            return False

    def upstream(self, node_id: str, space_id: str) -> UpstreamGrant | Refusal:
        """Tell an edge node where to subscribe to a space, with a join token for the space's origin.

        Args:
            node_id: The edge asking.
            space_id: The space.

        Returns:
            The grant, or a refusal: 409 the node is not registered, 403 it is not an edge,
            404/410 no such space or it ended, 503 no origin node is usable.
        """
        node = self.placement.nodes.get(node_id)
        if node is None:
            return Refusal(409, f"node {node_id} is not registered; register first")
        if node.role != "edge":
            return Refusal(403, f"node {node_id} is an {node.role}, not an edge; only edges subscribe upstream")
        try:
            space = self.spaces.live(space_id)
        except SpaceError as exc:
            return Refusal(exc.status, str(exc))
        previous = space.node
        origin = self.placement.origin_for(space)
        if origin is None:
            return self._shed("capacity", "no origin node is usable for this space; retry after the delay")
        if space.node != previous:
            log_event(self.log, "space_placed", space=space.id, node=space.node, previous=previous or "-")
        assert self.issuer is not None, "the signing key is set at start-up"
        token, expires_at = self.issuer.issue(user=node_id, space=space.id, role="edge", node=origin.id,
                                              session=f"up-{secrets.token_hex(8)}")
        log_event(self.log, "upstream_granted", space=space.id, node=node_id, origin=origin.id)
        return UpstreamGrant(space.id, origin, token, expires_at)

    def set_drain(self, node_id: str, drain: bool) -> Node:
        """Ask a node to drain (or to accept again); it acts at its next report.

        Args:
            node_id: The node.
            drain: `True` to drain, `False` to resume.

        Returns:
            The node.

        Raises:
            KeyError: No such node.
        """
        node = self.placement.nodes[node_id]
        node.drain = drain
        log_event(self.log, "node_drain_requested" if drain else "node_resume_requested", node=node_id,
                  listeners=node.reported_listeners)
        return node

    # ----------------------------------------------------------------- housekeeping

    def sweep(self) -> None:
        """Forget sessions that never connected, sessions on stale nodes and long-stale nodes; refresh gauges."""
        now = self.clock()
        wall = time.time()
        for used, expires_at in list(self._used_tickets.items()):
            if expires_at < wall - 5:
                del self._used_tickets[used]
        for session in self.sessions.expire_pending(now - self.config.gateway.session_connect_timeout_s):
            log_event(self.log, "session_expired", space=session.space, node=session.node, session=session.id)
        for node in self.placement.stale():
            removed = self.sessions.remove_where(node=node.id)
            if removed:
                log_event(self.log, "node_stale", level=logging.WARNING, node=node.id, sessions_forgotten=len(removed))
        for node in self.placement.expire():
            with contextlib.suppress(KeyError):
                self.metrics.node_listeners.remove(node.id)
            log_event(self.log, "node_expired", level=logging.WARNING, node=node.id, role=node.role,
                      silent_s=round(now - node.last_report, 1))
        self.refresh_metrics()

    def refresh_metrics(self) -> None:
        """Copy the state into the gauges."""
        metrics = self.metrics
        for role, count in self.sessions.by_role().items():
            metrics.sessions.labels(role=role).set(count)
        states = dict.fromkeys(NODE_STATES, 0)
        for node in self.placement.nodes.values():
            states[self.placement.state(node)] += 1
            metrics.node_listeners.labels(node=node.id).set(self.sessions.listeners_on(node.id))
        for state, count in states.items():
            metrics.nodes.labels(state=state).set(count)
        live = self.spaces.all()
        metrics.spaces.set(len(live))
        metrics.admission_tokens.set(self.admission.bucket.tokens)
        self._refresh_space_speakers([space.id for space in live])

    def space_speakers(self, space_id: str) -> int:
        """Hosts and speakers connected to their nodes in a space, as the nodes last reported.

        Args:
            space_id: The space.

        Returns:
            The count (from reports of nodes that are not stale).
        """
        return sum(
            int(node.report.get("spaces", {}).get(space_id, {}).get("speakers", 0))
            for node in self.placement.nodes.values()
            if self.placement.state(node) != "stale"
        )

    def _refresh_space_speakers(self, live: list[str]) -> None:
        """Set `chorus_gateway_space_speakers` for live spaces; drop the series of ended ones."""
        gauge = self.metrics.space_speakers
        for space_id in self._speaker_spaces.difference(live):
            gauge.remove(space_id)
        for space_id in live:
            gauge.labels(space=space_id).set(self.space_speakers(space_id))
        self._speaker_spaces = set(live)

    def node_view(self, node: Node) -> dict[str, Any]:
        """A node as shown by the API.

        Args:
            node: The node.

        Returns:
            The fields of `chorus.gateway.models.NodeOut`.
        """
        return {
            "id": node.id,
            "role": node.role,
            "url": node.url,
            "state": self.placement.state(node),
            "listener_cap": node.listener_cap,
            "listeners": node.reported_listeners,
            "edges": node.reported_edges,
            "placed": self.sessions.listeners_on(node.id),
            "speakers": int(node.report.get("speakers", 0)),
            "headroom": max(0, self.placement.headroom(node)),
            "spaces": len(node.report.get("spaces", {})),
            "last_report_s": round(self.clock() - node.last_report, 2),
        }

    def status(self) -> dict[str, Any]:
        """The whole stack as the gateway sees it.

        Returns:
            The fields of `chorus.gateway.models.StatusOut`.
        """
        return {
            "service": "gateway",
            "version": __version__,
            "uptime_s": round(self.clock() - self.started, 1),
            "spaces": len(self.spaces.all()),
            "sessions": self.sessions.connected_by_role(),
            "joining": self.sessions.joining,
            "max_sessions": self.config.gateway.max_sessions,
            "admission_tokens": round(self.admission.bucket.tokens, 1),
            "nodes": [self.node_view(n) for n in sorted(self.placement.nodes.values(), key=lambda n: n.id)],
        }
