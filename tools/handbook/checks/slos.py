"""Service-level objectives (SL): stated once, valid, measured on real series, protected by real alerts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from handbook import facts as facts_mod
from handbook import sources
from handbook.checks.registry import check
from handbook.errors import HandbookError
from handbook.problems import Problem
from handbook.project import Project
from handbook.slo import SLO_FILE, load


@check(
    "slos",
    family="SL",
    rules={
        "SL001": "an SLO does not match the schema (unknown or missing field, objective outside 0..1, bad window)",
        "SL002": "an SLO's service is not in the catalog",
        "SL003": "an SLO's PromQL does not parse or names a series no service exports",
        "SL004": "an SLO is protected by an alert that does not exist",
    },
)
def slos(project: Project) -> Iterator[Problem]:
    """Validate `stack/slo.yaml`: schema, services, PromQL series, protecting alerts."""
    found, errors = load(project.root)
    for line, message in errors:
        yield Problem(SLO_FILE, line, 1, "SL001", message)
    if not found:
        return
    facts = facts_mod.for_project(project)
    try:
        services = {service.name for service in sources.catalog_model(project.root).services}
    except HandbookError:
        services = set()
    exported = _exported(project.root)
    for slo in found:
        spec = slo.spec
        if services and spec.service not in services:
            yield Problem(SLO_FILE, slo.line_of("service"), 1, "SL002", f"{spec.name}: service '{spec.service}' is not in {sources.CATALOG}")
        for field in ("good", "total"):
            problem = _promql_problem(getattr(spec, field), exported)
            if problem:
                yield Problem(SLO_FILE, slo.line_of(field), 1, "SL003", f"{spec.name}.{field}: {problem}")
        for index, alert in enumerate(spec.protected_by):
            if facts.get(f"alert.{alert}") is None:
                yield Problem(SLO_FILE, slo.line_of("protected_by", index), 1, "SL004",
                              f"{spec.name}: alert {alert} does not exist ({facts.why_missing(f'alert.{alert}')})")


def _exported(root: Path) -> set[str] | None:
    """The series names the services export (cached with the stack), or `None` when they cannot be read."""
    try:
        found = sources.stack_metrics(root)
    except HandbookError:
        return None
    return {m.name for m in found} | {s for m in found for s in m.series}


def _promql_problem(expr: str, exported: set[str] | None) -> str | None:
    """Why an expression is not usable: it does not parse, or it names an unknown series."""
    from handbook.promql import PromQLError, analyse

    try:
        analysis = analyse(expr)
    except PromQLError as exc:
        return f"does not parse: {exc}"
    if exported is None:
        return None
    unknown = sorted({s.name for s in analysis.selectors if s.name and s.name not in exported})
    return f"no service exports {', '.join(unknown)}" if unknown else None
