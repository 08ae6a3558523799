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
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Security, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from chorus import __version__
from chorus.config import ChorusConfig
from chorus.gateway.core import Gateway, Grant, Refusal
from chorus.gateway.creation import CreationLimiter
from chorus.gateway.models import (
    JoinGrant,
    JoinRequest,
    NodeInstructions,
    NodeOut,
    NodeRegistration,
    NodeReport,
    Overloaded,
    Presence,
    Problem,
    Promotion,
    Shed,
    SpaceCreate,
    SpaceCreated,
    SpaceOut,
    StatusOut,
    UpstreamGrant,
    UpstreamRequest,
    UserAction,
)
from chorus.gateway.presence import PresenceHub
from chorus.gateway.spaces import HOST_SECRET_HEADER, Space, SpaceError
from chorus.httpguard import install_guards
from chorus.logs import log_event
from chorus.operator import OPERATOR_RESPONSES, OperatorOnly
from chorus.metrics import GatewayMetrics, watch_event_loop_lag
from chorus.tokens import SigningKeyError, TokenError, resolve_signing_key, verify_node_token, verify_service_token

SWEEP_INTERVAL_S = 0.5
"""How often the gateway expires sessions, notices stale nodes and refreshes gauges."""

HOST_SECRET_SCHEME = APIKeyHeader(
    name=HOST_SECRET_HEADER,
    scheme_name="HostSecret",
    description="The host secret returned once when the space was created (`host_secret`). `chorusctl` keeps it "
    "for the user who created the space.",
    auto_error=False,
)
"""The host's credential: proves the caller is the space's host, whatever user name it gives."""

NODE_SCHEME = HTTPBearer(
    scheme_name="NodeToken",
    description="A node token: `Authorization: Bearer` and a short JWT a fan-out node signs with the shared key.",
    auto_error=False,
)
"""The fan-out nodes' credential for their own calls (register, report, upstream)."""

HostSecret = Annotated[str | None, Security(HOST_SECRET_SCHEME)]
"""A route parameter holding the host secret a request carried, if any."""

PRESENCE_MAX_MESSAGE_BYTES = 4096
"""Largest WebSocket message the gateway reads (clients send nothing on the presence socket)."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "The user may not do this (for the host's actions: no valid host secret)."},
    404: {"model": Problem, "description": "No such space."},
    410: {"model": Problem, "description": "The space has ended."},
}


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
        The FastAPI app; `app.state.gateway` is its `chorus.gateway.core.Gateway`.
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
    app.state.operator_key = lambda: gateway.key_or_none
    install_guards(app, config.gateway.max_body_bytes)
    creation = CreationLimiter(config.gateway)
    operations = APIRouter(dependencies=[OperatorOnly], responses=OPERATOR_RESPONSES)

    def space_out(space: Space) -> SpaceOut:
        presence = Presence(space=space.id, tick=hub.tick, **gateway.presence(space.id))
        return SpaceOut(
            id=space.id, title=space.title, host=space.host, live=space.live, created_at=space.created_at,
            ended_at=space.ended_at, speakers=list(space.speakers), hands=list(space.hands), node=space.node,
            presence=presence,
        )


    # ------------------------------------------------------------- spaces

    @app.post("/v1/spaces", status_code=201, response_model=SpaceCreated, tags=["spaces"], summary="Create a space",
              responses={
                  429: {"model": Overloaded, "description": "This client creates spaces too fast; retry after `Retry-After`."},
                  503: {"model": Overloaded, "description": "Too many live spaces; retry after `Retry-After`."},
              })
    async def create_space(body: SpaceCreate, request: Request) -> Any:
        """Create a live space; the `host` becomes its host, and the answer carries its host secret (once).
        Bounded per client (`gateway.space_create_rate_per_s`, `gateway.space_create_burst`) and in
        total (`gateway.max_live_spaces`)."""
        client = request.client.host if request.client else "unknown"
        refusal = creation.check(client, len(gateway.spaces.all()))
        if refusal is not None:
            gateway.metrics.space_creations_shed.labels(status=str(refusal.status)).inc()
            return JSONResponse({"detail": refusal.detail}, status_code=refusal.status,
                                headers={"Retry-After": refusal.retry_after_header})
        space, secret = gateway.spaces.create_with_secret(body.title, body.host)
        log_event(gateway.log, "space_created", space=space.id, host=space.host)
        return SpaceCreated(**space_out(space).model_dump(), host_secret=secret)

    @app.get("/v1/spaces", response_model=list[SpaceOut], tags=["spaces"], summary="List spaces")
    async def list_spaces(include_ended: bool = False) -> list[SpaceOut]:
        """List live spaces (and ended ones with `include_ended=true`), oldest first."""
        return [space_out(s) for s in gateway.spaces.all(include_ended)]

    @app.get("/v1/spaces/{space_id}", response_model=SpaceOut, tags=["spaces"], summary="Get a space",
             responses={404: _ERRORS[404]})
    async def get_space(space_id: str) -> SpaceOut:
        """One space with its roles and presence counts."""
        return space_out(_or_http(lambda: gateway.spaces.get(space_id)))

    @app.post("/v1/spaces/{space_id}/end", response_model=SpaceOut, tags=["spaces"], summary="End a space",
              responses={k: _ERRORS[k] for k in (403, 404, 410)})
    async def end_space(space_id: str, body: UserAction, host_secret: HostSecret = None) -> SpaceOut:
        """End a space (host only: its host secret); its fan-out nodes close its connections at their next report."""
        return space_out(_or_http(lambda: gateway.end_space(space_id, host_secret)))

    @app.post("/v1/spaces/{space_id}/hands", response_model=SpaceOut, tags=["spaces"], summary="Raise a hand",
              responses={k: _ERRORS[k] for k in (404, 410)})
    async def raise_hand(space_id: str, body: UserAction) -> SpaceOut:
        """Ask to speak; the host sees raised hands in order."""
        return space_out(_or_http(lambda: gateway.spaces.raise_hand(space_id, body.user)))

    @app.post("/v1/spaces/{space_id}/speakers", response_model=SpaceOut, tags=["spaces"],
              summary="Promote a user to speaker", responses={k: _ERRORS[k] for k in (403, 404, 410)})
    async def promote(space_id: str, body: Promotion, host_secret: HostSecret = None) -> SpaceOut:
        """The host (proved by its host secret) makes `user` a speaker; the user can then join with role `speaker`."""
        return space_out(_or_http(lambda: gateway.spaces.promote(space_id, body.user, host_secret)))

    @app.post(
        "/v1/spaces/{space_id}/join",
        response_model=JoinGrant,
        tags=["spaces"],
        summary="Join a space",
        responses={
            503: {"model": Shed, "description": "Shed by admission control; retry after `Retry-After` seconds.",
                  "headers": {"Retry-After": {"description": "Seconds to wait (jittered).", "schema": {"type": "integer"}}}},
            **{k: _ERRORS[k] for k in (403, 404, 410)},
        },
    )
    async def join(
        space_id: str,
        body: JoinRequest,
        authorization: Annotated[str, Header(description="Only for role `packager`: `Bearer` and the packager's "
                                             "service token.", max_length=4096)] = "",
        host_secret: Annotated[str | None, Header(alias=HOST_SECRET_HEADER, max_length=256,
                                                  description="Only for role `host`: the space's host secret.")] = None,
    ) -> Any:
        """Ask to join. Admitted: a join token and the fan-out node to connect to. Over capacity:
        `503` with a jittered `Retry-After`; hosts, speakers and the packager are admitted ahead of listeners.
        Role `host` needs the space's host secret."""
        outcome = gateway.join(space_id, body.user, body.role, body.reconnect, _service(authorization, gateway.key),
                               body.ticket, host_secret)
        if isinstance(outcome, Grant):
            return JoinGrant(
                space=space_id, session=outcome.session.id, user=body.user, role=body.role, node=outcome.node.id,
                url=outcome.url, token=outcome.token, expires_at=outcome.expires_at,
            )
        return _refusal_response(outcome)

    @app.get("/v1/spaces/{space_id}/presence", response_model=Presence, tags=["spaces"], summary="Presence now",
             responses={404: _ERRORS[404]})
    async def presence(space_id: str) -> Presence:
        """Aggregate counts of a space now (subscribe to `/v1/spaces/{space_id}/presence/ws` for one message per tick)."""
        _or_http(lambda: gateway.spaces.get(space_id))
        return Presence(space=space_id, tick=hub.tick, **gateway.presence(space_id))

    @app.websocket("/v1/spaces/{space_id}/presence/ws")
    async def presence_ws(socket: WebSocket, space_id: str) -> None:
        """One aggregate presence message per tick until the client leaves."""
        try:
            gateway.spaces.get(space_id)
        except SpaceError:
            await socket.close(code=4404, reason="no such space")
            return
        await socket.accept()
        hub.subscribe(space_id, socket)
        gateway.metrics.presence_connections.set(hub.connections)
        try:
            await socket.send_text(hub.message(space_id))
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    await socket.close(code=1003, reason="the presence socket takes no binary frames")
                    break
        except WebSocketDisconnect:
            pass
        finally:
            hub.unsubscribe(space_id, socket)
            gateway.metrics.presence_connections.set(hub.connections)

    # ------------------------------------------------------------- nodes

    @app.post("/v1/nodes", response_model=NodeOut, tags=["nodes"], summary="Register a fan-out node",
              responses={401: {"model": Problem, "description": "Bad node token."}})
    async def register_node(body: NodeRegistration, node_id: NodeId) -> NodeOut:
        """A fan-out node announces itself (authenticated with a node token)."""
        if node_id != body.node:
            raise HTTPException(403, f"a token for {node_id} cannot register {body.node}")
        node = gateway.register_node(body.node, body.role, body.url, body.listener_cap)
        return NodeOut(**gateway.node_view(node))

    @app.post("/v1/nodes/{node}/report", response_model=NodeInstructions, tags=["nodes"],
              summary="Report a node's load", responses={404: {"model": Problem, "description": "Register first."}})
    async def report(node: str, body: NodeReport, node_id: NodeId) -> NodeInstructions:
        """A node's periodic load report; the answer says whether to drain and which spaces ended."""
        if node_id != node:
            raise HTTPException(403, f"a token for {node_id} cannot report for {node}")
        instructions = gateway.report(node, body.model_dump())
        if instructions is None:
            raise HTTPException(404, f"node {node} is not registered; register first")
        return NodeInstructions(**instructions)

    @app.post(
        "/v1/nodes/{node}/upstream",
        response_model=UpstreamGrant,
        tags=["nodes"],
        summary="Subscribe an edge node to a space",
        responses={
            401: {"model": Problem, "description": "Bad node token."},
            403: {"model": Problem, "description": "The node is not an edge."},
            404: _ERRORS[404],
            409: {"model": Problem, "description": "The node is not registered; register first."},
            410: _ERRORS[410],
            503: {"model": Shed, "description": "No origin node is usable for the space; retry after `Retry-After` seconds."},
        },
    )
    async def upstream(node: str, body: UpstreamRequest, node_id: NodeId) -> Any:
        """An edge node asks where to subscribe to a space it has listeners for: the space's origin
        node and a join token with role `edge` for it (the cascade)."""
        if node_id != node:
            raise HTTPException(403, f"a token for {node_id} cannot subscribe for {node}")
        outcome = gateway.upstream(node, body.space)
        if isinstance(outcome, Refusal):
            return _refusal_response(outcome)
        return UpstreamGrant(space=outcome.space, origin=outcome.origin.id, url=outcome.url, token=outcome.token,
                             expires_at=outcome.expires_at)

    @operations.get("/v1/nodes", response_model=list[NodeOut], tags=["nodes"], summary="List fan-out nodes")
    async def list_nodes() -> list[NodeOut]:
        """Every registered node with its state and load."""
        return [NodeOut(**n) for n in gateway.status()["nodes"]]

    @operations.get("/v1/nodes/{node}", response_model=NodeOut, tags=["nodes"], summary="Get a fan-out node",
             responses={404: {"model": Problem, "description": "No such node."}})
    async def get_node(node: str) -> NodeOut:
        """One node with its state and load."""
        return NodeOut(**gateway.node_view(_node_or_404(gateway, node)))

    @operations.post("/v1/nodes/{node}/drain", response_model=NodeOut, tags=["nodes"], summary="Drain a fan-out node",
              responses={404: {"model": Problem, "description": "No such node."}})
    async def drain(node: str) -> NodeOut:
        """Stop placing clients on the node and tell it to drain: it accepts no one new and asks its
        clients to reconnect through the gateway, which places them elsewhere."""
        _node_or_404(gateway, node)
        return NodeOut(**gateway.node_view(gateway.set_drain(node, True)))

    @operations.post("/v1/nodes/{node}/resume", response_model=NodeOut, tags=["nodes"], summary="Resume a drained node",
              responses={404: {"model": Problem, "description": "No such node."}})
    async def resume(node: str) -> NodeOut:
        """Let a drained node accept clients again."""
        _node_or_404(gateway, node)
        return NodeOut(**gateway.node_view(gateway.set_drain(node, False)))

    # ------------------------------------------------------------- operations

    @operations.get("/v1/status", response_model=StatusOut, tags=["operations"], summary="Stack status")
    async def status() -> StatusOut:
        """Spaces, sessions, admission and every node, as the gateway sees them."""
        return StatusOut(**gateway.status())

    @app.get("/healthz", response_class=PlainTextResponse, tags=["operations"], summary="Liveness")
    async def healthz() -> str:
        """`ok` while the process serves requests."""
        return "ok\n"

    @app.get("/readyz", response_class=PlainTextResponse, tags=["operations"], summary="Readiness",
             responses={503: {"description": "Not ready: starting, or a background task stopped."}})
    async def readyz() -> Response:
        """Ready when the signing key is loaded and the presence and sweep tasks run."""
        ready = gateway.issuer is not None and bool(tasks) and not any(t.done() for t in tasks)
        return PlainTextResponse("ready\n" if ready else "not ready\n", status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             responses={200: {"content": {"text/plain": {}}, "description": "Metrics in the Prometheus text format."}})
    async def metrics() -> Response:
        """Every `chorus_gateway_*` metric, in the Prometheus text format (open: counts by node id and space
        id, never a URL, a user, a title or a secret)."""
        gateway.refresh_metrics()
        return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(operations)
    return app


async def _authenticated_node(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(NODE_SCHEME)]
) -> str:
    """The node id a request's node token authenticates, or a 401."""
    token = credentials.credentials if credentials is not None else ""
    gateway: Gateway = request.app.state.gateway
    try:
        return verify_node_token(token, gateway.key)
    except TokenError as exc:
        gateway.node_token_refused(exc.reason, request.url.path)
        raise HTTPException(401, f"node token refused: {exc}") from None


def _service(authorization: str, key: bytes) -> str | None:
    """The service a request's `Authorization: Bearer` service token authenticates, or `None`."""
    token = authorization[len("Bearer "):].strip() if authorization.startswith("Bearer ") else ""
    try:
        return verify_service_token(token, key) if token else None
    except TokenError:
        return None


NodeId = Annotated[str, Depends(_authenticated_node)]
"""A route parameter holding the authenticated node's id."""


def _refusal_response(refusal: Refusal) -> JSONResponse:
    """A refusal as a response: 503 with a jittered `Retry-After` when shed, else the 4xx and its detail."""
    if refusal.shed:
        shed = Shed(detail=refusal.detail, reason=refusal.reason, retry_after_s=round(refusal.retry_after_s, 3))
        return JSONResponse(shed.model_dump(), status_code=503,
                            headers={"Retry-After": str(max(1, math.ceil(refusal.retry_after_s)))})
    return JSONResponse({"detail": refusal.detail}, status_code=refusal.status)


def _or_http(action: Any) -> Any:
    """Run `action`, turning a `SpaceError` into the matching HTTP error."""
    try:
        return action()
    except SpaceError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def _node_or_404(gateway: Gateway, node: str) -> Any:
    """The registered node `node`, or a 404."""
    found = gateway.placement.nodes.get(node)
    if found is None:
        known = ", ".join(sorted(gateway.placement.nodes)) or "none registered"
        raise HTTPException(404, f"no node {node!r}; nodes: {known}")
    return found


async def _sweep_forever(gateway: Gateway) -> None:
    """Run `Gateway.sweep` every `SWEEP_INTERVAL_S`."""
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        gateway.sweep()
