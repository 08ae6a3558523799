"""Routes for the fan-out nodes' own calls: register, report load, subscribe an edge upstream.

Every route needs a node token (`NodeToken`) for the node it names: a node acts for itself only.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from chorus.gateway.core import Refusal
from chorus.gateway.dependencies import GatewayDep, NodeId
from chorus.gateway.errors import SPACE_ERRORS, Refused
from chorus.gateway.models import (
    NodeInstructions,
    NodeOut,
    NodeRegistration,
    NodeReport,
    Problem,
    Shed,
    UpstreamGrant,
    UpstreamRequest,
)

router = APIRouter(tags=["nodes"])
"""The node routes."""


@router.post("/v1/nodes", response_model=NodeOut, summary="Register a fan-out node",
             responses={401: {"model": Problem, "description": "Bad node token."}})
async def register_node(body: NodeRegistration, node_id: NodeId, gateway: GatewayDep) -> NodeOut:
    """A fan-out node announces itself (authenticated with a node token)."""
    if node_id != body.node:
        raise HTTPException(403, f"a token for {node_id} cannot register {body.node}")
    node = gateway.register_node(body.node, body.role, body.url, body.listener_cap)
    return NodeOut(**gateway.node_view(node))


@router.post("/v1/nodes/{node}/report", response_model=NodeInstructions,
             summary="Report a node's load", responses={404: {"model": Problem, "description": "Register first."}})
async def report(node: str, body: NodeReport, node_id: NodeId, gateway: GatewayDep) -> NodeInstructions:
    """A node's periodic load report; the answer says whether to drain and which spaces ended."""
    if node_id != node:
        raise HTTPException(403, f"a token for {node_id} cannot report for {node}")
    instructions = gateway.report(node, body.model_dump())
    if instructions is None:
        raise HTTPException(404, f"node {node} is not registered; register first")
    return NodeInstructions(**instructions)


@router.post(
    "/v1/nodes/{node}/upstream",
    response_model=UpstreamGrant,
    summary="Subscribe an edge node to a space",
    responses={
        401: {"model": Problem, "description": "Bad node token."},
        403: {"model": Problem, "description": "The node is not an edge."},
        404: SPACE_ERRORS[404],
        409: {"model": Problem, "description": "The node is not registered; register first."},
        410: SPACE_ERRORS[410],
        503: {"model": Shed, "description": "No origin node is usable for the space; retry after `Retry-After` seconds."},
    },
)
async def upstream(node: str, body: UpstreamRequest, node_id: NodeId, gateway: GatewayDep) -> UpstreamGrant:
    """An edge node asks where to subscribe to a space it has listeners for: the space's origin
    node and a join token with role `edge` for it (the cascade)."""
    if node_id != node:
        raise HTTPException(403, f"a token for {node_id} cannot subscribe for {node}")
    outcome = gateway.upstream(node, body.space)
    if isinstance(outcome, Refusal):
        raise Refused(outcome)
    return UpstreamGrant(space=outcome.space, origin=outcome.origin.id, url=outcome.url, token=outcome.token,
                         expires_at=outcome.expires_at)
