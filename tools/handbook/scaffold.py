"""`handbook new runbook NAME [--alert ALERT]`: start a runbook from the template.

With `--alert`, the alert's facts are filled in as live values - its expression,
`for:` duration, threshold, severity, description, service, owning team and
on-call rotation - so the new runbook is bound to the rules from its first line
and passes `handbook check` except for its `TODO`s (RB006). Nothing is copied
from the rule as text: its `description` annotation states thresholds and
durations, which would be hand-typed values (HV001) the moment they were pasted,
so it is quoted as the live value `{@alert.NAME.description}` and always shows
today's text. An existing file is never overwritten.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from handbook import facts as facts_mod
from handbook import sources
from handbook.errors import HandbookError
from handbook.runbook import RUNBOOKS_DIR, SEVERITIES

if TYPE_CHECKING:
    from chorus.catalog import Team

NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
TEMPLATE = "runbook.md"


def template_text() -> str:
    """The runbook template shipped with the `handbook` package."""
    return resources.files("handbook").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    left = re.findall(r"@@[A-Z]+@@", text)
    if left:  # pragma: no cover - guards the template and this module staying in step
        raise HandbookError(f"template placeholders not filled: {', '.join(left)}")
    return text


def _catalog(root: Path) -> tuple[dict[str, str], dict[str, Team]]:
    """Service name to team, and team name to its catalog entry."""
    try:
        catalog = sources.catalog_model(root)
    except HandbookError:
        return {}, {}
    return {s.name: s.team for s in catalog.services}, {t.name: t for t in catalog.teams}


def _namespace_and_workload(root: Path, workload: str) -> tuple[str, str] | None:
    """The namespace and kind of the workload object called `workload` in the manifests, if any."""
    try:
        objects = sources.manifests(root)
    except HandbookError:
        return None
    for obj in objects:
        if obj.name == workload and obj.kind in ("Deployment", "StatefulSet", "DaemonSet"):
            return obj.namespace, obj.kind
    return None


def render(root: Path, name: str, alert: str | None = None, today: dt.date | None = None) -> str:
    """The text of a new runbook.

    Args:
        root: The project root (alerts, catalog and manifests are read from it).
        name: The runbook's file stem, kebab-case.
        alert: The alert it answers, if any.
        today: The review date to write (default: today).

    Returns:
        The Markdown.

    Raises:
        HandbookError: The alert is not in the rules (the closest name is suggested).
    """
    today = today or dt.date.today()
    services, teams = _catalog(root)
    values = {
        "TITLE": name.replace("-", " ").capitalize(),
        "ALERTS": "[]",
        "SERVICES": "[TODO]",
        "SEVERITY": "info",
        "OWNER": "TODO",
        "TODAY": today.isoformat(),
        "BOOST": "1",
        "DRILL": "",
        "WHAT": "TODO: what the reader is looking at, in one or two sentences.",
        "DIAGNOSE": "TODO: commands to run, each followed by the output to expect.",
        "ESCALATE": "TODO: who to call, when, and with what evidence.",
    }
    if alert is None:
        return _fill(template_text(), values)
    rules = {rule.name: rule for rule in sources.alert_rules(root)}
    if alert not in rules:
        close = difflib.get_close_matches(alert, list(rules), n=1)
        hint = f"did you mean {close[0]}?" if close else f"the rules in {sources.ALERTS_DIR} are: {', '.join(rules) or 'none'}"
        raise HandbookError(f"unknown alert {alert}: {hint}")
    rule = rules[alert]
    service = rule.labels.get("service", "")
    team = services.get(service) or rule.labels.get("team", "") or "TODO"
    summary = " ".join(re.sub(r"\{\{.*?\}\}", "…", rule.annotations.get("summary", "")).split())
    # A title is not rendered (no live values in front matter): leave out the `for:` it would go stale with.
    summary = re.sub(r"\s+(?:for|over)\s+(?:the\s+last\s+)?\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|seconds?|minutes?|hours?|days?)\b", "", summary)
    title = f"{alert}: {summary}" if summary else alert
    workload_line = ""
    workload = None
    if service in services:
        workload = sources.catalog_model(root).service(service).workload
    located = _namespace_and_workload(root, workload) if workload else None
    if located is not None:
        namespace, kind = located
        ns = f"{{@k8s.{kind.lower()}.{workload}.namespace}}" if namespace else ""
        workload_line = (
            "\n\nThe workload:\n\n"
            '<!-- drill: production reason="kubectl reaches production only" -->\n```bash\n'
            f"kubectl {'-n ' + ns + ' ' if ns else ''}get {kind.lower()}/{{@service.{service}.workload}} -o wide\n```"
        )
    facts = facts_mod.build(root)
    for_clause = f" for {{@alert.{alert}.for}}" if facts.get(f"alert.{alert}.for") else ""
    details = [f"severity {{@alert.{alert}.severity}}"]
    if facts.get(f"alert.{alert}.threshold"):
        details.insert(0, f"threshold {{@alert.{alert}.threshold}}")
    described = facts.get(f"alert.{alert}.description") is not None
    values.update(
        {
            "TITLE": title.replace('"', "'"),
            "ALERTS": json.dumps([alert]),
            "SERVICES": json.dumps([service]) if service in services else "[TODO]",
            "SEVERITY": rule.severity if rule.severity in SEVERITIES else "warning",
            "OWNER": team,
            "BOOST": "3",
            "DRILL": (
                "drill:  # how `handbook drill` brings the condition about locally (see Writing a runbook)\n"
                f"  alert: {alert}\n"
                "  induce:\n    - run: \"TODO: a command that makes the alert fire on a local stack, "
                "or replace induce with not_drillable: the reason\"\n"
            ),
            "WHAT": (
                f"{{@alert.{alert}}} fires when this query has held{for_clause} ({', '.join(details)}):\n\n"
                f"```promql\n{{@alert.{alert}.expr}}\n```\n\n"
                + (
                    f"Its rule describes it as follows (the `description` annotation, rendered from the rules file):\n\n"
                    f"> {{@alert.{alert}.description}}\n\n"
                    if described
                    else ""
                )
                + "TODO: say in plain words what that means for Chorus."
            ),
            "DIAGNOSE": (
                "Where it fires now:\n\n"
                f"```promql\n{{@alert.{alert}.expr}}\n```"
                f"{workload_line}\n\n"
                "TODO: each next command, followed by the output to expect."
            ),
            "ESCALATE": (
                f"Page {{@team.{team}.oncall}} and post in {{@team.{team}.chat}} with what you saw in Diagnose."
                if team in teams
                else "TODO: who to call, when, and with what evidence."
            ),
        }
    )
    return _fill(template_text(), values)


def new_runbook(root: Path, name: str, alert: str | None = None) -> Path:
    """Write `runbooks/NAME.md` from the template; never overwrite.

    Args:
        root: The project root.
        name: The file stem, kebab-case (e.g. `fanout-near-cap`).
        alert: The alert it answers, if any.

    Returns:
        The new file.

    Raises:
        HandbookError: The name is not kebab-case, the file exists, or the alert is unknown.
    """
    if not NAME.match(name) or name == "index":
        raise HandbookError(f"runbook name {name!r} must be kebab-case, e.g. fanout-near-cap (and not 'index')")
    path = root / RUNBOOKS_DIR / f"{name}.md"
    if path.exists():
        raise HandbookError("runbook already exists; not overwritten (pick another name or edit it)", path=path.relative_to(root))
    text = render(root, name, alert)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as handle:  # "x": fail rather than overwrite, even in a race
        handle.write(text)
    return path
