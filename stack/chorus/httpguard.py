"""Bounds every Chorus HTTP service keeps the same way: body size, error echo, slow clients.

The gateway and the packager are FastAPI apps served by uvicorn (`chorus.service.UvicornServer`);
`install_guards` gives an app its bounds and `TimelyH11Protocol` is the HTTP protocol they are
served with:

- **Bodies**: a request body larger than the service's `max_body_bytes` gets `413` without
  being read (by its `Content-Length`, or as soon as a chunked body passes the limit).
- **Errors never echo input**: a `422` lists where and why a request is invalid (`loc`, `msg`,
  `type`), never the offending value (`input`), so a 10 MB field does not come back.
- **Slow clients**: a connection must deliver a complete request within `HANDSHAKE_TIMEOUT_S` of
  opening (or of its previous response), the same bound the fan-out nodes give a WebSocket
  handshake; a slow-loris client is cut then instead of holding a connection open.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

HANDSHAKE_TIMEOUT_S = 10.0
"""Seconds a client has to send a complete request (HTTP) or handshake (WebSocket, fan-out nodes)."""


class BodyLimit:
    """ASGI middleware: refuse request bodies larger than `max_bytes` with `413`.

    Args:
        app: The app to protect.
        max_bytes: The largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        received = 0
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Answer now and tell the app the client left: it stops reading, and whatever
                    # it answers to that is dropped (the client already has its 413).
                    answered = True
                    await _too_large(send, self.max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)


async def _too_large(send: Send, max_bytes: int) -> None:
    """Send the `413` answer."""
    body = json.dumps({"detail": f"request body too large: at most {max_bytes} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def validation_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    """A validation error's problems without the input that caused them.

    Args:
        exc: The error FastAPI raised.

    Returns:
        One `{"loc", "msg", "type"}` per problem: no `input`, no `ctx`, no `url`.
    """
    return [{"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}
            for error in exc.errors()]


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """The `422` answer: where and why, never what was sent."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_problems(exc)}, status_code=422)


def install_guards(app: FastAPI, max_body_bytes: int) -> None:
    """Give an app the bounds every Chorus HTTP service keeps (body limit, no input echo).

    Args:
        app: The app.
        max_body_bytes: Its largest request body.
    """
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)


class TimelyH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, cutting a connection that has not sent a whole request in time.

    The clock starts when the connection opens and again when a response completes; when it
    runs out while the request is still incomplete (headers or body trickling in, or nothing
    sent at all), the connection is closed. Once a request is complete the handler may take as
    long as it needs; once the connection is upgraded to a WebSocket the timer does nothing.
    """

    _request_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request."""
        super().connection_made(transport)
        self._arm_request_timer()

    def on_response_complete(self) -> None:
        """Start the clock for the next request on this connection."""
        super().on_response_complete()
        self._arm_request_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm_request_timer()
        super().connection_lost(exc)

    def _arm_request_timer(self) -> None:
        self._disarm_request_timer()
        self._request_timer = self.loop.call_later(HANDSHAKE_TIMEOUT_S, self._request_timed_out)

    def _disarm_request_timer(self) -> None:
        timer = getattr(self, "_request_timer", None)
        if timer is not None:
            timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        self._request_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # closed already, or upgraded to a WebSocket
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self.transport.close()
