"""How the gateway's routes fail: exceptions they raise, and the handlers that answer them.

A route raises `SpaceError` (from `chorus.gateway.spaces`) or `Refused` (a join or an
upstream subscription the gateway did not grant); the handlers `install_error_handlers`
adds turn them into the answers the OpenAPI document declares.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chorus.gateway.core import Refusal
from chorus.gateway.models import Problem, Shed
from chorus.gateway.spaces import SpaceError

SPACE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "The user may not do this (for the host's actions: no valid host secret)."},
    404: {"model": Problem, "description": "No such space."},
    410: {"model": Problem, "description": "The space has ended."},
}
"""The error answers of the space routes, as OpenAPI `responses` (pick the ones a route gives)."""


class Refused(Exception):
    """A request the gateway did not grant: shed (503 with `Retry-After`) or rejected (4xx).

    Attributes:
        refusal: The gateway's decision.
    """

    def __init__(self, refusal: Refusal) -> None:
        """Keep the decision.

        Args:
            refusal: The gateway's decision.
        """
        super().__init__(refusal.detail)
        self.refusal = refusal


def refusal_response(refusal: Refusal) -> JSONResponse:
    """A refusal as a response: 503 with a jittered `Retry-After` when shed, else the 4xx and its detail.

    Args:
        refusal: The gateway's decision.

    Returns:
        The response (`Shed` for a 503, `Problem` otherwise).
    """
    if refusal.shed:
        shed = Shed.model_validate({"detail": refusal.detail, "reason": refusal.reason,
                                    "retry_after_s": round(refusal.retry_after_s, 3)})
        return JSONResponse(shed.model_dump(), status_code=503,
                            headers={"Retry-After": str(max(1, math.ceil(refusal.retry_after_s)))})
    return JSONResponse({"detail": refusal.detail}, status_code=refusal.status)


async def _space_error(_request: Request, exc: Exception) -> JSONResponse:
    """A `SpaceError` as its status and detail (404 no such space, 403 not the host, 410 ended...)."""
    assert isinstance(exc, SpaceError)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    """A `Refused` as `refusal_response` answers it."""
    assert isinstance(exc, Refused)
    return refusal_response(exc.refusal)


def install_error_handlers(app: FastAPI) -> None:
    """Answer the gateway's own exceptions.

    Args:
        app: The gateway's app.
    """
    app.add_exception_handler(SpaceError, _space_error)
    app.add_exception_handler(Refused, _refused)
