"""Service-level objectives: stated once in `stack/slo.yaml`, shown on the component pages.

Each SLO names its service, its good and total events as PromQL over the metrics
the services export, an objective (a share between 0 and 1) over a window, and
the alerts that protect it. `SloSpec` is the schema (pydantic, so the checks and
the site share its rules); the component page of a service lists its SLOs with
links to those alerts and their runbooks; `handbook check` (SL) reports a file
that does not validate, PromQL that names a series no service exports, and an
alert that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handbook import anchors, yamlio
from handbook.reference import markdown as md

SLO_FILE = Path("stack/slo.yaml")


class SloSpec(BaseModel):
    """One service-level objective.

    Attributes:
        name: Kebab-case id, e.g. `join-success`.
        title: What it is called on pages.
        service: The catalog service that owns it.
        description: What a good event means to a person, in a sentence or two.
        good: PromQL for the rate (or count) of good events.
        total: PromQL for the rate (or count) of all events.
        objective: The share of good events to keep, between 0 and 1 (exclusive).
        window: The period the objective is measured over, e.g. `28d`.
        protected_by: The alerts that fire before the objective is lost.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str = Field(min_length=3)
    service: str = Field(min_length=1)
    description: str = Field(min_length=10)
    good: str = Field(min_length=1)
    total: str = Field(min_length=1)
    objective: float = Field(gt=0, lt=1)
    window: str = Field(pattern=r"^[1-9][0-9]*[dhw]$")
    protected_by: list[str] = Field(min_length=1)


@dataclass(frozen=True)
class Slo:
    """A validated SLO and the line it starts on.

    Attributes:
        spec: The SLO.
        line: Its line in `stack/slo.yaml`.
        doc: The loaded file (for the line of any field).
        index: Its position in the file's list.
    """

    spec: SloSpec
    line: int
    doc: yamlio.Located
    index: int

    def line_of(self, *keys: str | int) -> int:
        """The line of one of its fields."""
        return self.doc.line_of("slos", self.index, *keys)


def load(root: Path) -> tuple[list[Slo], list[tuple[int, str]]]:
    """The SLOs of the tree (none when the file does not exist) and what does not validate.

    Args:
        root: The project root.

    Returns:
        The valid SLOs, and `(line, message)` for each invalid entry.

    Raises:
        HandbookError: The file is not valid YAML (names file and line).
    """
    path = root / SLO_FILE
    if not path.is_file():
        return [], []
    doc = yamlio.load(SLO_FILE, text=path.read_text(encoding="utf-8"))
    entries = doc.data.get("slos") if isinstance(doc.data, dict) else None
    if not isinstance(entries, list):
        return [], [(1, "expected a top-level 'slos:' list")]
    found: list[Slo] = []
    errors: list[tuple[int, str]] = []
    for index, entry in enumerate(entries):
        try:
            found.append(Slo(SloSpec.model_validate(entry), doc.line_of("slos", index), doc, index))
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                where = ".".join(str(p) for p in loc) or "entry"
                errors.append((doc.line_of("slos", index, *loc), f"{where}: {err['msg']}"))
    return found, errors


def section_markdown(slos: list[Slo], service: str, page_uri: str, runbook_of: dict[str, str]) -> str:
    """The SLOs of one service for its component page: objective, window, meaning, protecting alerts.

    Args:
        slos: Every SLO.
        service: The service whose page this is.
        page_uri: The page's docs-relative path.
        runbook_of: Alert name to the runbook stem that answers it.

    Returns:
        Markdown (a sentence when the service has no SLO).
    """
    own = [s.spec for s in slos if s.spec.service == service]
    if not own:
        return f"No service-level objective is owned by {service} (`{SLO_FILE}`)."
    parts = []
    for spec in own:
        alerts = ", ".join(
            f"[`{a}`]({md.link(page_uri, anchors.alert(a))})" + (f" ([runbook]({md.link(page_uri, anchors.runbook(runbook_of[a]))}))" if a in runbook_of else "")
            for a in spec.protected_by
        )
        parts.append(
            f"### {spec.title}\n\n{spec.description}\n\n"
            f"- **objective:** {spec.objective * 100:g}% of events good over {spec.window}\n"
            f"- **good events:** `{spec.good}`\n"
            f"- **all events:** `{spec.total}`\n"
            f"- **protected by:** {alerts}\n"
        )
    return "\n".join(parts)
