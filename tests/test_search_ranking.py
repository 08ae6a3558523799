"""How `handbook.search` weighs the site's search index entries (no browser: the index as data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from handbook import search


def component_page(boost: float = search.COMPONENT["boost"]) -> list[dict[str, Any]]:
    """A component page's index entries as Material writes them: the page, its title section, then the rest."""
    return [
        {"location": "components/fanout/", "title": "Fan-out", "text": "", "boost": boost},
        {"location": "components/fanout/#fan-out", "title": "Fan-out", "text": "", "boost": boost},
        {"location": "components/fanout/#at-a-glance", "title": "<code>fanout</code> at a glance", "text": "", "boost": boost},
        {"location": "components/fanout/#service-level-objectives", "title": "Service-level objectives", "text": "", "boost": boost},
        {"location": "components/fanout/#how-it-fails", "title": "How it fails", "text": "", "boost": boost},
    ]


def boosted(docs: list[dict[str, Any]]) -> list[str]:
    return [d["location"] for d in docs if "boost" in d]


def test_component_boost_stays_only_where_the_component_is_named() -> None:
    docs = component_page()
    assert search.narrow_component_boosts(docs) == 2
    assert boosted(docs) == ["components/fanout/", "components/fanout/#fan-out", "components/fanout/#at-a-glance"]


def test_other_pages_and_other_boosts_are_left_alone() -> None:
    """Runbooks, the config reference and a component page whose front matter sets its own boost keep theirs."""
    docs = [
        {"location": "runbooks/dead-air/#verify", "title": "Verify", "text": "", "boost": 3},
        {"location": "reference/config/#logging.level", "title": "<code>logging.level</code>", "text": "", "boost": 4},
        *component_page(boost=2),
    ]
    assert search.narrow_component_boosts(docs) == 0
    assert len(boosted(docs)) == len(docs)


def test_narrow_index_rewrites_a_built_sites_index(tmp_path: Path) -> None:
    index_file = tmp_path / "search" / "search_index.json"
    index_file.parent.mkdir()
    index_file.write_text(json.dumps({"config": {}, "docs": component_page()}), encoding="utf-8")
    assert search.narrow_index(tmp_path) == 2
    assert len(boosted(json.loads(index_file.read_text(encoding="utf-8"))["docs"])) == 3
    assert search.narrow_index(tmp_path / "no-site") == 0
