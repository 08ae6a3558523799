"""Every Prometheus metric Chorus exports, declared in one place.

Each service owns a registry of its own (no global default registry), so a test
or the handbook can build a fresh one: `service_registries()` returns, for each
service, a registry with every metric that service serves on `/metrics`. The
handbook's metrics reference is generated from it; alert rules and runbooks are
checked against these names.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

JOIN_RESULTS = ("admitted", "shed", "rejected")
"""Values of the `result` label of `chorus_gateway_joins_total`."""

ROLES = ("host", "speaker", "listener", "packager")
"""Values of the `role` label."""

TOKEN_FAILURE_REASONS = ("missing", "malformed", "bad_signature", "expired", "not_yet_valid", "wrong_node", "bad_claims")
"""Values of the `reason` label of `chorus_fanout_token_failures_total`."""

SPACE_CREATION_SHED_STATUSES = ("429", "503")
"""Values of the `status` label of `chorus_gateway_space_creations_shed_total`."""

REFUSAL_REASONS = ("full", "draining")
"""Values of the `reason` label of `chorus_fanout_refused_total`."""

NODE_STATES = ("accepting", "full", "draining", "stale")
"""Values of the `state` label of `chorus_gateway_nodes`."""

RECONNECT_REASONS = ("drain", "network", "unknown")
"""Values of the `reason` label of `chorus_gateway_reconnects_total`: why a client that joins
again says it lost its connection (a node told it to reconnect while draining, its network
dropped, or it cannot tell)."""

CONNECTION_ROLES = ("speaker", "listener", "edge")
"""Values of the `role` label of `chorus_fanout_connections`."""

NODE_ROLES = ("origin", "edge")
"""Values of the `role` label of `chorus_fanout_role`: an origin takes speakers (and edges and
listeners); an edge subscribes to a space's origin like a listener and serves listeners."""

PACKAGER_REQUEST_KINDS = ("playlist", "segment", "other")
"""Values of the `kind` label of `chorus_packager_requests_total`."""


def _event_loop_lag(registry: CollectorRegistry) -> Gauge:
    """Declare the event-loop lag gauge that every service exports."""
    return Gauge(
        "chorus_event_loop_lag_seconds",
        "How late the service's asyncio event loop ran a timer at the last sample; "
        "sustained lag above ~0.1 s means the process is CPU-bound and audio or joins are delayed.",
        registry=registry,
    )


class GatewayMetrics:
    """The gateway's metrics.

    Args:
        registry: The registry to declare them in.

    Attributes:
        registry: The registry served on `/metrics`.
        joins: `chorus_gateway_joins_total{result,role}`.
        join_latency: `chorus_gateway_join_latency_seconds`.
        sessions: `chorus_gateway_sessions{role}`.
        node_listeners: `chorus_gateway_node_listeners{node}`.
        nodes: `chorus_gateway_nodes{state}`.
        spaces: `chorus_gateway_spaces`.
        presence_connections: `chorus_gateway_presence_connections`.
        admission_tokens: `chorus_gateway_admission_tokens`.
        tokens_issued: `chorus_gateway_tokens_issued_total`.
        reconnects: `chorus_gateway_reconnects_total{reason}`.
        space_speakers: `chorus_gateway_space_speakers{space}`.
        node_token_failures: `chorus_gateway_node_token_failures_total{reason}`.
        space_creations_shed: `chorus_gateway_space_creations_shed_total{status}`.
        event_loop_lag: `chorus_event_loop_lag_seconds`.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.joins = Counter(
            "chorus_gateway_joins_total",
            "Join requests by result (admitted; shed: 503 with Retry-After, over the token bucket, "
            "the session cap or fan-out capacity; rejected: 4xx) and by requested role.",
            ["result", "role"],
            registry=registry,
        )
        self.join_latency = Histogram(
            "chorus_gateway_join_latency_seconds",
            "Time the gateway took to answer a join request, whatever the result.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )
        self.sessions = Gauge(
            "chorus_gateway_sessions",
            "Concurrent sessions (admitted and not yet gone) by role; counted against gateway.max_sessions.",
            ["role"],
            registry=registry,
        )
        self.node_listeners = Gauge(
            "chorus_gateway_node_listeners",
            "Listener sessions the gateway has placed on each fan-out node.",
            ["node"],
            registry=registry,
        )
        self.nodes = Gauge(
            "chorus_gateway_nodes",
            "Registered fan-out nodes by state: accepting, full (no headroom), draining, stale (not reporting).",
            ["state"],
            registry=registry,
        )
        self.spaces = Gauge("chorus_gateway_spaces", "Live spaces (created and not ended).", registry=registry)
        self.presence_connections = Gauge(
            "chorus_gateway_presence_connections",
            "Open presence WebSocket connections (each receives one aggregate message per tick).",
            registry=registry,
        )
        self.admission_tokens = Gauge(
            "chorus_gateway_admission_tokens",
            "Tokens left in the join admission bucket; at 0 listeners' joins are shed.",
            registry=registry,
        )
        self.tokens_issued = Counter(
            "chorus_gateway_tokens_issued_total", "Join tokens signed and handed to clients.", registry=registry
        )
        self.space_creations_shed = Counter(
            "chorus_gateway_space_creations_shed_total",
            "Space creations shed, by status: 429 a client created spaces faster than "
            "gateway.space_create_rate_per_s allows, 503 gateway.max_live_spaces was reached.",
            ["status"],
            registry=registry,
        )
        for status in SPACE_CREATION_SHED_STATUSES:
            self.space_creations_shed.labels(status=status)
        self.reconnects = Counter(
            "chorus_gateway_reconnects_total",
            "Join requests that are reconnects, by the reason the client gives in the join request "
            "(drain: a draining node told it to reconnect; network: its connection dropped; unknown). "
            "A surge is a reconnect storm.",
            ["reason"],
            registry=registry,
        )
        self.space_speakers = Gauge(
            "chorus_gateway_space_speakers",
            "Hosts and speakers connected to their fan-out node, per live space (0 while nobody is "
            "on stage); with chorus_packager_silence_frames_total it tells dead air from a quiet room.",
            ["space"],
            registry=registry,
        )
        self.node_token_failures = Counter(
            "chorus_gateway_node_token_failures_total",
            "Fan-out node requests (register, report, upstream) refused with 401 because their node token did "
            "not verify, by reason; bad_signature means a node signs with another key than the gateway's, and "
            "never registers.",
            ["reason"],
            registry=registry,
        )
        self.event_loop_lag = _event_loop_lag(registry)

    def initialise_labels(self) -> None:
        """Create every known label combination at zero, so rates exist before the first event."""
        for reason in TOKEN_FAILURE_REASONS:
            self.node_token_failures.labels(reason=reason)
        for result in JOIN_RESULTS:
            for role in ROLES:
                self.joins.labels(result=result, role=role)
        for role in ROLES:
            self.sessions.labels(role=role)
        for state in NODE_STATES:
            self.nodes.labels(state=state)
        for reason in RECONNECT_REASONS:
            self.reconnects.labels(reason=reason)


class FanoutMetrics:
    """A fan-out node's metrics; every series carries the node's id in the `node` label.

    Args:
        registry: The registry to declare them in.
        node: The node's id; when given, every known label combination is created at zero.

    Attributes:
        registry: The registry served on `/metrics`.
        connections: `chorus_fanout_connections{node,role}`.
        listeners: `chorus_fanout_listeners{node}`.
        listener_cap: `chorus_fanout_listener_cap{node}`.
        spaces: `chorus_fanout_spaces{node}`.
        frames_in: `chorus_fanout_frames_in_total{node}`.
        frames_out: `chorus_fanout_frames_out_total{node}`.
        messages_out: `chorus_fanout_messages_out_total{node}`.
        slow_listener_drops: `chorus_fanout_slow_listener_drops_total{node}`.
        token_failures: `chorus_fanout_token_failures_total{node,reason}`.
        token_replays: `chorus_fanout_token_replays_total{node}`.
        refused: `chorus_fanout_refused_total{node,reason}`.
        draining: `chorus_fanout_draining{node}`.
        registered: `chorus_fanout_registered{node}`.
        role: `chorus_fanout_role{node,role}`.
        upstream_connected: `chorus_fanout_upstream_connected{node}`.
        upstream_reconnects: `chorus_fanout_upstream_reconnects_total{node}`.
        event_loop_lag: `chorus_event_loop_lag_seconds`.
    """

    def __init__(self, registry: CollectorRegistry, node: str | None = None) -> None:
        self.registry = registry
        self.connections = Gauge(
            "chorus_fanout_connections",
            "Open media WebSocket connections on the node, by role (speaker: publishes audio; listener: receives it; "
            "edge: an edge node's subscription to a space on this origin).",
            ["node", "role"],
            registry=registry,
        )
        self.listeners = Gauge("chorus_fanout_listeners", "Listeners connected to the node.", ["node"], registry=registry)
        self.listener_cap = Gauge(
            "chorus_fanout_listener_cap",
            "The node's listener cap (fanout.listener_cap); beyond it new listeners are refused.",
            ["node"],
            registry=registry,
        )
        self.spaces = Gauge("chorus_fanout_spaces", "Spaces with at least one connection on the node.", ["node"], registry=registry)
        self.frames_in = Counter(
            "chorus_fanout_frames_in_total", "Audio frames received from speakers.", ["node"], registry=registry
        )
        self.frames_out = Counter(
            "chorus_fanout_frames_out_total",
            "Audio frames sent to listeners (one frame sent to 100 listeners counts 100).",
            ["node"],
            registry=registry,
        )
        self.messages_out = Counter(
            "chorus_fanout_messages_out_total",
            "WebSocket messages sent to listeners (each carries up to fanout.frames_per_message frames).",
            ["node"],
            registry=registry,
        )
        self.slow_listener_drops = Counter(
            "chorus_fanout_slow_listener_drops_total",
            "Listeners disconnected because their send queue passed fanout.send_queue_limit.",
            ["node"],
            registry=registry,
        )
        self.token_failures = Counter(
            "chorus_fanout_token_failures_total",
            "Connections refused because the join token failed verification, by reason.",
            ["node", "reason"],
            registry=registry,
        )
        self.token_replays = Counter(
            "chorus_fanout_token_replays_total",
            "Connections refused because their join token (its jti) was already admitted on this node: "
            "join tokens are single-use, so a second connection, or a reconnect, needs a new join.",
            ["node"],
            registry=registry,
        )
        self.refused = Counter(
            "chorus_fanout_refused_total",
            "Connections with a valid token refused because the node is full or draining.",
            ["node", "reason"],
            registry=registry,
        )
        self.draining = Gauge(
            "chorus_fanout_draining", "1 while the node is draining (accepting no one new), else 0.", ["node"], registry=registry
        )
        self.registered = Gauge(
            "chorus_fanout_registered",
            "1 when the node's last load report reached the gateway, else 0.",
            ["node"],
            registry=registry,
        )
        self.role = Gauge(
            "chorus_fanout_role",
            "1 for the node's role in the cascade (origin: takes speakers, edges and listeners; "
            "edge: subscribes to origins and serves listeners), 0 for the other role.",
            ["node", "role"],
            registry=registry,
        )
        self.upstream_connected = Gauge(
            "chorus_fanout_upstream_connected",
            "On an edge: 1 when every space it serves has its subscription to the origin connected, "
            "0 while one is (re)connecting. Always 1 on an origin, which has no upstream.",
            ["node"],
            registry=registry,
        )
        self.upstream_reconnects = Counter(
            "chorus_fanout_upstream_reconnects_total",
            "On an edge: subscriptions to an origin that were lost and connected again.",
            ["node"],
            registry=registry,
        )
        self.event_loop_lag = _event_loop_lag(registry)
        if node is not None:
            for role in CONNECTION_ROLES:
                self.connections.labels(node=node, role=role)
            for reason in TOKEN_FAILURE_REASONS:
                self.token_failures.labels(node=node, reason=reason)
            for reason in REFUSAL_REASONS:
                self.refused.labels(node=node, reason=reason)
            for role in NODE_ROLES:
                self.role.labels(node=node, role=role)
            for metric in (self.listeners, self.listener_cap, self.spaces, self.frames_in, self.frames_out,
                           self.messages_out, self.slow_listener_drops, self.token_replays, self.draining, self.registered,
                           self.upstream_connected, self.upstream_reconnects):
                metric.labels(node=node)


class PackagerMetrics:
    """The HLS packager's metrics; per-space series carry the space id in the `space` label.

    Args:
        registry: The registry to declare them in.

    Attributes:
        registry: The registry served on `/metrics`.
        frames: `chorus_packager_frames_total{space}`.
        silence_frames: `chorus_packager_silence_frames_total{space}`.
        segments: `chorus_packager_segments_total{space}`.
        playlist_age: `chorus_packager_playlist_age_seconds{space}`.
        upstream_connected: `chorus_packager_upstream_connected{space}`.
        upstream_reconnects: `chorus_packager_upstream_reconnects_total{space}`.
        write_errors: `chorus_packager_write_errors_total{space}`.
        spaces: `chorus_packager_spaces`.
        spaces_waiting: `chorus_packager_spaces_waiting`.
        requests: `chorus_packager_requests_total{kind,status}`.
        ready: `chorus_packager_ready`.
        event_loop_lag: `chorus_event_loop_lag_seconds`.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.frames = Counter(
            "chorus_packager_frames_total",
            "Audio frames (audio.frame_ms each) written into HLS segments, silence included; "
            "advances at 1000 / audio.frame_ms per second per space while the packager keeps up.",
            ["space"],
            registry=registry,
        )
        self.silence_frames = Counter(
            "chorus_packager_silence_frames_total",
            "Frames filled with silence because no speaker frame arrived in time (speakers quiet, or "
            "the feed from the fan-out stalled). Its share of chorus_packager_frames_total is the "
            "silence ratio.",
            ["space"],
            registry=registry,
        )
        self.segments = Counter(
            "chorus_packager_segments_total",
            "HLS media segments added to the space's playlist (one every packager.segment_s while the packager keeps up).",
            ["space"],
            registry=registry,
        )
        self.playlist_age = Gauge(
            "chorus_packager_playlist_age_seconds",
            "Seconds since the space's media playlist last advanced (a segment was added); above "
            "a few segment lengths, players stall.",
            ["space"],
            registry=registry,
        )
        self.upstream_connected = Gauge(
            "chorus_packager_upstream_connected",
            "1 while the packager's listener connection to the space's fan-out node is open, else 0.",
            ["space"],
            registry=registry,
        )
        self.upstream_reconnects = Counter(
            "chorus_packager_upstream_reconnects_total",
            "Times the packager's listener connection for a space was lost and joined again.",
            ["space"],
            registry=registry,
        )
        self.write_errors = Counter(
            "chorus_packager_write_errors_total",
            "Failed attempts to write the space's HLS files (a segment, the playlist, or opening them "
            "again): the space's playlist does not advance until a retry succeeds.",
            ["space"],
            registry=registry,
        )
        self.spaces = Gauge("chorus_packager_spaces", "Spaces the packager is writing HLS for.", registry=registry)
        self.spaces_waiting = Gauge(
            "chorus_packager_spaces_waiting",
            "Live spaces the packager is not packaging yet because it packages packager.max_spaces at most "
            "(or starts packager.start_per_poll per poll); above 0 for long, their HLS listeners get 404s.",
            registry=registry,
        )
        self.requests = Counter(
            "chorus_packager_requests_total",
            "HTTP requests for HLS files, by kind (playlist, segment, other) and status code.",
            ["kind", "status"],
            registry=registry,
        )
        self.ready = Gauge(
            "chorus_packager_ready",
            "1 when the gateway answered the packager's last poll, else 0. A space whose playlist cannot be "
            "written does not change it (see chorus_packager_write_errors_total).",
            registry=registry,
        )
        self.event_loop_lag = _event_loop_lag(registry)


def service_registries() -> dict[str, CollectorRegistry]:
    """A fresh registry per service, with every metric that service exports declared.

    Returns:
        Service name (as in the catalog) to its registry.
    """
    gateway = GatewayMetrics(CollectorRegistry())
    fanout = FanoutMetrics(CollectorRegistry())
    packager = PackagerMetrics(CollectorRegistry())
    return {"gateway": gateway.registry, "fanout": fanout.registry, "packager": packager.registry}


async def watch_event_loop_lag(gauge: Gauge, interval_s: float = 0.25) -> None:
    """Sample the running event loop's lag forever: how late a sleep of `interval_s` wakes up.

    Args:
        gauge: The gauge to set (`chorus_event_loop_lag_seconds`).
        interval_s: Time between samples.
    """
    while True:
        start = time.perf_counter()
        await asyncio.sleep(interval_s)
        gauge.set(max(0.0, time.perf_counter() - start - interval_s))
