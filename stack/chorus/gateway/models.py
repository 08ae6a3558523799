"""The shapes of the gateway's HTTP API (they make its OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chorus.protocol import NodeRole, ReconnectReason, Role
from chorus.text import NO_CONTROL_PATTERN

UserName = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$", description="A user name.")


class Problem(BaseModel):
    """An error."""

    detail: str = Field(description="What went wrong and what to do.")


class Shed(BaseModel):
    """A join shed by admission control (HTTP 503); come back after `retry_after_s`."""

    detail: str = Field(description="Why the join was shed.")
    reason: Literal["rate", "sessions", "capacity"] = Field(
        description="`rate`: the token bucket is empty; `sessions`: the session cap is reached; "
        "`capacity`: no fan-out node has room for the space."
    )
    retry_after_s: float = Field(description="Jittered delay before retrying (the `Retry-After` header, in finer grain).")


class SpaceCreate(BaseModel):
    """A request to create a space."""

    title: str = Field(min_length=1, max_length=200, pattern=NO_CONTROL_PATTERN,
                       description="The space's title: no control characters (ESC, BEL, CR, NUL, bidi overrides...).")
    host: str = UserName


class UserAction(BaseModel):
    """A request made by a user (raise a hand, end a space)."""

    user: str = UserName


class Promotion(BaseModel):
    """The host promotes a user to speaker."""

    user: str = UserName
    by: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$",
                    description="The user asking, for the record; the host secret, not this name, proves it is the host.")


class Presence(BaseModel):
    """Aggregate counts of a space."""

    space: str = Field(description="The space id.")
    tick: int = Field(description="The presence tick these counts belong to.")
    listeners: int = Field(description="Listener sessions.")
    speakers: int = Field(description="Host and speaker sessions.")
    hands: int = Field(description="Raised hands.")
    live: bool = Field(description="Whether the space has not ended.")


class SpaceOut(BaseModel):
    """A space."""

    id: str = Field(description="The space id.")
    title: str = Field(description="Its title.")
    host: str = Field(description="Its host.")
    live: bool = Field(description="Whether it has not ended.")
    created_at: float = Field(description="Creation time, seconds since the epoch.")
    ended_at: float | None = Field(None, description="End time, or null while live.")
    speakers: list[str] = Field(description="Users promoted to speaker.")
    hands: list[str] = Field(description="Users with a raised hand, in order.")
    node: str | None = Field(None, description="The fan-out node its speakers use, once someone joined.")
    presence: Presence = Field(description="Aggregate counts now.")


class SpaceCreated(SpaceOut):
    """A space just created, with its host secret (shown this once)."""

    host_secret: str = Field(
        description="The space's host secret: send it in `X-Chorus-Host-Secret` to end the space, promote "
        "speakers or join as its host. The gateway keeps only a digest and never shows it again."
    )



class JoinRequest(BaseModel):
    """A request to join a space."""

    user: str = UserName
    role: Role = Field(
        "listener",
        description="The role asked for: host (the host only), speaker (promoted users), listener; packager is the "
        "HLS packager's own role, granted only with its service token in `Authorization` (it is admitted ahead of "
        "listeners, so a join storm cannot cut the HLS feed).",
    )
    reconnect: ReconnectReason | None = Field(
        None,
        description="Set when the client joins again after losing its media connection, to say why: `drain` "
        "(its node told it to reconnect), `network` (the connection dropped), `unknown`. Counted in "
        "`chorus_gateway_reconnects_total`; a first join leaves it out.",
    )
    ticket: str | None = Field(
        None,
        max_length=2048,
        description="The rejoin ticket a draining node handed out with its `reconnect` instruction. A valid, "
        "unused ticket for this user, space and role from a node that is draining is admitted ahead of new "
        "joins (no admission token, no session-cap check): a drain moves listeners already admitted. "
        "Anything else is ignored and the join is admitted as usual.",
    )


class JoinGrant(BaseModel):
    """An admitted join: where to connect and the token to connect with."""

    space: str = Field(description="The space id.")
    session: str = Field(description="The session id.")
    user: str = Field(description="Who joined.")
    role: Role = Field(description="The role granted.")
    node: str = Field(description="The fan-out node to connect to.")
    url: str = Field(description="The media WebSocket URL on that node; append `?token=` and the token.")
    token: str = Field(description="The signed join token (JWT, HS256).")
    expires_at: float = Field(description="When the token expires, seconds since the epoch (jittered).")


class NodeRegistration(BaseModel):
    """A fan-out node announcing itself."""

    node: str = Field(min_length=1, max_length=64, description="The node's id.")
    role: NodeRole = Field("origin", description="The node's role.")
    url: str = Field(min_length=1, description="Its WebSocket base URL.")
    listener_cap: int = Field(ge=1, description="Its listener cap.")


class SpaceLoad(BaseModel):
    """A space's load on one node."""

    listeners: int = Field(ge=0, description="Listeners.")
    speakers: int = Field(ge=0, description="Hosts and speakers.")


class ReportedSession(BaseModel):
    """A session connected to the reporting node."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=64, description="The session id (the join token's `jti`).")
    space: str = Field(min_length=1, max_length=64, description="The space id.")
    user: str = Field(min_length=1, max_length=64, description="Who joined.")
    role: Role = Field(description="The role it joined with.")


class NodeReport(BaseModel):
    """A fan-out node's periodic load report."""

    model_config = ConfigDict(extra="ignore")

    listeners: int = Field(ge=0, description="Listeners connected.")
    edges: int = Field(0, ge=0, description="Edge nodes subscribed to spaces on this node (an origin in a cascade).")
    speakers: int = Field(ge=0, description="Hosts and speakers connected.")
    draining: bool = Field(description="Whether the node is draining.")
    spaces: dict[str, SpaceLoad] = Field(default_factory=dict, description="Load per space.")
    connected: list[str] = Field(default_factory=list, description="Sessions that connected since the last report.")
    disconnected: list[str] = Field(default_factory=list, description="Sessions that left since the last report.")
    sessions: list[ReportedSession] | None = Field(
        None,
        max_length=1_000_000,
        description="Every session connected to the node now (hosts, speakers, listeners, the packager; not edge "
        "subscriptions). The gateway reconciles with it: sessions it forgot (the node went stale, or the gateway "
        "restarted) are learned back, connected sessions no longer listed are forgotten. Left out by an older "
        "node: only `connected` and `disconnected` are applied.",
    )


class UpstreamRequest(BaseModel):
    """An edge node asks where to subscribe to a space."""

    space: str = Field(min_length=1, max_length=64, description="The space id.")


class UpstreamGrant(BaseModel):
    """Where an edge node subscribes to a space: the space's origin and a join token (role `edge`) for it."""

    space: str = Field(description="The space id.")
    origin: str = Field(description="The origin node's id.")
    url: str = Field(description="The media WebSocket URL on the origin; append `?token=` and the token.")
    token: str = Field(description="The signed join token, role `edge`, valid on the origin only.")
    expires_at: float = Field(description="When the token expires, seconds since the epoch.")


class NodeInstructions(BaseModel):
    """The gateway's answer to a report."""

    drain: bool = Field(description="Whether the node must drain (or keep draining).")
    ended_spaces: list[str] = Field(description="Spaces on the node that ended: close them.")


class Overloaded(BaseModel):
    """A request shed because a bound is reached (HTTP 429 or 503, with `Retry-After`)."""

    detail: str = Field(description="Which bound, and what to do.")


class NodeOut(BaseModel):
    """A fan-out node as the gateway sees it."""

    id: str = Field(description="The node's id.")
    role: str = Field(description="`origin` or `edge`.")
    url: str = Field(description="Its WebSocket base URL.")
    state: Literal["accepting", "full", "draining", "stale"] = Field(description="Its state.")
    listener_cap: int = Field(description="Its listener cap.")
    listeners: int = Field(description="Listeners connected at its last report.")
    edges: int = Field(0, description="Edge nodes subscribed to it at its last report (an origin in a cascade).")
    placed: int = Field(description="Listener sessions the gateway placed on it.")
    speakers: int = Field(description="Hosts and speakers connected at its last report.")
    headroom: int = Field(description="Listeners it may still be given.")
    spaces: int = Field(description="Spaces with connections on it.")
    last_report_s: float = Field(description="Seconds since its last report.")


class StatusOut(BaseModel):
    """The gateway's view of the whole stack."""

    service: str = Field(description="Always `gateway`.")
    version: str = Field(description="Chorus version.")
    uptime_s: float = Field(description="Seconds since the gateway started.")
    spaces: int = Field(description="Live spaces.")
    sessions: dict[str, int] = Field(description="Connected sessions per role (as the nodes reported them).")
    joining: int = Field(0, description="Sessions admitted whose client has not connected to its node yet.")
    max_sessions: int = Field(description="The session cap.")
    admission_tokens: float = Field(description="Tokens in the admission bucket now.")
    nodes: list[NodeOut] = Field(description="Registered fan-out nodes.")
