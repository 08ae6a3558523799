"""Hand-typed values (HV): a value a source of truth holds, typed into a page's prose or title.

A number, duration or name in prose that equals a fact's value is how drift
starts: the source changes, the prose does not. Write `{@NAME}` instead, and the
page shows today's value. Which values count:

- numbers of 10 or more, and any non-integer (0.05; `5%` counts as 0.05): small
  integers are ordinary words ("step 2", "3 nodes");
- durations (`5m`, `90s`, `5 minutes`, `20 ms`) compared in seconds with alert
  `for:` durations and `*_seconds` / `*_s` / `*_ms` configuration keys (not the
  rates `*_per_s`);
- distinctive names: metrics, alerts, workloads, environment variables,
  on-call rotations and chat channels.

Two kinds of value only look like facts and are not compared, so that a
silencer is left for the rare real exception:

- an HTTP status code: a whole number from 100 to 599 that is not followed by a
  word naming what it counts ("200 joins"), and that either stands right after
  `HTTP`, `status`, `code` or a verb of answering ("answers 503", "returned a
  `404`"), or right before a reason phrase or `response`/`status`/`error`
  ("200 OK", "a 503 response"), or is alone in a code span (`` `200` ``) on a
  line that speaks HTTP (`HTTP`, `status`, `answer`, `return`, `respond`,
  `reply`, `request`, `curl`);
- a PromQL range window: a duration in brackets (`[5m]`, `[5m:1m]`), after
  `offset`, or after `over`, `across`, `per`, `window of`, `in/during/within
  the last` ("the shed ratio over 5 minutes") - but not "for over 5m", which
  is how long something holds, as an alert's `for:` does. A window is chosen by
  whoever writes the query; no source of truth holds it, so it can only ever
  match a fact by coincidence.

Every page under `docs/` and `runbooks/` is checked, prose and reader-facing front
matter (`title`, `description`), except dated records - decision records and
incident analyses - whose values are those of their date (a live value would
rewrite history). Front matter cannot hold a live value, so a title is compared
with alert values only: a runbook's title with the alerts it answers (`alerts:`),
what it states (`90%`, "a quarter", "the last minute", "five minutes", `10m`, read
by `handbook.quantities`) against their thresholds, `for:` and range windows, and
flagged when they no longer agree; any other page's title when it quotes some
alert's threshold or `for:` at all. The argument of a command-line option (`--time-scale 10`) is the
reader's choice, not a fact, and is not compared either.

Prose is everything outside fenced code blocks (inline code included) except
live values, link targets and HTML comments. A value that only looks like a
fact can be kept: put `<!-- literal: REASON -->` right after it, on the same
line. The check prints the reason each time it runs; a silencer without a
reason, or with no hand-typed value before it, is an error.
"""

from __future__ import annotations

import bisect
import http
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from handbook import facts as facts_mod
from handbook import mdscan
from handbook.checks.registry import Rule, check
from handbook.facts import DURATION_UNITS, Fact, Facts
from handbook.livevalues import REFERENCE
from handbook.mdscan import MarkdownPage, ProseLine
from handbook.problems import Problem
from handbook.project import Project
from handbook.quantities import COMPACT, quantities, range_windows


UNIT_WORDS = {
    "ms": "ms", "millisecond": "ms", "milliseconds": "ms",
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
}
THOUSANDS = ("k", "K")
"""A suffix written right after a number that multiplies it by a thousand (`10k` listeners)."""
NUMBER = re.compile(
    r"(?<![\w.:/\-#])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<pct>%)?"
    r"(?:[ \u00a0]?(?P<unit>[a-zA-Z]+))?(?![\w:/\-]|\.\d)"
)
WORD = re.compile(r"(?<![\w\-/.])#?[A-Za-z_][A-Za-z0-9_\-]*(?![\w\-])")
HTTP_REASONS = tuple(sorted({status.phrase.lower() for status in http.HTTPStatus}, key=len, reverse=True))
HTTP_BEFORE = re.compile(
    r"(?:\bHTTP(?:/[\d.]+)?|\bstatus(?:\s+code)?|\bcode|"
    r"\b(?:answer(?:s|ed)?|return(?:s|ed)?|respond(?:s|ed)?|repl(?:y|ies|ied)|fail(?:s|ed)?)(?:\s+with)?(?:\s+an?)?)"
    r"[\s`]*$",
    re.IGNORECASE,
)
HTTP_NOUN_AFTER = re.compile(r"(?:status|response|reply|answer|error|code)s?\b", re.IGNORECASE)
HTTP_LINE = re.compile(r"\b(?:HTTP|status|answer\w*|return\w*|respon\w*|repl(?:y|ies|ied)|request\w*|curl)\b", re.IGNORECASE)
NOT_A_COUNTED_NOUN = frozenset(
    "and or then for with when while if until to from on in at after before because but so as instead again".split()
)
WINDOW_BEFORE = re.compile(
    r"(?:\b(?:over|across)(?:\s+the\s+(?:last|past))?|\b(?:in|during|within)\s+the\s+(?:last|past)|\bper|\bwindow\s+of|\boffset)[\s`]*$",
    re.IGNORECASE,
)
HELD_FOR = re.compile(r"\bfor\s+(?:just\s+|well\s+)?(?:over|across)[\s`]*$", re.IGNORECASE)
WINDOW_AFTER = re.compile(r"[\s`-]*window\b", re.IGNORECASE)
LINK_TARGET = re.compile(r"\]" + mdscan.LINK_TARGET)
"""A link's target after its text's `]`, blanked so a URL's numbers are not read as values."""
URL = re.compile(r"<https?://[^<>\s]*>|https?://\S+")
"""An autolink (`<https://...>`, no space or `<` inside) or a bare URL."""
OPTION_BEFORE = re.compile(r"--[A-Za-z][\w-]*[ =]$")
"""A command-line option right before a value (`--time-scale 10`, `--speed=20`): the reader's argument."""
CONTEXT = 80
"""How far before a value its context is read ("answers `503`", "over the last 5 minutes"): every phrase the
patterns above look for is shorter, and a bounded look keeps a very long line linear."""
SILENCER = re.compile(r"<!--\s*literal\s*:?(?P<reason>[^<]*?)-->")
"""A silencer and its reason (which stops at the next `<`, so a line of unclosed silencers is read in linear time)."""
SILENCER_ANY = re.compile(r"<!--\s*literal\b")


@dataclass(frozen=True)
class Finding:
    """A hand-typed value in a prose line.

    Attributes:
        start: Offset of the value in its line.
        end: Offset just after it.
        text: The value as typed.
        facts: The facts it equals.
    """

    start: int
    end: int
    text: str
    facts: tuple[Fact, ...]


@dataclass
class Pools:
    """Fact values indexed for fast lookup in prose.

    Attributes:
        numbers: Facts by numeric value.
        seconds: Duration facts by their length in seconds.
        names: Name facts by their text.
        complete: Whether every source of facts could be read: when one could not, a silencer
            may be silencing one of its values, so it is not called useless.
    """

    numbers: dict[float, list[Fact]]
    seconds: dict[float, list[Fact]]
    names: dict[str, list[Fact]]
    complete: bool = True


def pools(facts: Facts) -> Pools:
    """Index the facts whose hand-typed values the check looks for."""
    numbers: dict[float, list[Fact]] = {}
    seconds: dict[float, list[Fact]] = {}
    names: dict[str, list[Fact]] = {}
    for fact in facts:
        if fact.drift == "name" and isinstance(fact.value, str) and len(fact.value) >= 4:
            names.setdefault(fact.value, []).append(fact)
        elif fact.drift == "duration":
            if fact.seconds is not None:
                seconds.setdefault(round(fact.seconds, 6), []).append(fact)
            if isinstance(fact.value, (int, float)) and not isinstance(fact.value, bool):
                numbers.setdefault(round(float(fact.value), 6), []).append(fact)
        elif fact.drift == "number" and isinstance(fact.value, (int, float)) and not isinstance(fact.value, bool):
            numbers.setdefault(round(float(fact.value), 6), []).append(fact)
    return Pools(numbers, seconds, names, complete=not facts.unavailable)


def _significant(value: float) -> bool:
    return abs(value) >= 10 or not float(value).is_integer()


def _masked(text: str) -> str:
    """The line with live values, link targets and HTML comments blanked out (offsets kept)."""

    def blank(match: re.Match[str]) -> str:
        """Spaces as long as the match."""
        return " " * (match.end() - match.start())

    text = REFERENCE.sub(blank, text)
    text = _blank_comments(text)
    text = LINK_TARGET.sub(lambda m: "]" + " " * (len(m[0]) - 1), text)
    return URL.sub(blank, text)


def _blank_comments(text: str) -> str:
    """The line with each `<!-- ... -->` blanked out, read once from left to right (an unclosed one is kept)."""
    start = text.find("<!--")
    while start >= 0:
        end = text.find("-->", start + 4)
        if end < 0:
            break
        text = text[:start] + " " * (end + 3 - start) + text[end + 3:]
        start = text.find("<!--", end + 3)
    return text


def is_http_status(text: str, start: int, end: int) -> bool:
    """Whether the whole number at `text[start:end]` is an HTTP status code in its context.

    Args:
        text: The (masked) prose line.
        start: Offset of the number's first digit.
        end: Offset just after its last digit.

    Returns:
        True for "HTTP 200", "answers `503`", "200 OK", "a 503 response", or a `` `200` `` code span
        on a line that speaks HTTP; False when a word follows that says what it counts ("200 joins").
    """
    digits = text[start:end]
    if not (digits.isdigit() and len(digits) == 3 and 100 <= int(digits) <= 599):
        return False
    after = text[end:end + CONTEXT]
    following = after.lstrip("` \u00a0")
    word = re.match(r"[A-Za-z]+", following)
    if word is not None:
        if following.lower().startswith(HTTP_REASONS) or HTTP_NOUN_AFTER.match(following):
            return True
        if word[0].lower() not in NOT_A_COUNTED_NOUN:
            return False
    if HTTP_BEFORE.search(text, max(0, start - CONTEXT), start):
        return True
    alone_in_code = start > 0 and text[start - 1] == "`" and after.startswith("`")
    return alone_in_code and _speaks_http(text)


@lru_cache(maxsize=64)
def _speaks_http(text: str) -> bool:
    """Whether a line speaks HTTP (read once per line, however many numbers it has)."""
    return HTTP_LINE.search(text) is not None


def is_range_window(text: str, start: int, end: int) -> bool:
    """Whether the duration at `text[start:end]` is a PromQL range window ("[5m]", "over 5 minutes").

    Args:
        text: The (masked) prose line.
        start: Offset of the duration.
        end: Offset just after it.

    Returns:
        True for a bracketed range or subquery, an `offset`, or a duration after `over`/`per`/`in the
        last`... or before `window`; False for "for over 5m", a holding time like an alert's `for:`.
    """
    before = text[max(0, start - CONTEXT):start]
    if before.endswith("[") and text[end:end + 1] in ("]", ":"):
        return True
    if HELD_FOR.search(before):
        return False
    return bool(WINDOW_BEFORE.search(before) or WINDOW_AFTER.match(text, end))


def is_option_argument(text: str, start: int) -> bool:
    """Whether the value at `text[start:]` is the argument of a command-line option (`--time-scale 10`).

    The reader chooses it on the command line; no source of truth holds it, so it can only match a
    fact by coincidence (a runbook's or tutorial's command quotes a setting through `{@NAME}` itself).
    """
    return OPTION_BEFORE.search(text, max(0, start - CONTEXT), start) is not None


def findings(pl: ProseLine, pool: Pools) -> Iterator[Finding]:
    """Every hand-typed fact value in one prose line.

    Args:
        pl: The line.
        pool: The indexed facts.

    Yields:
        The findings, left to right.
    """
    text = _masked(pl.text)
    if not text.strip():
        return
    taken: list[tuple[int, int]] = []  # compact durations, left to right: a number inside one is not read again
    for match in COMPACT.finditer(text):
        secs = facts_mod.duration_seconds(match[1])
        if secs is not None and (is_range_window(text, match.start(1), match.end(1)) or is_option_argument(text, match.start(1))):
            taken.append((match.start(), match.end()))
        elif secs is not None and round(secs, 6) in pool.seconds:
            taken.append((match.start(), match.end()))
            yield Finding(match.start(1), match.end(1), match[1], tuple(pool.seconds[round(secs, 6)]))
    starts = [s for s, _ in taken]
    for match in NUMBER.finditer(text):
        inside = bisect.bisect_right(starts, match.start()) - 1
        if (inside >= 0 and match.start() < taken[inside][1]) or is_option_argument(text, match.start()):
            continue
        if match.start() > 0 and text[match.start() - 1] == "." and match.start() > 1 and text[match.start() - 2].isdigit():
            continue
        value = float(match["num"].replace(",", ""))
        unit = UNIT_WORDS.get((match["unit"] or "").lower())
        if unit is None and match["unit"] and not match["pct"] and match.end("num") == match.start("unit"):
            if match["unit"] not in THOUSANDS:
                continue  # `2x`, `5xx`, `64KiB`, `3rd`: not the plain number
            value *= 1000  # `10k` is ten thousand
        if unit is not None:
            if is_range_window(text, match.start(), match.end()):
                continue
            secs = value * DURATION_UNITS[unit]
            hits = pool.seconds.get(round(secs, 6))
            if hits:
                yield Finding(match.start(), match.end(), match[0], tuple(hits))
            continue
        if not match["pct"] and is_http_status(text, match.start("num"), match.end("num")):
            continue
        candidates = [value / 100] if match["pct"] else [value]
        for candidate in candidates:
            hits = pool.numbers.get(round(candidate, 6))
            if hits and _significant(candidate):
                yield Finding(match.start(), match.start("num") + len(match["num"]) + (1 if match["pct"] else 0), match[0].split()[0], tuple(hits))
                break
    if pool.names:
        for match in WORD.finditer(text):
            word = match[0]
            hits = pool.names.get(word) or (pool.names.get(word[1:]) if word.startswith("#") else None)
            if hits:
                yield Finding(match.start(), match.end(), word, tuple(hits))


def _silencer_after(text: str, end: int) -> re.Match[str] | None:
    """A `<!-- literal: ... -->` comment right after offset `end` (whitespace and closing markup allowed)."""
    lead = re.compile(r"[\s`*_)\].,;:]*").match(text, end)
    return SILENCER.match(text, lead.end() if lead else end)


@check(
    "hand-typed-values",
    family="HV",
    rules={
        "HV001": Rule(
            "HV001",
            "a value a source of truth holds is typed by hand in a page's prose or title: use a live value {@NAME}",
            why="Every page under docs/ and runbooks/ is checked, and its title and description too: when the "
            "threshold, for:, port or name changes, a typed copy goes stale silently, a live value follows it. A title "
            "cannot hold a live value: a runbook's title may state its own alerts' threshold and for: (\"over a quarter "
            "of joins\"), and is flagged as soon as they change; another page's title should not quote them. When "
            "several facts share the value, all of them are listed: the check never guesses which one the sentence "
            "means. Not compared: HTTP status codes, PromQL range windows, the argument of a command-line option "
            "(`--time-scale 10`: the reader's choice), and dated records (decision records and incident "
            "analyses), whose values are those of their date.",
            example="---\ntitle: Fan-out near its cap (90% for 5m)   # quotes ChorusFanoutNearCap's threshold and for:\n---\n"
            "Each node takes up to 1000 listeners.          # write {@config.fanout.listener_cap}",
        ),
        "HV002": Rule(
            "HV002",
            "a <!-- literal: --> silencer has no reason, or no hand-typed value before it",
            why="A value that only looks like a fact (a code constant, a codec's frame size) is kept with its reason, "
            "printed on every run; a silencer that silences nothing, or says nothing, hides the next real drift.",
            example="Opus frames are 20 ms<!-- literal -->    # no reason given",
        ),
    },
)
def hand_typed_values(project: Project) -> Iterator[Problem]:
    """Flag numbers, durations and names that equal a fact's value, in the prose and titles of every page.

    A page's findings depend only on its text and the facts, so they are cached by both
    (`.cache/handbook/hand-typed.json`): an unchanged page costs a lookup.
    """
    from handbook.resultcache import ResultCache

    facts = facts_mod.for_project(project)
    pool = pools(facts)
    # Titles: only what an alert summary quotes (its for: and threshold); names are on purpose (AL checks them).
    values = pools(Facts({n: f for n, f in facts.by_name.items() if n.startswith("alert.") and n.endswith((".for", ".threshold"))}))
    cache = ResultCache(project.root, "hand-typed", salt=facts.digest + Path(__file__).read_text(encoding="utf-8"))
    dated = records(project)
    for path in project.markdown_files:
        rel = path.relative_to(project.root)
        if rel in dated:
            continue
        page = project.page(path)
        key = f"{rel.as_posix()}\0{page.text}"
        found = cache.get(key)
        if found is None:
            found = [[p.line, p.col, p.code, p.message, p.silenced] for p in _page_problems(rel, page, pool, values, facts)]
            cache.put(key, found)
        for line, col, code, message, silenced in found:
            yield Problem(rel, line, col, code, message, silenced=silenced)
    cache.save()


def _page_problems(rel: Path, page: MarkdownPage, pool: Pools, titles: Pools, facts: Facts) -> Iterator[Problem]:
    """HV001/HV002 for one page: its reader-facing front matter against alert values, its prose against every fact.

    A runbook that answers alerts states their values in its title on purpose ("over a quarter of joins"):
    what it states is compared with those alerts (`answered_title_problems`). Any other page's title is
    flagged when it quotes some alert's threshold or `for:`, since nothing says which alert it follows.
    """
    answered = answered_alerts(rel, page, facts)
    for pl in _front_matter_lines(page):
        if answered:
            yield from answered_title_problems(rel, pl, answered, facts)
        else:
            yield from _line_problems(rel, pl, titles, _title_message)  # names on purpose (AL checks them)
    for pl in page.prose:
        yield from _line_problems(rel, pl, pool)


def records(project: Project) -> set[Path]:
    """The dated records of the past: decision records and incident analyses (their index pages excepted).

    A record says what was true on its date - the cap an ADR chose, the threshold that paged during an
    incident - so its values must not follow the source: a live value would rewrite history.
    """
    from handbook.actions import INCIDENTS_DIR
    from handbook.decisions import records as decision_records

    found = {record.rel for record in decision_records(project)}
    folder = project.root / INCIDENTS_DIR
    found.update(p.relative_to(project.root) for p in folder.glob("*.md") if p.name != "index.md") if folder.is_dir() else None
    return found


FRONT_MATTER_TEXT = ("title", "description")
"""Front-matter keys whose text is shown to readers (a title quoting a threshold goes stale with it)."""


def _front_matter_lines(page: MarkdownPage) -> list[ProseLine]:
    """The front-matter lines that hold reader-facing text, as prose lines."""
    block = page.front_matter
    lines = page.text.split("\n")
    found = []
    for key in FRONT_MATTER_TEXT:
        if isinstance(block.data.get(key), str):
            line, _ = block.position(key)
            if 0 < line <= len(lines):
                found.append(ProseLine(line, lines[line - 1]))
    return found


def answered_alerts(rel: Path, page: MarkdownPage, facts: Facts) -> list[str]:
    """The alerts a runbook answers (its `alerts:` as written, valid front matter or not) that the rules define."""
    from handbook.runbook import alert_names, is_runbook

    names = alert_names(page.front_matter.data) if is_runbook(rel) else []
    return [name for name in names if f"alert.{name}.expr" in facts.by_name]


def answered_title_problems(rel: Path, pl: ProseLine, alerts: list[str], facts: Facts) -> Iterator[Problem]:
    """HV001 for a quantity a runbook's title (or description) states that none of its alerts has any more.

    A duration is compared with the alerts' `for:` and their expressions' range windows ("over the last
    minute" is the rate's window); a ratio or number with their thresholds (`0.25` is "a quarter", "25%").

    Args:
        rel: The runbook.
        pl: The front-matter line.
        alerts: The alerts the runbook answers.
        facts: Today's facts.

    Yields:
        One problem per stated quantity that no answered alert has.
    """
    fors = [f for name in alerts if (f := facts.by_name.get(f"alert.{name}.for")) is not None and f.seconds is not None]
    thresholds = [f for name in alerts if (f := facts.by_name.get(f"alert.{name}.threshold")) is not None]
    windows = {w for name in alerts for w in range_windows(str(facts.by_name[f"alert.{name}.expr"].value))}
    for quantity in quantities(pl.text):
        if quantity.duration:
            if not fors or any(_same(quantity.value, f.seconds) for f in fors) or any(_same(quantity.value, w) for w in windows):
                continue
            fact, now = fors[0], fors[0].value
            said = f"alert {fact.name.split('.')[1]}'s for: is {now}"
        else:
            if not thresholds or any(_same(quantity.value, t.value) or _same(quantity.value * 100, t.value) for t in thresholds):
                continue
            fact, now = thresholds[0], f"{float(thresholds[0].value):g}"
            now = f"{float(fact.value) * 100:g}%" if quantity.text.endswith("%") and float(fact.value) <= 1 else now
            said = f"alert {fact.name.split('.')[1]}'s threshold is {now}"
        yield Problem(rel, pl.line, quantity.start + 1, "HV001",
                      f"the title says '{quantity.text}' but {said} ({fact.source}): update the title to today's value ({now}), "
                      "or word it without the value (front matter cannot hold a live value)")


def _same(a: float, b: object) -> bool:
    """Whether a stated quantity is a fact's value (rounded as the pools round)."""
    return isinstance(b, (int, float)) and not isinstance(b, bool) and round(float(a), 6) == round(float(b), 6)


def _title_message(finding: Finding) -> str:
    """What to do about a page title that quotes an alert's value: it cannot hold a live value."""
    facts = ", ".join(f"{f.name} ({f.source})" for f in finding.facts[:6]) + (" ..." if len(finding.facts) > 6 else "")
    return (f"the title quotes '{finding.text}', which equals {facts}: front matter cannot hold a live value, so the title "
            "goes stale when that changes: word it without the value (name the alert instead)")


def _message(finding: Finding) -> str:
    """What to write instead: the one fact, or every fact that shares the value (never a guess)."""
    if len(finding.facts) == 1:
        fact = finding.facts[0]
        return f"'{finding.text}' is typed by hand but equals {fact.name} ({fact.source}): write {{@{fact.name}}} so it follows the source"
    listed = ", ".join(f"{{@{f.name}}} ({f.source})" for f in finding.facts[:6]) + (" ..." if len(finding.facts) > 6 else "")
    return (f"'{finding.text}' is typed by hand and equals {len(finding.facts)} facts: {listed}; write the one this "
            "sentence means, or silence it with <!-- literal: WHY -->")


def _line_problems(rel: Path, pl: ProseLine, pool: Pools, message_for: Callable[[Finding], str] | None = None) -> Iterator[Problem]:
    """HV001/HV002 for one line (`message_for` words HV001; prose's suggests the live value)."""
    used: set[int] = set()
    for finding in findings(pl, pool):
        message = (message_for or _message)(finding)
        silencer = _silencer_after(pl.text, finding.end)
        if silencer is not None and silencer.start() not in used:
            used.add(silencer.start())
            reason = silencer["reason"].strip()
            if reason:
                yield Problem(rel, pl.line, finding.start + 1, "HV001", message, silenced=reason)
                continue
        yield Problem(rel, pl.line, finding.start + 1, "HV001", message)
    for match in SILENCER_ANY.finditer(pl.text):
        full = SILENCER.match(pl.text, match.start())
        if full is None or not full["reason"].strip():
            yield Problem(rel, pl.line, match.start() + 1, "HV002", "silencer without a reason: write <!-- literal: WHY this value is not the source's -->")
        elif match.start() not in used and pool.complete:
            yield Problem(rel, pl.line, match.start() + 1, "HV002", "silencer with no hand-typed value right before it: remove it")
