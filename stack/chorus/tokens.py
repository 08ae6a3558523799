"""Join tokens: JWTs signed with HMAC-SHA256 by the gateway, verified by fan-out nodes alone.

A token says who may connect (`sub`), to which space (`space`), in which role
(`role`), on which fan-out node (`aud`), as which session (`jti`), until when
(`exp`, with a jittered lifetime). A fan-out node verifies it with the shared key
and never calls the gateway, so the media path keeps working while the control
plane is busy. Fan-out nodes also sign short "node" tokens with the same key to
authenticate their registration and load reports to the gateway, and, when they
drain, a "rejoin ticket" per client that the gateway admits ahead of new joins.
The packager signs a "service" token to join in its own role. An operator's
tools (`chorusctl`) sign an "operator" token (`operator_token`) that every
operations endpoint of every service requires (see `chorus.operator`).

Keys are checked before use (`check_key_strength`): long enough, not guessable
(`MIN_KEY_ENTROPY_BITS`), and never weakened below the defaults when a service
listens beyond loopback (`check_key_policy`).
"""

from __future__ import annotations

import ipaddress
import math
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, get_args
from dataclasses import dataclass
from pathlib import Path

import jwt

from chorus.config import TokenConfig
from chorus.protocol import JoinRole

JOIN_ROLES: tuple[JoinRole, ...] = get_args(JoinRole)
"""Roles a join token may grant. `edge` is an edge node's subscription to a space on its origin
(granted by the gateway to edge nodes only): it receives audio like a listener. `packager` is the
HLS packager's subscription (granted only against its service credential, see `service_token`):
it receives audio like a listener but is admitted ahead of listeners."""

SERVICE_ROLES = ("packager",)
"""Services that authenticate to the gateway with a service credential (`service_token`) to join
in a role of their own; clients, who do not hold the signing key, cannot."""

ALGORITHM = "HS256"
ISSUER = "chorus-gateway"
NODE_AUDIENCE = "chorus-gateway"
REJOIN_AUDIENCE = "chorus-rejoin"
"""Audience of rejoin tickets, so neither a join token nor a node token passes for one."""

REJOIN_TICKET_S = 60.0
"""How long a rejoin ticket stays valid after the draining node hands it out."""

OPERATOR_AUDIENCE = "chorus-operator"
"""Audience of operator tokens, so no other token (join, node, service, rejoin) passes for one."""

OPERATOR_ROLE = "operator"
"""The role an operator token grants: every operations endpoint (drain, resume, detailed status)."""

OPERATOR_TOKEN_S = 300.0
"""Lifetime of an operator token `chorusctl` signs for one command."""

MIN_KEY_ENTROPY_BITS = 96
"""Least estimated entropy of a signing key (its length times the Shannon entropy of its bytes):
`openssl rand -hex 32` gives about 240 bits, `openssl rand -hex 16` about 115, a word repeated to
32 characters about 80, 32 times `a` 0. The estimate is an upper bound for short keys (n bytes
score at most n times log2(n) bits), so a key needs about 24 bytes to pass at all."""

DEFAULT_MIN_KEY_BYTES = 32
"""The default (and, beyond loopback, the least) `gateway.token.min_key_bytes`."""


class SigningKeyError(Exception):
    """No usable signing key; the message says where the key is looked for."""


class SigningKeyMissing(SigningKeyError):
    """No signing key is set at all (as opposed to one that is set but unusable: too short, unreadable)."""


class TokenError(Exception):
    """A token failed verification.

    Attributes:
        reason: One of `chorus.metrics.TOKEN_FAILURE_REASONS`.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class JoinClaims:
    """What a verified join token grants.

    Attributes:
        user: Who joins (`sub`).
        space: The space id.
        role: `host`, `speaker`, `listener` or `edge`.
        node: The fan-out node id it is valid on (`aud`).
        session: The session id (`jti`), reported back to the gateway on connect and disconnect.
        expires_at: Expiry, seconds since the epoch.
    """

    user: str
    space: str
    role: str
    node: str
    session: str
    expires_at: float

    @property
    def publishes(self) -> bool:
        """Whether this role sends audio (hosts and speakers) rather than receiving it."""
        return self.role in ("host", "speaker")


def resolve_signing_key(config: TokenConfig, env: Mapping[str, str] | None = None) -> bytes:
    """Find the signing key: the `key_env` variable first, then `key_file`.

    Args:
        config: The `gateway.token` configuration section.
        env: The environment; `None` uses `os.environ`.

    Returns:
        The key.

    Raises:
        SigningKeyMissing: Neither holds a key.
        SigningKeyError: The file cannot be read, or the key is too short.
    """
    env = os.environ if env is None else env
    key = env.get(config.key_env, "").strip().encode()
    where = f"environment variable {config.key_env}"
    if not key and config.key_file:
        where = f"file {config.key_file}"
        try:
            key = Path(config.key_file).read_bytes().strip()
        except OSError as exc:
            raise SigningKeyError(f"cannot read the signing key {where}: {exc.strerror}") from None
    if not key:
        raise SigningKeyMissing(
            f"no signing key: set the environment variable {config.key_env} (at least "
            f"{config.min_key_bytes} bytes, e.g. `openssl rand -hex 32`) or gateway.token.key_file"
        )
    if len(key) < config.min_key_bytes:
        raise SigningKeyError(f"the signing key in {where} is {len(key)} bytes; use at least {config.min_key_bytes}")
    check_key_strength(key, where)
    return key


def key_entropy_bits(key: bytes) -> float:
    """Estimate a key's entropy: its length times the Shannon entropy of its byte distribution.

    An estimate from the key alone cannot prove a key random, but it refuses what is plainly
    guessable: repeated characters (`aaaa...`), short cycles, a handful of symbols.

    Args:
        key: The key.

    Returns:
        Estimated bits.
    """
    if not key:
        return 0.0
    counts = Counter(key)
    total = len(key)
    per_byte = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_byte * total


def check_key_strength(key: bytes, where: str = "the signing key") -> None:
    """Refuse a guessable key (estimated entropy below `MIN_KEY_ENTROPY_BITS`).

    Args:
        key: The key.
        where: Where it came from, for the message.

    Raises:
        SigningKeyError: The key is guessable; the message says how to make a good one.
    """
    bits = max(0.0, key_entropy_bits(key))
    if bits < MIN_KEY_ENTROPY_BITS:
        raise SigningKeyError(
            f"the signing key in {where} is guessable (about {bits:.0f} bits of entropy, at least "
            f"{MIN_KEY_ENTROPY_BITS} needed); make one with `openssl rand -hex 32`"
        )


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches this machine only (`127.0.0.0/8`, `::1`, `localhost`).

    Args:
        host: The address a service binds to.

    Returns:
        `True` for loopback; `False` for anything else, including `0.0.0.0` and names.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key_policy(config: TokenConfig, bind_host: str) -> None:
    """Refuse weakened key settings when a service listens beyond loopback.

    Lowering `min_key_bytes` below `DEFAULT_MIN_KEY_BYTES` is for experiments on one machine;
    a service reachable from elsewhere must not run with it (a short key is forged offline).

    Args:
        config: The `gateway.token` section.
        bind_host: The address the service binds to.

    Raises:
        SigningKeyError: A weakened setting while binding beyond loopback.
    """
    if config.min_key_bytes < DEFAULT_MIN_KEY_BYTES and not is_loopback(bind_host):
        raise SigningKeyError(
            f"gateway.token.min_key_bytes is {config.min_key_bytes}, below {DEFAULT_MIN_KEY_BYTES}, and the service "
            f"binds to {bind_host} (not loopback): restore min_key_bytes to at least {DEFAULT_MIN_KEY_BYTES} or bind to 127.0.0.1"
        )


def new_signing_key() -> str:
    """A fresh random key (64 hex characters), e.g. for a local `chorusctl up` run."""
    return secrets.token_hex(32)


class TokenIssuer:
    """Signs join tokens with a jittered lifetime.

    Args:
        key: The HMAC key.
        config: Lifetime settings (`ttl_s`, `ttl_jitter_s`).
        rng: Random source for the jitter (a seeded one makes tests repeatable).
    """

    def __init__(self, key: bytes, config: TokenConfig, rng: random.Random | None = None) -> None:
        self._key = key
        self._config = config
        self._rng = rng or random.Random()

    def lifetime_s(self) -> float:
        """One token's lifetime: `ttl_s` plus or minus up to `ttl_jitter_s`, at least 1 s."""
        jitter = self._config.ttl_jitter_s
        return max(1.0, self._config.ttl_s + self._rng.uniform(-jitter, jitter))

    def issue(self, *, user: str, space: str, role: JoinRole, node: str, session: str, now: float | None = None) -> tuple[str, float]:
        """Sign a join token.

        Args:
            user: Who joins.
            space: The space id.
            role: One of `JOIN_ROLES`.
            node: The fan-out node it is valid on.
            session: The session id.
            now: The issue time (seconds since the epoch); `None` means now.

        Returns:
            The token and its expiry (seconds since the epoch).
        """
        issued = time.time() if now is None else now
        expires = issued + self.lifetime_s()
        claims = {
            "iss": ISSUER,
            "sub": user,
            "space": space,
            "role": role,
            "aud": node,
            "jti": session,
            "iat": int(issued),
            "exp": int(expires),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), float(int(expires))


def verify_join_token(token: str | None, key: bytes, node: str, leeway_s: float = 2.0) -> JoinClaims:
    """Verify a join token for this node, locally.

    Args:
        token: The token as received (`None` or empty when missing).
        key: The HMAC key.
        node: This node's id; the token's audience must match it.
        leeway_s: Clock skew tolerated on `exp`, `iat`.

    Returns:
        The claims.

    Raises:
        TokenError: With `reason` one of `missing`, `malformed`, `bad_signature`, `expired`,
            `not_yet_valid`, `wrong_node`, `bad_claims`.
    """
    if not token:
        raise TokenError("missing")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=node,
            issuer=ISSUER,
            leeway=leeway_s,
            options={"require": ["exp", "iat", "sub", "aud", "jti", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("expired") from None
    except jwt.InvalidSignatureError:
        raise TokenError("bad_signature") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("not_yet_valid") from None
    except jwt.InvalidAudienceError:
        raise TokenError("wrong_node") from None
    except (jwt.MissingRequiredClaimError, jwt.InvalidIssuerError) as exc:
        raise TokenError("bad_claims", str(exc)) from None
    except jwt.DecodeError as exc:
        raise TokenError("malformed", str(exc)) from None
    except jwt.InvalidTokenError as exc:
        raise TokenError("bad_claims", str(exc)) from None
    space, role = claims.get("space"), claims.get("role")
    if not isinstance(space, str) or role not in JOIN_ROLES:
        raise TokenError("bad_claims", "space or role missing")
    return JoinClaims(
        user=str(claims["sub"]),
        space=space,
        role=role,
        node=node,
        session=str(claims["jti"]),
        expires_at=float(claims["exp"]),
    )


def node_token(key: bytes, node: str, lifetime_s: float = 60.0) -> str:
    """Sign a short token with which a fan-out node authenticates to the gateway.

    Args:
        key: The shared HMAC key.
        node: The node's id.
        lifetime_s: Validity.

    Returns:
        The token, sent as `Authorization: Bearer ...`.
    """
    now = time.time()
    claims = {"iss": node, "sub": node, "aud": NODE_AUDIENCE, "iat": int(now), "exp": int(now + lifetime_s), "role": "node"}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


@dataclass(frozen=True)
class RejoinTicket:
    """What a verified rejoin ticket says: a draining node vouches that this session was its own.

    Attributes:
        node: The draining node that issued it (`iss`).
        user: Who may rejoin (`sub`).
        space: The space.
        role: The role the session had.
        session: The session on the draining node (`jti`); a ticket is good for one rejoin.
        expires_at: Expiry, seconds since the epoch.
    """

    node: str
    user: str
    space: str
    role: str
    session: str
    expires_at: float


def rejoin_ticket(key: bytes, node: str, claims: JoinClaims, lifetime_s: float = REJOIN_TICKET_S) -> str:
    """Sign a ticket with which a draining node's client rejoins through the gateway ahead of new joins.

    Args:
        key: The shared HMAC key (clients do not hold it, so they cannot make tickets).
        node: The draining node's id.
        claims: The client's join claims on that node.
        lifetime_s: Validity.

    Returns:
        The ticket, sent by the client in its join request's `ticket`.
    """
    now = time.time()
    body = {"iss": node, "sub": claims.user, "aud": REJOIN_AUDIENCE, "space": claims.space, "role": claims.role,
            "jti": claims.session, "iat": int(now), "exp": int(now + lifetime_s)}
    return jwt.encode(body, key, algorithm=ALGORITHM)


def verify_rejoin_ticket(ticket: str, key: bytes) -> RejoinTicket:
    """Verify a rejoin ticket's signature, audience and expiry.

    Args:
        ticket: The ticket as received.
        key: The shared HMAC key.

    Returns:
        What it says (the caller checks it matches the join and the node is draining).

    Raises:
        TokenError: It is malformed, forged, expired or not a rejoin ticket.
    """
    try:
        claims = jwt.decode(ticket, key, algorithms=[ALGORITHM], audience=REJOIN_AUDIENCE, leeway=2.0,
                            options={"require": ["exp", "iss", "sub", "jti"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("expired") from None
    except jwt.InvalidSignatureError:
        raise TokenError("bad_signature") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError("bad_claims", str(exc)) from None
    if not isinstance(claims.get("space"), str) or claims.get("role") not in JOIN_ROLES:
        raise TokenError("bad_claims", "space or role missing")
    return RejoinTicket(str(claims["iss"]), str(claims["sub"]), claims["space"], claims["role"], str(claims["jti"]),
                        float(claims["exp"]))


def service_token(key: bytes, service: str, lifetime_s: float = 60.0) -> str:
    """Sign a short token with which a Chorus service (the packager) authenticates to the gateway.

    Args:
        key: The shared HMAC key.
        service: The service's name, one of `SERVICE_ROLES`.
        lifetime_s: Validity.

    Returns:
        The token, sent as `Authorization: Bearer ...`.
    """
    now = time.time()
    claims = {"iss": service, "sub": service, "aud": NODE_AUDIENCE, "iat": int(now), "exp": int(now + lifetime_s),
              "role": "service"}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def _gateway_bearer_claims(token: str | None, key: bytes) -> dict[str, Any]:
    """The claims of a bearer token addressed to the gateway (a node's or a service's), checked.

    Raises:
        TokenError: The token is missing, or its signature, audience, expiry or subject is wrong.
    """
    if not token:
        raise TokenError("missing")
    try:
        return jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=NODE_AUDIENCE, leeway=2.0, options={"require": ["exp", "sub"]}
        )
    except jwt.InvalidSignatureError:
        raise TokenError("bad_signature", "signed with another key than the gateway's") from None
    except jwt.ExpiredSignatureError:
        raise TokenError("expired") from None
    except jwt.DecodeError as exc:
        raise TokenError("malformed", str(exc)) from None
    except jwt.InvalidTokenError as exc:
        raise TokenError("bad_claims", str(exc)) from None


def verify_service_token(token: str | None, key: bytes) -> str:
    """Verify a service's token.

    Args:
        token: The bearer token.
        key: The shared HMAC key.

    Returns:
        The service it authenticates (one of `SERVICE_ROLES`).

    Raises:
        TokenError: The token is missing or invalid, or names no known service.
    """
    claims = _gateway_bearer_claims(token, key)
    if claims.get("role") != "service" or claims.get("sub") not in SERVICE_ROLES:
        raise TokenError("bad_claims", "not a service token")
    return str(claims["sub"])


def verify_node_token(token: str | None, key: bytes) -> str:
    """Verify a node's token.

    Args:
        token: The bearer token.
        key: The shared HMAC key.

    Returns:
        The node id it authenticates.

    Raises:
        TokenError: The token is missing or invalid.
    """
    claims = _gateway_bearer_claims(token, key)
    if claims.get("role") != "node":
        raise TokenError("bad_claims", "not a node token")
    return str(claims["sub"])


def operator_token(key: bytes, operator: str, lifetime_s: float = OPERATOR_TOKEN_S) -> str:
    """Sign a token with which an operator (`chorusctl`) calls operations endpoints.

    Args:
        key: The shared HMAC key.
        operator: Who operates (recorded in `sub`, logged by the services).
        lifetime_s: Validity.

    Returns:
        The token, sent as `Authorization: Bearer ...`.
    """
    now = time.time()
    claims = {"iss": "chorusctl", "sub": operator, "aud": OPERATOR_AUDIENCE, "role": OPERATOR_ROLE,
              "iat": int(now), "exp": int(now + lifetime_s)}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify_operator_token(token: str | None, key: bytes) -> str:
    """Verify an operator token.

    Args:
        token: The bearer token (`None` or empty when missing).
        key: The shared HMAC key.

    Returns:
        The operator it names (`sub`).

    Raises:
        TokenError: Missing, malformed, forged, expired, or not an operator token.
    """
    if not token:
        raise TokenError("missing")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=OPERATOR_AUDIENCE, leeway=2.0,
                            options={"require": ["exp", "sub", "aud"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("expired") from None
    except jwt.InvalidSignatureError:
        raise TokenError("bad_signature") from None
    except jwt.DecodeError:
        raise TokenError("malformed") from None
    except jwt.InvalidTokenError:
        raise TokenError("bad_claims") from None
    if claims.get("role") != OPERATOR_ROLE:
        raise TokenError("bad_claims", "not an operator token")
    return str(claims["sub"])
