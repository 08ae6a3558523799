"""The stack's sources of truth for one run, as one object the checks share (`stack(project)`)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from handbook import yamlio
from handbook.sources.base import chorus_call, chorus_module
from handbook.sources.cache import cached_from_stack
from handbook.sources.catalog import CATALOG, catalog, catalog_model
from handbook.sources.config import CONFIG, config_model
from handbook.sources.manifests import KUBERNETES_DIR, Manifests, manifests
from handbook.sources.rules import rule_documents

class Stack:
    """The stack's sources of truth for one run: catalog, configuration, manifests, rules, series.

    Each is read on first use and kept, so every check that needs the catalog model or the
    manifests shares one copy. Failures are `HandbookError`s naming file and line.

    Attributes:
        root: The project root.
    """

    def __init__(self, root: Path) -> None:
        """Remember the root; nothing is read yet."""
        self.root = root

    @functools.cached_property
    def catalog(self) -> Any:
        """The validated `chorus.catalog.Catalog`."""
        return catalog_model(self.root)

    @functools.cached_property
    def catalog_doc(self) -> yamlio.Located:
        """`stack/catalog.yaml` with line numbers (for pointing findings at catalog entries)."""
        return catalog(self.root)

    @functools.cached_property
    def config(self) -> Any:
        """The validated `chorus.config.ChorusConfig`, without environment overrides."""
        return config_model(self.root)

    @functools.cached_property
    def manifests(self) -> Manifests:
        """Every Kubernetes object, in file order."""
        return manifests(self.root)

    @functools.cached_property
    def series(self) -> dict[str, frozenset[str]]:
        """The one series table: every series the services export (and Prometheus writes) to its labels."""

        def build() -> dict[str, list[str]]:
            promql = chorus_module("chorus.deploy.promql")
            registries = chorus_call("chorus.metrics.service_registries()", chorus_module("chorus.metrics").service_registries)
            return {name: sorted(labels) for name, labels in promql.exported_series(registries).items()}

        return {name: frozenset(labels) for name, labels in cached_from_stack(self.root, "series", build).items()}

    def deploy_problems(self) -> list[tuple[str, int, str, str]]:
        """Every DP finding as `(path, line, code, message)` (cached under the stack's fingerprint)."""

        def build() -> list[tuple[str, int, str, str]]:
            found = []
            for finding in self.schema_findings() + self.manifest_findings():
                path, line = self.manifest_location(finding.document, finding.keys)
                found.append((str(path), line, finding.code, finding.message))
            return found

        return [tuple(p) for p in cached_from_stack(self.root, "deploy-problems", build)]

    def rule_problems(self) -> list[tuple[str, int, str, str]]:
        """Every AR finding as `(path, line, code, message)` (cached under the stack's fingerprint)."""

        def build() -> list[tuple[str, int, str, str]]:
            return [(str(f.path), f.line_of(*finding.keys), finding.code, finding.message)
                    for f in self.rule_files for finding in self.rule_findings(f)]

        return [tuple(p) for p in cached_from_stack(self.root, "rule-problems", build)]

    @functools.cached_property
    def rule_files(self) -> list[yamlio.Located]:
        """Every Prometheus rules file under `stack/deploy/prometheus/`, with line numbers."""
        return rule_documents(self.root)

    def schema_findings(self) -> list[Any]:
        """`chorus.deploy.kubeschema` findings over the manifests."""
        kubeschema = chorus_module("chorus.deploy.kubeschema")
        return kubeschema.schema_findings([m.body for m in self.manifests])

    def manifest_findings(self) -> list[Any]:
        """`chorus.deploy.workloads` findings over the manifests."""
        workloads = chorus_module("chorus.deploy.workloads")
        return workloads.check_manifests([m.body for m in self.manifests], self.catalog, self.config,
                                         self.root / CONFIG, self.series)

    def rule_findings(self, rules_file: yamlio.Located) -> list[Any]:
        """`chorus.deploy.rules` findings over one rules file."""
        rules = chorus_module("chorus.deploy.rules")
        return rules.check_rules(rules_file.data, self.series, self.catalog)

    def manifest_location(self, document: int | None, keys: tuple[str | int, ...]) -> tuple[Path, int]:
        """The file and line a manifest finding points at.

        Args:
            document: The index of the object in `manifests`, or `None` for a catalog entry.
            keys: The key path inside that document (or the catalog).

        Returns:
            `(path relative to the root, line)`.
        """
        if document is None:
            return CATALOG, self.catalog_doc.line_of(*keys)
        if document < len(self.manifests):
            manifest = self.manifests[document]
            return manifest.path, manifest.located.line_of(*keys)
        return KUBERNETES_DIR, 1


def stack(project: Any) -> Stack:
    """The project's `Stack`, created once per run.

    Args:
        project: A `handbook.project.Project`.

    Returns:
        Its stack model.
    """
    cache = project.__dict__
    if "_stack" not in cache:
        cache["_stack"] = Stack(project.root)
    return cache["_stack"]
