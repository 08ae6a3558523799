"""What a runbook says about its drill: the `drill:` front matter and the step markers.

A code block becomes a drill step when the line before its fence is a marker::

    <!-- drill: step expect="accepting +yes" -->
    ```console
    $ chorusctl status
    ```

Marker words (after `drill:`):

| word | meaning |
|---|---|
| `step` | run this block in the drill, in page order |
| `destructive` | it restarts, drains, scales, kills or rotates: readers see a warning; a drill runs it only with `--allow-destructive` |
| `expect="REGEX"` | the output must contain a match (repeatable); live values are rendered first |
| `exit=N` | the exit status the step must end with (default 0; `any` accepts every status) |
| `timeout=S` | seconds the step may take (default 60) |
| `until=S` | re-run the step (every 2 s) until its expectations hold, for up to S seconds: "wait for it" |
| `background` | start it and go on (a loadgen that keeps a condition up); stopped at tear-down |
| `keep reason="..."` | the drill prints this block differently from a reader's system by design: `--rewrite` keeps its sample |
| `production reason="..."` | production only (e.g. `kubectl`), not run by a drill; the page shows the reason |
| `skip reason="..."` | not run by a drill for another reason (the drill induces this itself...); the page shows it |

A `promql` block marked `step` is run against the drill's Prometheus and must return series.

The front matter says how the condition is induced (`DrillSpec`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handbook.mdscan import CodeBlock, MarkdownPage

MARKER = re.compile(r"^\s*<!--\s*drill:(?P<body>.*?)-->\s*$")
DESTRUCTIVE = re.compile(
    r"\b(kill|pkill|restart|drain|resume|scale|rotate|delete|rollout\s+(restart|undo)|apply|chorusctl\s+up)\b"
)
"""Commands that change a running system: a drill step running one must say `destructive`."""
FLAGS = {"step", "destructive", "background", "production", "skip", "keep"}
NOT_RUN = {"production", "skip"}
OPTIONS = {"expect", "exit", "timeout", "reason", "until"}
SECTIONS_RUN = ("Diagnose", "Mitigate", "Verify")
"""The sections whose steps a drill runs, in this order."""


class InduceAction(BaseModel):
    """One thing a drill does to bring the runbook's condition about, exactly one key set.

    Attributes:
        kill: Kill this node or service (`fanout-2`, `edge-1`, `packager`, `gateway`, the drill's `speaker`, or
            `induced`: the commands `start:` began).
        pause: Stop it with SIGSTOP (it hangs: its connections stay open, nothing moves).
        resume: Let a paused one go on (SIGCONT).
        run: A shell command run to completion (`chorusctl ...` runs against the drill's stack).
        start: A shell command started in the background and stopped at tear-down (a loadgen).
        wait: Seconds to wait.
    """

    model_config = ConfigDict(extra="forbid")

    kill: str | None = None
    pause: str | None = None
    resume: str | None = None
    run: str | None = None
    start: str | None = None
    wait: float | None = Field(default=None, ge=0, le=600)

    @model_validator(mode="after")
    def _one_action(self) -> "InduceAction":
        chosen = [k for k in ("kill", "pause", "resume", "run", "start", "wait") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("an action has exactly one of: kill, pause, resume, run, start, wait")
        return self

    @property
    def kind(self) -> str:
        """Which action this is: `kill`, `pause`, `run`, `start` or `wait`."""
        return next(k for k in ("kill", "pause", "resume", "run", "start", "wait") if getattr(self, k) is not None)

    @property
    def argument(self) -> Any:
        """The action's argument."""
        return getattr(self, self.kind)


class DrillStack(BaseModel):
    """The local stack a drill starts (its own ports and temp folder).

    Attributes:
        nodes: Fan-out origins.
        edges: Fan-out edges.
        packager: Whether the HLS packager runs.
        speaker: Whether a host speaks into a space from the start (so audio can be checked).
    """

    model_config = ConfigDict(extra="forbid")

    nodes: int = Field(default=2, ge=1, le=8)
    edges: int = Field(default=0, ge=0, le=8)
    packager: bool = False
    speaker: bool = True


class DrillSpec(BaseModel):
    """The `drill:` block of a runbook's front matter.

    Attributes:
        alert: The alert the drill waits for (default: the runbook's only alert; none for a task runbook).
        stack: The local stack to start.
        config: Configuration overrides for the drill's stack, `key.path: value` (as `CHORUS__...` variables).
        induce: What brings the condition about, in order.
        recover: What people outside the runbook's reach do once it asks them to (the host unmutes): run after
            the Mitigate steps, before the Verify steps.
        fire_within_s: How long the alert may take to fire once the condition is induced (drill time).
        resolve_within_s: How long the alert may take to resolve after the last step (drill time).
        new_space_after: The procedure loses live spaces by design (a gateway restart forgets them): the final
            audio check creates a new space with a speaker instead of listening to the old one.
        not_drillable: Why this runbook cannot be drilled locally (then nothing else is needed).
    """

    model_config = ConfigDict(extra="forbid")

    alert: str | None = None
    stack: DrillStack = Field(default_factory=DrillStack)
    config: dict[str, Any] = Field(default_factory=dict)
    induce: list[InduceAction] = Field(default_factory=list)
    recover: list[InduceAction] = Field(default_factory=list)
    fire_within_s: float = Field(default=90, gt=0, le=900)
    resolve_within_s: float = Field(default=90, gt=0, le=900)
    new_space_after: bool = False
    not_drillable: str | None = Field(default=None, min_length=10)


@dataclass(frozen=True)
class Marker:
    """A parsed `<!-- drill: ... -->` comment.

    Attributes:
        line: 1-based line of the comment.
        flags: Its bare words (`step`, `destructive`, ...).
        expect: Its `expect=` patterns, in order.
        exit: The expected exit status, or `None` for any.
        timeout: Seconds the step may take.
        reason: Its `reason=` text.
        until: Re-run the step until its expectations hold, for up to this many seconds (0: run once).
    """

    line: int
    flags: frozenset[str]
    expect: tuple[str, ...] = ()
    exit: int | None = 0
    timeout: float = 60.0
    reason: str = ""
    until: float = 0.0


class MarkerError(ValueError):
    """A marker that cannot be read; `line` and `col` say where."""

    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.col = col


@lru_cache(maxsize=4096)
def _words(body: str) -> tuple[str, ...]:
    """A marker's words as a shell splits them, memoized (runbooks repeat the same markers)."""
    return tuple(shlex.split(body))


def parse_marker(text: str, line: int) -> Marker | None:
    """Read one marker line.

    Args:
        text: The line.
        line: Its 1-based line number.

    Returns:
        The marker, or `None` when the line is not a drill marker.

    Raises:
        MarkerError: The line is a marker but says something unknown or malformed.
    """
    match = MARKER.match(text)
    if not match:
        return None
    col = match.start("body") + 1
    try:
        words = _words(match["body"])
    except ValueError as exc:
        raise MarkerError(line, col, f"drill marker cannot be read ({exc}): close the quotes") from None
    flags: set[str] = set()
    expect: list[str] = []
    values: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            if key not in FLAGS:
                raise MarkerError(line, col, f"unknown drill word {key!r}: use {', '.join(sorted(FLAGS))}")
            flags.add(key)
        elif key not in OPTIONS:
            raise MarkerError(line, col, f"unknown drill option {key}=: use {', '.join(sorted(OPTIONS))}")
        elif key == "expect":
            try:
                re.compile(value)
            except re.error as exc:
                raise MarkerError(line, col, f"expect={value!r} is not a valid regular expression: {exc}") from None
            expect.append(value)
        else:
            values[key] = value
    if len(flags & ({"step"} | NOT_RUN)) != 1:
        raise MarkerError(line, col, 'a drill marker says one of `step` (run it), `production reason="..."` '
                          'or `skip reason="..."` (not run by drills)')
    if flags & NOT_RUN and not values.get("reason"):
        raise MarkerError(line, col, f'a `{min(flags & NOT_RUN)}` block says why it is not drilled: reason="..."')
    if "keep" in flags and not values.get("reason"):
        raise MarkerError(line, col, 'a `keep` step says why the drill prints it differently: reason="..."')
    exit_text = values.get("exit", "0")
    if exit_text != "any" and not exit_text.isdigit():
        raise MarkerError(line, col, f"exit={exit_text} must be a number or `any`")
    seconds = {}
    for key, default in (("timeout", "60"), ("until", "0")):
        try:
            seconds[key] = float(values.get(key, default))
        except ValueError:
            raise MarkerError(line, col, f"{key}={values[key]} must be a number of seconds") from None
    if seconds["until"] and not expect:
        raise MarkerError(line, col, "until= waits for an expectation: add expect=\"...\"")
    return Marker(line, frozenset(flags), tuple(expect), None if exit_text == "any" else int(exit_text),
                  seconds["timeout"], values.get("reason", ""), seconds["until"])


@dataclass(frozen=True)
class Step:
    """A marked code block, in page order.

    Attributes:
        marker: Its marker.
        block: The code block.
        section: The level-2 section it is in (`Diagnose`, `Mitigate`...).
        heading: The nearest heading above it (what the reader calls the step).
    """

    marker: Marker
    block: CodeBlock
    section: str
    heading: str

    @property
    def destructive(self) -> bool:
        """Whether the step changes the running system."""
        return "destructive" in self.marker.flags

    @property
    def runs(self) -> bool:
        """Whether a drill runs it (a `step`, not `production` or `skip`)."""
        return "step" in self.marker.flags


@dataclass
class Plan:
    """Everything a runbook says about its drill.

    Attributes:
        spec: The `drill:` front matter, or `None` when absent.
        spec_errors: `(line, col, message)` for a `drill:` block that does not validate.
        steps: Every marked block, in page order.
        marker_errors: Markers that cannot be read, or that stand before no code block.
        spec_line: The line of the `drill:` key.
    """

    spec: DrillSpec | None
    spec_errors: list[tuple[int, int, str]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    marker_errors: list[MarkerError] = field(default_factory=list)
    spec_line: int = 1

    def runnable(self) -> list[Step]:
        """The steps a drill runs, in the order Diagnose, Mitigate, Verify (page order within each)."""
        order = {name: i for i, name in enumerate(SECTIONS_RUN)}
        chosen = [s for s in self.steps if s.runs and s.section in order]
        return sorted(chosen, key=lambda s: (order[s.section], s.block.line))


def read_plan(page: MarkdownPage) -> Plan:
    """Read a runbook's drill declaration and step markers.

    Args:
        page: The scanned runbook.

    Returns:
        The plan, with any errors found while reading it.
    """
    fm = page.front_matter
    raw = fm.data.get("drill") if isinstance(fm.data, dict) else None
    plan = Plan(spec=None, spec_line=fm.position("drill")[0])
    if raw is not None:
        try:
            plan.spec = DrillSpec.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ("drill", *[p for p in err["loc"] if isinstance(p, (str, int))])
                line, col = fm.position(*where)
                path = ".".join(str(p) for p in err["loc"]) or "drill"
                plan.spec_errors.append((line, col, f"drill.{path}: {err['msg']}"))
    blocks_by_line = {b.line: b for b in page.code_blocks}
    headings = page.headings
    prose = {pl.line: pl.text for pl in page.prose}
    for number, text in sorted(prose.items()):
        try:
            marker = parse_marker(text, number)
        except MarkerError as exc:
            plan.marker_errors.append(exc)
            continue
        if marker is None:
            continue
        follow = number + 1
        while follow in prose and not prose[follow].strip():
            follow += 1
        block = blocks_by_line.get(follow)
        if block is None:
            plan.marker_errors.append(MarkerError(number, 1, "a drill marker must stand right above a fenced code block"))
            continue
        above = [h for h in headings if h.line < block.line]
        section = next((h.text for h in reversed(above) if h.level == 2), "")
        heading = above[-1].text if above else ""
        plan.steps.append(Step(marker, block, section, heading))
    return plan


def looks_destructive(block: CodeBlock) -> str | None:
    """The first command word of a block that changes a running system, if any.

    Args:
        block: A `bash` or `console` block.

    Returns:
        The matching word (`restart`, `drain`, `kill`...), or `None`.
    """
    for cl in block.lines:
        text = cl.text
        if block.lang in ("console", "shell-session") and not text.lstrip().startswith("$"):
            continue
        match = DESTRUCTIVE.search(text.split("#", 1)[0])
        if match and not re.search(r"\b(grep|logs|describe|get|status|history)\b.*" + re.escape(match[0]), text):
            return match[0]
    return None

