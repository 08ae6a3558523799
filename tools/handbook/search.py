"""How pages rank in the site's search: Material's per-page `search` front matter, decided once.

Material's built-in search reads `search: {boost: N}` (multiplies a page's score) and
`search: {exclude: true}` (leaves the page out of the index) from a page's front matter.
The `handbook` plugin gives each page its settings from here unless its front matter sets its own,
so the ranking the browser tests check is decided in one place:

- runbooks answer an alert and come first for its name (their template sets `boost: 3`);
- a component page comes first for its service's name: its boost stays on the entries that name the
  service (the page, its title, its at-a-glance section), so a word in one of its other headings
  ("Service-level objectives") does not outrank a reference entry for the same word (`logging.level`);
- reference entries (a config key, a metric, a command) rank above prose that mentions them;
- the handbook's own tooling API is not what a Chorus reader searches for: it stays in the
  navigation, out of the index.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from handbook import anchors
from handbook.reference.api import API_DIR

TOOLING_API = f"{API_DIR}/handbook"
"""Where the handbook's own tooling API lives: in the navigation, not in the search index."""
CHORUS_API_DIR = f"{API_DIR}/chorus"
REFERENCE_PAGES = frozenset(
    {anchors.METRICS_PAGE, anchors.ALERTS_PAGE, anchors.CLI_PAGE, anchors.HTTP_PAGE, anchors.DEPLOYMENT_PAGE, anchors.RULES_PAGE}
)

COMPONENT: dict[str, Any] = {"boost": 8}
"""A component page: first for its service's name (above runbooks, which mention services in titles).
Only on the entries that name the service (`names_the_component`): its other sections are unboosted."""

REFERENCE: dict[str, Any] = {"boost": 2}
"""A generated reference page (metrics, alerts, command line, HTTP API, deployment, check rules):
below the runbooks (3), so an alert's name finds its runbook before its catalogue entry."""

CONFIG_REFERENCE: dict[str, Any] = {"boost": 4}
"""The configuration reference: a key typed by its last segment (`nodes`) finds its entry in the top 3."""

CHORUS_API: dict[str, Any] = {"boost": 0.5}
"""A page of the Chorus Python API: found, but below the pages written for operators."""

EXCLUDED: dict[str, Any] = {"exclude": True}
"""A page left out of the search index (the handbook's own tooling API)."""


def settings_for(uri: str) -> dict[str, Any] | None:
    """The search settings a page gets when its front matter sets none.

    Args:
        uri: The page's docs-relative path, e.g. `components/gateway.md`.

    Returns:
        A copy of the settings, or `None` to leave the page as it is.
    """
    chosen: dict[str, Any] | None = None
    if uri.startswith(f"{TOOLING_API}/"):
        chosen = EXCLUDED
    elif uri.startswith(f"{CHORUS_API_DIR}/"):
        chosen = CHORUS_API
    elif uri.startswith("components/") and uri != "components/index.md":
        chosen = COMPONENT
    elif uri == anchors.CONFIG_PAGE:
        chosen = CONFIG_REFERENCE
    elif uri in REFERENCE_PAGES:
        chosen = REFERENCE
    return dict(chosen) if chosen is not None else None


def apply(uri: str, meta: MutableMapping[str, Any]) -> None:
    """Give a page its search settings, unless its front matter already has a `search` key.

    Args:
        uri: The page's docs-relative path.
        meta: The page's front matter (MkDocs' `page.meta`), changed in place.
    """
    settings = settings_for(uri)
    if settings is not None and "search" not in meta:
        meta["search"] = settings


def names_the_component(doc: dict[str, Any], page_title: str) -> bool:
    """Whether a component page's index entry names its service: the page itself, its title section
    (same title as the page) or its generated at-a-glance section."""
    fragment = doc["location"].partition("#")[2]
    return not fragment or doc["title"] == page_title or fragment == anchors.COMPONENT_AT_A_GLANCE


def narrow_component_boosts(docs: list[dict[str, Any]]) -> int:
    """Take the component boost off a component page's sections that do not name its service.

    Material gives every entry of a page the page's `search.boost`; a component page needs it
    only where the service is named, or its generic headings ("Service-level objectives")
    outrank reference entries for the same word (`logging.level`).

    Args:
        docs: The `docs` of Material's search index, changed in place.

    Returns:
        How many entries lost the boost.
    """
    titles = {doc["location"]: doc["title"] for doc in docs if "#" not in doc["location"]}
    narrowed = 0
    for doc in docs:
        page = doc["location"].partition("#")[0]
        if doc.get("boost") == COMPONENT["boost"] and page.startswith("components/") and not names_the_component(doc, titles.get(page, "")):
            del doc["boost"]
            narrowed += 1
    return narrowed


def narrow_index(site_dir: Path) -> int:
    """Apply `narrow_component_boosts` to a built site's `search/search_index.json` (if there is one).

    Returns:
        How many entries lost the component boost.
    """
    path = site_dir / "search" / "search_index.json"
    if not path.is_file():
        return 0
    index = json.loads(path.read_text(encoding="utf-8"))
    narrowed = narrow_component_boosts(index["docs"])
    if narrowed:
        path.write_text(json.dumps(index, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return narrowed
