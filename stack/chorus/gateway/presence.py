"""Presence: how many are in a space, pushed as one aggregate message per space per tick.

Subscribers (hosts' apps, dashboards, `chorusctl presence`) open a WebSocket
and receive `{space, tick, listeners, speakers, hands, live}` every
`gateway.presence_tick_ms`. The cost per tick is one message per subscriber,
whatever happens in the space - never one event per listener to every listener,
which grows with the square of the audience and melts big rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

SEND_TIMEOUT_S = 1.0
"""A subscriber that cannot take a tick's message within this time is disconnected."""


class PresenceHub:
    """Subscribers per space and the tick that feeds them.

    Args:
        counts: Returns the presence message body for a space id.
        tick_s: Seconds between ticks.
    """

    def __init__(self, counts: Callable[[str], dict[str, Any]], tick_s: float) -> None:
        self._counts = counts
        self.tick_s = tick_s
        self.tick = 0
        self._subscribers: dict[str, set[WebSocket]] = {}

    @property
    def connections(self) -> int:
        """Open subscriber connections."""
        return sum(len(s) for s in self._subscribers.values())

    def subscribe(self, space: str, socket: WebSocket) -> None:
        """Add a subscriber.

        Args:
            space: The space id.
            socket: The accepted WebSocket.
        """
        self._subscribers.setdefault(space, set()).add(socket)

    def unsubscribe(self, space: str, socket: WebSocket) -> None:
        """Remove a subscriber.

        Args:
            space: The space id.
            socket: The WebSocket.
        """
        subscribers = self._subscribers.get(space)
        if subscribers is not None:
            subscribers.discard(socket)
            if not subscribers:
                del self._subscribers[space]

    def message(self, space: str) -> str:
        """The presence message of a space at the current tick.

        Args:
            space: The space id.

        Returns:
            JSON text.
        """
        return json.dumps({"space": space, "tick": self.tick, **self._counts(space)})

    async def run(self) -> None:
        """Push one message per subscriber per tick, forever."""
        while True:
            await asyncio.sleep(self.tick_s)
            self.tick += 1
            await self.push()

    async def push(self) -> None:
        """Send the current counts to every subscriber now (one message each)."""
        for space, subscribers in list(self._subscribers.items()):
            text = self.message(space)
            results = await asyncio.gather(
                *(asyncio.wait_for(s.send_text(text), SEND_TIMEOUT_S) for s in list(subscribers)),
                return_exceptions=True,
            )
            for socket, result in zip(list(subscribers), results):
                if isinstance(result, BaseException):
                    self.unsubscribe(space, socket)
                    with contextlib.suppress(Exception):
                        await socket.close()
