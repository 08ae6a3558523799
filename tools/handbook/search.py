"""How pages rank in the site's search: Material's per-page `search` front matter, decided once.

Material's built-in search reads `search: {boost: N}` (multiplies a page's score) and
`search: {exclude: true}` (leaves the page out of the index) from a page's front matter.
The `handbook` plugin gives each page its settings from here unless its front matter sets its own,
so the ranking the browser tests check is decided in one place:

- runbooks answer an alert and come first for its name (their template sets `boost: 3`);
- a component page comes first for its service's name;
- reference entries (a config key, a metric, a command) rank above prose that mentions them;
- the handbook's own tooling API is not what a Chorus reader searches for: it stays in the
  navigation, out of the index.
"""

from __future__ import annotations

from collections.abc import MutableMapping
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
"""A component page: first for its service's name (above runbooks, which mention services in titles)."""

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
