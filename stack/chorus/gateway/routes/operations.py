"""Routes for operators: stack status, the fan-out nodes, drain and resume.

The whole router needs an operator token (`OperatorOnly`, security scheme `OperatorToken`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from chorus.gateway.dependencies import GatewayDep, node_or_404
from chorus.gateway.models import NodeOut, Problem, StatusOut
from chorus.operator import OPERATOR_RESPONSES, OperatorOnly

router = APIRouter(dependencies=[OperatorOnly], responses=OPERATOR_RESPONSES)
"""The operations routes (operators only)."""

_NO_SUCH_NODE: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such node."}}


@router.get("/v1/nodes", response_model=list[NodeOut], tags=["nodes"], summary="List fan-out nodes")
async def list_nodes(gateway: GatewayDep) -> list[NodeOut]:
    """Every registered node with its state and load."""
    return [NodeOut(**n) for n in gateway.status()["nodes"]]


@router.get("/v1/nodes/{node}", response_model=NodeOut, tags=["nodes"], summary="Get a fan-out node",
            responses=_NO_SUCH_NODE)
async def get_node(node: str, gateway: GatewayDep) -> NodeOut:
    """One node with its state and load."""
    return NodeOut(**gateway.node_view(node_or_404(gateway, node)))


@router.post("/v1/nodes/{node}/drain", response_model=NodeOut, tags=["nodes"], summary="Drain a fan-out node",
             responses=_NO_SUCH_NODE)
async def drain(node: str, gateway: GatewayDep) -> NodeOut:
    """Stop placing clients on the node and tell it to drain: it accepts no one new and asks its
    clients to reconnect through the gateway, which places them elsewhere."""
    node_or_404(gateway, node)
    return NodeOut(**gateway.node_view(gateway.set_drain(node, True)))


@router.post("/v1/nodes/{node}/resume", response_model=NodeOut, tags=["nodes"], summary="Resume a drained node",
             responses=_NO_SUCH_NODE)
async def resume(node: str, gateway: GatewayDep) -> NodeOut:
    """Let a drained node accept clients again."""
    node_or_404(gateway, node)
    return NodeOut(**gateway.node_view(gateway.set_drain(node, False)))


@router.get("/v1/status", response_model=StatusOut, tags=["operations"], summary="Stack status")
async def status(gateway: GatewayDep) -> StatusOut:
    """Spaces, sessions, admission and every node, as the gateway sees them."""
    return StatusOut(**gateway.status())
