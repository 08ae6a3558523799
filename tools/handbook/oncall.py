"""The on-call page's generated parts: teams and how to reach them, production access, escalation.

Everything here is read from a source of truth - the catalog (teams, people,
pager and chat, services), the Kubernetes manifests (namespace, workloads, the
labels that select their pods, the team label) and the alert rules with their
severities and `chorus.deploy.rules.ESCALATION` - so the page a new on-call
engineer reads on day one is today's.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from handbook import anchors, sources
from handbook.reference import markdown as md

TEAMS_MARKER = "<!-- handbook:oncall-teams -->"
ACCESS_MARKER = "<!-- handbook:oncall-access -->"
ESCALATION_MARKER = "<!-- handbook:oncall-escalation -->"


def teams_markdown(root: Path, page_uri: str) -> str:
    """Every team: pager, chat, people, the services it owns and the alerts that page it, by severity.

    Args:
        root: The project root.
        page_uri: The docs-relative page it goes on.

    Returns:
        A Markdown table.
    """
    catalog = sources.catalog_model(root)
    rules = sources.alert_rules(root)
    rows = ["| team | pager | chat | people | owns | alerts that page it |", "|---|---|---|---|---|---|"]
    for team in catalog.teams:
        people = ", ".join(f"{p.name} ({p.role})" for p in team.people)
        owns = ", ".join(f"[{s.name}]({md.link(page_uri, anchors.component(s.name))})"
                         for s in catalog.services if s.team == team.name)
        severities = Counter(r.severity for r in rules if r.labels.get("team") == team.name)
        alerts = ", ".join(f"{count} {severity}" for severity, count in sorted(severities.items())) or "none"
        rows.append(f"| `{team.name}` | `{team.oncall}` | `{team.chat}` | {people} | {owns} | {alerts} |")
    return "\n".join(rows)


def access_markdown(root: Path, page_uri: str) -> str:
    """Where Chorus runs in Kubernetes: namespaces, and per workload its kind, team and pod selector.

    Args:
        root: The project root.
        page_uri: The docs-relative page it goes on.

    Returns:
        Markdown: a table of workloads and the commands that list their pods.
    """
    objects = sources.manifests(root)
    namespaces = sorted({o.name for o in objects if o.kind == "Namespace" and o.name} | {o.namespace for o in objects if o.namespace})
    rows = ["| namespace | workload | team | pods selected by |", "|---|---|---|---|"]
    for obj in objects:
        if obj.kind not in sources.WORKLOAD_KINDS or not obj.name:
            continue
        team = obj.labels.get("chorus.dev/team", "-")
        selector = ",".join(f"{k}={v}" for k, v in obj.match_labels.items())
        link = f"[`{obj.kind.lower()}/{obj.name}`]({md.link(page_uri, anchors.workload(obj.kind, obj.name))})"
        rows.append(f"| `{obj.namespace or '-'}` | {link} | `{team}` | `{selector}` |")
    listing = ", ".join(f"`{n}`" for n in namespaces) or "none"
    return f"Namespaces: {listing}.\n\n" + "\n".join(rows)


def escalation_markdown(root: Path, page_uri: str) -> str:
    """What each severity means and what "escalate" means at it, with the alerts of that severity.

    Args:
        root: The project root.
        page_uri: The docs-relative page it goes on.

    Returns:
        Markdown: one definition per severity.
    """
    rules_module = sources.chorus_module("chorus.deploy.rules")
    alerts = sources.alert_rules(root)
    parts = []
    for severity in rules_module.SEVERITIES:
        names = ", ".join(f"[`{r.name}`]({md.link(page_uri, anchors.alert(r.name))})" for r in alerts if r.severity == severity) or "none"
        meaning = getattr(rules_module, "ESCALATION", {}).get(severity, "")
        parts.append(f"`{severity}`\n:   {meaning}\n\n    Alerts: {names}.\n")
    return "\n".join(parts)
