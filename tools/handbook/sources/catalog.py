"""`stack/catalog.yaml`: the stack's own validated model (`chorus.catalog.Catalog`), and its lines.

Every reader of the catalog takes the typed model from here: services, teams, people,
dependencies and workloads are attributes, never raw dictionary reads. The document with
line numbers is kept beside it only to point a finding at the line a fact came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from handbook import yamlio
from handbook.sources.base import chorus_module, memo, read_yaml, source_error

if TYPE_CHECKING:
    from chorus.catalog import Catalog

CATALOG = Path("stack/catalog.yaml")


def catalog_model(root: Path) -> Catalog:
    """The validated catalog of the tree at `root` (loaded once per process while the file is unchanged).

    Args:
        root: The project root.

    Returns:
        The `chorus.catalog.Catalog`.

    Raises:
        SourceMissing: The tree has no catalog.
        HandbookError: The catalog is not valid YAML or fails its model (a service that is a
            string, a duplicate service, a dependency cycle...): one line naming file and line.
    """

    def load() -> Catalog:
        read_yaml(root, CATALOG)  # absent or not YAML: one line naming file and line
        module = chorus_module("chorus.catalog")
        try:
            return module.load_catalog(root / CATALOG)
        except module.SourceError as exc:
            raise source_error(exc, root) from None

    return memo("catalog-model", root, lambda: [root / CATALOG], load)


def catalog(root: Path) -> yamlio.Located:
    """`stack/catalog.yaml` with line numbers, once its model has validated it.

    Args:
        root: The project root.

    Returns:
        The document (for `line_of`; read the facts from `catalog_model`).

    Raises:
        HandbookError: As `catalog_model`.
    """

    def load() -> yamlio.Located:
        catalog_model(root)
        return read_yaml(root, CATALOG)

    return memo("catalog", root, lambda: [root / CATALOG], load)


def service_line(root: Path, index: int, *keys: str | int) -> int:
    """The line of a key of the `index`-th service in the catalog (1 when it cannot be found).

    Args:
        root: The project root.
        index: The service's position in `Catalog.services`.
        *keys: A key path inside the service entry, e.g. `"ports", "ws"`.

    Returns:
        The 1-based line.
    """
    return catalog(root).line_of("services", index, *keys)
