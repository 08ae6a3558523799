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
speaker finished sending). Each is a dataclass here (`Welcome`, `Reconnect`,
`End`, `EndOfStream`), written with `encode_control` and read with
`parse_control`; every client of a node reads its messages with one loop,
`read_until_instructed`.

The path is `/v1/media?token=JOIN_TOKEN` on every fan-out node. Clients get the
token by joining through the gateway: `join_request` is that request's body, and
`Role` and `ReconnectReason` the values it takes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, TypeAlias, TypedDict, get_args

Role: TypeAlias = Literal["host", "speaker", "listener", "packager"]
"""The roles a client asks to join a space in: `host` (the space's host, with its host secret),
`speaker` (a promoted user), `listener`, and `packager` (the HLS packager's own role, granted only
with its service credential)."""

JoinRole: TypeAlias = Literal["host", "speaker", "listener", "edge", "packager"]
"""The roles a join token may grant: a client's `Role`, and `edge` (an edge node's subscription to a
space on its origin, granted to edge nodes only)."""

ReconnectReason: TypeAlias = Literal["drain", "network", "unknown"]
"""Why a client joins again: `drain` (its node told it to reconnect), `network` (the connection
dropped), `unknown`."""

NodeRole: TypeAlias = Literal["origin", "edge"]
"""A fan-out node's role: an `origin` takes a space's speakers, an `edge` subscribes to origins and
takes listeners."""

ROLES: tuple[Role, ...] = get_args(Role)
"""Every `Role`, in order."""


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


class JoinBody(TypedDict, total=False):
    """The body of `POST /v1/spaces/{id}/join` (the gateway validates it as `chorus.gateway.models.JoinRequest`).

    Attributes:
        user: Who joins.
        role: The role asked for.
        reconnect: Why, for a join after a lost connection (absent on a first join).
        ticket: The rejoin ticket a draining node handed out, if any.
    """

    user: str
    role: Role
    reconnect: ReconnectReason
    ticket: str


def join_request(user: str, role: Role, reconnect: ReconnectReason | None = None,
                 ticket: str | None = None) -> JoinBody:
    """The body of a join: the one place a client writes it.

    Args:
        user: Who joins.
        role: The role asked for.
        reconnect: For a join after a lost connection, why; `None` on a first join (left out).
        ticket: The rejoin ticket a draining node handed out; `None` leaves it out.

    Returns:
        The JSON body.
    """
    body: JoinBody = {"user": user, "role": role}
    if reconnect is not None:
        body["reconnect"] = reconnect
    if ticket is not None:
        body["ticket"] = ticket
    return body


# --------------------------------------------------------------------------- control messages


@dataclass(frozen=True)
class Welcome:
    """Node to client, once connected: the node accepted the join token.

    Attributes:
        node: The node's id.
        space: The space.
        role: The role the token granted.
        frames_per_message: How many frames the node packs into one media message at most.
    """

    type: ClassVar[str] = "welcome"
    node: str = ""
    space: str = ""
    role: str = ""
    frames_per_message: int = 0


@dataclass(frozen=True)
class Reconnect:
    """Node to client: the node is draining; join again through the gateway.

    Attributes:
        reason: Why (`drain`).
        node: The node's id.
        ticket: The rejoin ticket to pass on with the next join (none for edge subscriptions).
    """

    type: ClassVar[str] = "reconnect"
    reason: str = ""
    node: str = ""
    ticket: str | None = None


@dataclass(frozen=True)
class End:
    """Node to client: the space ended.

    Attributes:
        space: The space.
    """

    type: ClassVar[str] = "end"
    space: str = ""


@dataclass(frozen=True)
class EndOfStream:
    """Speaker to node: the speaker finished sending (the node flushes what it holds)."""

    type: ClassVar[str] = "eos"


@dataclass(frozen=True)
class UnknownControl:
    """A control message of a type this version does not know (ignored by every reader).

    Attributes:
        type: Its `type`.
    """

    type: str


Control: TypeAlias = Welcome | Reconnect | End | EndOfStream
"""A control message this version knows."""

CONTROL_TYPES: dict[str, type[Control]] = {kind.type: kind for kind in (Welcome, Reconnect, End, EndOfStream)}
"""Each known control message by its `type`."""


def encode_control(message: Control) -> str:
    """Encode a control message: its `type` and its fields, those that are `None` left out.

    Args:
        message: The message.

    Returns:
        The JSON text.
    """
    body = {f.name: getattr(message, f.name) for f in fields(message)}
    return json.dumps({"type": message.type, **{k: v for k, v in body.items() if v is not None}})


MAX_CONTROL_CHARS = 8192
"""Longest control message read: controls are small flat objects (the longest, `reconnect`, carries
a ticket of a few hundred bytes); a longer one is refused before it is parsed."""


def parse_control(text: str) -> Control | UnknownControl:
    """Decode a control message.

    Fields are read leniently, so a message from a newer node still parses: a field that is missing
    or of the wrong type reads as its default (e.g. a `reconnect` whose `ticket` is not a string has
    none), and fields this version does not know are ignored.

    Args:
        text: The JSON text.

    Returns:
        The message; `UnknownControl` for a `type` this version does not know.

    Raises:
        ProtocolError: Too long, not JSON, or not an object with a string `type`.
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
    kind = CONTROL_TYPES.get(value["type"])
    if kind is None:
        return UnknownControl(value["type"])
    known: dict[str, Any] = {}
    for f in fields(kind):
        expected = str if f.default is None else type(f.default)  # every field is a string, or an int
        field_value = value.get(f.name)
        if type(field_value) is expected:  # not `isinstance`: JSON's true is no frames_per_message
            known[f.name] = field_value
    return kind(**known)


Instruction: TypeAlias = Reconnect | End
"""What ends a client's connection on a node's word: rejoin through the gateway, or stop."""


async def read_until_instructed(
    messages: AsyncIterable[str | bytes],
    on_media: Callable[[bytes], None] | None = None,
    on_welcome: Callable[[Welcome], None] | None = None,
) -> Instruction | None:
    """Read a node's messages until it says `reconnect` or `end`, or the connection closes.

    The receive loop of every client of a fan-out node (`chorus.client.Listener` and `Speaker`,
    `chorus.loadgen`, an edge's `chorus.fanout.upstream.Upstream`). Media messages go to `on_media`;
    one it cannot decode (it raises `ProtocolError`) is skipped, as is a malformed or unknown control
    message.

    Args:
        messages: The connection (a `websockets` connection iterates its messages).
        on_media: Called with each binary message; `None` ignores media (a speaker's connection).
        on_welcome: Called with the node's `welcome`.

    Returns:
        The `Reconnect` or `End` the node sent, or `None` when the connection closed normally.

    Raises:
        websockets.exceptions.ConnectionClosedError: The connection broke (raised by the iteration).
    """
    async for message in messages:
        if isinstance(message, bytes):
            if on_media is not None:
                try:
                    on_media(message)
                except ProtocolError:
                    pass
            continue
        try:
            instruction = parse_control(message)
        except ProtocolError:
            continue
        if isinstance(instruction, (Reconnect, End)):
            return instruction
        if isinstance(instruction, Welcome) and on_welcome is not None:
            on_welcome(instruction)
    return None
