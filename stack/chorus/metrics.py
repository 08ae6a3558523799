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

ROLES = ("host", "speaker", "listener")
"""Values of the `role` label."""

TOKEN_FAILURE_REASONS = ("missing", "malformed", "bad_signature", "expired", "not_yet_valid", "wrong_node", "bad_claims")
"""Values of the `reason` label of `chorus_fanout_token_failures_total`."""

REFUSAL_REASONS = ("full", "draining")
"""Values of the `reason` label of `chorus_fanout_refused_total`."""

NODE_STATES = ("accepting", "full", "draining", "stale")
"""Values of the `state` label of `chorus_gateway_nodes`."""


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
        self.event_loop_lag = _event_loop_lag(registry)

    def initialise_labels(self) -> None:
        """Create every known label combination at zero, so rates exist before the first event."""
        for result in JOIN_RESULTS:
            for role in ROLES:
                self.joins.labels(result=result, role=role)
        for role in ROLES:
            self.sessions.labels(role=role)
        for state in NODE_STATES:
            self.nodes.labels(state=state)


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
        refused: `chorus_fanout_refused_total{node,reason}`.
        draining: `chorus_fanout_draining{node}`.
        registered: `chorus_fanout_registered{node}`.
        event_loop_lag: `chorus_event_loop_lag_seconds`.
    """

    def __init__(self, registry: CollectorRegistry, node: str | None = None) -> None:
        self.registry = registry
        self.connections = Gauge(
            "chorus_fanout_connections",
            "Open media WebSocket connections on the node, by role (speaker: publishes audio; listener: receives it).",
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
        self.event_loop_lag = _event_loop_lag(registry)
        if node is not None:
            for role in ("speaker", "listener"):
                self.connections.labels(node=node, role=role)
            for reason in TOKEN_FAILURE_REASONS:
                self.token_failures.labels(node=node, reason=reason)
            for reason in REFUSAL_REASONS:
                self.refused.labels(node=node, reason=reason)
            for metric in (self.listeners, self.listener_cap, self.spaces, self.frames_in, self.frames_out,
                           self.messages_out, self.slow_listener_drops, self.draining, self.registered):
                metric.labels(node=node)


def service_registries() -> dict[str, CollectorRegistry]:
    """A fresh registry per service, with every metric that service exports declared.

    Returns:
        Service name (as in the catalog) to its registry. The packager is not part of this
        package yet and has no entry.
    """
    gateway = GatewayMetrics(CollectorRegistry())
    fanout = FanoutMetrics(CollectorRegistry())
    return {"gateway": gateway.registry, "fanout": fanout.registry}


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
