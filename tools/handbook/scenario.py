"""Load scenarios, analysed hop by hop against today's configuration, manifests and alert rules.

`stack/scenarios.yaml` names a crowd (e.g. 678,000 listeners arriving over ten
minutes for one space) and the few assumptions Chorus does not define (how
often the autoscaler acts, how long an edge takes to start). `analyse` replays
it second by second through the real decision rules - `chorus.capacity` for the
HLS/WebSocket split and the edges the space needs, the gateway's admission
(token bucket with its reserve, listener session cap, jittered `Retry-After`),
placement on the edges the autoscaler has made ready, and the alert rules'
thresholds and `for:` durations - and records when each limit is reached and
each alert fires. Every number is a fact (`scenario.NAME.KEY`) that pages quote
as a live value, so the analysis follows a changed cap, rate or autoscaler.

The model is deliberately simple and says so: arrivals are even, a shed client
retries after the mean `Retry-After` and gives up after `listener_patience_s`,
listeners spread evenly over ready edges, and nobody leaves during the horizon.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handbook import facts as facts_mod
from handbook import sources
from handbook.errors import HandbookError

SCENARIOS = Path("stack/scenarios.yaml")
EDGE_WORKLOAD = "chorus-fanout-edge"
"""The workload whose autoscaler the launch scenarios follow."""
SHEDDING_ALERT = "ChorusJoinShedding"
NEAR_CAP_ALERT = "ChorusFanoutNearCap"
ASSUMPTIONS = ("hpa_sync_s", "edge_ready_s", "listener_patience_s")
RANGE = re.compile(r"\[([0-9]+(?:ms|s|m|h|d|w|y)(?:[0-9]+(?:ms|s|m|h|d|w|y))*)\]")
"""A range selector's window, e.g. `[5m]`."""


@dataclass(frozen=True)
class Scenario:
    """One crowd to analyse, as `stack/scenarios.yaml` states it.

    Attributes:
        name: Its key in fact names, e.g. `launch-night`.
        title: What it is, in words.
        listeners: People who want to hear the space.
        window_s: Seconds over which they arrive.
        horizon_s: Seconds the analysis follows.
        assumptions: `hpa_sync_s`, `edge_ready_s`, `listener_patience_s`.
        line: Its line in the file.
    """

    name: str
    title: str
    listeners: int
    window_s: int
    horizon_s: int
    assumptions: dict[str, float]
    line: int


@dataclass
class Event:
    """One moment of the timeline.

    Attributes:
        t: Seconds after the first listener arrives.
        what: What happens, in words.
        alert: The alert that fires at this moment, if any.
    """

    t: float
    what: str
    alert: str = ""


@dataclass
class Outcome:
    """What the scenario does to Chorus.

    Attributes:
        values: Result name to number (each becomes the fact `scenario.NAME.KEY`).
        events: The timeline, in time order.
    """

    values: dict[str, float] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


def load(root: Path) -> list[Scenario]:
    """The scenarios of the tree (none when the file does not exist).

    Args:
        root: The project root.

    Returns:
        The scenarios, in file order.

    Raises:
        HandbookError: The file is not valid YAML or an entry lacks a field (names file and line).
    """
    if not (root / SCENARIOS).is_file():
        return []
    doc = sources.read_yaml(root, SCENARIOS)
    found = []
    for index, entry in enumerate((doc.data or {}).get("scenarios") or []):
        line = doc.line_of("scenarios", index)
        try:
            assumptions = {key: float(entry["assumptions"][key]) for key in ASSUMPTIONS}
            scenario = Scenario(str(entry["name"]), str(entry["title"]), int(entry["listeners"]), int(entry["window_s"]),
                                int(entry["horizon_s"]), assumptions, line)
        except (KeyError, TypeError, ValueError) as exc:
            raise HandbookError(f"scenario needs name, title, listeners, window_s, horizon_s and assumptions "
                                f"({', '.join(ASSUMPTIONS)}): {exc}", path=SCENARIOS, line=line) from None
        if scenario.listeners < 1 or not 0 < scenario.window_s <= scenario.horizon_s <= 86400:
            raise HandbookError("listeners >= 1 and 0 < window_s <= horizon_s <= 86400", path=SCENARIOS, line=line)
        found.append(scenario)
    return found


def _hpa(root: Path) -> dict[str, Any]:
    """The edges' autoscaler spec."""
    objects = sources.manifests(root)
    workload = objects.workload(EDGE_WORKLOAD)
    for hpa in objects.autoscalers(workload) if workload is not None else []:
        return hpa.spec
    raise sources.SourceUnavailable(f"no HorizontalPodAutoscaler scales {EDGE_WORKLOAD} in the manifests")


def _listener_target(spec: dict[str, Any]) -> float:
    """The HPA's listeners-per-edge target (its `Pods` metric `averageValue`)."""
    for metric in spec.get("metrics") or []:
        pods = metric.get("pods") if isinstance(metric, dict) else None
        if pods and (pods.get("target") or {}).get("averageValue") is not None:
            return float(str(pods["target"]["averageValue"]))
    raise sources.SourceUnavailable("the edges' HPA has no listeners-per-pod target")


def _scale_up_limit(spec: dict[str, Any], current: int) -> tuple[int, float]:
    """The most edges the HPA's scale-up policies allow next, and their period."""
    up = ((spec.get("behavior") or {}).get("scaleUp") or {})
    allowed, period = current * 2, 15.0
    for policy in up.get("policies") or []:
        step = math.ceil(current * policy["value"] / 100) if policy["type"] == "Percent" else int(policy["value"])
        allowed = max(allowed, current + step) if up.get("selectPolicy", "Max") == "Max" else min(allowed, current + step)
        period = float(policy.get("periodSeconds", period))
    return allowed, period


def _alert(facts: facts_mod.Facts, name: str) -> tuple[list[float], float, float]:
    """An alert's compared numbers (in order), its `for:` and its (first) range window, in seconds."""
    from handbook.promql import PromQLError, analyse

    expr = facts.get(f"alert.{name}.expr")
    duration = facts.get(f"alert.{name}.for")
    if expr is None:
        raise sources.SourceUnavailable(f"alert {name} is not in the rules")
    if duration is None:
        raise sources.SourceUnavailable(f"alert {name} has no 'for:' ({expr.source})")
    window = RANGE.search(str(expr.value))
    seconds = facts_mod.duration_seconds(window.group(1)) if window else None
    try:
        thresholds = list(analyse(str(expr.value), {}).thresholds)
    except PromQLError as exc:  # AR001 reports the expression at the rules file's line
        raise sources.SourceUnavailable(f"alert {name}'s expression does not parse ({expr.source}: {exc})") from None
    return thresholds, float(duration.seconds or 0), float(seconds or 60)


def analyse(root: Path, scenario: Scenario, facts: facts_mod.Facts) -> Outcome:
    """Replay a scenario second by second against today's sources.

    Args:
        root: The project root.
        scenario: The crowd.
        facts: The tree's facts (alert thresholds and durations).

    Returns:
        The outcome: numbers and a timeline.
    """
    from chorus.capacity import plan_capacity

    config = sources.config_model(root)
    gw, fo = config.gateway, config.fanout
    plan = plan_capacity(config, scenario.listeners)
    hpa = _hpa(root)
    min_edges, max_edges = int(hpa.get("minReplicas", 1)), int(hpa["maxReplicas"])
    target = _listener_target(hpa)
    shed_thresholds, shed_for, shed_window = _alert(facts, SHEDDING_ALERT)
    cap_thresholds, cap_for, _ = _alert(facts, NEAR_CAP_ALERT)
    usable = plan.usable_per_node
    session_cap = math.floor(gw.max_sessions * (1 - gw.priority_share))
    reserve = gw.join_burst * gw.priority_share
    retry_s = max(1, round(gw.retry_after_base_s + gw.retry_after_jitter_s / 2))
    sync_s, ready_s, patience_s = (scenario.assumptions[k] for k in ASSUMPTIONS)
    per_s = plan.websocket_listeners / scenario.window_s

    out = Outcome()
    v = out.values
    first: dict[str, float] = {}
    tokens, sessions, arrived_carry = float(gw.join_burst), 0, 0.0
    ready_edges, pending = min_edges, deque[tuple[float, int]]()  # pending: (ready_at, count)
    asked_edges, last_scale = min_edges, -1e9
    retries: dict[int, list[tuple[int, int]]] = {}  # second -> [(first_attempt, count)]
    window: deque[tuple[int, int]] = deque()  # (shed, attempts) per second, over the alert's rate window
    shed_total = attempts_total = gave_up = 0
    shed_held = -1.0
    for t in range(int(scenario.horizon_s)):
        while pending and pending[0][0] <= t:
            ready_edges += pending.popleft()[1]
        if t % int(sync_s) == 0:
            placed_per_edge = sessions / max(1, ready_edges)
            desired = min(max_edges, max(min_edges, math.ceil(asked_edges * placed_per_edge / target)))
            allowed, period = _scale_up_limit(hpa, asked_edges)
            if desired > asked_edges and t - last_scale >= period:
                add = min(desired, allowed, max_edges) - asked_edges
                if add > 0:
                    pending.append((t + ready_s, add))
                    asked_edges += add
                    last_scale = t
                    if asked_edges == max_edges:
                        first.setdefault("hpa_max", t)
        new = 0
        if t < scenario.window_s:
            arrived_carry += per_s
            new = int(arrived_carry)
            arrived_carry -= new
        cohorts = [(t, new)] + retries.pop(t, [])
        tokens = min(float(gw.join_burst), tokens + gw.join_rate_per_s)
        shed_now = attempts_now = 0
        for first_t, count in cohorts:
            if t - first_t > patience_s:
                gave_up += count
                continue
            attempts_now += count
            room = min(session_cap - sessions, ready_edges * usable - sessions)
            by_rate = max(0, int(tokens - reserve))
            admitted = max(0, min(count, room, by_rate))
            if count > admitted:
                reason = "sessions" if sessions + admitted >= session_cap else ("capacity" if room <= by_rate else "rate")
                first.setdefault(f"shed_{reason}", t)
                retries.setdefault(t + retry_s, []).append((first_t, count - admitted))
            tokens -= admitted
            sessions += admitted
            shed_now += count - admitted
        if sessions >= session_cap:
            first.setdefault("session_cap", t)
        shed_total += shed_now
        attempts_total += attempts_now
        window.append((shed_now, attempts_now))
        if len(window) > shed_window:
            window.popleft()
        shed_5m, all_5m = sum(s for s, _ in window), sum(a for _, a in window)
        shedding = all_5m > 0 and shed_5m / all_5m > shed_thresholds[0] and shed_5m / len(window) > (shed_thresholds[1:] or [0])[0]
        shed_held = (shed_held if shed_held >= 0 else t) if shedding else -1
        if shedding and t - shed_held >= shed_for:
            first.setdefault("alert_shedding", t)
        # Placement fills edges up to the fill line and nobody leaves, so an edge that reached it
        # stays there: the alert's `max by (node)` holds from the first full edge on.
        if sessions >= ready_edges * usable and usable / fo.listener_cap >= cap_thresholds[0] - 1e-9:
            first.setdefault("near_cap", t)
        if "near_cap" in first and t - first["near_cap"] >= cap_for:
            first.setdefault("alert_near_cap", t)
    waiting = sum(c for cohort in retries.values() for _, c in cohort)

    v.update(listeners=scenario.listeners, window_min=scenario.window_s / 60, horizon_min=scenario.horizon_s / 60,
             arrivals_per_s=round(scenario.listeners / scenario.window_s), websocket_per_s=round(per_s),
             hls_listeners=plan.hls_listeners, websocket_listeners=plan.websocket_listeners,
             usable_per_node=usable, edges_needed=plan.edges, edges_min=min_edges, edges_max=max_edges,
             edge_capacity=max_edges * usable, session_cap=session_cap,
             sessions_needed=math.ceil((plan.websocket_listeners + 1) / (1 - gw.priority_share)),
             admit_all_min=round(plan.websocket_listeners / gw.join_rate_per_s / 60),
             retry_s=retry_s, admitted=sessions, never_admitted=plan.websocket_listeners - sessions,
             gave_up=gave_up, still_retrying=waiting, shed_attempts=shed_total, attempts=attempts_total,
             shed_share_pct=round(100 * shed_total / max(1, attempts_total), 1),
             cdn_requests_per_s=next((s.value for s in plan.steps if s.quantity == "CDN requests per second"), 0),
             **{f"assume_{k}": scenario.assumptions[k] for k in ASSUMPTIONS})
    for key, when in first.items():
        v[f"t_{key}_s"] = when
    out.events = _timeline(first, v)
    return out


def _timeline(first: dict[str, float], v: dict[str, float]) -> list[Event]:
    """The moments worth a line on the page, in time order."""
    said = {
        "shed_rate": ("the admission bucket is empty: listeners beyond the join rate are shed (`rate`) with Retry-After", ""),
        "shed_capacity": ("the ready edges are full: joins are shed (`capacity`) until the autoscaler's edges start", ""),
        "near_cap": ("edges reach the gateway's fill line (cap x (1 - headroom))", ""),
        "session_cap": ("the gateway's listener session cap is reached: every further listener join is shed (`sessions`)", ""),
        "hpa_max": ("the edges' autoscaler asks for its maximum", ""),
        "alert_shedding": ("the shed share has held above the alert's threshold for its `for:`", SHEDDING_ALERT),
        "alert_near_cap": ("edges have been at the fill line for the alert's `for:`", NEAR_CAP_ALERT),
    }
    events = [Event(0, "the first listeners arrive; the CDN starts serving the HLS share")]
    events += [Event(t, *said[key]) for key, t in first.items() if key in said]
    return sorted(events, key=lambda e: e.t)


def facts(root: Path, known: facts_mod.Facts) -> list[facts_mod.Fact]:
    """Every scenario's results as facts `scenario.NAME.KEY` (quantities, no reference entry).

    Args:
        root: The project root.
        known: The facts already built (the alerts' thresholds and durations are read from them).

    Returns:
        The facts.
    """
    from handbook.sources.cache import cached_from_stack

    def analysed() -> list[list[str]]:
        rows = []
        for scenario in load(root):
            outcome = analyse(root, scenario, known)
            where = f"{SCENARIOS}:{scenario.line}"
            rows += [[f"scenario.{scenario.name}.{key}", _pretty(value), where] for key, value in outcome.values.items()]
        return rows

    # Everything a scenario is analysed against (config, alerts, manifests) lives under `stack/`.
    return [facts_mod.Fact(name, value, None, where) for name, value, where in cached_from_stack(root, "scenario-facts", analysed)]


def _pretty(value: float) -> str:
    """A number as a page shows it: thousands separated, at most one decimal."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def timeline_markdown(root: Path, name: str, known: facts_mod.Facts, page_uri: str) -> str:
    """The timeline of a scenario as a Markdown table: time, what happens, the alert and its runbook.

    Args:
        root: The project root.
        name: The scenario's name.
        known: The tree's facts.
        page_uri: The docs-relative page it goes on (for links).

    Returns:
        The table.

    Raises:
        HandbookError: No scenario has that name.
    """
    from handbook import anchors
    from handbook.reference import markdown as md

    scenario = next((s for s in load(root) if s.name == name), None)
    if scenario is None:
        raise HandbookError(f"no scenario named {name!r}", path=SCENARIOS)
    outcome = analyse(root, scenario, known)
    runbook_of = _runbook_of_alerts(root)
    rows = ["| t | what happens | alert | runbook |", "|---|---|---|---|"]
    for event in outcome.events:
        alert = runbook = ""
        if event.alert:
            alert = f"[`{event.alert}`]({md.link(page_uri, anchors.alert(event.alert))})"
            book = runbook_of.get(event.alert)
            runbook = f"[{book}]({md.link(page_uri, anchors.runbook(book))})" if book else ""
        rows.append(f"| {_clock(event.t)} | {event.what} | {alert} | {runbook} |")
    return "\n".join(rows)


def _clock(seconds: float) -> str:
    """`+0:45`, `+10:12` - minutes and seconds after the first arrival."""
    minutes, secs = divmod(int(seconds), 60)
    return f"+{minutes}:{secs:02d}"


def _runbook_of_alerts(root: Path) -> dict[str, str]:
    """Each alert to the runbook that answers it."""
    from handbook.project import Project
    from handbook.runbook import runbooks

    return {alert: rb.name for rb in runbooks(Project(root)) if rb.meta for alert in rb.meta.alerts}
