"""Metrics reference: every metric the services export, from their Prometheus registries.

Each metric sits at `anchors.metric(name)`, and each series a query may use (a
histogram's `_bucket`, `_sum`, `_count`) has an anchor of its own, so a link
made from any name found in PromQL lands on the metric.
"""

from __future__ import annotations

from handbook import anchors
from handbook.promql import metric_names
from handbook.reference import markdown as md
from handbook.reference.snapshot import Snapshot
from handbook.sources import AlertRule, MetricInfo

PAGE = anchors.METRICS_PAGE
SHARED = "shared"


def alerts_by_series(alerts: list[AlertRule]) -> dict[str, list[AlertRule]]:
    """Which alerts read each series name (expressions that do not parse are skipped).

    Args:
        alerts: The alert rules.

    Returns:
        Series name to the alerts whose expression selects it.
    """
    using: dict[str, list[AlertRule]] = {}
    for alert in alerts:
        try:
            names = metric_names(alert.expr)
        except ValueError:
            continue
        for name in sorted(names):
            using.setdefault(name, []).append(alert)
    return using


def metric_entry(metric: MetricInfo, used_by: list[AlertRule], services: set[str]) -> str:
    """The entry of one metric, at `anchors.metric(metric.name)`.

    Args:
        metric: The metric.
        used_by: The alerts whose expressions read it.
        services: The catalog's service names (exporters not in it are shown unlinked).

    Returns:
        The entry's Markdown.
    """
    parts = [md.heading(3, md.code(metric.name), md.fragment(anchors.metric(metric.name)))]
    parts.append(md.text(metric.help) if metric.help else "*No HELP text.*")
    exporters = ", ".join(
        f"[{s}]({md.link(PAGE, anchors.component(s))})" if s in services else md.text(s) for s in metric.services
    )
    facts = [f"- **Type:** {md.code(metric.type)}"]
    facts.append("- **Labels:** " + (", ".join(md.code(label) for label in metric.labels) if metric.labels else "none"))
    facts.append(f"- **Exported by:** {exporters}")
    extra = [s for s in metric.series if s != metric.name]
    if extra:
        facts.append("- **Series:** " + ", ".join(f"{md.code(s)}{{ #{anchors.slug(s)} }}" for s in extra))
    if metric.buckets:
        facts.append("- **Buckets (`le`):** " + ", ".join(md.code(md.value(b)) for b in metric.buckets))
    if used_by:
        links = [f"[{md.code(a.name)}]({md.link(PAGE, anchors.alert(a.name))})" for a in used_by]
        facts.append("- **Used by alerts:** " + ", ".join(links))
    parts.append("\n".join(facts))
    return "\n\n".join(parts)


def render(snap: Snapshot) -> str:
    """The metrics reference page: a summary table, then the metrics grouped by exporting service.

    Args:
        snap: The build's sources (`metrics`, `catalog`, and `alerts` when they exist).

    Returns:
        The page's Markdown.
    """
    intro = (
        "Every metric the Chorus services export, generated at build time from each service's "
        "Prometheus registry (`chorus.metrics.service_registries()`): name, type, labels, HELP text, "
        "which service exports it and which alerts read it."
    )
    found: list[MetricInfo] = snap.get("metrics")
    alerts = snap.get("alerts")
    using = alerts_by_series(alerts)
    order = [s.name for s in snap.services]
    services = set(order)
    rows = [
        [
            f"[{md.code(m.name)}]({md.link(PAGE, anchors.metric(m.name))})",
            m.type,
            ", ".join(md.code(label) for label in m.labels),
            ", ".join(m.services),
            md.text(m.help),
        ]
        for m in found
    ]
    blocks = ["## All metrics\n\n" + md.table(["metric", "type", "labels", "exported by", "help"], rows)]
    groups: dict[str, list[MetricInfo]] = {}
    for metric in found:
        groups.setdefault(metric.services[0] if len(metric.services) == 1 else SHARED, []).append(metric)
    for group in sorted(groups, key=lambda g: (g == SHARED, order.index(g) if g in order else len(order), g)):
        title = "Exported by several services" if group == SHARED else f"{md.code(group)} service"
        anchor = "shared-metrics" if group == SHARED else f"service-{anchors.slug(group)}"
        section = [md.heading(2, title, anchor)]
        for metric in groups[group]:
            used_by = list({a.name: a for s in metric.series for a in using.get(s, [])}.values())
            section.append(metric_entry(metric, used_by, services))
        blocks.append("\n\n".join(section))
    return md.page("Metrics", intro, *blocks, front_matter={"owner": "handbook"})
