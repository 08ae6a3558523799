"""Capacity planning: how many fan-out nodes a space of N listeners needs, with the arithmetic shown.

`chorusctl capacity --listeners N` prints this plan. The inputs are the
configuration's caps: `fanout.listener_cap` and `fanout.headroom` (the room the
gateway keeps free on every node), `packager.hls_share` (the share of the audience
sent to HLS through a CDN), `gateway.max_sessions`, `gateway.priority_share` and
`gateway.join_rate_per_s`. The topology is the cascade Chorus runs: a space's
speakers meet on one origin node; without edges its listeners join the origin
too; with edges, listeners join edges and each edge subscribes to the origin
once, so the origin's own cap bounds the number of edges one space can have.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from chorus.config import ChorusConfig


@dataclass(frozen=True)
class Step:
    """One line of the arithmetic.

    Attributes:
        quantity: What is computed.
        formula: How, with the inputs' names and values.
        value: The result.
    """

    quantity: str
    formula: str
    value: float


@dataclass
class CapacityPlan:
    """Fan-out nodes and edges for one space of `listeners` listeners.

    Attributes:
        listeners: The audience asked about.
        hls_share: Share of it served over HLS.
        hls_listeners: Listeners on HLS (through the CDN).
        websocket_listeners: Listeners on the WebSocket path.
        usable_per_node: Listeners (or edges) one node takes: its cap minus the headroom.
        edges: Edge nodes needed (0: the origin serves everyone).
        origins: Origin nodes the space uses (always 1: its speakers meet on one node).
        fanout_nodes: Origins plus edges.
        fits: Whether the configured caps carry this audience.
        problems: What does not fit, and the setting that would make it fit.
        notes: Other consequences worth knowing (time to admit the room...).
        steps: The arithmetic, in order.
    """

    listeners: int
    hls_share: float
    hls_listeners: int
    websocket_listeners: int
    usable_per_node: int
    edges: int
    origins: int
    fanout_nodes: int
    fits: bool
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The plan as a JSON-ready mapping.

        Returns:
            The plan.
        """
        return asdict(self)


def _n(value: float) -> str:
    """A number with thousands separators (and at most 3 decimals)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}".rstrip("0")


def plan_capacity(config: ChorusConfig, listeners: int, hls_share: float | None = None) -> CapacityPlan:
    """Compute the plan for one space of `listeners` listeners.

    Args:
        config: The configuration whose caps are used.
        listeners: The audience.
        hls_share: Share served over HLS; `None` uses `packager.hls_share`.

    Returns:
        The plan.

    Raises:
        ValueError: `listeners` is below 1 or `hls_share` outside 0..1.
    """
    if listeners < 1:
        raise ValueError("the audience must be at least 1 listener")
    share = config.packager.hls_share if hls_share is None else hls_share
    if not 0 <= share <= 1:
        raise ValueError("the HLS share must be between 0 and 1")
    fanout, gateway = config.fanout, config.gateway
    steps: list[Step] = []
    problems: list[str] = []
    notes: list[str] = []

    hls = math.ceil(listeners * share)
    steps.append(Step("HLS listeners", f"ceil({_n(listeners)} x packager.hls_share {_n(share)})", hls))
    websocket = listeners - hls
    steps.append(Step("WebSocket listeners", f"{_n(listeners)} - {_n(hls)}", websocket))
    usable = math.floor(fanout.listener_cap * (1 - fanout.headroom))
    steps.append(Step("usable per node",
                      f"floor(fanout.listener_cap {_n(fanout.listener_cap)} x (1 - fanout.headroom {_n(fanout.headroom)}))",
                      usable))
    if usable < 1:
        problems.append("fanout.headroom leaves no room on a node; lower it or raise fanout.listener_cap")
        usable = 1
    # One node is the space's origin; it serves the listeners itself while they fit.
    edges = 0 if websocket <= usable else math.ceil(websocket / usable)
    if websocket <= usable:
        steps.append(Step("edges", f"{_n(websocket)} WebSocket listeners <= {_n(usable)} fit on the origin", 0))
    else:
        steps.append(Step("edges", f"ceil({_n(websocket)} / {_n(usable)})", edges))
        steps.append(Step("edges one origin can feed", "usable per node (each edge subscribes once)", usable))
        if edges > usable:
            most = usable * usable
            problems.append(
                f"{_n(edges)} edges exceed the {_n(usable)} one origin can feed: one space carries at most "
                f"{_n(most)} WebSocket listeners ({_n(usable)} x {_n(usable)}); raise packager.hls_share to at least "
                f"{_n(math.ceil(1000 * (1 - most / listeners)) / 1000)} or fanout.listener_cap"
            )
    origins = 1
    nodes = origins + edges
    steps.append(Step("fan-out nodes", f"{origins} origin + {_n(edges)} edges", nodes))
    if edges > 256:
        notes.append(f"chorusctl up starts at most 256 edges (fanout.edges); {_n(edges)} need a real deployment")

    session_cap = math.floor(gateway.max_sessions * (1 - gateway.priority_share))
    steps.append(Step("listener sessions the gateway admits",
                      f"floor(gateway.max_sessions {_n(gateway.max_sessions)} x (1 - gateway.priority_share "
                      f"{_n(gateway.priority_share)}))", session_cap))
    wanted_sessions = websocket + (1 if hls else 0)
    if wanted_sessions > session_cap:
        needed = math.ceil(wanted_sessions / (1 - gateway.priority_share))
        problems.append(f"{_n(wanted_sessions)} listener sessions (WebSocket listeners + the packager) exceed the "
                        f"gateway's {_n(session_cap)}; raise gateway.max_sessions to at least {_n(needed)}")
    admit_s = websocket / gateway.join_rate_per_s
    steps.append(Step("seconds to admit every WebSocket listener",
                      f"{_n(websocket)} / gateway.join_rate_per_s {_n(gateway.join_rate_per_s)}", round(admit_s, 1)))
    notes.append(f"a full room that reconnects at once (a restart, a drain of every node) is admitted over about "
                 f"{_format_duration(admit_s)}; the rest wait out jittered Retry-After")
    if hls:
        segment = config.packager.segment_s
        requests = hls * 2 / segment
        steps.append(Step("CDN requests per second", f"{_n(hls)} HLS listeners x 2 (playlist + segment) / "
                          f"packager.segment_s {_n(segment)}", round(requests)))
        notes.append("one packager per space feeds the CDN; it joins the space as a single listener")
    return CapacityPlan(listeners, share, hls, websocket, usable, edges, origins, nodes, not problems,
                        problems, notes, steps)


def _format_duration(seconds: float) -> str:
    """Seconds as `42 s`, `29 min` or `3.5 h`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render_plan(plan: CapacityPlan) -> str:
    """The plan as text for people: inputs, the arithmetic, the answer, problems and notes.

    Args:
        plan: The plan.

    Returns:
        The text.
    """
    width = max(len(step.quantity) for step in plan.steps)
    lines = [f"capacity for one space of {_n(plan.listeners)} listeners", ""]
    for step in plan.steps:
        lines.append(f"  {step.quantity.ljust(width)}  = {step.formula} = {_n(step.value)}")
    lines.append("")
    topology = (f"1 origin + {_n(plan.edges)} edges ({_n(plan.fanout_nodes)} fan-out nodes)" if plan.edges
                else "1 origin node, no edges")
    lines.append(f"answer: {topology}; {_n(plan.websocket_listeners)} listeners on WebSocket, "
                 f"{_n(plan.hls_listeners)} on HLS")
    for problem in plan.problems:
        lines.append(f"DOES NOT FIT: {problem}")
    for note in plan.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
