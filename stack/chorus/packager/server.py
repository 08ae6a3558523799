"""Serve the packager app with uvicorn, in a process of its own or inside a running event loop."""

from __future__ import annotations

from chorus.packager.app import create_app
from chorus.packager.service import Packager
from chorus.service import UvicornServer


class PackagerServer(UvicornServer):
    """A packager served on a port (serving, starting and stopping as every `UvicornServer`).

    Args:
        packager: The packager.
        host: Address to bind; `None` uses `packager.host`.
        port: Port to bind; `None` uses `packager.port` (0 takes any free port).
    """

    def __init__(self, packager: Packager, host: str | None = None, port: int | None = None) -> None:
        super().__init__(
            "packager",
            create_app(packager),
            host if host is not None else packager.config.packager.host,
            port if port is not None else packager.config.packager.port,
        )
        self.packager = packager
