"""What the gateway's routes depend on: who the caller is, and the gateway they act on.

Who may call each route is declared here once, as security schemes the OpenAPI document
lists: `HostSecret` (a space's host), `NodeToken` (a fan-out node's own calls) and, from
`chorus.operator`, `OperatorToken` (operations). A route that takes none of them is public.
The gateway and its presence hub come from the application's state, so the routes live in
routers (`chorus.gateway.routes`) rather than in a closure.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from chorus.gateway.core import Gateway
from chorus.gateway.placement import Node
from chorus.gateway.presence import PresenceHub
from chorus.gateway.spaces import HOST_SECRET_HEADER
from chorus.tokens import TokenError, verify_node_token, verify_service_token

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


def gateway_of(connection: HTTPConnection) -> Gateway:
    """The gateway the application serves (`app.state.gateway`).

    Args:
        connection: The request or WebSocket.

    Returns:
        The gateway.
    """
    gateway: Gateway = connection.app.state.gateway
    return gateway


def hub_of(connection: HTTPConnection) -> PresenceHub:
    """The presence hub the application serves (`app.state.presence`).

    Args:
        connection: The request or WebSocket.

    Returns:
        The hub.
    """
    hub: PresenceHub = connection.app.state.presence
    return hub


# `async`: FastAPI runs a plain-function dependency in a worker thread, a cost on every join.
async def _gateway(connection: HTTPConnection) -> Gateway:
    return gateway_of(connection)


async def _hub(connection: HTTPConnection) -> PresenceHub:
    return hub_of(connection)


GatewayDep = Annotated[Gateway, Depends(_gateway)]
"""A route parameter holding the gateway."""

HubDep = Annotated[PresenceHub, Depends(_hub)]
"""A route parameter holding the presence hub."""


async def authenticated_node(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(NODE_SCHEME)]
) -> str:
    """The node id a request's node token authenticates.

    Args:
        request: The request.
        credentials: Its bearer credentials, if any.

    Returns:
        The node id (the token's subject).

    Raises:
        HTTPException: 401 when the token is missing or does not verify (counted and logged).
    """
    token = credentials.credentials if credentials is not None else ""
    gateway = gateway_of(request)
    try:
        return verify_node_token(token, gateway.key)
    except TokenError as exc:
        gateway.node_token_refused(exc.reason, request.url.path)
        raise HTTPException(401, f"node token refused: {exc}") from None


NodeId = Annotated[str, Depends(authenticated_node)]
"""A route parameter holding the authenticated node's id."""


def service_of(authorization: str, key: bytes) -> str | None:
    """The service a request's `Authorization: Bearer` service token authenticates.

    Args:
        authorization: The header's value (`""` when absent).
        key: The signing key.

    Returns:
        The service's name, or `None` (no token, or one that does not verify).
    """
    token = authorization[len("Bearer "):].strip() if authorization.startswith("Bearer ") else ""
    try:
        return verify_service_token(token, key) if token else None
    except TokenError:
        return None


def node_or_404(gateway: Gateway, node: str) -> Node:
    """A registered node.

    Args:
        gateway: The gateway.
        node: The node id.

    Returns:
        The node.

    Raises:
        HTTPException: 404 naming the nodes that are registered.
    """
    found = gateway.placement.nodes.get(node)
    if found is None:
        known = ", ".join(sorted(gateway.placement.nodes)) or "none registered"
        raise HTTPException(404, f"no node {node!r}; nodes: {known}")
    return found
