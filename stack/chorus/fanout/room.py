"""One space on one fan-out node: its speakers' frames in, batched messages out to its listeners.

Frames enter through `Room.ingest`, whoever produced them: a speaker connected to
this node today, or (for an edge node in a cascade) a subscription to the
space's origin node that receives messages like a listener does. Every
`frames_per_message` frames, or when the oldest frame has waited that long, the
room packs one message and writes it to every listener without waiting for any
of them. A listener whose send queue already holds more than `send_queue_limit`
messages is dropped instead: one slow listener never slows the room.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.connection import Connection, broadcast

from chorus.protocol import MAX_FRAMES_PER_MESSAGE, pack_records


@dataclass
class RoomStats:
    """Counters a room keeps for its node's metrics and reports.

    Attributes:
        frames_in: Frames ingested.
        frames_out: Frames written to listeners (frames times listeners).
        messages_out: Messages written to listeners.
    """

    frames_in: int = 0
    frames_out: int = 0
    messages_out: int = 0


@dataclass
class Room:
    """A space's audio on one node.

    Attributes:
        space: The space id.
        frames_per_message: Frames packed into one listener message.
        send_queue_limit: Messages a listener's send queue may hold before it is dropped.
        hold_s: Longest time a frame waits for its batch to fill.
        on_slow: Called with the space id and a listener's connection when it is dropped for
            being slow (it is already out of `listeners`).
        stats: Frame and message counters (a node shares one among its rooms).
        listeners: Listener connections.
        publishers: Speaker connections (hosts and speakers).
    """

    space: str
    frames_per_message: int
    send_queue_limit: int
    hold_s: float
    on_slow: Callable[[str, Connection], None]
    stats: RoomStats = field(default_factory=RoomStats)
    listeners: dict[Connection, None] = field(default_factory=dict)
    publishers: dict[Connection, None] = field(default_factory=dict)
    _pending: list[bytes] = field(default_factory=list)
    _timer: asyncio.TimerHandle | None = None

    @property
    def empty(self) -> bool:
        """Whether nobody is connected to the room."""
        return not self.listeners and not self.publishers

    def ingest(self, records: list[bytes]) -> None:
        """Take frame records for the listeners; send a message when a batch is full.

        Args:
            records: Frame records (see `chorus.protocol`), in order.
        """
        self.stats.frames_in += len(records)
        self._pending.extend(records)
        batch = min(self.frames_per_message, MAX_FRAMES_PER_MESSAGE)
        while len(self._pending) >= batch:
            chunk, self._pending = self._pending[:batch], self._pending[batch:]
            self._send(chunk)
        if self._pending and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.hold_s, self.flush)
        elif not self._pending and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def flush(self) -> None:
        """Send whatever frames are waiting, even if fewer than a batch (a speaker paused or left)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            chunk = self._pending[: MAX_FRAMES_PER_MESSAGE]
            self._pending = self._pending[MAX_FRAMES_PER_MESSAGE:]
            self._send(chunk)

    def _send(self, records: list[bytes]) -> None:
        """Write one message to every listener that keeps up; drop the ones that do not."""
        if not self.listeners:
            return
        message = pack_records(records)
        limit = self.send_queue_limit * len(message)
        # The hot loop: one call per listener. A listener's send queue is its transport's write buffer.
        slow = [c for c in self.listeners if c.transport.get_write_buffer_size() > limit]
        for connection in slow:
            self.listeners.pop(connection, None)
            self.on_slow(self.space, connection)
        broadcast(self.listeners, message)
        self.stats.messages_out += len(self.listeners)
        self.stats.frames_out += len(self.listeners) * len(records)

    def connections(self) -> list[Connection]:
        """Every connection in the room, speakers first."""
        return [*self.publishers, *self.listeners]
