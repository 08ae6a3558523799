"""Checks of the Prometheus alerting rules against what Chorus really exports and who owns it.

`check_rules` takes the rules file as loaded YAML (`{"groups": [...]}`) and
returns a `Finding` per problem, with the key path at fault. Rule codes (family
AR, alert rules):

- AR001 the expression does not parse;
- AR002 a selector names a series no service exports;
- AR003 a matcher or grouping label is not a label of the series used;
- AR004 a required label (`severity`, `service`, `team`) is missing, or `severity` is not `critical` or `warning`;
- AR005 `service` is not a catalog service, or `team` is not the team that owns it;
- AR006 a required annotation (`summary`, `description`, `runbook_url`) is missing or empty;
- AR007 `runbook_url` is not `<site base>runbooks/<runbook>/`;
- AR008 `for:` is missing or not a PromQL duration;
- AR009 a `job` matcher (`=`, or `=~` with an alternation of names) names a job that is not a catalog workload;
- AR010 an alert name is repeated, or is not `Chorus` + CamelCase;
- AR011 an annotation uses `$labels.X` that the expression's result does not carry;
- AR012 the description does not quote the `for:` duration (e.g. `5m`) and every compared threshold;
- AR013 a rule or group has a key Prometheus does not know;
- AR014 the summary says a limit is reached ("at its cap", "at capacity", "is full") while the
  alert fires at a fraction of it (every threshold between 0 and 1): say "near".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import promql_parser

from chorus.catalog import Catalog
from chorus.deploy.findings import Finding, KeyPath
from chorus.deploy.promql import TARGET_LABELS, PromQLError, analyse

SEVERITIES = ("critical", "warning")
"""Allowed `severity` values: `critical` pages the owning team's on-call at once; `warning` opens a
ticket for working hours. The runbook of an alert carries the same severity."""

ESCALATION = {
    "critical": (
        "Listeners are losing audio or cannot join now. The owning team's on-call is paged at once, "
        "day or night. Escalate after 15 minutes without a working mitigation: page the owning "
        "team's second person (its tech lead) and tell the other team in its channel."
    ),
    "warning": (
        "Something is degrading but listeners are not yet hurt. It opens a ticket for the owning "
        "team's working hours; nobody is woken. Escalate only if it turns into its critical "
        "neighbour, or if it will still be firing when a large space is scheduled."
    ),
}
"""What each severity means for the person on call, and what "escalate" means at that severity."""

REQUIRED_LABELS = ("severity", "service", "team")
"""Labels every alert carries (Alertmanager routes on `team` and `severity`)."""

REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")
"""Annotations every alert carries."""

RULE_KEYS = frozenset({"alert", "expr", "for", "keep_firing_for", "labels", "annotations"})
"""Keys Prometheus accepts in an alerting rule."""

GROUP_KEYS = frozenset({"name", "interval", "rules", "limit", "query_offset", "labels"})
"""Keys Prometheus accepts in a rule group."""

ALERT_NAME = re.compile(r"^Chorus[A-Z][A-Za-z0-9]*$")
"""Alert names: `Chorus` then CamelCase, e.g. `ChorusFanoutNearCap`."""

RUNBOOK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
"""A runbook's file stem, e.g. `fanout-near-cap`."""

LIMIT_REACHED = re.compile(r"\b(at (its|the|their) [a-z -]*\b(cap|limit|capacity)|at capacity|is full|are full)\b", re.IGNORECASE)
"""Summary wording that claims a limit is reached; wrong for an alert that fires at a fraction of it."""

_TEMPLATE_LABEL = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)")


def runbook_url(site_url: str, runbook: str) -> str:
    """The URL of a runbook on the handbook site.

    Args:
        site_url: The site's base URL (the handbook's `site_url`), with or without the final `/`.
        runbook: The runbook's file stem, e.g. `fanout-near-cap`.

    Returns:
        e.g. `http://127.0.0.1:8000/runbooks/fanout-near-cap/`.
    """
    return f"{site_url.rstrip('/')}/runbooks/{runbook}/"


def format_number(value: float) -> str:
    """A threshold as the description must quote it: `0.9`, `100`, `0.005`.

    Args:
        value: The number.

    Returns:
        Its shortest plain form.
    """
    return f"{value:g}" if abs(value) >= 1e-4 or value == 0 else repr(value)


def check_rules(
    data: Any,
    series: Mapping[str, frozenset[str]],
    catalog: Catalog,
    site_url: str,
) -> list[Finding]:
    """Check a whole rules file.

    Args:
        data: The file as loaded YAML: `{"groups": [{"name": ..., "rules": [...]}, ...]}`.
        series: Exported series to their labels (`chorus.deploy.promql.exported_series`).
        catalog: The service catalog.
        site_url: The handbook's base URL; `runbook_url`s must start with it.

    Returns:
        Every problem found, in file order.
    """
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        return [Finding("AR013", "not a Prometheus rules file: expected a top-level 'groups:' list")]
    findings: list[Finding] = []
    seen: dict[str, KeyPath] = {}
    for g, group in enumerate(data["groups"]):
        where: KeyPath = ("groups", g)
        if not isinstance(group, dict):
            findings.append(Finding("AR013", "a rule group must be a mapping with 'name:' and 'rules:'", 0, where))
            continue
        for key in sorted(set(group) - GROUP_KEYS):
            findings.append(Finding("AR013", f"unknown key '{key}' in rule group (Prometheus refuses the file)", 0, (*where, key)))
        for r, rule in enumerate(group.get("rules") or []):
            if not isinstance(rule, dict) or "alert" not in rule:
                continue
            keys: KeyPath = (*where, "rules", r)
            name = str(rule["alert"])
            if name in seen:
                findings.append(Finding("AR010", f"alert {name} is defined twice; alert names are unique", 0, (*keys, "alert")))
            seen.setdefault(name, keys)
            findings.extend(_rule_findings(rule, keys, series, catalog, site_url))
    return findings


def _rule_findings(
    rule: dict[str, Any], keys: KeyPath, series: Mapping[str, frozenset[str]], catalog: Catalog, site_url: str
) -> Iterator[Finding]:
    """The problems of one alerting rule."""
    name = str(rule["alert"])
    for key in sorted(set(rule) - RULE_KEYS):
        yield Finding("AR013", f"alert {name}: unknown key '{key}' (Prometheus refuses the file)", 0, (*keys, key))
    if not ALERT_NAME.match(name):
        yield Finding("AR010", f"alert name {name!r} must be 'Chorus' followed by CamelCase, e.g. ChorusFanoutNearCap", 0, (*keys, "alert"))
    labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (rule.get("annotations") or {}).items()}
    yield from _label_findings(name, labels, keys, catalog)
    for annotation in REQUIRED_ANNOTATIONS:
        if not annotations.get(annotation, "").strip():
            yield Finding("AR006", f"alert {name} has no '{annotation}' annotation", 0, (*keys, "annotations"))
    yield from _runbook_findings(name, annotations.get("runbook_url", ""), keys, site_url)
    duration = str(rule.get("for", "")).strip()
    if not duration:
        yield Finding("AR008", f"alert {name} has no 'for:'; say how long the condition must hold before it fires", 0, keys)
    else:
        try:
            promql_parser.parse_duration(duration)
        except (ValueError, TypeError):
            yield Finding("AR008", f"alert {name}: 'for: {duration}' is not a duration (e.g. 5m)", 0, (*keys, "for"))
    try:
        analysis = analyse(str(rule.get("expr", "")), series)
    except PromQLError as exc:
        yield Finding("AR001", f"alert {name}: expression does not parse: {exc}", 0, (*keys, "expr"))
        return
    yield from _expression_findings(name, analysis, keys, series, catalog)
    yield from _template_findings(name, annotations, analysis.output_labels or frozenset(), keys)
    yield from _summary_wording_findings(name, annotations.get("summary", ""), analysis.thresholds, keys)
    description = annotations.get("description", "")
    if description.strip():
        tokens = {t.rstrip(".e+-") for t in re.findall(r"-?[0-9][0-9.e+-]*[a-z]*", description)}
        tokens |= {t.rstrip(".e+-") for t in re.findall(r"-?[0-9][0-9.e+-]*", description)}
        missing = [duration] if duration and duration not in tokens else []
        missing += [format_number(t) for t in analysis.thresholds if format_number(t) not in tokens]
        if missing:
            yield Finding(
                "AR012",
                f"alert {name}: the description must explain its threshold and duration; it does not say "
                + ", ".join(repr(m) for m in missing),
                0,
                (*keys, "annotations", "description"),
            )


def _summary_wording_findings(name: str, summary: str, thresholds: Any, keys: KeyPath) -> Iterator[Finding]:
    """A summary that says "at its cap" for an alert whose every threshold is a fraction below 1."""
    fractions = [t for t in thresholds or () if isinstance(t, (int, float))]
    said = LIMIT_REACHED.search(summary)
    if said and fractions and all(0 < t < 1 for t in fractions):
        yield Finding(
            "AR014",
            f"alert {name}: the summary says {said.group(0)!r} but the alert fires at "
            + ", ".join(format_number(t) for t in fractions)
            + " of the limit: say 'near' (or how near)",
            0,
            (*keys, "annotations", "summary"),
        )


def _label_findings(name: str, labels: dict[str, str], keys: KeyPath, catalog: Catalog) -> Iterator[Finding]:
    """Required labels, and `service`/`team` against the catalog."""
    for label in REQUIRED_LABELS:
        if not labels.get(label, "").strip():
            yield Finding("AR004", f"alert {name} has no '{label}' label", 0, (*keys, "labels"))
    severity = labels.get("severity", "")
    if severity and severity not in SEVERITIES:
        yield Finding("AR004", f"alert {name}: severity '{severity}' is not one of {', '.join(SEVERITIES)}", 0, (*keys, "labels", "severity"))
    service, team = labels.get("service", ""), labels.get("team", "")
    services = {s.name: s for s in catalog.services}
    if service and service not in services:
        yield Finding("AR005", f"alert {name}: service '{service}' is not in the catalog ({', '.join(services)})", 0, (*keys, "labels", "service"))
    elif service and team and team != services[service].team:
        yield Finding("AR005", f"alert {name}: team '{team}' does not own service {service}; the catalog says {services[service].team}", 0, (*keys, "labels", "team"))
    if team and team not in {t.name for t in catalog.teams}:
        yield Finding("AR005", f"alert {name}: team '{team}' is not in the catalog", 0, (*keys, "labels", "team"))


def _runbook_findings(name: str, url: str, keys: KeyPath, site_url: str) -> Iterator[Finding]:
    """`runbook_url` is the site base + `runbooks/<name>/`."""
    if not url.strip():
        return
    base = f"{site_url.rstrip('/')}/runbooks/"
    runbook = url[len(base):].rstrip("/") if url.startswith(base) else ""
    if not RUNBOOK_NAME.match(runbook) or url != runbook_url(site_url, runbook):
        yield Finding(
            "AR007",
            f"alert {name}: runbook_url {url} is not {base}<runbook>/ (the handbook's site_url, then the runbook's file stem)",
            0,
            (*keys, "annotations", "runbook_url"),
        )


def _expression_findings(
    name: str, analysis: Any, keys: KeyPath, series: Mapping[str, frozenset[str]], catalog: Catalog
) -> Iterator[Finding]:
    """Metric names, label names and `job` values the expression uses."""
    where = (*keys, "expr")
    workloads = set(catalog.workload_services())
    used_labels: set[str] = set(TARGET_LABELS)
    for selector in analysis.selectors:
        if selector.name is None:
            yield Finding("AR002", f"alert {name}: every selector must name a metric", 0, where)
            continue
        if selector.name not in series:
            yield Finding("AR002", f"alert {name}: no service exports {selector.name}", 0, where)
            continue
        known = series[selector.name]
        used_labels |= known
        for label, op, value in selector.matchers:
            if label not in known:
                yield Finding("AR003", f"alert {name}: {selector.name} has no label '{label}' "
                              f"(it has: {', '.join(sorted(known - TARGET_LABELS)) or 'none'}, plus target labels)", 0, where)
            elif label == "job" and op in ("=", "=~"):
                names = value.split("|") if op == "=~" and re.fullmatch(r"[a-z0-9-]+(\|[a-z0-9-]+)*", value) else [value]
                if op == "=~" and len(names) == 1 and not re.fullmatch(r"[a-z0-9-]+", value):
                    continue  # a real pattern: nothing to compare name by name
                for job in names:
                    if job not in workloads:
                        yield Finding("AR009", f"alert {name}: job '{job}' is not a catalog workload "
                                      f"({', '.join(sorted(workloads))})", 0, where)
    for label in analysis.grouping:
        if label not in used_labels:
            yield Finding("AR003", f"alert {name}: groups by '{label}', which none of its series carries", 0, where)


def _template_findings(name: str, annotations: dict[str, str], output: frozenset[str], keys: KeyPath) -> Iterator[Finding]:
    """Annotation templates name only labels the alert's series carry."""
    for annotation, text in annotations.items():
        for label in _TEMPLATE_LABEL.findall(text):
            if label not in output:
                yield Finding(
                    "AR011",
                    f"alert {name}: annotation '{annotation}' uses $labels.{label}, but the expression's result "
                    f"carries only: {', '.join(sorted(output)) or 'no labels'}",
                    0,
                    (*keys, "annotations", annotation),
                )
