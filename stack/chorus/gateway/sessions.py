"""Sessions: every admitted join, from the token until the client leaves its fan-out node.

A session is counted against `gateway.max_sessions` (and, for a listener,
against its node's headroom) from the moment it is admitted. It becomes
`connected` when its node reports the connection, and only connected sessions
are shown as people (presence, `chorusctl status`): a client that was admitted
but never reached its node - say, rejoins placed on a node that just died - is
not a host or listener. A session is forgotten when the node reports the
disconnection or stops listing it, when it has not connected within
`gateway.session_connect_timeout_s`, when its node stops reporting, or when its
space ends; a node that reports again lists its connected sessions, and the
gateway learns them back (`chorus.gateway.core.Gateway.report`). Counts per
space, per role and per node are kept as it goes, so presence and placement
never scan the table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass
class Session:
    """One admitted join.

    Attributes:
        id: The session id (the join token's `jti`).
        space: The space id.
        user: Who joined.
        role: `host`, `speaker` or `listener`.
        node: The fan-out node it was placed on.
        admitted_at: When it was admitted (monotonic seconds).
        connected: Whether its node reported the connection.
    """

    id: str
    space: str
    user: str
    role: str
    node: str
    admitted_at: float
    connected: bool = False


RECEIVING_ROLES = frozenset({"listener", "packager"})
"""Session roles that take a receiving slot on their node (counted against its headroom)."""


class SessionTable:
    """All sessions, with running counts."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, float] = {}
        self._by_space_role: Counter[tuple[str, str]] = Counter()
        self._listeners_by_node: Counter[str] = Counter()
        self._listeners_by_space_node: Counter[tuple[str, str]] = Counter()
        self._by_role: Counter[str] = Counter()
        self._connected_by_space_role: Counter[tuple[str, str]] = Counter()
        self._connected_by_role: Counter[str] = Counter()
        self._by_node: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def add(self, session: Session) -> None:
        """Add an admitted session (pending until its node reports it).

        Args:
            session: The session.
        """
        self._sessions[session.id] = session
        self._by_node.setdefault(session.node, set()).add(session.id)
        if session.connected:
            self._count_connected(session, +1)
        else:
            self._pending[session.id] = session.admitted_at
        self._count(session, +1)

    def _count_connected(self, session: Session, delta: int) -> None:
        """Update the running counts of connected sessions."""
        self._connected_by_space_role[(session.space, session.role)] += delta
        self._connected_by_role[session.role] += delta

    def _count(self, session: Session, delta: int) -> None:
        """Update the running counts."""
        self._by_space_role[(session.space, session.role)] += delta
        self._by_role[session.role] += delta
        if session.role in RECEIVING_ROLES:
            self._listeners_by_node[session.node] += delta
            self._listeners_by_space_node[(session.space, session.node)] += delta

    def mark_connected(self, session_id: str) -> None:
        """Record that a session's client connected to its node (unknown ids are ignored).

        Args:
            session_id: The session id.
        """
        session = self._sessions.get(session_id)
        if session is not None and not session.connected:
            session.connected = True
            self._pending.pop(session_id, None)
            self._count_connected(session, +1)

    def remove(self, session_id: str) -> Session | None:
        """Forget a session.

        Args:
            session_id: The session id.

        Returns:
            The session, or `None` if it was not known.
        """
        session = self._sessions.pop(session_id, None)
        if session is not None:
            self._pending.pop(session_id, None)
            self._count(session, -1)
            if session.connected:
                self._count_connected(session, -1)
            on_node = self._by_node.get(session.node)
            if on_node is not None:
                on_node.discard(session_id)
                if not on_node:
                    del self._by_node[session.node]
        return session

    def get(self, session_id: str) -> Session | None:
        """A session by id.

        Args:
            session_id: The session id.

        Returns:
            The session, or `None` if it is not known.
        """
        return self._sessions.get(session_id)

    def connected_on(self, node: str) -> list[str]:
        """Ids of the sessions on a node that its reports said are connected.

        Args:
            node: The node id.

        Returns:
            The ids.
        """
        return [i for i in self._by_node.get(node, ()) if self._sessions[i].connected]

    def expire_pending(self, deadline: float) -> list[Session]:
        """Forget sessions admitted before `deadline` that never connected.

        Args:
            deadline: Monotonic time; pending sessions admitted earlier are removed.

        Returns:
            The removed sessions.
        """
        expired = []
        for session_id, admitted_at in list(self._pending.items()):
            if admitted_at >= deadline:
                break
            removed = self.remove(session_id)
            if removed is not None:
                expired.append(removed)
        return expired

    def remove_where(self, *, node: str | None = None, space: str | None = None) -> list[Session]:
        """Forget every session on a node or in a space.

        Args:
            node: The node whose sessions go.
            space: The space whose sessions go.

        Returns:
            The removed sessions.
        """
        doomed = list(self._by_node.get(node, ())) if node is not None and space is None else [
            s.id for s in self._sessions.values()
            if (node is not None and s.node == node) or (space is not None and s.space == space)
        ]
        return [s for s in (self.remove(i) for i in doomed) if s is not None]

    def connected_count(self, space: str, role: str) -> int:
        """Connected sessions in a space with a role (what presence shows).

        Args:
            space: The space id.
            role: The role.

        Returns:
            The count.
        """
        return self._connected_by_space_role[(space, role)]

    def connected_by_role(self) -> dict[str, int]:
        """Connected sessions per role (what `chorusctl status` shows).

        Returns:
            Role to count, for `host`, `speaker`, `listener` and `packager`.
        """
        return {role: self._connected_by_role[role] for role in ("host", "speaker", "listener", "packager")}

    @property
    def joining(self) -> int:
        """Sessions admitted whose client has not connected to its node yet."""
        return len(self._pending)

    def count(self, space: str, role: str) -> int:
        """Sessions in a space with a role, connected or not.

        Args:
            space: The space id.
            role: The role.

        Returns:
            The count.
        """
        return self._by_space_role[(space, role)]

    def listeners_on(self, node: str) -> int:
        """Listener sessions placed on a node.

        Args:
            node: The node id.

        Returns:
            The count.
        """
        return self._listeners_by_node[node]

    def space_listeners_on(self, space: str, node: str) -> int:
        """Listener sessions of one space placed on a node.

        Args:
            space: The space id.
            node: The node id.

        Returns:
            The count.
        """
        return self._listeners_by_space_node[(space, node)]

    def by_role(self) -> dict[str, int]:
        """Sessions per role.

        Returns:
            Role to count, for `host`, `speaker`, `listener` and `packager`.
        """
        return {role: self._by_role[role] for role in ("host", "speaker", "listener", "packager")}
