"""A very long line is scanned in linear time: no pattern rescans the rest of the line from each start.

Each line below once took seconds to minutes (a target scanned to the end of the line after every
`](`, a look-behind read from the start of the line for every number). The sizes are chosen so that
the quadratic scans took over 10 s on this machine, and the linear ones take a few hundredths.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from handbook import facts as facts_mod
from handbook.checks import handtyped
from handbook.mdscan import MarkdownPage, ProseLine, slugify
from handbook.project import Project

ROOT = Path(__file__).resolve().parents[1]
BOUND_S = 3.0
"""Generous: each line takes well under 0.2 s linear, over 10 s quadratic (measured under contention)."""

PROSE = {
    "[a](b ": 400_000,   # the link target rescanned to the end of the line after each `](` (23 s at 600 KB)
    "](": 100_000,       # a target with no space or parenthesis before the end of the line (200 s)
    "a](b": 100_000,
    "](<": 100_000,      # a `<...>` target never closed
    "[": 200_000,        # link text never closed
    "<!--": 200_000,     # an HTML comment never closed
    "<!-- literal": 200_000,
    "<http://": 200_000,  # an autolink never closed
    "{@": 100_000,       # an explicit heading id / attribute list never closed
    "5m ": 30_000,       # every duration once checked against all earlier ones (11 s at 25 KB)
    "503 ": 50_000,      # every status code once read the line from its start (16 s at 50 KB)
    "for over 5m ": 100_000,
    "-- 10 ": 200_000,
}


@pytest.fixture(scope="module")
def pool() -> handtyped.Pools:
    """Today's facts, indexed as the hand-typed check indexes them."""
    return handtyped.pools(facts_mod.for_project(Project(ROOT)))


@pytest.mark.parametrize("unit", list(PROSE))
def test_a_long_line_is_scanned_in_linear_time(unit: str, pool: handtyped.Pools) -> None:
    line = unit * (PROSE[unit] // len(unit))
    started = time.perf_counter()
    problems = list(handtyped._line_problems(Path("runbooks/x.md"), ProseLine(1, line), pool))
    page = MarkdownPage(f"# {line}\n\n{line}\n")
    page.links, page.anchors
    slugify(line)
    elapsed = time.perf_counter() - started
    assert elapsed < BOUND_S, f"{unit!r} x {len(line)} characters took {elapsed:.1f} s: a pattern rescans the line"
    if unit == "5m ":
        assert problems, "the durations are still compared (the test measures real work)"
