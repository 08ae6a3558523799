"""The gateway's HTTP API: `create_app(config)` builds it, with its OpenAPI document.

Routes, by tag:

- spaces: create, list, get, end a space; raise a hand; promote a speaker; join
  (admission control, placement, a signed join token); presence now, and
  `WS /v1/spaces/{space_id}/presence/ws` for one aggregate message per tick;
- nodes: fan-out registration and load reports (authenticated with node tokens
  signed by the shared key), listing, drain and resume;
- operations: `/healthz` (live), `/readyz` (ready), `/metrics`, `/v1/status`.

Who may call what is declared in the OpenAPI document as security schemes:
`OperatorToken` (`chorus.operator`) for every operations route - status, node
listing, drain, resume; `HostSecret` (returned once at creation) to end a space,
promote a speaker or join as its host; `NodeToken` for the nodes' own calls.
Health, readiness, metrics and the spaces' public views need none. Every request
is bounded (`chorus.httpguard`): body size, no input echoed in errors; space
creation by `chorus.gateway.creation`.

The routes live in routers by caller (`chorus.gateway.routes`), their dependencies
and credentials in `chorus.gateway.dependencies`, their failures in
`chorus.gateway.errors`; this module assembles them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from chorus import __version__
from chorus.config import ChorusConfig
from chorus.gateway.core import Gateway
from chorus.gateway.creation import CreationLimiter
from chorus.gateway.errors import install_error_handlers
from chorus.gateway.presence import PresenceHub
from chorus.gateway.routes import ROUTERS
from chorus.httpguard import install_guards
from chorus.metrics import GatewayMetrics, watch_event_loop_lag
from chorus.tokens import SigningKeyError, resolve_signing_key

SWEEP_INTERVAL_S = 0.5
"""How often the gateway expires sessions, notices stale nodes and refreshes gauges."""

PRESENCE_MAX_MESSAGE_BYTES = 4096
"""Largest WebSocket message the gateway reads (clients send nothing on the presence socket)."""


def create_app(config: ChorusConfig, signing_key: bytes | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    """Build the gateway application.

    Building it starts nothing: background tasks (presence tick, sweeps, loop-lag sampling)
    run while the app is served. The signing key is needed only to serve, so the OpenAPI
    document can be produced without one.

    Args:
        config: The configuration.
        signing_key: The join-token key; `None` resolves it from `gateway.token` at start-up.
        registry: Metrics registry; `None` creates a fresh one.

    Returns:
        The FastAPI app. Its state holds what the routes use: `gateway` (the
        `chorus.gateway.core.Gateway`), `presence` (the `PresenceHub`), `creation` (the
        `CreationLimiter`), `operator_key` and `background_tasks`.
    """
    gateway = Gateway(config, GatewayMetrics(registry or CollectorRegistry()))
    hub = PresenceHub(lambda space: gateway.presence(space), config.gateway.presence_tick_ms / 1000)
    tasks: list[asyncio.Task[None]] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            gateway.set_key(signing_key if signing_key is not None else resolve_signing_key(config.gateway.token))
        except SigningKeyError as exc:
            raise RuntimeError(str(exc)) from None
        tasks.extend(
            asyncio.create_task(coroutine)
            for coroutine in (hub.run(), _sweep_forever(gateway), watch_event_loop_lag(gateway.metrics.event_loop_lag))
        )
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(
        title="Chorus gateway",
        version=__version__,
        summary="The control plane of Chorus: spaces, roles, admission, join tokens, placement, presence.",
        description=(
            "Clients create and join spaces here. An admitted join returns a signed join token and the "
            "fan-out node to connect to; an over-capacity join gets `503` with a jittered `Retry-After`. "
            "Fan-out nodes register and report their load here."
        ),
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.state.presence = hub
    app.state.creation = CreationLimiter(config.gateway)
    app.state.operator_key = lambda: gateway.key_or_none
    app.state.background_tasks = tasks
    install_guards(app, config.gateway.max_body_bytes)
    install_error_handlers(app)
    for router in ROUTERS:
        # The routes themselves, not `include_router`: FastAPI 0.163 matches an included router's routes
        # through it on every request (about 270 more Python calls a request, felt by a join storm). A
        # router's routes are complete already: its dependencies (the operator check), responses and tags
        # are merged into each route when it is declared.
        app.router.routes.extend(router.routes)
    return app


async def _sweep_forever(gateway: Gateway) -> None:
    """Run `Gateway.sweep` every `SWEEP_INTERVAL_S`."""
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        gateway.sweep()
