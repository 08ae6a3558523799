"""Serve the packager app with uvicorn, in a process of its own or inside a running event loop."""

from __future__ import annotations

import asyncio

import uvicorn

from chorus.packager.app import create_app
from chorus.packager.service import Packager


class PackagerServer:
    """A packager served on a port.

    Args:
        packager: The packager.
        host: Address to bind; `None` uses `packager.host`.
        port: Port to bind; `None` uses `packager.port` (0 takes any free port).
    """

    def __init__(self, packager: Packager, host: str | None = None, port: int | None = None) -> None:
        self.packager = packager
        self.app = create_app(packager)
        self.host = host if host is not None else packager.config.packager.host
        self.port = port if port is not None else packager.config.packager.port
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host=self.host, port=self.port, log_config=None, access_log=False,
                           lifespan="on", timeout_graceful_shutdown=3)
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:8070`."""
        return f"http://{self.host}:{self.port}"

    async def serve(self) -> None:
        """Serve until SIGINT or SIGTERM (uvicorn handles both and shuts down gracefully)."""
        await self._server.serve()

    async def start(self) -> None:
        """Start serving in a task and return once listening (with the real port if it was 0).

        Raises:
            RuntimeError: The server stopped during start-up (e.g. its port is taken).
        """
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                raise RuntimeError(f"the packager did not start on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving and wait for the task."""
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
