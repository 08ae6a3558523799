"""Spaces and roles: create, list, end; raise a hand; promote to speaker.

A space has one host (who created it), any number of speakers (promoted by the
host) and listeners (anyone). Identity is the `user` name a client gives: the
gateway checks roles, not passwords - authenticating people is the job of the
product in front of Chorus.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field


class SpaceError(Exception):
    """A request about a space that cannot be honoured.

    Attributes:
        status: The HTTP status that fits (404, 403, 409, 410).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Space:
    """One live-audio room.

    Attributes:
        id: The space's id, e.g. `sp-3f9a1c2b`.
        title: Its title.
        host: The user who created it and runs it.
        created_at: Creation time, seconds since the epoch.
        speakers: Users promoted to speaker.
        hands: Users with a raised hand, in the order they raised it.
        ended_at: When it ended, or `None` while live.
        node: The fan-out node its speakers and listeners meet on, once someone joined.
    """

    id: str
    title: str
    host: str
    created_at: float
    speakers: list[str] = field(default_factory=list)
    hands: list[str] = field(default_factory=list)
    ended_at: float | None = None
    node: str | None = None

    @property
    def live(self) -> bool:
        """Whether the space has not ended."""
        return self.ended_at is None

    def may_join_as(self, user: str, role: str) -> bool:
        """Whether `user` may join in `role`: host only the host, speaker the host or a promoted user.

        Args:
            user: Who asks.
            role: `host`, `speaker` or `listener`.

        Returns:
            Whether the role is theirs to take.
        """
        if role == "host":
            return user == self.host
        if role == "speaker":
            return user == self.host or user in self.speakers
        return role in ("listener", "packager")  # the gateway checks the packager's credential itself


class SpaceStore:
    """The spaces the gateway knows (in memory)."""

    def __init__(self) -> None:
        self._spaces: dict[str, Space] = {}

    def create(self, title: str, host: str) -> Space:
        """Create a live space.

        Args:
            title: Its title.
            host: The creating user, who becomes its host.

        Returns:
            The space.
        """
        space_id = f"sp-{secrets.token_hex(4)}"
        while space_id in self._spaces:
            space_id = f"sp-{secrets.token_hex(4)}"
        space = Space(id=space_id, title=title, host=host, created_at=time.time())
        self._spaces[space_id] = space
        return space

    def get(self, space_id: str) -> Space:
        """Find a space.

        Args:
            space_id: Its id.

        Returns:
            The space.

        Raises:
            SpaceError: 404, no such space.
        """
        space = self._spaces.get(space_id)
        if space is None:
            raise SpaceError(404, f"no space {space_id!r}; list spaces with `chorusctl spaces list`")
        return space

    def live(self, space_id: str) -> Space:
        """Find a space that has not ended.

        Args:
            space_id: Its id.

        Returns:
            The space.

        Raises:
            SpaceError: 404 no such space, 410 it ended.
        """
        space = self.get(space_id)
        if not space.live:
            raise SpaceError(410, f"space {space_id} has ended")
        return space

    def all(self, include_ended: bool = False) -> list[Space]:
        """Spaces, oldest first.

        Args:
            include_ended: Also list ended spaces.

        Returns:
            The spaces.
        """
        return [s for s in self._spaces.values() if include_ended or s.live]

    def end(self, space_id: str, by: str) -> Space:
        """End a space (only its host may).

        Args:
            space_id: Its id.
            by: The user asking.

        Returns:
            The ended space.

        Raises:
            SpaceError: 404, 410 already ended, 403 not the host.
        """
        space = self.live(space_id)
        if by != space.host:
            raise SpaceError(403, f"only the host ({space.host}) may end space {space_id}")
        space.ended_at = time.time()
        return space

    def raise_hand(self, space_id: str, user: str) -> Space:
        """Raise `user`'s hand (asking to speak); raising it twice changes nothing.

        Args:
            space_id: The space.
            user: Who raises a hand.

        Returns:
            The space.

        Raises:
            SpaceError: 404 or 410.
        """
        space = self.live(space_id)
        if user not in space.hands and user not in space.speakers and user != space.host:
            space.hands.append(user)
        return space

    def promote(self, space_id: str, user: str, by: str) -> Space:
        """Make `user` a speaker (only the host may); their raised hand is lowered.

        Args:
            space_id: The space.
            user: Who becomes a speaker.
            by: The user asking.

        Returns:
            The space.

        Raises:
            SpaceError: 404, 410, or 403 when `by` is not the host.
        """
        space = self.live(space_id)
        if by != space.host:
            raise SpaceError(403, f"only the host ({space.host}) may promote speakers in {space_id}")
        if user not in space.speakers and user != space.host:
            space.speakers.append(user)
        if user in space.hands:
            space.hands.remove(user)
        return space
