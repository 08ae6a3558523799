"""The quantities a short text states: numbers, percentages, fractions and durations, in digits or words.

A runbook's title is plain text (front matter cannot hold a live value), so when it quotes its
alert's threshold or `for:` ("over a quarter of joins, over the last minute") the check compares
what it states with the alert. This reads the few forms titles use, not English in general:

- ratios: `25%`, `0.25`, and fraction words (`a quarter`, `half`, `two thirds`, `a tenth`);
- numbers of 10 or more in digits (`100`, `10,000`): smaller integers are ordinary words;
- durations: `10m`, `1h30m`, `5 minutes`, and in words with a count (`five minutes`, `a minute`,
  `an hour`) or as `the last/past minute`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from handbook.facts import DURATION_UNITS, duration_seconds

COUNTS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty-five": 45, "sixty": 60, "ninety": 90,
}
"""Counts written as words, as titles write them before a unit ("five minutes") or a fraction ("two thirds")."""
PARTS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fifth": 5, "fifths": 5, "tenth": 10, "tenths": 10}
"""Fraction words and their denominators."""
UNITS = {"second": "s", "seconds": "s", "minute": "m", "minutes": "m", "hour": "h", "hours": "h", "day": "d", "days": "d"}

_COUNT = "|".join(sorted((re.escape(word) for word in COUNTS), key=len, reverse=True))
FRACTION = re.compile(rf"(?<![\w-])(?:(?P<count>{_COUNT})[\s-]+)?(?P<part>{'|'.join(PARTS)})\b(?!-)", re.IGNORECASE)
WORD_DURATION = re.compile(
    rf"(?<![\w-])(?:(?P<count>{_COUNT}|\d+(?:\.\d+)?)[\s-]+|the\s+(?:last|past)\s+)(?P<unit>{'|'.join(UNITS)})\b", re.IGNORECASE
)
COMPACT = re.compile(r"(?<![\w.:/\-])((?:\d+(?:ms|s|m|h|d|w))+)(?![\w.:/\-])")
NUMBER = re.compile(r"(?<![\w.:/\-#])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<pct>%)?(?![\w:/\-]|[.,]\d)")


@dataclass(frozen=True)
class Quantity:
    """A quantity stated in a text.

    Attributes:
        start: Offset of its first character.
        end: Offset just after it.
        text: As written.
        value: A ratio or number (`0.25` for "a quarter" and "25%"), or seconds for a duration.
        duration: Whether `value` is a duration in seconds.
    """

    start: int
    end: int
    text: str
    value: float
    duration: bool


def quantities(text: str) -> list[Quantity]:
    """Every quantity `text` states, left to right (a span is read once, the longest form first).

    Args:
        text: A title or another short line of plain text.

    Returns:
        The quantities found.
    """
    found: list[Quantity] = []

    def free(start: int, end: int) -> bool:
        return all(end <= q.start or start >= q.end for q in found)

    for match in WORD_DURATION.finditer(text):
        count = match["count"]
        if (count or "").lower() in ("a", "an") and match["unit"].lower() == "second":
            continue  # "a second node": an ordinal, not a duration
        amount = COUNTS[count.lower()] if count and count.lower() in COUNTS else float(count or 1)
        found.append(Quantity(match.start(), match.end(), match[0], amount * DURATION_UNITS[UNITS[match["unit"].lower()]], True))
    for match in COMPACT.finditer(text):
        seconds = duration_seconds(match[1])
        if seconds is not None and free(match.start(), match.end()):
            found.append(Quantity(match.start(), match.end(), match[0], seconds, True))
    for match in FRACTION.finditer(text):
        count = COUNTS.get((match["count"] or "a").lower(), 1)
        if free(match.start(), match.end()):
            found.append(Quantity(match.start(), match.end(), match[0], count / PARTS[match["part"].lower()], False))
    for match in NUMBER.finditer(text):
        value = float(match["num"].replace(",", ""))
        if match["pct"]:
            value /= 100
        elif value.is_integer() and value < 10:
            continue
        if free(match.start(), match.end()):
            found.append(Quantity(match.start(), match.end(), match[0], value, False))
    return sorted(found, key=lambda q: q.start)


def range_windows(expr: str) -> Iterator[float]:
    """The range windows of a PromQL expression, in seconds (`[1m]` -> 60, `[5m:1m]` -> 300)."""
    for match in re.finditer(r"\[(\d+(?:ms|s|m|h|d|w))(?::[^\]]*)?\]", expr):
        seconds = duration_seconds(match[1])
        if seconds is not None:
            yield seconds
