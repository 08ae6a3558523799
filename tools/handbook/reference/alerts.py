"""Alert catalogue: every alerting rule in `stack/deploy/prometheus/`, with a link to its runbook.

Each alert sits at `anchors.alert(name)`. The runbook link is made only when the
runbook its `runbook_url` names exists; otherwise the entry says it is missing
(the alert checks fail on that, this page only shows it).
"""

from __future__ import annotations

from pathlib import Path

from handbook import anchors, sources
from handbook.promql import metric_names
from handbook.reference import markdown as md
from handbook.reference.snapshot import Snapshot
from handbook.sources import AlertRule, MetricInfo

PAGE = anchors.ALERTS_PAGE
UNASSIGNED = "unassigned"


def runbook_link(root: Path, alert: AlertRule, from_page: str = PAGE) -> str:
    """A link to the alert's runbook, or a visible note that it is missing.

    Args:
        root: The project root (runbooks are looked up in `runbooks/`).
        alert: The alert.
        from_page: The page the link is written on.

    Returns:
        The Markdown.
    """
    stem = alert.runbook_stem
    if stem and (root / "runbooks" / f"{stem}.md").is_file():
        return f"[{md.text(stem)}]({md.link(from_page, anchors.runbook(stem))})"
    url = alert.annotations.get("runbook_url", "")
    return f"**missing** (`runbook_url`: {md.code(url)})" if url else "**missing** (no `runbook_url`)"


def team_of(alert: AlertRule, snap: Snapshot) -> str:
    """The alert's `team` label, else the owning team of its service in the catalog, else `""`."""
    if alert.labels.get("team"):
        return alert.labels["team"]
    return next((service.team for service in snap.services if service.name == alert.service), "")


def metric_links(alert: AlertRule, known: dict[str, MetricInfo] | None) -> str:
    """The metrics the expression reads, linked to the metrics reference when they are known.

    Args:
        alert: The alert.
        known: Series name to metric, or `None` when the metrics reference does not exist yet.

    Returns:
        The Markdown list of names, or `""`.
    """
    try:
        names = sorted(metric_names(alert.expr))
    except ValueError as exc:
        return f"expression does not parse: {md.text(exc)}"
    shown = []
    for name in names:
        metric = known.get(name) if known else None
        shown.append(f"[{md.code(name)}]({md.link(PAGE, anchors.metric(name))})" if metric else md.code(name))
    return ", ".join(shown)


def alert_entry(alert: AlertRule, snap: Snapshot, known: dict[str, MetricInfo] | None) -> str:
    """The entry of one alert, at `anchors.alert(alert.name)`.

    Args:
        alert: The alert.
        snap: The build's sources.
        known: Series name to metric, or `None`.

    Returns:
        The entry's Markdown.
    """
    services = {s.name for s in snap.services}
    parts = [md.heading(3, md.code(alert.name), md.fragment(anchors.alert(alert.name)))]
    summary = alert.annotations.get("summary", "")
    parts.append(md.text(summary) if summary else "*No summary annotation.*")
    service = alert.service
    service_text = f"[{service}]({md.link(PAGE, anchors.component(service))})" if service in services else md.text(service or "none")
    facts = [
        f"- **Severity:** {md.code(alert.severity) if alert.severity else 'none'}",
        f"- **Service:** {service_text} · **team:** {md.text(team_of(alert, snap) or 'none')}",
        f"- **For:** {md.code(alert.for_) if alert.for_ else 'fires at once'}",
        f"- **Runbook:** {runbook_link(snap.root, alert)}",
        f"- **Defined in:** {md.code(f'{alert.path.as_posix()}:{alert.line}')} (group {md.code(alert.group)})",
    ]
    used = metric_links(alert, known)
    if used:
        facts.append(f"- **Reads:** {used}")
    parts.append("\n".join(facts))
    parts.append(f"```promql\n{alert.expr}\n```")
    description = alert.annotations.get("description", "")
    if description:
        parts.append(md.text(description))
    return "\n\n".join(parts)


def render(snap: Snapshot) -> str:
    """The alert catalogue page: a summary table, then the alerts grouped by service.

    Args:
        snap: The build's sources (`alerts`, `catalog`, and `metrics` when they exist).

    Returns:
        The page's Markdown.
    """
    alerts: list[AlertRule] = snap.get("alerts")
    known = {s: m for m in snap.get("metrics") for s in (m.name, *m.series)}
    intro = (
        f"Every alerting rule of Chorus, generated at build time from {md.code(sources.ALERTS_DIR.as_posix() + '/')}: "
        "name, severity, service and team, expression, `for:`, summary and the one runbook to open."
    )
    if not alerts:
        return md.page(
            "Alerts",
            intro,
            md.note("warning", "No alert rules yet", f"No alerting rule is defined in {md.code(sources.ALERTS_DIR.as_posix() + '/')} in this tree."),
            front_matter={"owner": "handbook"},
        )
    rows = [
        [
            f"[{md.code(a.name)}]({md.link(PAGE, anchors.alert(a.name))})",
            md.text(a.severity),
            md.text(a.service),
            md.code(a.for_) if a.for_ else "",
            runbook_link(snap.root, a),
        ]
        for a in alerts
    ]
    blocks = ["## All alerts\n\n" + md.table(["alert", "severity", "service", "for", "runbook"], rows)]
    order = [s.name for s in snap.services]
    groups: dict[str, list[AlertRule]] = {}
    for alert in alerts:
        groups.setdefault(alert.service or UNASSIGNED, []).append(alert)
    for group in sorted(groups, key=lambda g: (order.index(g) if g in order else len(order), g)):
        title = "No `service` label" if group == UNASSIGNED else f"{md.code(group)} service"
        section = [md.heading(2, title, f"service-{anchors.slug(group)}")]
        section.extend(alert_entry(a, snap, known) for a in groups[group])
        blocks.append("\n\n".join(section))
    return md.page("Alerts", intro, *blocks, front_matter={"owner": "handbook"})
