"""Routes for probes and Prometheus: liveness, readiness and metrics. Public: they need no secret,
and metrics carry counts by node id and space id only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chorus.gateway.dependencies import GatewayDep

router = APIRouter(tags=["operations"])
"""The probe routes."""


@router.get("/healthz", response_class=PlainTextResponse, summary="Liveness")
async def healthz() -> str:
    """`ok` while the process serves requests."""
    return "ok\n"


@router.get("/readyz", response_class=PlainTextResponse, summary="Readiness",
            responses={503: {"description": "Not ready: starting, or a background task stopped."}})
async def readyz(request: Request, gateway: GatewayDep) -> Response:
    """Ready when the signing key is loaded and the presence and sweep tasks run."""
    tasks = request.app.state.background_tasks
    ready = gateway.issuer is not None and bool(tasks) and not any(t.done() for t in tasks)
    return PlainTextResponse("ready\n" if ready else "not ready\n", status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {}}, "description": "Metrics in the Prometheus text format."}})
async def metrics(gateway: GatewayDep) -> Response:
    """Every `chorus_gateway_*` metric, in the Prometheus text format (open: counts by node id and space
    id, never a URL, a user, a title or a secret)."""
    gateway.refresh_metrics()
    return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)
