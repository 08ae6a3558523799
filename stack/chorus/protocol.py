"""The media wire format between speakers, fan-out nodes and listeners.

Audio travels in binary WebSocket messages. A message is a 4-byte header
(`b"CH"`, version, frame count) followed by that many frame records; a record is
a 16-byte header (source, sequence number, capture time in microseconds since
the epoch, payload length) and one encoded audio frame (20 ms of Opus). A
speaker sends one frame per message; a fan-out node forwards the records
untouched, `fanout.frames_per_message` of them per message, so it never decodes
or re-encodes audio.

Control travels in text WebSocket messages holding one JSON object with a
`type`: `welcome` (node to client after connecting), `reconnect` (the node is
draining: join again through the gateway, passing on the `ticket` it carries so
the gateway admits the rejoin ahead of new joins), `end` (the space ended), `eos` (a
speaker finished sending).

The path is `/v1/media?token=JOIN_TOKEN` on every fan-out node.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

MAGIC = b"CH"
VERSION = 1
MEDIA_PATH = "/v1/media"

_MESSAGE = struct.Struct(">2sBB")
_RECORD = struct.Struct(">HIQH")
MESSAGE_HEADER_BYTES = _MESSAGE.size
RECORD_HEADER_BYTES = _RECORD.size
MAX_FRAMES_PER_MESSAGE = 255

# Close codes (4000-4999 are for applications).
CLOSE_RECONNECT = 4000
"""The node is draining or the client must otherwise join again through the gateway."""
CLOSE_SLOW = 4001
"""The listener fell too far behind and was dropped."""
CLOSE_ENDED = 4002
"""The space ended."""
CLOSE_BAD_MESSAGE = 4003
"""A speaker sent a malformed message."""


class ProtocolError(ValueError):
    """A message that does not follow the wire format."""


@dataclass(frozen=True)
class Frame:
    """One encoded audio frame and where it belongs in its speaker's stream.

    Attributes:
        source: The speaker's stream id (chosen by the speaker, stable across reconnects).
        seq: The frame's number in that stream, counting from 0.
        captured_us: When the speaker captured it, microseconds since the epoch.
        payload: The encoded audio (one Opus packet).
    """

    source: int
    seq: int
    captured_us: int
    payload: bytes

    def record(self) -> bytes:
        """This frame as a record (record header + payload)."""
        return _RECORD.pack(self.source, self.seq, self.captured_us, len(self.payload)) + self.payload


def pack_records(records: list[bytes]) -> bytes:
    """Pack already-encoded records into one message.

    Args:
        records: Between 1 and 255 records.

    Returns:
        The message.
    """
    return _MESSAGE.pack(MAGIC, VERSION, len(records)) + b"".join(records)


def pack_frames(frames: list[Frame]) -> bytes:
    """Pack frames into one message.

    Args:
        frames: Between 1 and 255 frames.

    Returns:
        The message.
    """
    return pack_records([frame.record() for frame in frames])


def split_records(message: bytes) -> list[bytes]:
    """Check a message and split it into its records, without copying payloads twice.

    Args:
        message: A binary message.

    Returns:
        The records, each a record header plus payload.

    Raises:
        ProtocolError: Bad header, truncated record or trailing bytes.
    """
    if len(message) < MESSAGE_HEADER_BYTES:
        raise ProtocolError("message shorter than its header")
    magic, version, count = _MESSAGE.unpack_from(message)
    if magic != MAGIC or version != VERSION:
        raise ProtocolError("not a Chorus media message (bad magic or version)")
    if count == 0:
        raise ProtocolError("message without frames")
    records: list[bytes] = []
    offset = MESSAGE_HEADER_BYTES
    view = memoryview(message)
    for _ in range(count):
        if offset + RECORD_HEADER_BYTES > len(message):
            raise ProtocolError("truncated frame header")
        length = _RECORD.unpack_from(message, offset)[3]
        end = offset + RECORD_HEADER_BYTES + length
        if end > len(message):
            raise ProtocolError("truncated frame payload")
        records.append(bytes(view[offset:end]))
        offset = end
    if offset != len(message):
        raise ProtocolError("trailing bytes after the last frame")
    return records


def unpack_frames(message: bytes) -> list[Frame]:
    """Decode a message into frames.

    Args:
        message: A binary message.

    Returns:
        Its frames, in order.

    Raises:
        ProtocolError: The message does not follow the format.
    """
    frames = []
    for record in split_records(message):
        source, seq, captured_us, _length = _RECORD.unpack_from(record)
        frames.append(Frame(source, seq, captured_us, record[RECORD_HEADER_BYTES:]))
    return frames


def control(kind: str, **fields: Any) -> str:
    """Encode a control message.

    Args:
        kind: `welcome`, `reconnect`, `end` or `eos`.
        **fields: Extra fields.

    Returns:
        The JSON text.
    """
    return json.dumps({"type": kind, **fields})


MAX_CONTROL_CHARS = 8192
"""Longest control message read: controls are small flat objects (the longest, `reconnect`, carries
a ticket of a few hundred bytes); a longer one is refused before it is parsed."""


def parse_control(text: str) -> dict[str, Any]:
    """Decode a control message.

    Args:
        text: The JSON text.

    Returns:
        The object; it always has a string `type`.

    Raises:
        ProtocolError: Not a JSON object with a `type`.
    """
    if len(text) > MAX_CONTROL_CHARS:
        raise ProtocolError(f"control message longer than {MAX_CONTROL_CHARS} characters")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"control message is not JSON: {exc.msg}") from None
    except RecursionError:
        raise ProtocolError("control message nested too deeply") from None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise ProtocolError("control message without a type")
    return value
