"""Who may operate Chorus: the operator credential, checked by every service the same way.

Operations - draining and resuming nodes, detailed status (node URLs, session counts, output
paths) - need an **operator token**: a short JWT (`chorus.tokens.operator_token`, role
`operator`, audience `chorus-operator`) signed with the signing key the services share.
`chorusctl` signs one per command when it can read the key (on-call holds it as a secret);
under `chorusctl up` it uses the token the run wrote for it (`chorus.credentials`).

Health (`/healthz`), readiness (`/readyz`) and metrics (`/metrics`) stay open so probes and
Prometheus need no secret: metrics carry counts labelled by node id and space id, never a
URL, a user name, a title or a token.

In the FastAPI apps it is one dependency (`OperatorOnly`) on one security scheme
(`OPERATOR_SCHEME`, declared in the OpenAPI document as `OperatorToken`); the fan-out nodes,
which are not FastAPI apps, call `operator_from_header` themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chorus.tokens import TokenError, verify_operator_token

OPERATOR_SCHEME = HTTPBearer(
    scheme_name="OperatorToken",
    description="An operator token: `Authorization: Bearer` and a JWT with role `operator`, signed with the "
    "shared signing key. `chorusctl` sends one with every operations command; `chorusctl token` prints one "
    "for `curl`.",
    auto_error=False,
)
"""The operator credential's security scheme (in every service's OpenAPI document)."""

KeySource = Callable[[], "bytes | None"]
"""Where a service finds its signing key at request time (`None`: it has none, so nobody operates it)."""

REFUSED = "operator credential required: send `Authorization: Bearer` and an operator token (`chorusctl token`)"
"""The one message of every refusal (it does not say which check failed, nor echo the token)."""


def operator_from_header(authorization: str | None, key: bytes | None) -> str:
    """The operator an `Authorization` header authenticates.

    Args:
        authorization: The header's value (`Bearer <token>`), or `None`.
        key: The service's signing key, or `None` if it has none.

    Returns:
        The operator's name (the token's `sub`).

    Raises:
        TokenError: No header, not a bearer token, no key, or a token that fails verification.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("missing")
    if key is None:
        raise TokenError("bad_signature", "this service has no signing key")
    return verify_operator_token(token.strip(), key)


async def require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(OPERATOR_SCHEME)]
) -> str:
    """FastAPI dependency: the authenticated operator, or `401` with `WWW-Authenticate: Bearer`.

    The app says where its key is with `app.state.operator_key` (a `KeySource`).

    Args:
        request: The request.
        credentials: The bearer credentials, if any.

    Returns:
        The operator's name.

    Raises:
        HTTPException: 401, the same message whatever failed.
    """
    key_source: KeySource = request.app.state.operator_key
    header = f"{credentials.scheme} {credentials.credentials}" if credentials is not None else None
    try:
        return operator_from_header(header, key_source())
    except TokenError:
        raise HTTPException(401, REFUSED, headers={"WWW-Authenticate": "Bearer"}) from None


OperatorOnly = Depends(require_operator)
"""Put in a router's or a route's `dependencies` to make it operators-only."""

OPERATOR_RESPONSES: dict[int | str, dict[str, str]] = {401: {"description": "No valid operator token."}}
"""The extra response every operators-only route declares."""
