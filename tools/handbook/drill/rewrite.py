"""`handbook drill --rewrite`: turn what a drill's commands printed into the samples a reader sees.

A drill runs on its own ports, in its own checkout, at its own moment. The new sample of a
console step is its live output with the drill's ports written as the reader's, the checkout's
path dropped, every line the old sample already says (but for ids, clocks and uptimes) kept as
written, and values the old sample wrote as live values (`{@...}`) written so again. A sample
cut short with `...` keeps its cut. So a rewrite's diff shows only what really changed.
"""

from __future__ import annotations

import re
from pathlib import Path

from handbook.facts import Facts
from handbook.shellcmd import substitute

VOLATILE = re.compile(
    r"\bup-\d+-[0-9a-f]+\b"  # instance ids (Chorus-Instance: up-PID-RANDOM/service/N)
    r"|\b(?:sp|se|up)-[0-9a-f]{6,}\b"  # space, session and subscription ids
    r"|\bpid \d+\b"  # process ids
    r"|\b\d+\.\d{5,}\b"  # measured durations and ages (1.4656439380000847)
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?"  # log timestamps
    r"|\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT"  # HTTP Date headers
    r"|\bup \d+ s\b|\b\d+(?:\.\d+)? s ago\b"  # uptimes and ages
)
"""What differs between two runs of the same system: ids, clocks, uptimes. A rewrite keeps the sample's."""

ELISION = {"...", "…"}
"""A sample line that stands for lines left out on purpose."""


def port_map(base: Facts, overrides: dict[str, object], nodes: int, edges: int = 0) -> dict[str, str]:
    """The drill's ports to the ones a reader's stack uses.

    Origin N listens on `fanout.port + N - 1` and edge N on `fanout.port + fanout.nodes + N - 1`,
    so an edge's port depends on how many origins run: the drill's edge N maps to the reader's
    edge N, whatever the two stacks' origin counts.

    Args:
        base: The tree's facts (the reader's configuration).
        overrides: The drill stack's configuration overrides (its ports).
        nodes: The drill's origins.
        edges: The drill's edges.

    Returns:
        Drill port to reader port, both as text.
    """
    mapping: dict[str, str] = {}
    for key in ("gateway.port", "packager.port"):
        fact = base.get(f"config.{key}")
        if fact is not None and key in overrides:
            mapping[str(overrides[key])] = str(fact.value)
    fact, reader_nodes = base.get("config.fanout.port"), base.get("config.fanout.nodes")
    if fact is None or "fanout.port" not in overrides:
        return mapping
    drill_port, reader_port = int(overrides["fanout.port"]), int(fact.value)  # type: ignore[call-overload]
    for i in range(nodes):
        mapping[str(drill_port + i)] = str(reader_port + i)
    origins = int(reader_nodes.value) if reader_nodes is not None else nodes
    for j in range(edges):
        mapping[str(drill_port + nodes + j)] = str(reader_port + origins + j)
    return mapping


def default_ports(line: str, ports: dict[str, str]) -> str:
    """A live output line with the drill's ports written as the reader's.

    A port stands after a colon (`127.0.0.1:44413`, YAML's `port: 44413`) or after the word
    `port` (curl's `port 44413`).
    """
    if not ports:
        return line
    return re.sub(r"(?:(?<=:)|(?<=: )|(?<=\bport ))(\d{2,5})\b", lambda m: ports.get(m[1], m[1]), line)


def same_but_volatile(live: str, old: str) -> bool:
    """Whether two output lines differ only in `VOLATILE` parts (an id, a timestamp, an uptime)."""
    return VOLATILE.sub("~", live) == VOLATILE.sub("~", old)


def templated(line: str, old: str, facts: Facts) -> str:
    """A live output line, with the values that the old sample wrote as live values put back as live values.

    `old` is the whole old sample of the command: rows move between runs (a node is listed in
    another place), so any of its live values may stand anywhere in the new line.
    """
    for match in dict.fromkeys(re.findall(r"\{@[^}]+\}", old)):
        fact = facts.get(match[2:-1].strip())
        if fact is not None and fact.text:
            line = re.sub(rf"(?<![\w.]){re.escape(fact.text)}(?![\w.])", match, line)
    return line


def new_sample(printed: list[str], old: list[str], facts: Facts) -> list[str]:
    """The new sample of one command: each printed line, or the old line it equals but for volatile parts.

    A printed line equal to an old one (its live values rendered, ids, clocks and uptimes aside)
    keeps the old line, live values and all; any other line gets the old sample's live values
    written back (`templated`). A sample cut short with `...` keeps its cut: only as many lines
    as it shows before and after are rewritten.

    Args:
        printed: What the command printed, ports and paths already written as the reader's.
        old: The sample's lines.
        facts: The tree's facts (to render the old lines' live values).

    Returns:
        The sample's new lines.
    """
    cut = next((i for i, line in enumerate(old) if line.strip() in ELISION), None)
    if cut is not None:
        tail = len(old) - cut - 1
        after = printed[len(printed) - tail:] if tail and len(printed) > cut else []
        return (new_sample(printed[:cut], old[:cut], facts) + [old[cut]]
                + (new_sample(after, old[cut + 1:], facts) if tail else []))
    whole = "\n".join(old)
    unused = [(line, substitute(line, facts)) for line in old]
    kept = []
    for line in printed:
        match = next((pair for pair in unused if same_but_volatile(line, pair[0]) or same_but_volatile(line, pair[1])),
                     None)
        if match is None:
            kept.append(templated(line, whole, facts))
        else:
            unused.remove(match)
            kept.append(match[0])
    return kept


def apply_rewrites(path: Path, rewrites: list[tuple[int, int, list[str]]]) -> int:
    """Replace sample lines `first..last` of a runbook with new ones, keeping each block's indent.

    Args:
        path: The runbook.
        rewrites: `(first line, last line, new lines)` per sample.

    Returns:
        How many samples changed.
    """
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    changed = 0
    for first, last, live in sorted(rewrites, reverse=True):
        old = lines[first - 1:last]
        indent = old[0][: len(old[0]) - len(old[0].lstrip())] if old else ""
        new = [f"{indent}{text}\n" for text in live]
        if new != old:
            lines[first - 1:last] = new
            changed += 1
    if changed:
        path.write_text("".join(lines), encoding="utf-8")
    return changed
