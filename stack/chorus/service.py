"""What every Chorus service process does the same way: load config, find the key, run until a signal.

A service's `main` loads the configuration and the signing key first and exits
with code 2 and one line on stderr if either is bad, so a broken configuration
never starts a half-working service. Then it runs its coroutine until SIGINT or
SIGTERM, and stops cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from chorus.config import ChorusConfig, ConfigError, load_config
from chorus.tokens import SigningKeyError, resolve_signing_key

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class StartupError(Exception):
    """The service cannot start; the message is one line saying why and what to do."""


def load_or_exit(config_path: Path | None) -> tuple[ChorusConfig, bytes]:
    """Load the configuration and the signing key, or exit 2 with one line.

    Args:
        config_path: The configuration file; `None` for the default.

    Returns:
        The configuration and the key.
    """
    try:
        config = load_config(config_path)
        key = resolve_signing_key(config.gateway.token)
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
