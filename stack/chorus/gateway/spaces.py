"""Spaces and roles: create, list, end; raise a hand; promote to speaker.

A space has one host (who created it), any number of speakers (promoted by the
host) and listeners (anyone). Identity is the `user` name a client gives:
authenticating people is the job of the product in front of Chorus. What a name
cannot claim is the host's power: creating a space returns a **host secret**,
once; ending the space, promoting a speaker and joining as its host need it
(`Space.is_host`). Only a digest of it is kept, and a refusal never names the host.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from chorus.ids import is_space_id
from chorus.protocol import Role

HOST_SECRET_HEADER = "X-Chorus-Host-Secret"
"""The request header carrying a space's host secret."""

NOT_THE_HOST = (f"only the space's host may do this: send the host secret returned when the space was "
                f"created, in the {HOST_SECRET_HEADER} header")
"""The one refusal for a missing or wrong host secret (it names no one)."""


def _digest(secret: str) -> str:
    """The digest of a host secret that the gateway keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


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
    host_secret_digest: str = field(default="", repr=False)

    def is_host(self, secret: str | None) -> bool:
        """Whether `secret` is this space's host secret (compared in constant time).

        Args:
            secret: The secret a request carried, or `None`.

        Returns:
            Whether it proves the caller is the host.
        """
        return bool(secret and self.host_secret_digest) and hmac.compare_digest(_digest(secret or ""), self.host_secret_digest)

    @property
    def live(self) -> bool:
        """Whether the space has not ended."""
        return self.ended_at is None

    def may_join_as(self, user: str, role: Role) -> bool:
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
        """Create a live space (its host secret is not returned; see `create_with_secret`).

        Args:
            title: Its title.
            host: The creating user, who becomes its host.

        Returns:
            The space.
        """
        return self.create_with_secret(title, host)[0]

    def create_with_secret(self, title: str, host: str) -> tuple[Space, str]:
        """Create a live space and its host secret.

        Args:
            title: Its title.
            host: The creating user, who becomes its host.

        Returns:
            The space and its host secret (shown once: only its digest is kept).
        """
        space_id = f"sp-{secrets.token_hex(4)}"
        while space_id in self._spaces:
            space_id = f"sp-{secrets.token_hex(4)}"
        secret = secrets.token_urlsafe(32)
        space = Space(id=space_id, title=title, host=host, created_at=time.time(), host_secret_digest=_digest(secret))
        self._spaces[space_id] = space
        return space, secret

    def get(self, space_id: str) -> Space:
        """Find a space.

        Args:
            space_id: Its id.

        Returns:
            The space.

        Raises:
            SpaceError: 404, no such space.
        """
        space = self._spaces.get(space_id) if is_space_id(space_id) else None
        if space is None:
            shown = repr(space_id) if is_space_id(space_id) else "with that id"
            raise SpaceError(404, f"no space {shown}; list spaces with `chorusctl spaces list`")
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

    def end(self, space_id: str, host_secret: str | None) -> Space:
        """End a space (only its host may).

        Args:
            space_id: Its id.
            host_secret: The host secret the request carried.

        Returns:
            The ended space.

        Raises:
            SpaceError: 404, 410 already ended, 403 not the host's secret.
        """
        space = self.live(space_id)
        if not space.is_host(host_secret):
            raise SpaceError(403, NOT_THE_HOST)
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

    def promote(self, space_id: str, user: str, host_secret: str | None) -> Space:
        """Make `user` a speaker (only the host may); their raised hand is lowered.

        Args:
            space_id: The space.
            user: Who becomes a speaker.
            host_secret: The host secret the request carried.

        Returns:
            The space.

        Raises:
            SpaceError: 404, 410, or 403 when the secret is not the host's.
        """
        space = self.live(space_id)
        if not space.is_host(host_secret):
            raise SpaceError(403, NOT_THE_HOST)
        if user not in space.speakers and user != space.host:
            space.speakers.append(user)
        if user in space.hands:
            space.hands.remove(user)
        return space
