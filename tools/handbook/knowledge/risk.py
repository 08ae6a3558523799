"""The knowledge-risk report: for every service, how much of what is known about it sits with few people.

For each service of `stack/catalog.yaml`, from the catalog, the pages and git history:

- the owning team and its people;
- distinct authors of its code (`stack/chorus/<service>/`) and of its pages over a window (`git log`);
- its **bus factor**: the fewest people who last wrote at least half of its current lines
  (`git blame`), and a **truck factor** in the spirit of Avelino et al. (2016): the fewest people
  whose leaving orphans more than half of its files, a file's authors being those holding at
  least 75 % of its top author's lines;
- **knowledge islands**: files where one person wrote at least 95 % of the current lines;
- runbook coverage of its alerts, drill status, diagram presence, review freshness, decision records.

Each finding adds points to a risk score, with the reason spelled out; services are listed worst
first. `without` removes one person (an author or a catalog person) and shows what would be left -
the off-boarding view.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from handbook import sources
from handbook.errors import HandbookError
from handbook.knowledge.history import Blame, Repo
from handbook.knowledge.stale import Status, statuses
from handbook.project import Project
from handbook.runbook import runbooks

ISLAND_SHARE = 0.95
BUS_SHARE = 0.5
TRUCK_AUTHOR_SHARE = 0.75
DEFAULT_WINDOW_DAYS = 180
SERVICE_CALL = re.compile(r"""\bservice\(\s*["'](?P<name>[a-z][a-z0-9-]*)["']""")


@dataclass(frozen=True)
class Finding:
    """One reason a service's knowledge is at risk.

    Attributes:
        category: A short category for the chart (`bus factor`, `islands`, `authors`, `team`,
            `runbooks`, `drills`, `diagrams`, `review`, `decisions`, `off-boarding`).
        points: How much it adds to the score.
        reason: The finding, spelled out.
    """

    category: str
    points: float
    reason: str


@dataclass
class ServiceRisk:
    """The knowledge risk of one service.

    Attributes:
        service: The service's name.
        team: The owning team.
        people: The team's people (catalog), without the person left out.
        code_files: The service's code files at HEAD.
        pages: Its pages (runbooks, component page, pages naming it in `services:`).
        code_authors: Distinct authors of its code within the window.
        page_authors: Distinct authors of its pages within the window.
        lines: Current lines by author, code and pages together (git blame).
        bus_factor: Fewest people holding at least half of the current lines (0 without history).
        truck_factor: Fewest people whose leaving orphans more than half of its files.
        islands: Files where one author wrote at least 95 % of the lines, with that author.
        alerts: Its alerts (by `service` label).
        uncovered: Its alerts that no runbook answers.
        drills: `(runbooks with a drill, runbooks)`.
        diagrams: Diagram sources that draw it.
        due_pages: Its pages due for review.
        decisions: Decision records about it.
        findings: Why it is at risk.
        lost: In the off-boarding view, the files whose main author left, and the share of lines lost.
    """

    service: str
    team: str
    people: list[str]
    code_files: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    code_authors: list[str] = field(default_factory=list)
    page_authors: list[str] = field(default_factory=list)
    lines: Counter[str] = field(default_factory=Counter)
    bus_factor: int = 0
    truck_factor: int = 0
    islands: list[tuple[str, str]] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    drills: tuple[int, int] = (0, 0)
    diagrams: list[str] = field(default_factory=list)
    due_pages: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    lost: tuple[list[str], float] = ([], 0.0)

    @property
    def score(self) -> float:
        """The risk score: the sum of the findings' points."""
        return round(sum(f.points for f in self.findings), 2)


@dataclass
class RiskReport:
    """The report for every service.

    Attributes:
        services: Worst first.
        window: `(since, until)` of the authorship window.
        without: The person left out (off-boarding view), or `None`.
        notes: About history (shallow clone, no git) and drills.
        has_drills: Whether any runbook declares a drill yet.
    """

    services: list[ServiceRisk]
    window: tuple[dt.date, dt.date]
    without: str | None = None
    notes: list[str] = field(default_factory=list)
    has_drills: bool = False


def bus_factor(lines: Counter[str], share: float = BUS_SHARE) -> int:
    """The fewest authors who together last wrote at least `share` of the lines (0 for no lines)."""
    total = sum(lines.values())
    if total == 0:
        return 0
    held = 0
    for count, (_, n) in enumerate(lines.most_common(), start=1):
        held += n
        if held >= share * total:
            return count
    return len(lines)


def file_authors(blame: Blame) -> set[str]:
    """A file's authors for the truck factor: those holding at least 75 % of its top author's lines."""
    if not blame.lines:
        return set()
    top = max(blame.lines.values())
    return {a for a, n in blame.lines.items() if n >= TRUCK_AUTHOR_SHARE * top}


def truck_factor(blames: list[Blame]) -> int:
    """The fewest authors whose leaving orphans more than half the files (greedy, as Avelino et al.).

    Args:
        blames: The files' blames.

    Returns:
        The truck factor (0 when there are no authored files).
    """
    owners = [file_authors(b) for b in blames if b.lines]
    if not owners:
        return 0
    removed: set[str] = set()
    while True:
        orphaned = sum(1 for o in owners if not (o - removed))
        if orphaned * 2 > len(owners):
            return len(removed)
        coverage = Counter(a for o in owners for a in o - removed)
        if not coverage:
            return len(removed)
        removed.add(coverage.most_common(1)[0][0])


def _same(name: str, other: str) -> bool:
    return name.strip().casefold() == other.strip().casefold()


def _service_pages(project: Project, name: str) -> list[str]:
    pages = []
    for rb in runbooks(project):
        services = rb.raw_meta.get("services") if isinstance(rb.raw_meta, dict) else None
        if isinstance(services, list) and name in services:
            pages.append(rb.rel.as_posix())
    component = project.root / "docs" / "components" / f"{name}.md"
    if component.is_file():
        pages.append(component.relative_to(project.root).as_posix())
    return sorted(pages)


def _decisions(project: Project, name: str) -> list[str]:
    mention = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])|components/{re.escape(name)}\.md", re.IGNORECASE)
    found = []
    for path in project.pages_in("docs/decisions"):
        if path.name in ("index.md", "SUMMARY.md"):
            continue
        if mention.search(project.read_text(path)):
            found.append(path.relative_to(project.root).as_posix())
    return found


def _diagrams(project: Project) -> dict[str, list[str]]:
    drawn: dict[str, list[str]] = {}
    folder = project.root / "diagrams"
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        for name in sorted(set(SERVICE_CALL.findall(path.read_text(encoding="utf-8")))):
            drawn.setdefault(name, []).append(path.stem)
    return drawn


def _alerts(project: Project) -> list[Any]:
    try:
        return sources.alert_rules(project.root)
    except HandbookError:
        return []


def build(project: Project, window_days: int = DEFAULT_WINDOW_DAYS, since: dt.date | None = None,
          without: str | None = None, as_of: dt.date | None = None, review: list[Status] | None = None,
          progress: Callable[[str], None] | None = None) -> RiskReport:
    """The knowledge-risk report of every service.

    Args:
        project: The checkout.
        window_days: The authorship window, in days back from `as_of`.
        since: The window's start instead (overrides `window_days`).
        without: A person to leave out (author name or catalog person, case-insensitive).
        as_of: The date to judge by (default: today).
        review: The pages' review statuses (default: computed).
        progress: Called with a one-line message before long work.

    Returns:
        The report, worst service first.

    Raises:
        HandbookError: The catalog cannot be read.
    """
    today = as_of or dt.date.today()
    start = since or today - dt.timedelta(days=window_days)
    repo = Repo(project.root, progress)
    state = repo.state()
    notes = [n for n in [state.note()] if n]
    catalog = sources.catalog_model(project.root)
    teams = {team.name: [person.name for person in team.people] for team in catalog.teams}
    services = catalog.services
    books = runbooks(project)
    has_drills = any(isinstance(rb.raw_meta, dict) and rb.raw_meta.get("drill") for rb in books)
    if not has_drills:
        notes.append("no drills yet: no runbook declares a drill, so drill status is not scored beyond that")
    alerts = _alerts(project)
    answered = {a for rb in books for a in rb.alerts}
    drawn = _diagrams(project)
    review = review if review is not None else statuses(project, today)
    due = {s.page.rel for s in review if s.due}
    per_service: list[ServiceRisk] = []
    all_files: dict[str, list[str]] = {}
    for service in services:
        name = service.name
        folder = project.root / sources.STACK_PACKAGE / name
        code = sorted(p.relative_to(project.root).as_posix() for p in folder.rglob("*") if p.is_file() and p.suffix in (".py", ".yaml", ".yml", ".md") and "__pycache__" not in p.parts) if folder.is_dir() else []
        pages = _service_pages(project, name)
        all_files[name] = code + pages
        team = service.team
        risk = ServiceRisk(name, team, list(teams.get(team, [])), code, pages)
        risk.alerts = sorted(r.name for r in alerts if r.service == name)
        risk.uncovered = [a for a in risk.alerts if a not in answered]
        service_books = [rb for rb in books if rb.rel.as_posix() in pages]
        risk.drills = (sum(1 for rb in service_books if rb.raw_meta.get("drill")), len(service_books))
        risk.diagrams = drawn.get(name, [])
        risk.due_pages = [p for p in pages if p in due]
        risk.decisions = _decisions(project, name)
        per_service.append(risk)
    wanted = sorted({f for files in all_files.values() for f in files})
    blames = repo.blame(wanted) if state.has_git else {}
    log = repo.log(since=start) if state.has_git else []
    for risk in per_service:
        _authorship(risk, blames, log, without)
        risk.findings = _findings(risk, state.has_git, has_drills, without, window_days if since is None else (today - start).days)
    per_service.sort(key=lambda r: (-r.score, r.service))
    if without and state.has_git:
        known = {a for b in blames.values() for a in b.lines} | {p for people in teams.values() for p in people}
        if not any(_same(without, k) for k in known):
            notes.append(f"nobody named {without!r} wrote current lines or is in the catalog (authors: {', '.join(sorted(known))})")
    return RiskReport(per_service, (start, today), without, notes, has_drills)


def _authorship(risk: ServiceRisk, blames: dict[str, Blame], log: list[Any], without: str | None) -> None:
    files = set(risk.code_files) | set(risk.pages)
    mine = [blames[f] for f in sorted(files) if f in blames]
    lines: Counter[str] = Counter()
    for blame in mine:
        lines.update(blame.lines)
    lost_files = []
    lost_lines = 0
    if without:
        for blame in mine:
            leaving = sum(n for a, n in blame.lines.items() if _same(a, without))
            lost_lines += leaving
            if blame.total and leaving * 2 >= blame.total:
                lost_files.append(blame.path)
        lines = Counter({a: n for a, n in lines.items() if not _same(a, without)})
        mine = [Blame(b.path, Counter({a: n for a, n in b.lines.items() if not _same(a, without)})) for b in mine]
        risk.people = [p for p in risk.people if not _same(p, without)]
        total = sum(sum(b.lines.values()) for b in mine) + lost_lines
        risk.lost = (lost_files, lost_lines / total if total else 0.0)
    risk.lines = lines
    risk.bus_factor = bus_factor(lines)
    risk.truck_factor = truck_factor(mine)
    risk.islands = [(b.path, b.lines.most_common(1)[0][0]) for b in mine if b.total and b.lines.most_common(1)[0][1] >= ISLAND_SHARE * b.total]
    code, pages = set(risk.code_files), set(risk.pages)
    keep = (lambda a: not _same(a, without)) if without else (lambda a: True)
    risk.code_authors = sorted({c.author for c in log if c.path in code and keep(c.author)})
    risk.page_authors = sorted({c.author for c in log if c.path in pages and keep(c.author)})


def _findings(risk: ServiceRisk, has_git: bool, has_drills: bool, without: str | None, window: int) -> list[Finding]:
    found: list[Finding] = []
    files = len(risk.code_files) + len(risk.pages)
    if has_git and risk.lines:
        top = ", ".join(a for a, _ in risk.lines.most_common(risk.bus_factor))
        if risk.bus_factor == 1:
            found.append(Finding("bus factor", 3, f"bus factor 1: {top} last wrote at least half of its current lines"))
        elif risk.bus_factor == 2:
            found.append(Finding("bus factor", 1.5, f"bus factor 2: {top} last wrote at least half of its current lines"))
        if risk.islands:
            share = len(risk.islands) / max(1, files)
            found.append(Finding("islands", round(2 * share, 2), f"{len(risk.islands)} of {files} files are knowledge islands (>= 95 % one author)"))
        authors = sorted(set(risk.code_authors) | set(risk.page_authors))
        if len(authors) <= 1:
            who = f" ({authors[0]})" if authors else ""
            found.append(Finding("authors", 2, f"{len(authors)} author(s){who} of its code and pages in the last {window} days"))
    elif has_git and files and not risk.lines:
        found.append(Finding("authors", 2, "no committed lines: its files are not in git yet"))
    if len(risk.people) < 2:
        found.append(Finding("team", 1, f"team {risk.team} has {len(risk.people)} person(s) in the catalog"))
    if risk.uncovered:
        share = len(risk.uncovered) / max(1, len(risk.alerts))
        found.append(Finding("runbooks", round(3 * share, 2), f"{len(risk.uncovered)} of {len(risk.alerts)} alerts have no runbook: {', '.join(risk.uncovered)}"))
    elif not risk.alerts:
        found.append(Finding("runbooks", 1, "no alert names this service (`service` label): nothing pages for it"))
    drilled, total = risk.drills
    if not has_drills:
        found.append(Finding("drills", 1, "no drills yet: none of its runbooks has been proven by a drill"))
    elif drilled < total:
        found.append(Finding("drills", round((total - drilled) / max(1, total), 2), f"{total - drilled} of {total} runbooks have no drill"))
    if not risk.diagrams:
        found.append(Finding("diagrams", 1, "no diagram draws it"))
    if risk.due_pages:
        found.append(Finding("review", min(2.0, 0.5 * len(risk.due_pages)), f"{len(risk.due_pages)} of its pages are due for review: {', '.join(risk.due_pages)}"))
    if not risk.decisions:
        found.append(Finding("decisions", 1, "no decision record mentions it"))
    if without and risk.lost[1] > 0:
        files_lost, share = risk.lost
        found.append(Finding("off-boarding", round(4 * share, 2), f"without {without}: {share:.0%} of its current lines lose their author; {len(files_lost)} file(s) lose their main author"))
    return found


def render_text(report: RiskReport) -> str:
    """The report as text, worst service first, each reason on its own line.

    Args:
        report: The report.

    Returns:
        The text.
    """
    start, end = report.window
    title = f"Knowledge risk per service, authors from {start} to {end}"
    if report.without:
        title += f", without {report.without} (off-boarding view)"
    lines = [title]
    lines += [f"note: {n}" for n in report.notes]
    for risk in report.services:
        lines.append("")
        lines.append(f"{risk.service}  score {risk.score}  (team {risk.team}: {', '.join(risk.people) or 'nobody'})")
        lines.append(
            f"  bus factor {risk.bus_factor}, truck factor {risk.truck_factor}; authors in window: code {len(risk.code_authors)}, "
            f"pages {len(risk.page_authors)}; {len(risk.code_files)} code files, {len(risk.pages)} pages"
        )
        if report.without and risk.lost[0]:
            lines.append(f"  files losing their main author: {', '.join(risk.lost[0])}")
        for finding in sorted(risk.findings, key=lambda f: -f.points):
            lines.append(f"  +{finding.points:g}  {finding.reason}")
    return "\n".join(lines)
