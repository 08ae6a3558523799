"""Component pages: a header generated from the catalog and the stack, above a hand-written narrative.

The header says what the sources of truth hold about a service: purpose, owning
team and people, tier, dependencies both ways, its configuration section, its
metrics, its alerts and their runbooks, its API modules. The narrative in
`docs/components/<service>.md` says what no source can: what the service does,
how it fails and what to look at first. A missing narrative is reported by the
`CMP` checks; the page still builds, with a warning in place of the narrative.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handbook import anchors, frontmatter
from handbook.reference import api
from handbook.reference import markdown as md
from handbook.reference.alerts import runbook_link
from handbook.reference.snapshot import Snapshot

if TYPE_CHECKING:
    from chorus.catalog import Service

NARRATIVE_DIR = Path("docs/components")
INDEX = "components/index.md"


def narrative_path(service: str) -> Path:
    """Where a service's hand-written narrative lives, relative to the project root."""
    return NARRATIVE_DIR / f"{anchors.slug(service)}.md"


@dataclass(frozen=True)
class Narrative:
    """A hand-written narrative, split into what the page needs.

    Attributes:
        meta: Its front matter.
        title: Its `# ` title, else the front matter title, else `""`.
        body: The Markdown after the front matter and the title.
    """

    meta: dict[str, Any]
    title: str
    body: str


def read_narrative(text: str) -> Narrative:
    """Split a narrative into front matter, title and body.

    Args:
        text: The whole file.

    Returns:
        The parts (front matter that does not parse is left to the `FM` checks and ignored here).
    """
    parsed = frontmatter.parse(text)
    meta = parsed.data if parsed.error is None else {}
    lines = parsed.body.splitlines()
    title = str(meta.get("title", ""))
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("# "):
        title = lines[first][2:].strip()
        lines = lines[first + 1 :]
    return Narrative(meta, title, "\n".join(lines).strip("\n"))


def _workload_text(workload: str, page: str, snap: Snapshot) -> str:
    """A workload name as a link to its manifest entry (or a note that the manifests lack it)."""
    objects = [m for m in snap.get("manifests") if m.name == workload and m.kind in ("Deployment", "StatefulSet", "DaemonSet")]
    if objects:
        return ", ".join(f"[{md.code(f'{m.kind}/{m.name}')}]({md.link(page, anchors.workload(m.kind, m.name))})" for m in objects)
    return f"{md.code(workload or 'none')} (no manifest for it in this tree)"


def _team_text(team_name: str, snap: Snapshot) -> str:
    team = snap.teams.get(team_name)
    if team is None:
        return md.text(team_name or "none")
    people = ", ".join(f"{md.text(p.name)} ({md.text(p.role)})" for p in team.people)
    reach_text = f"on-call {md.code(team.oncall)}, chat {md.code(team.chat)}"
    return f"**{md.text(team_name)}**" + (f" ({reach_text})" if reach_text else "") + (f": {people}" if people else "")


def _service_links(names: list[str], page: str, known: set[str]) -> str:
    if not names:
        return "none"
    return ", ".join(f"[{md.text(n)}]({md.link(page, anchors.component(n))})" if n in known else md.text(n) for n in names)


def _runbooks_naming(snap: Snapshot, service: str) -> list[str]:
    """Runbooks whose front matter lists the service in `services:` (the runbooks are read once per build).

    A runbook whose front matter fails validation is listed by what it wrote, so the component
    page still links it while the FM/RB checks report the error.
    """
    cache = snap.__dict__
    if "_runbook_services" not in cache:
        from handbook.project import Project
        from handbook.runbook import runbooks

        named: dict[str, list[str]] = {}
        for rb in runbooks(Project(snap.root)):
            raw = rb.meta.services if rb.meta is not None else rb.page.front_matter.data.get("services")
            named[rb.name] = [str(s) for s in raw] if isinstance(raw, list) else []
        cache["_runbook_services"] = named
    return [name for name, services in cache["_runbook_services"].items() if service in services]


def header(service: Service, snap: Snapshot) -> str:
    """The generated "`NAME` at a glance" section of a component page.

    Args:
        service: The service's catalog entry.
        snap: The build's sources.

    Returns:
        The section's Markdown.
    """
    name = service.name
    page = anchors.component(name)
    known = {s.name for s in snap.services}
    dependents = [s.name for s in snap.services if name in s.depends_on]
    facts = [
        f"- **Purpose:** {md.text(service.purpose)}",
        f"- **Team:** {_team_text(service.team, snap)}",
        f"- **Tier:** {md.text(service.tier)}",
        f"- **Depends on:** {_service_links(service.depends_on, page, known)}",
        f"- **Depended on by:** {_service_links(dependents, page, known)}",
    ]
    facts.append("- **Ports:** " + (", ".join(f"{md.text(k)} {md.code(v)}" for k, v in service.ports.items()) or "none"))
    facts.append("- **Workload:** " + _workload_text(service.workload, page, snap))
    for extra in service.additional_workloads:
        facts.append(f"- **Workload, role {md.text(extra.role)}:** " + _workload_text(extra.name, page, snap)
                     + f" — {md.text(extra.purpose)}")
    own = [k for k in snap.get_if_present("config") or [] if k.section == name]
    if own:
        links = ", ".join(f"[{md.code(k.key.split('.', 1)[1])}]({md.link(page, anchors.config_key(k.key))})" for k in own)
        facts.append(f"- **Configuration:** section [{md.code(name)}]({md.link(page, anchors.config_key(name))}): {links}")
    else:
        facts.append(f"- **Configuration:** no {md.code(name)} section in the schema")
    own_metrics = [m for m in snap.get("metrics") if name in m.services]
    facts.append(
        "- **Metrics:** "
        + (", ".join(f"[{md.code(m.name)}]({md.link(page, anchors.metric(m.name))})" for m in own_metrics) or "none")
    )
    alerts = [a for a in snap.get("alerts") if a.service == name]
    if alerts:
        items = [
            f"    - [{md.code(a.name)}]({md.link(page, anchors.alert(a.name))})"
            + (f" ({md.text(a.severity)})" if a.severity else "")
            + f" → runbook {runbook_link(snap.root, a, page)}"
            for a in alerts
        ]
        facts.append("- **Alerts:**\n" + "\n".join(items))
    else:
        facts.append("- **Alerts:** none")
    stems = list(dict.fromkeys([a.runbook_stem for a in alerts if a.runbook_stem and (snap.root / "runbooks" / f"{a.runbook_stem}.md").is_file()] + _runbooks_naming(snap, name)))
    facts.append("- **Runbooks:** " + (", ".join(f"[{md.text(s)}]({md.link(page, anchors.runbook(s))})" for s in stems) or "none"))
    modules = [m for m in api.modules(snap.root) if m.name == f"chorus.{name}" or m.name.startswith(f"chorus.{name}.")]
    facts.append("- **Code:** " + (", ".join(f"[{md.code(m.name)}]({md.link(page, m.uri)})" for m in modules) or "no module named after it"))
    # The service's own name in the heading: a search for it puts this page first.
    return md.heading(2, f"{md.code(name)} at a glance", anchors.COMPONENT_AT_A_GLANCE) + "\n\n" + "\n".join(facts)


def component_page(service: Service, snap: Snapshot, narrative_text: str | None) -> str:
    """A whole component page: the generated header, then the narrative (or a warning that it is missing).

    Args:
        service: The service's catalog entry.
        snap: The build's sources.
        narrative_text: The narrative file's text, or `None` when it does not exist.

    Returns:
        The page's Markdown.
    """
    name = service.name
    narrative = read_narrative(narrative_text) if narrative_text is not None else Narrative({}, "", "")
    title = narrative.title or name.capitalize()
    meta = {k: v for k, v in narrative.meta.items() if k != "title"}
    meta.setdefault("owner", service.team)
    intro = (
        f"*The header below is generated from `stack/catalog.yaml` and the stack; the rest of the page is "
        f"hand-written in {md.code(narrative_path(name).as_posix())}.*"
    )
    body = narrative.body or md.note(
        "warning",
        "Narrative missing",
        f"Nobody has written {md.code(narrative_path(name).as_posix())} yet: what {md.text(name)} does, how it "
        "fails and what to look at first. `handbook check` reports this as CMP001.",
    )
    return md.page(title, intro, header(service, snap), slo_section(name, snap), body, front_matter=meta)


def slo_section(name: str, snap: Snapshot) -> str:
    """The service's objectives from `stack/slo.yaml`, with the alerts (and runbooks) that protect them."""
    from handbook import slo

    slos, _ = slo.load(snap.root)
    runbook_of = {a.name: a.runbook_stem for a in snap.get("alerts") if a.runbook_stem and (snap.root / "runbooks" / f"{a.runbook_stem}.md").is_file()}
    return md.heading(2, "Service-level objectives", "service-level-objectives") + "\n\n" + slo.section_markdown(
        slos, name, anchors.component(name), runbook_of)


def index_table(snap: Snapshot) -> str:
    """The table of every service for the components index: name, tier, team, purpose."""
    rows = [
        [
            f"[{md.text(s.name)}]({md.link(INDEX, anchors.component(s.name))})",
            md.text(s.tier),
            md.text(s.team),
            md.text(s.purpose),
        ]
        for s in snap.services
    ]
    return "## Services\n\n" + md.table(["service", "tier", "team", "purpose"], rows)


def pages(snap: Snapshot, docs_dir: Path) -> dict[str, str]:
    """One page per catalog service, and the components index with the service table appended.

    Args:
        snap: The build's sources.
        docs_dir: The folder the narratives and the hand-written index are read from.

    Returns:
        Page path to Markdown.
    """
    result = {}
    for service in snap.services:
        uri = anchors.component(service.name)
        path = docs_dir / Path(uri)
        result[uri] = component_page(service, snap, path.read_text(encoding="utf-8") if path.is_file() else None)
    index = docs_dir / INDEX
    if index.is_file():
        result[INDEX] = index.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + index_table(snap) + "\n"
    return result
