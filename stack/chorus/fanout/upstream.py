"""An edge node's subscription to one space on that space's origin node (the cascade).

An edge serves listeners but takes no speakers. When its first listener of a
space connects, it asks the gateway for an upstream grant (the space's origin
node and a join token with role `edge` for it), connects to the origin like a
listener and feeds every message it receives into the space's room on the edge,
which relays it to the edge's own listeners. The origin sees the edge as one
receiver, however many listeners the edge serves: that is how one space's
audience grows past one process and one machine.

The subscription keeps itself alive: when the origin tells it to reconnect (it
is draining) it asks the gateway again at once (the gateway then names another
origin); when the connection drops it retries with jittered exponential backoff
up to `fanout.upstream_retry_max_s`; when the space ends it tells the edge, which
ends the space for its listeners.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from chorus.fanout.room import Room
from chorus.logs import log_event
from chorus.protocol import CLOSE_ENDED, End, Reconnect, read_until_instructed, split_records


class UpstreamEnded(Exception):
    """The gateway says the space ended (or never existed): stop subscribing."""


class UpstreamUnavailable(Exception):
    """No upstream grant now (gateway unreachable, no origin for the space); retry later."""


GrantSource = Callable[[str], Awaitable[dict[str, Any]]]
"""Asks the gateway for an upstream grant for a space: returns `{"url", "token", "origin", ...}`,
raises `UpstreamEnded` or `UpstreamUnavailable`."""


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """A jittered exponential backoff delay ("full jitter"): uniform in `[0, min(cap, base * 2**attempt)]`.

    Args:
        attempt: Failures so far (0 for the first retry).
        base_s: The first ceiling.
        cap_s: The largest ceiling.
        rng: Random source.

    Returns:
        Seconds to wait.
    """
    return rng.uniform(0, min(cap_s, base_s * (2 ** min(attempt, 30))))


class Upstream:
    """One space's subscription from an edge to its origin.

    Args:
        node_id: The edge's id (for logs).
        space: The space id.
        room: The edge's room for the space; received records go into it.
        grants: Where upstream grants come from (the edge's gateway link).
        retry_max_s: Longest wait between reconnection attempts.
        on_end: Called with the space id when the space ended.
        logger: Event logger.

    Attributes:
        connected: Whether the subscription is connected now.
        origin: The origin node it is (or was last) connected to.
        reconnects: Connections after the first.
        frames: Frames received from the origin.
    """

    def __init__(
        self,
        node_id: str,
        space: str,
        room: Room,
        grants: GrantSource,
        retry_max_s: float,
        on_end: Callable[[str], None],
        logger: logging.Logger,
    ) -> None:
        self.node_id = node_id
        self.space = space
        self.room = room
        self.connected = False
        self.origin = ""
        self.reconnects = 0
        self.frames = 0
        self._grants = grants
        self._retry_max_s = retry_max_s
        self._on_end = on_end
        self._log = logger
        self._rng = random.Random()
        self._connections = 0

    async def run(self) -> None:
        """Subscribe, relay and resubscribe until the space ends or the task is cancelled."""
        failures = 0
        while True:
            try:
                grant = await self._grants(self.space)
                async with connect(f"{grant['url']}?token={grant['token']}", compression=None,
                                   max_size=2**22, open_timeout=10) as socket:
                    self.origin = str(grant.get("origin", ""))
                    self._connections += 1
                    if self._connections > 1:
                        self.reconnects += 1
                    self.connected = True
                    failures = 0
                    log_event(self._log, "upstream_connected", node=self.node_id, space=self.space, origin=self.origin)
                    told_to_reconnect = await self._relay(socket)
                if told_to_reconnect:
                    await asyncio.sleep(self._rng.uniform(0.01, 0.2))
                    continue
            except UpstreamEnded:
                self._end()
                return
            except (UpstreamUnavailable, ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
                if isinstance(exc, ConnectionClosed) and exc.rcvd is not None and exc.rcvd.code == CLOSE_ENDED:
                    self._end()
                    return
                if failures == 0:
                    log_event(self._log, "upstream_lost", level=logging.WARNING, node=self.node_id, space=self.space,
                              origin=self.origin or "-", error=str(exc) or exc.__class__.__name__)
            finally:
                self.connected = False
            await asyncio.sleep(backoff_s(failures, 0.1, self._retry_max_s, self._rng))
            failures += 1

    async def _relay(self, socket: ClientConnection) -> bool:
        """Feed the origin's messages into the room; return whether the origin said reconnect."""

        def relay(message: bytes) -> None:
            records = split_records(message)
            self.frames += len(records)
            self.room.ingest(records)

        instruction = await read_until_instructed(socket, relay)
        if isinstance(instruction, End):
            raise UpstreamEnded(self.space)
        return isinstance(instruction, Reconnect)

    def _end(self) -> None:
        """The space ended upstream: tell the edge."""
        log_event(self._log, "upstream_ended", node=self.node_id, space=self.space)
        self._on_end(self.space)
