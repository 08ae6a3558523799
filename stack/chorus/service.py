"""What every Chorus service process does the same way: load config, find the key, run until a signal.

A service's `main` loads the configuration and the signing key first and exits
with code 2 and one line on stderr if either is bad, so a broken configuration
never starts a half-working service. Then it runs its coroutine until SIGINT or
SIGTERM, and stops cleanly. The HTTP services (gateway, packager) serve their
app through one `UvicornServer`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chorus.config import ChorusConfig, ConfigError, load_config
from chorus.httpguard import TimelyH11Protocol
from chorus.logs import log_event
from chorus.tokens import SigningKeyError, check_key_policy, resolve_signing_key

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

INSTANCE_ENV = "CHORUS_INSTANCE"
"""Environment variable naming a service process's instance id (`chorusctl up` sets one per process it starts)."""

INSTANCE_HEADER = "Chorus-Instance"
"""Response header carrying the instance id on every HTTP answer of every service, so a supervisor
can tell its own process from another one answering on the same port."""

_INSTANCE = os.environ.get(INSTANCE_ENV) or f"pid-{os.getpid()}-{secrets.token_hex(4)}"


def instance_id() -> str:
    """This process's instance id: `$CHORUS_INSTANCE`, else one made up when the process started.

    Returns:
        The id.
    """
    return _INSTANCE


def with_instance_header(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI app so every HTTP response carries `INSTANCE_HEADER`.

    Args:
        app: The app.

    Returns:
        The wrapped app (WebSocket and lifespan traffic pass through untouched).
    """
    header = (INSTANCE_HEADER.lower().encode(), instance_id().encode())

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await app(scope, receive, send_with_header)

    return wrapped


class StartupError(Exception):
    """The service cannot start; the message is one line saying why and what to do."""


def service_parser(
    service: str, description: str, *, host_help: str = "address to bind", gateway_option: bool = False
) -> argparse.ArgumentParser:
    """The parser of `python -m chorus.<service>`, with the options every service takes.

    Every service takes `--config`, `--host` and `--port` (defaults from its own
    configuration section, named like the service); a service that talks to the
    gateway also takes `--gateway`.

    Args:
        service: The service's name, which is also its configuration section (`gateway`, `fanout`, `packager`).
        description: One line saying what the command runs.
        host_help: What `--host` is for, before its default.
        gateway_option: Whether to add `--gateway`, the gateway's URL.

    Returns:
        The parser, for the service to add its own options to.
    """
    parser = argparse.ArgumentParser(prog=f"python -m chorus.{service}", description=description)
    parser.add_argument("--config", type=Path, default=None, help="configuration file (default: stack/config/chorus.yaml)")
    parser.add_argument("--host", default=None, help=f"{host_help} (default: {service}.host)")
    parser.add_argument("--port", type=int, default=None, help=f"port to bind (default: {service}.port; 0: any free port)")
    if gateway_option:
        parser.add_argument("--gateway", default=None, help="the gateway's URL (default: from gateway.host and gateway.port)")
    return parser


def load_or_exit(config_path: Path | None, service: str = "", bind_host: str | None = None) -> tuple[ChorusConfig, bytes]:
    """Load the configuration and the signing key, or exit 2 with one line.

    The key must be strong (`chorus.tokens.check_key_strength`), and the key settings must not be
    weakened when the service binds beyond loopback (`chorus.tokens.check_key_policy`).

    Args:
        config_path: The configuration file; `None` for the default.
        service: The service's configuration section (`gateway`, `fanout`, `packager`), whose `host` is
            its bind address unless `bind_host` is given; empty skips the bind check.
        bind_host: The address given on the command line (`--host`), if any.

    Returns:
        The configuration and the key.
    """
    try:
        config = load_config(config_path)
        key = resolve_signing_key(config.gateway.token)
        if service:
            check_key_policy(config.gateway.token, bind_host or getattr(config, service).host)
    except (ConfigError, SigningKeyError) as exc:
        print(f"error: {exc}" if isinstance(exc, SigningKeyError) else str(exc), file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    return config, key


def port_free_or_explain(service: str, host: str, port: int) -> bool:
    """Check that `host:port` can be bound before starting, and say why not in one line.

    Servers that bind deep inside their framework report a taken port as a
    traceback; probing first turns it into a line a person can act on.

    Args:
        service: The service's name, for the message.
        host: The address it will bind.
        port: The port it will bind.

    Returns:
        Whether the port is free; when not, one line has been printed on stderr.
    """
    probe = socket.socket()
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        print(f"error: {service}: cannot listen on {host}:{port}: {exc.strerror}; "
              "is another Chorus running? (chorusctl status)", file=sys.stderr)
        return False
    finally:
        probe.close()
    return True


async def run_until_signal(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
    """Start a service, wait for SIGINT or SIGTERM, then stop it.

    Args:
        start: Coroutine function that starts serving and returns.
        stop: Coroutine function that stops cleanly.

    Raises:
        StartupError: The service could not start (e.g. its port is taken).
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await start()
    except OSError as exc:
        raise StartupError(f"cannot listen: {exc.strerror or exc}; is another Chorus running? (chorusctl status)") from None
    try:
        await stopping.wait()
    finally:
        await stop()


class UvicornServer:
    """An ASGI app served by uvicorn on a port, until a signal or in a task of the running loop.

    The gateway's and the packager's servers are this with their own app and address, served
    with `chorus.httpguard.TimelyH11Protocol` (a request must arrive whole within
    `chorus.httpguard.HANDSHAKE_TIMEOUT_S`, as a handshake must on the fan-out nodes).

    Args:
        name: The service's name, for messages.
        app: The app to serve.
        host: Address to bind.
        port: Port to bind (0 takes any free port; the real one is known once listening).
        **options: Further `uvicorn.Config` options (e.g. `ws`).
    """

    def __init__(self, name: str, app: ASGIApp, host: str, port: int, **options: Any) -> None:
        self.name = name
        self.app = app
        self.host = host
        self.port = port
        self._server = uvicorn.Server(
            uvicorn.Config(
                with_instance_header(app), host=host, port=port, log_config=None, access_log=False,
                lifespan="on", timeout_graceful_shutdown=3, http=TimelyH11Protocol, timeout_keep_alive=5,
                **options,
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:8080`."""
        return f"http://{self.host}:{self.port}"

    def _take_bound_port(self) -> None:
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def serve(self, on_started: Callable[[UvicornServer], None] | None = None) -> None:
        """Serve until SIGINT or SIGTERM (uvicorn handles both and shuts down gracefully).

        Args:
            on_started: Called with this server once listening (with the real port if it was 0).
        """

        async def announce() -> None:
            while not self._server.started:
                await asyncio.sleep(0.01)
            self._take_bound_port()
            if on_started is not None:
                on_started(self)

        watcher = asyncio.create_task(announce())
        try:
            await self._server.serve()
        finally:
            watcher.cancel()

    async def start(self) -> None:
        """Start serving in a task and return once listening (with the real port if it was 0).

        Raises:
            RuntimeError: The server stopped during start-up (e.g. its port is taken).
        """
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                raise RuntimeError(f"the {self.name} did not start on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        self._take_bound_port()

    async def stop(self) -> None:
        """Stop serving and wait for the task."""
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


def serve_http_service(server: UvicornServer, logger: logging.Logger) -> int:
    """Run an HTTP service in this process until SIGINT or SIGTERM.

    Its port is probed first, so a taken port is one line on stderr rather than
    a traceback. `<name>_listening` (with the real URL) is logged once it
    listens, and `<name>_stopped` once serving returns.

    Args:
        server: The service's server, not yet started.
        logger: The service's logger.

    Returns:
        The exit code: 0 after a clean stop, 1 if its port is taken.
    """
    if not port_free_or_explain(server.name, server.host, server.port):
        return EXIT_FAILED
    asyncio.run(server.serve(lambda served: log_event(logger, f"{served.name}_listening", url=served.url)))
    log_event(logger, f"{server.name}_stopped")
    return EXIT_OK
