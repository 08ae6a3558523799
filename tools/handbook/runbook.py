"""What a runbook is: its front matter schema, its fixed sections, and how to read one.

A runbook is one Markdown file in `runbooks/` (any name except `index.md`) with
a YAML header validated by `RunbookMeta` and a body made of exactly the
`SECTIONS`, as level-2 headings, in that order. The schema is pydantic, so the
rules, their error messages and the JSON schema on the site come from one place.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from handbook.mdscan import MarkdownPage
from handbook.pagemeta import SearchSettings, schema_errors

RUNBOOKS_DIR = "runbooks"
INDEX = "index.md"

SECTIONS: tuple[str, ...] = ("What is happening", "Impact", "Diagnose", "Mitigate", "Verify", "Escalate")
"""The body's level-2 sections, in the order a person woken at 3 a.m. needs them."""

from chorus.deploy import SEVERITIES as ALERT_SEVERITIES  # noqa: E402  (the one list of alert severities)

SEVERITIES: tuple[str, ...] = (*ALERT_SEVERITIES, "info")
"""Runbook severities: an alert's (`chorus.deploy.SEVERITIES`), or `info` for a task runbook."""
INTERVAL = re.compile(r"^(?P<count>[1-9][0-9]*)(?P<unit>[dw])$")


class RunbookMeta(BaseModel):
    """The front matter of a runbook.

    Attributes:
        title: What the page is called; alert runbooks start with the alert names, so a search for an alert finds it.
        alerts: The alert rules this runbook answers (empty for a task runbook).
        services: The catalog services it is about.
        severity: `critical`, `warning` or `info`; for an alert runbook, the alerts' `severity` label.
        owner: The catalog team that keeps it true.
        last_reviewed: The date someone last checked it end to end.
        review_interval: How often it must be reviewed, e.g. `90d` or `12w`.
        search: Material search settings, e.g. `{boost: 3}`.
        drill: How the runbook's condition is induced locally, or why it cannot be (`handbook.drill.spec.DrillSpec`).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=3, description="Page title; alert runbooks start with the alert name(s).")
    alerts: list[str] = Field(default_factory=list, description="Alert rule names this runbook answers; empty for a task runbook.")
    services: list[str] = Field(min_length=1, description="Catalog services the runbook is about.")
    severity: Literal[SEVERITIES] = Field(description="For an alert runbook, the alerts' severity label.")  # type: ignore[valid-type]
    owner: str = Field(min_length=1, description="The catalog team that owns the runbook.")
    last_reviewed: dt.date = Field(description="Date of the last end-to-end review (YYYY-MM-DD).")
    review_interval: str | None = Field(
        default=None, pattern=INTERVAL.pattern,
        description="How often to review: days or weeks, e.g. 90d, 12w; default: the runbooks section's interval.",
    )
    search: SearchSettings | None = Field(default=None, description="Material search settings (e.g. boost).")
    drill: dict[str, Any] | None = Field(
        default=None,
        description="How the runbook is rehearsed on a local stack (`handbook drill`); its keys are checked by DR002.",
    )

    @field_validator("last_reviewed")
    @classmethod
    def _not_in_future(cls, value: dt.date) -> dt.date:
        if value > dt.date.today():
            raise ValueError("last_reviewed is in the future")
        return value

    @property
    def review_days(self) -> int:
        """The review interval in days (the runbooks section's default when not set)."""
        from handbook.knowledge.review import default_interval, interval_days

        days = interval_days(self.review_interval or default_interval(RUNBOOKS_DIR + "/x.md")[0])
        assert days is not None
        return days


@dataclass(frozen=True)
class SchemaError:
    """One front matter problem at a file position.

    Attributes:
        line: 1-based line.
        col: 1-based column.
        message: What is wrong.
    """

    line: int
    col: int
    message: str


def is_runbook(rel: Path) -> bool:
    """Whether a project-relative path is a runbook file (`runbooks/*.md`, not the index)."""
    return len(rel.parts) == 2 and rel.parts[0] == RUNBOOKS_DIR and rel.suffix == ".md" and rel.name != INDEX


class Runbook:
    """One runbook file, read and scanned once.

    Args:
        path: The file.
        rel: The path relative to the project root (`runbooks/NAME.md`).
        text: The file's text.
    """

    def __init__(self, path: Path, rel: Path, text: str | MarkdownPage) -> None:
        self.path = path
        self.rel = rel
        self.page = text if isinstance(text, MarkdownPage) else MarkdownPage(text)

    @property
    def name(self) -> str:
        """The file stem, which is also the page's slug under `/runbooks/`."""
        return self.rel.stem

    @cached_property
    def validated(self) -> tuple[RunbookMeta | None, list[SchemaError]]:
        """The front matter validated against `RunbookMeta`, and every error with its position."""
        block = self.page.front_matter
        if block.error is not None:
            return None, []  # reported by the front matter (FM) family
        if not block.end_line:
            return None, [SchemaError(1, 1, "runbook has no front matter: start the file with a '---' block (see the template)")]
        try:
            return RunbookMeta.model_validate(block.data), []
        except ValidationError as exc:
            return None, [SchemaError(*error) for error in schema_errors(exc, block, RunbookMeta)]

    @property
    def meta(self) -> RunbookMeta | None:
        """The valid front matter, or `None` when it does not validate."""
        return self.validated[0]

    @property
    def raw_meta(self) -> dict:
        """The front matter mapping as written, valid or not."""
        return self.page.front_matter.data

    @property
    def alerts(self) -> list[str]:
        """The alerts this runbook answers: validated, or as written when the rest of its front matter is not."""
        return self.meta.alerts if self.meta is not None else alert_names(self.raw_meta)


def alert_names(data: Any) -> list[str]:
    """The `alerts:` of a front matter mapping as written, when it is a list of names; else none.

    The schema (RB001) reports any other shape once; a string must not be read as a list of letters.

    Args:
        data: The front matter mapping (or whatever the front matter held).

    Returns:
        The alert names.
    """
    alerts = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(alerts, list):
        return []
    return [name for name in alerts if isinstance(name, str)]


def runbooks(project: Any) -> list[Runbook]:
    """Every runbook of a `Project`, read once per run and cached on it.

    Args:
        project: The project.

    Returns:
        The runbooks, sorted by file name.
    """
    cache = project.__dict__
    if "_runbooks" not in cache:
        found = []
        for path in project.pages_in(RUNBOOKS_DIR):
            rel = path.relative_to(project.root)
            if is_runbook(rel):
                found.append(Runbook(path, rel, project.page(path)))
        cache["_runbooks"] = found
    return cache["_runbooks"]


def unreadable_runbooks(project: Any) -> list[Path]:
    """Runbook files that exist but no check can read (a byte that is not UTF-8, too big...), relative to the root.

    The runner reports each once (HB001). They still exist: a check that asks whether a runbook
    exists, or which alerts have one, must not tell the author to create the file they are fixing.
    """
    return [bad.path for bad in project.unreadable if is_runbook(bad.path)]


def runbook_names(project: Any) -> set[str]:
    """The name of every runbook file, readable or not."""
    return {rb.name for rb in runbooks(project)} | {path.stem for path in unreadable_runbooks(project)}


SCHEMA_MARKER = "<!-- handbook:runbook-schema -->"


def schema_table() -> str:
    """The front matter schema as a Markdown table, generated from `RunbookMeta` (so it cannot drift)."""
    from handbook.sources import type_label

    rows = ["| key | type | required | what it holds |", "|---|---|---|---|"]
    for name, info in RunbookMeta.model_fields.items():
        kind = type_label(info.annotation).replace("|", "or").replace("SearchSettings", "mapping (`boost`: 0-10, `exclude`)")
        rows.append(f"| `{name}` | {kind} | {'yes' if info.is_required() else 'no'} | {info.description or ''} |")
    return "\n".join(rows)
