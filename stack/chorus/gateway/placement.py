"""Fan-out nodes as the gateway sees them, and where to place a joining client.

Nodes register with a role and report their load. A node is `accepting`,
`full` (less free room than `fanout.headroom` of its cap), `draining` (told to
drain by an operator) or `stale` (no report for `gateway.node_timeout_s`). A node
stale for `gateway.node_expiry_s` more is forgotten (`Placement.expire`), so a
replaced pod does not stay listed for the gateway's lifetime.

Placement works per space. The speakers of a space meet on the space's
**origin** node: the first join picks the accepting origin node with the most
headroom, and the space stays there until that node drains or goes stale, when
the next join picks again. `Placement.candidates` is the one place that decides
which nodes may serve a space's listeners: without edge nodes, the space's
origin; with edge nodes registered (a cascade), the edges only - the origin
keeps its room for speakers and for the edges' subscriptions. Among edges, a
listener goes to an edge already serving the space while one has headroom (so a
small space stays on few edges, each subscribing to the origin once), else to
the edge with the most headroom.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chorus.gateway.sessions import SessionTable
from chorus.gateway.spaces import Space
from chorus.protocol import NodeRole, Role


@dataclass
class Node:
    """A registered fan-out node.

    Attributes:
        id: The node's id.
        role: `origin` or `edge`.
        url: Its WebSocket base URL, e.g. `ws://127.0.0.1:8090`.
        listener_cap: Its listener cap.
        registered_at: Registration time (monotonic seconds).
        last_report: Time of its last report (monotonic seconds).
        drain: Whether an operator asked it to drain.
        report: Its last report's body.
    """

    id: str
    role: NodeRole
    url: str
    listener_cap: int
    registered_at: float
    last_report: float
    drain: bool = False
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def reported_listeners(self) -> int:
        """Listeners connected at the last report."""
        return int(self.report.get("listeners", 0))

    @property
    def reported_edges(self) -> int:
        """Edge subscriptions connected at the last report (on an origin)."""
        return int(self.report.get("edges", 0))

    @property
    def reported_draining(self) -> bool:
        """Whether the node said it is draining at the last report."""
        return bool(self.report.get("draining", False))


class Placement:
    """The node registry and the placement policy.

    Args:
        sessions: The session table (listeners placed per node count against headroom).
        headroom: Share of each node's cap kept free (`fanout.headroom`).
        node_timeout_s: A node silent this long is stale (`gateway.node_timeout_s`).
        clock: Monotonic clock.
        node_expiry_s: A node stale this much longer is forgotten by `expire` (`gateway.node_expiry_s`);
            `None` never forgets one.
    """

    def __init__(
        self,
        sessions: SessionTable,
        headroom: float,
        node_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        node_expiry_s: float | None = None,
    ) -> None:
        self.nodes: dict[str, Node] = {}
        self._sessions = sessions
        self._headroom = headroom
        self._timeout = node_timeout_s
        self._expiry = node_expiry_s
        self._clock = clock

    def register(self, node_id: str, role: NodeRole, url: str, listener_cap: int) -> Node:
        """Register a node, or update it if it registers again (keeping its drain flag).

        Args:
            node_id: The node's id.
            role: `origin` or `edge`.
            url: Its WebSocket base URL.
            listener_cap: Its listener cap.

        Returns:
            The node.
        """
        now = self._clock()
        known = self.nodes.get(node_id)
        node = Node(node_id, role, url, listener_cap, now, now, drain=known.drain if known else False)
        self.nodes[node_id] = node
        return node

    def headroom(self, node: Node) -> int:
        """Listeners the gateway may still place on a node.

        Args:
            node: The node.

        Returns:
            `cap * (1 - headroom)` minus the listeners placed there and the edges subscribed to
            it (may be negative).
        """
        usable = math.floor(node.listener_cap * (1 - self._headroom))
        return usable - max(self._sessions.listeners_on(node.id), node.reported_listeners) - node.reported_edges

    def state(self, node: Node) -> str:
        """A node's state.

        Args:
            node: The node.

        Returns:
            `stale`, `draining`, `full` or `accepting`.
        """
        if self._clock() - node.last_report > self._timeout:
            return "stale"
        if node.drain or node.reported_draining:
            return "draining"
        if self.headroom(node) <= 0:
            return "full"
        return "accepting"

    def _usable(self, node: Node) -> bool:
        """Whether a node may take new connections of any kind (live and not draining)."""
        return self.state(node) in ("accepting", "full")

    def origin_for(self, space: Space) -> Node | None:
        """The node a space's speakers (and, without a cascade, listeners) use; picked if needed.

        Keeps the space's current node while it is live and not draining; otherwise picks the
        usable origin node with the most headroom, and records it on the space.

        Args:
            space: The space.

        Returns:
            The node, or `None` when no origin node is usable.
        """
        current = self.nodes.get(space.node) if space.node else None
        if current is not None and self._usable(current):
            return current
        usable = [n for n in self.nodes.values() if n.role == "origin" and self._usable(n)]
        if not usable:
            return None
        best = max(usable, key=lambda n: (self.headroom(n), n.id))
        space.node = best.id
        return best

    def edges(self) -> list[Node]:
        """Edge nodes that may take connections (live and not draining).

        Returns:
            The nodes.
        """
        return [n for n in self.nodes.values() if n.role == "edge" and self._usable(n)]

    def candidates(self, space: Space) -> list[Node]:
        """Nodes that can serve a space's listeners: its edges in a cascade, else its origin.

        A space needs an origin either way (edges subscribe to it), so there are no candidates
        while no origin is usable.

        Args:
            space: The space.

        Returns:
            The nodes (possibly empty).
        """
        origin = self.origin_for(space)
        if origin is None:
            return []
        return self.edges() or [origin]

    def place(self, space: Space, role: Role) -> Node | None:
        """Choose the node for a joining client.

        Hosts and speakers go to the space's origin. Listeners go to the candidate with the
        most headroom, and only if it has some: a full or draining node gets no new listeners.
        The packager is placed like a listener but may also use a full node's headroom, which is
        kept for exactly such priority connections.

        Args:
            space: The space.
            role: The joining role.

        Returns:
            The node, or `None` when there is no room.
        """
        if role in ("host", "speaker"):
            return self.origin_for(space)
        states = ("accepting", "full") if role == "packager" else ("accepting",)
        open_nodes = [n for n in self.candidates(space) if self.state(n) in states]
        serving = [n for n in open_nodes if n.role == "edge" and self._serves(n, space)]
        pool = serving or open_nodes
        return max(pool, key=lambda n: (self.headroom(n), n.id)) if pool else None

    def _serves(self, node: Node, space: Space) -> bool:
        """Whether a node has listeners of the space (placed, or connected at its last report)."""
        return self._sessions.space_listeners_on(space.id, node.id) > 0 or space.id in node.report.get("spaces", {})

    def stale(self) -> list[Node]:
        """Nodes that stopped reporting.

        Returns:
            The stale nodes.
        """
        return [n for n in self.nodes.values() if self.state(n) == "stale"]

    def expire(self) -> list[Node]:
        """Forget nodes that have been stale for `node_expiry_s` (no report for `node_timeout_s + node_expiry_s`).

        Returns:
            The nodes forgotten (removed from `nodes`).
        """
        if self._expiry is None:
            return []
        deadline = self._clock() - self._timeout - self._expiry
        expired = [n for n in self.nodes.values() if n.last_report < deadline]
        for node in expired:
            del self.nodes[node.id]
        return expired
