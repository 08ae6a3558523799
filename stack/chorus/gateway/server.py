"""Serve the gateway app with uvicorn inside a running event loop.

`python -m chorus.gateway` uses it, and so can tests and benchmarks that want a
real gateway on an ephemeral port in their own process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import uvicorn
from prometheus_client import CollectorRegistry

from chorus.config import ChorusConfig
from chorus.gateway.app import create_app
from chorus.gateway.core import Gateway


class GatewayServer:
    """A gateway served on a port.

    Args:
        config: The configuration.
        key: The signing key.
        host: Address to bind; `None` uses `gateway.host`.
        port: Port to bind; `None` uses `gateway.port` (0 takes any free port).
        registry: Metrics registry; `None` creates one.
    """

    def __init__(
        self,
        config: ChorusConfig,
        key: bytes,
        host: str | None = None,
        port: int | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.app = create_app(config, key, registry)
        self.host = host if host is not None else config.gateway.host
        self.port = port if port is not None else config.gateway.port
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app, host=self.host, port=self.port, log_config=None, access_log=False,
                lifespan="on", ws="websockets-sansio", timeout_graceful_shutdown=3,
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def gateway(self) -> Gateway:
        """The gateway's state."""
        return self.app.state.gateway

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:8080`."""
        return f"http://{self.host}:{self.port}"

    async def serve(self, on_started: Callable[[GatewayServer], None] | None = None) -> None:
        """Serve until SIGINT or SIGTERM (uvicorn handles both and shuts down gracefully).

        Args:
            on_started: Called once listening (with the real port if it was 0).
        """

        async def announce() -> None:
            while not self._server.started:
                await asyncio.sleep(0.01)
            self.port = self._server.servers[0].sockets[0].getsockname()[1]
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
                raise RuntimeError(f"the gateway did not start on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving and wait for the task."""
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
