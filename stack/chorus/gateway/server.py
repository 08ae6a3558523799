"""Serve the gateway app with uvicorn inside a running event loop.

`python -m chorus.gateway` uses it, and so can tests and benchmarks that want a
real gateway on an ephemeral port in their own process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from chorus.config import ChorusConfig
from chorus.gateway.app import PRESENCE_MAX_MESSAGE_BYTES, create_app
from chorus.gateway.core import Gateway
from chorus.service import UvicornServer


class GatewayServer(UvicornServer):
    """A gateway served on a port (serving, starting and stopping as every `UvicornServer`).

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
        super().__init__(
            "gateway",
            create_app(config, key, registry),
            host if host is not None else config.gateway.host,
            port if port is not None else config.gateway.port,
            ws="websockets-sansio",
            ws_max_size=PRESENCE_MAX_MESSAGE_BYTES,
        )

    @property
    def gateway(self) -> Gateway:
        """The gateway's state."""
        gateway: Gateway = getattr(self.app, "state").gateway  # the FastAPI app create_app built
        return gateway
