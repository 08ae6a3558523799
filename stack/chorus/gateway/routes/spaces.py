"""Routes for clients: spaces, roles, joins and presence.

Public, except the host's actions - end a space, promote a speaker, join as `host` - which
need the space's host secret (`HostSecret`), and a join as `packager`, which needs the
packager's service token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from chorus.gateway.core import Gateway, Refusal
from chorus.gateway.dependencies import GatewayDep, HostSecret, HubDep, gateway_of, hub_of, service_of
from chorus.gateway.errors import SPACE_ERRORS, Refused
from chorus.gateway.models import (
    JoinGrant,
    JoinRequest,
    Overloaded,
    Presence,
    Promotion,
    Shed,
    SpaceCreate,
    SpaceCreated,
    SpaceOut,
    UserAction,
)
from chorus.gateway.presence import PresenceHub
from chorus.gateway.spaces import HOST_SECRET_HEADER, Space, SpaceError
from chorus.logs import log_event

router = APIRouter(tags=["spaces"])
"""The space routes."""


def space_view(gateway: Gateway, hub: PresenceHub, space: Space) -> SpaceOut:
    """A space as the API shows it, with its presence counts now.

    Args:
        gateway: The gateway.
        hub: The presence hub (for the current tick).
        space: The space.

    Returns:
        The space's view.
    """
    presence = Presence(space=space.id, tick=hub.tick, **gateway.presence(space.id))
    return SpaceOut(
        id=space.id, title=space.title, host=space.host, live=space.live, created_at=space.created_at,
        ended_at=space.ended_at, speakers=list(space.speakers), hands=list(space.hands), node=space.node,
        presence=presence,
    )


@router.post("/v1/spaces", status_code=201, response_model=SpaceCreated, summary="Create a space",
             responses={
                 429: {"model": Overloaded, "description": "This client creates spaces too fast; retry after `Retry-After`."},
                 503: {"model": Overloaded, "description": "Too many live spaces; retry after `Retry-After`."},
             })
async def create_space(body: SpaceCreate, request: Request, gateway: GatewayDep, hub: HubDep) -> Any:
    """Create a live space; the `host` becomes its host, and the answer carries its host secret (once).
    Bounded per client (`gateway.space_create_rate_per_s`, `gateway.space_create_burst`) and in
    total (`gateway.max_live_spaces`)."""
    client = request.client.host if request.client else "unknown"
    refusal = request.app.state.creation.check(client, len(gateway.spaces.all()))
    if refusal is not None:
        gateway.metrics.space_creations_shed.labels(status=str(refusal.status)).inc()
        return JSONResponse({"detail": refusal.detail}, status_code=refusal.status,
                            headers={"Retry-After": refusal.retry_after_header})
    space, secret = gateway.spaces.create_with_secret(body.title, body.host)
    log_event(gateway.log, "space_created", space=space.id, host=space.host)
    return SpaceCreated(**space_view(gateway, hub, space).model_dump(), host_secret=secret)


@router.get("/v1/spaces", response_model=list[SpaceOut], summary="List spaces")
async def list_spaces(gateway: GatewayDep, hub: HubDep, include_ended: bool = False) -> list[SpaceOut]:
    """List live spaces (and ended ones with `include_ended=true`), oldest first."""
    return [space_view(gateway, hub, s) for s in gateway.spaces.all(include_ended)]


@router.get("/v1/spaces/{space_id}", response_model=SpaceOut, summary="Get a space",
            responses={404: SPACE_ERRORS[404]})
async def get_space(space_id: str, gateway: GatewayDep, hub: HubDep) -> SpaceOut:
    """One space with its roles and presence counts."""
    return space_view(gateway, hub, gateway.spaces.get(space_id))


@router.post("/v1/spaces/{space_id}/end", response_model=SpaceOut, summary="End a space",
             responses={k: SPACE_ERRORS[k] for k in (403, 404, 410)})
async def end_space(space_id: str, body: UserAction, gateway: GatewayDep, hub: HubDep,
                    host_secret: HostSecret = None) -> SpaceOut:
    """End a space (host only: its host secret); its fan-out nodes close its connections at their next report."""
    return space_view(gateway, hub, gateway.end_space(space_id, host_secret))


@router.post("/v1/spaces/{space_id}/hands", response_model=SpaceOut, summary="Raise a hand",
             responses={k: SPACE_ERRORS[k] for k in (404, 410)})
async def raise_hand(space_id: str, body: UserAction, gateway: GatewayDep, hub: HubDep) -> SpaceOut:
    """Ask to speak; the host sees raised hands in order."""
    return space_view(gateway, hub, gateway.spaces.raise_hand(space_id, body.user))


@router.post("/v1/spaces/{space_id}/speakers", response_model=SpaceOut,
             summary="Promote a user to speaker", responses={k: SPACE_ERRORS[k] for k in (403, 404, 410)})
async def promote(space_id: str, body: Promotion, gateway: GatewayDep, hub: HubDep,
                  host_secret: HostSecret = None) -> SpaceOut:
    """The host (proved by its host secret) makes `user` a speaker; the user can then join with role `speaker`."""
    return space_view(gateway, hub, gateway.spaces.promote(space_id, body.user, host_secret))


@router.post(
    "/v1/spaces/{space_id}/join",
    response_model=JoinGrant,
    summary="Join a space",
    responses={
        503: {"model": Shed, "description": "Shed by admission control; retry after `Retry-After` seconds.",
              "headers": {"Retry-After": {"description": "Seconds to wait (jittered).", "schema": {"type": "integer"}}}},
        **{k: SPACE_ERRORS[k] for k in (403, 404, 410)},
    },
)
async def join(
    space_id: str,
    body: JoinRequest,
    gateway: GatewayDep,
    authorization: Annotated[str, Header(description="Only for role `packager`: `Bearer` and the packager's "
                                         "service token.", max_length=4096)] = "",
    host_secret: Annotated[str | None, Header(alias=HOST_SECRET_HEADER, max_length=256,
                                              description="Only for role `host`: the space's host secret.")] = None,
) -> JoinGrant:
    """Ask to join. Admitted: a join token and the fan-out node to connect to. Over capacity:
    `503` with a jittered `Retry-After`; hosts, speakers and the packager are admitted ahead of listeners.
    Role `host` needs the space's host secret."""
    outcome = gateway.join(space_id, body.user, body.role, body.reconnect, service_of(authorization, gateway.key),
                           body.ticket, host_secret)
    if isinstance(outcome, Refusal):
        raise Refused(outcome)
    return JoinGrant(
        space=space_id, session=outcome.session.id, user=body.user, role=body.role, node=outcome.node.id,
        url=outcome.url, token=outcome.token, expires_at=outcome.expires_at,
    )


@router.get("/v1/spaces/{space_id}/presence", response_model=Presence, summary="Presence now",
            responses={404: SPACE_ERRORS[404]})
async def presence(space_id: str, gateway: GatewayDep, hub: HubDep) -> Presence:
    """Aggregate counts of a space now (subscribe to `/v1/spaces/{space_id}/presence/ws` for one message per tick)."""
    gateway.spaces.get(space_id)
    return Presence(space=space_id, tick=hub.tick, **gateway.presence(space_id))


@router.websocket("/v1/spaces/{space_id}/presence/ws")
async def presence_ws(socket: WebSocket, space_id: str) -> None:
    """One aggregate presence message per tick until the client leaves."""
    gateway, hub = gateway_of(socket), hub_of(socket)
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
