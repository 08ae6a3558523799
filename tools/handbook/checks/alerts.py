"""Alerts and runbooks (AL): every alert has exactly one runbook, and its `runbook_url` opens it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import Path

from handbook import anchors, sources
from handbook.checks.registry import check
from handbook.frontmatter import block_text
from handbook.problems import Problem
from handbook.project import MAX_TEXT_BYTES, Project
from handbook.runbook import Runbook, runbooks, unreadable_runbooks


def alert_runbooks(project: Project) -> dict[str, list[Runbook]]:
    """Alert name to the runbooks (with valid front matter) that answer it, in file order."""
    answered: dict[str, list[Runbook]] = {}
    for rb in runbooks(project):
        if rb.meta is not None:
            for name in rb.meta.alerts:
                answered.setdefault(name, []).append(rb)
    return answered


def named_by_invalid(project: Project, names: list[str]) -> set[str]:
    """The alerts among `names` that a runbook whose front matter is invalid, or that cannot be read, still names.

    Such a runbook is reported where its front matter breaks (FM, RB); its alerts are not also
    "without a runbook" (AL001 would tell the author to create the file they are fixing). The names
    come from its `alerts:` when the YAML reads, else from the words of its front-matter lines.
    """
    named: set[str] = set()
    headers = []
    for rb in runbooks(project):
        if rb.meta is not None:
            continue
        block = rb.page.front_matter
        if block.error is None and isinstance(block.data.get("alerts", []), list):
            named.update(rb.alerts)
        else:  # YAML that does not read, or `alerts:` of another shape: the names as written
            headers.append(block_text(rb.page.text))
    for rel in unreadable_runbooks(project):  # its bytes are not text: read what can be, for the names only
        try:
            headers.append(block_text((project.root / rel).read_bytes()[:MAX_TEXT_BYTES].decode("utf-8", "replace")))
        except OSError:
            continue
    for header in headers:
        named.update(name for name in names if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", header))
    return named & set(names)


def expected_url(settings: sources.SiteSettings, rb: Runbook) -> str:
    """The URL an alert's `runbook_url` must have to open runbook `rb`."""
    return settings.page_url(anchors.runbook(rb.name))


@check(
    "alert-runbooks",
    family="AL",
    rules={
        "AL001": "an alert rule has no runbook",
        "AL002": "an alert is answered by more than one runbook",
        "AL003": "a runbook names an alert that is not in the rules",
        "AL004": "an alert rule has no runbook_url annotation",
        "AL005": "an alert's runbook_url does not open its runbook's page",
        "AL006": "a runbook's severity differs from its alert's severity label",
    },
)
def alert_runbook_mapping(project: Project) -> Iterator[Problem]:
    """Map alerts to runbooks both ways and check each alert's `runbook_url` and severity."""
    rules = {rule.name: rule for rule in sources.alert_rules(project.root)}
    answered = alert_runbooks(project)
    settings = sources.site_settings(project.root) if rules else None
    unanswered = [name for name in rules if name not in answered]
    pending = named_by_invalid(project, unanswered) if unanswered else set()
    for name, books in answered.items():
        for extra in books[1:]:
            line, col = extra.page.front_matter.position("alerts", extra.meta.alerts.index(name))  # type: ignore[union-attr]
            yield Problem(extra.rel, line, col, "AL002", f"alert {name} already has a runbook, {books[0].rel}: an alert has exactly one runbook")
        if name not in rules:
            for rb in books:
                line, col = rb.page.front_matter.position("alerts", rb.meta.alerts.index(name))  # type: ignore[union-attr]
                close = difflib.get_close_matches(name, list(rules), n=1)
                hint = f"did you mean {close[0]}?" if close else f"the rules in {sources.ALERTS_DIR} have no such alert"
                yield Problem(rb.rel, line, col, "AL003", f"unknown alert {name}: {hint}")
    for name, rule in rules.items():
        books = answered.get(name, [])
        if not books:
            if name in pending:
                continue  # its runbook exists: the FM/RB problem at the broken line says what to fix
            yield Problem(rule.path, rule.line, 1, "AL001", f"alert {name} has no runbook: run `handbook new runbook NAME --alert {name}`")
            continue
        rb = books[0]
        url = rule.annotations.get("runbook_url", "").strip()
        assert settings is not None
        want = expected_url(settings, rb)
        if not url:
            yield Problem(rule.path, rule.line, 1, "AL004", f"alert {name} has no runbook_url annotation: add `runbook_url: {want}`")
        elif url.rstrip("/") != want.rstrip("/"):
            yield Problem(rule.path, rule.line, 1, "AL005", f"alert {name}: runbook_url {url} does not open its runbook {rb.rel} (expected {want}, from site_url in mkdocs.yml)")
        meta = rb.meta
        assert meta is not None
        if rule.severity and meta.severity != rule.severity:
            line, col = rb.page.front_matter.position("severity")
            yield Problem(rb.rel, line, col, "AL006", f"severity '{meta.severity}' differs from alert {name}'s severity '{rule.severity}' ({Path(rule.path)}:{rule.line})")
