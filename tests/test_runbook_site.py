"""The built site: runbooks render their live values, the index is sortable, alert searches find runbooks."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT
from handbook import sources
from handbook.project import Project
from handbook.runbook import runbooks


def test_no_live_value_is_left_unrendered(built_site: Path) -> None:
    for rb in runbooks(Project(ROOT)):
        html = (built_site / "runbooks" / rb.name / "index.html").read_text(encoding="utf-8")
        assert "{@" not in html, rb.rel


def test_index_is_sortable_offline_and_lists_every_alert(built_site: Path) -> None:
    html = (built_site / "runbooks" / "index.html").read_text(encoding="utf-8")
    assert '<div class="sortable">' in html
    assert 'src="../javascripts/sortable-tables.js"' in html
    assert (built_site / "javascripts" / "sortable-tables.js").is_file()
    assert "handbook:runbook-index" not in html
    for rule in sources.alert_rules(ROOT):
        assert f"<code>{rule.name}</code>" in html, rule.name


def test_alert_runbooks_rank_first_for_their_alert_names(built_site: Path) -> None:
    """Material ranks a page whose title holds the search term, boosted, above pages that only mention it."""
    index = json.loads((built_site / "search" / "search_index.json").read_text(encoding="utf-8"))
    pages = {doc["location"]: doc for doc in index["docs"]}
    books = [rb for rb in runbooks(Project(ROOT)) if rb.meta is not None and rb.meta.alerts]
    for rb in books:
        doc = pages[f"runbooks/{rb.name}/"]
        assert rb.meta is not None and rb.meta.search is not None, f"{rb.rel}: alert runbooks set search.boost"
        assert doc.get("boost") == rb.meta.search.boost > 1, rb.rel
        for alert in rb.meta.alerts:
            assert alert in doc["title"], f"{rb.rel}: the title must hold {alert} so a search for it ranks the page first"
