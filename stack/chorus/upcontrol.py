"""The control channel of a running `chorusctl up`: `chorusctl restart` asks it to restart services.

`up` listens on a Linux abstract Unix socket named after its gateway's address (no file, so no
path-length limit and nothing left behind), and serves only processes of its own user: the peer's
uid is read from the kernel (`SO_PEERCRED`), not from anything the caller sends. A request is one
JSON line of at most `MAX_REQUEST_BYTES`:

    {"restart": ["fanout-1"], "key": null}

`restart` names services of this run (or `["all"]`: gateway, origins, edges, packager, in that
order); `key`, when set, is a new signing key for every service (only with `all`: the gateway and
the nodes must hold the same key). `up` answers with JSON lines while it works - `{"say": text}` -
and ends with `{"ok": bool, "message": text}`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from chorus.credentials import gateway_slug

MAX_REQUEST_BYTES = 4096
"""A request longer than this is refused (a list of service names and a key fit in far less)."""

REQUEST_TIMEOUT_S = 2.0
"""How long `up` waits for a connected caller to send its request line."""

MAX_SERVICES = 512
"""At most this many names in one request (a run has at most 64 origins and 256 edges, plus two)."""

_NAME = re.compile(r"^(all|gateway|packager|fanout-\d{1,3}|edge-\d{1,3})$")


class ControlError(Exception):
    """No `up` answers for this gateway, or it refused or failed the request; the message says why."""


@dataclass(frozen=True)
class RestartRequest:
    """What a caller asked: services to restart, and maybe a new signing key for all of them.

    Attributes:
        services: Service names as `up` names them (`gateway`, `fanout-1`, `edge-2`, `packager`), or `("all",)`.
        key: The new signing key, or `None` to keep the run's.
    """

    services: tuple[str, ...]
    key: str | None = None

    @classmethod
    def parse(cls, line: bytes) -> RestartRequest:
        """Read and validate one request line.

        Args:
            line: The raw line (without its newline).

        Returns:
            The request.

        Raises:
            ValueError: The line is not a valid request; the message says what is wrong.
        """
        try:
            data = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("the request is not a JSON line") from None
        if not isinstance(data, dict) or set(data) - {"restart", "key"}:
            raise ValueError('the request must be {"restart": [names], "key": null or a key}')
        services = data.get("restart")
        if not isinstance(services, list) or not services or len(services) > MAX_SERVICES:
            raise ValueError(f"`restart` must list 1 to {MAX_SERVICES} service names")
        for name in services:
            if not isinstance(name, str) or not _NAME.match(name):
                raise ValueError(f"unknown service name {str(name)[:40]!r}: gateway, fanout-N, edge-N, packager or all")
        key = data.get("key")
        if key is not None and not isinstance(key, str):
            raise ValueError("`key` must be a string or null")
        if key is not None and services != ["all"]:
            raise ValueError("a new signing key needs every service restarted together (`all`): "
                             "the gateway and the nodes must hold the same key")
        return cls(tuple(dict.fromkeys(services)), key)


def socket_name(gateway_url: str) -> bytes:
    """The abstract socket name of the `up` serving this gateway.

    Args:
        gateway_url: The run's gateway URL, e.g. `http://127.0.0.1:8080`.

    Returns:
        The name (a leading NUL byte: Linux's abstract namespace).
    """
    return b"\0chorus-up/" + gateway_slug(gateway_url).encode()


def _peer_uid(connection: socket.socket) -> int:
    """The uid of the process on the other end, as the kernel knows it."""
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return uid


class ControlServer:
    """The listening side, polled by the supervisor's loop (it never blocks that loop while idle).

    Args:
        gateway_url: The run's gateway URL (names the socket).
        handle: Called with each valid request and a `say(text)` callback; returns `(ok, message)`.
    """

    def __init__(self, gateway_url: str, handle: Callable[[RestartRequest, Callable[[str], None]], tuple[bool, str]]) -> None:
        self._handle = handle
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._listener.bind(socket_name(gateway_url))
        except OSError as exc:
            self._listener.close()
            raise ControlError(f"another `chorusctl up` already serves {gateway_url} ({exc.strerror})") from None
        self._listener.listen(4)
        self._listener.setblocking(False)

    def poll(self) -> None:
        """Serve every caller waiting now, one after the other; return at once if none is."""
        while select.select([self._listener], [], [], 0)[0]:
            try:
                connection, _ = self._listener.accept()
            except BlockingIOError:
                return
            with connection:
                self._serve(connection)

    def _serve(self, connection: socket.socket) -> None:
        """Check who calls, read its request, run it and answer."""
        connection.setblocking(True)
        connection.settimeout(REQUEST_TIMEOUT_S)

        def send(message: dict[str, object]) -> None:
            with contextlib.suppress(OSError):
                connection.sendall(json.dumps(message).encode() + b"\n")

        if _peer_uid(connection) != os.getuid():
            send({"ok": False, "message": "refused: only the user running `chorusctl up` may control it"})
            return
        try:
            line = _read_line(connection)
            request = RestartRequest.parse(line)
        except (OSError, ValueError) as exc:
            send({"ok": False, "message": f"bad request: {exc}"})
            return
        ok, message = self._handle(request, lambda text: send({"say": text}))
        send({"ok": ok, "message": message})

    def close(self) -> None:
        """Stop listening (the abstract name disappears with the socket)."""
        self._listener.close()


def _read_line(connection: socket.socket) -> bytes:
    """One request line, at most `MAX_REQUEST_BYTES`, within `REQUEST_TIMEOUT_S`."""
    data = b""
    deadline = time.monotonic() + REQUEST_TIMEOUT_S
    while b"\n" not in data:
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError(f"longer than {MAX_REQUEST_BYTES} bytes")
        connection.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = connection.recv(1024)
        if not chunk:
            break
        data += chunk
    line = data.split(b"\n", 1)[0]
    if len(line) > MAX_REQUEST_BYTES:
        raise ValueError(f"longer than {MAX_REQUEST_BYTES} bytes")
    return line


def request_restart(gateway_url: str, request: RestartRequest, timeout_s: float) -> Iterator[str]:
    """Ask the `up` serving this gateway to restart services; yield its progress lines.

    Args:
        gateway_url: The run's gateway URL.
        request: What to restart.
        timeout_s: How long to wait for the whole restart.

    Yields:
        Each progress line `up` sends.

    Raises:
        ControlError: No `up` serves this gateway here, it refused the request, a restart failed
            or the answer did not come within `timeout_s` (the message says which).
    """
    body = json.dumps({"restart": list(request.services), "key": request.key}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        try:
            connection.connect(socket_name(gateway_url))
        except OSError:
            raise ControlError(f"no `chorusctl up` runs for {gateway_url} on this machine as this user "
                               "(restart production services with your deployment tooling)") from None
        connection.settimeout(timeout_s)
        connection.sendall(body)
        buffer = b""
        deadline = time.monotonic() + timeout_s
        while True:
            if time.monotonic() > deadline:
                raise ControlError(f"no answer from `chorusctl up` within {timeout_s:.0f} s")
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                raise ControlError(f"no answer from `chorusctl up` within {timeout_s:.0f} s") from None
            if not chunk:
                raise ControlError("`chorusctl up` closed the connection without an answer (did it stop?)")
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                answer = json.loads(line)
                if "say" in answer:
                    yield str(answer["say"])
                    continue
                if not answer.get("ok"):
                    raise ControlError(str(answer.get("message", "refused")))
                yield str(answer.get("message", "done"))
                return
