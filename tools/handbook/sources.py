"""The sources of truth in `stack/`, loaded once, with the line each fact came from.

Every generated reference page, every live value in a runbook and every drift
check reads Chorus through this module, so there is exactly one place that knows
where the truth lives. Paths are relative to the project root.

Chorus entry points this module relies on (provided by the `chorus` package):

- `chorus.config.ChorusConfig`, the pydantic schema of `stack/config/chorus.yaml`;
- `chorus.config.ENV_PREFIX`, the prefix of environment overrides;
- `chorus.cli.build_parser()`, the `chorusctl` argument parser;
- `chorus.gateway.app.create_app(config)`, the gateway's FastAPI app (for OpenAPI);
- `chorus.metrics.service_registries()`, one Prometheus registry per service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handbook import yamlio
from handbook.errors import HandbookError

CATALOG = Path("stack/catalog.yaml")
CONFIG = Path("stack/config/chorus.yaml")
ALERTS_DIR = Path("stack/deploy/prometheus")
KUBERNETES_DIR = Path("stack/deploy/kubernetes")


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alerting rule.

    Attributes:
        name: The `alert:` name, e.g. `ChorusJoinShedding`.
        expr: The PromQL expression.
        for_: The `for:` duration as written (e.g. `5m`), or `""`.
        labels: The rule's labels (`severity`, `service`, `team`...).
        annotations: The rule's annotations (`summary`, `description`, `runbook_url`...).
        group: The rule group's name.
        path: The rules file.
        line: The line of the `alert:` key.
    """

    name: str
    expr: str
    for_: str
    labels: dict[str, str]
    annotations: dict[str, str]
    group: str
    path: Path
    line: int

    @property
    def severity(self) -> str:
        """The `severity` label, or `""`."""
        return self.labels.get("severity", "")


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object from `stack/deploy/kubernetes/`.

    Attributes:
        kind: e.g. `Deployment`.
        name: `metadata.name`.
        namespace: `metadata.namespace`, or `""`.
        body: The whole object as loaded.
        path: The file it is in.
        line: The line the object starts on.
        located: The document with line numbers, for pointing at fields.
    """

    kind: str
    name: str
    namespace: str
    body: dict[str, Any]
    path: Path
    line: int
    located: yamlio.Located = field(compare=False, repr=False)


def read_yaml(root: Path, rel: Path) -> yamlio.Located:
    """Load one YAML source of truth with line numbers.

    Args:
        root: The project root.
        rel: The file, relative to the root.

    Returns:
        The document.

    Raises:
        HandbookError: The file is missing or is not valid YAML (names file and line).
    """
    path = root / rel
    if not path.is_file():
        raise HandbookError("source of truth is missing", path=rel)
    located = yamlio.load(path)
    return yamlio.Located(rel, located.data, located.lines)


def catalog(root: Path) -> yamlio.Located:
    """`stack/catalog.yaml` with line numbers (validated by `chorus.catalog`)."""
    return read_yaml(root, CATALOG)


def alert_rules(root: Path) -> list[AlertRule]:
    """Every alerting rule in `stack/deploy/prometheus/*.yaml`, in file order.

    Args:
        root: The project root.

    Returns:
        The rules; recording rules are skipped.

    Raises:
        HandbookError: A rules file is not valid YAML or not shaped like Prometheus rules.
    """
    rules: list[AlertRule] = []
    folder = root / ALERTS_DIR
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        rel = path.relative_to(root)
        doc = read_yaml(root, rel)
        groups = (doc.data or {}).get("groups") if isinstance(doc.data, dict) else None
        if not isinstance(groups, list):
            raise HandbookError("not a Prometheus rules file: expected a top-level 'groups:' list", path=rel, line=1)
        for g, group in enumerate(groups):
            for r, rule in enumerate(group.get("rules") or []):
                if "alert" not in rule:
                    continue
                rules.append(
                    AlertRule(
                        name=str(rule["alert"]),
                        expr=str(rule.get("expr", "")).strip(),
                        for_=str(rule.get("for", "")),
                        labels={k: str(v) for k, v in (rule.get("labels") or {}).items()},
                        annotations={k: str(v) for k, v in (rule.get("annotations") or {}).items()},
                        group=str(group.get("name", "")),
                        path=rel,
                        line=doc.line_of("groups", g, "rules", r, "alert"),
                    )
                )
    return rules


def manifests(root: Path) -> list[Manifest]:
    """Every Kubernetes object under `stack/deploy/kubernetes/`, in file order.

    Args:
        root: The project root.

    Returns:
        The objects (a `List` kind is not expanded).

    Raises:
        HandbookError: A manifest file is not valid YAML.
    """
    found: list[Manifest] = []
    folder = root / KUBERNETES_DIR
    for path in sorted(folder.rglob("*.y*ml")) if folder.is_dir() else []:
        rel = path.relative_to(root)
        for doc in yamlio.load_all(path):
            body = doc.data
            if not isinstance(body, dict):
                continue
            meta = body.get("metadata") or {}
            found.append(
                Manifest(
                    kind=str(body.get("kind", "")),
                    name=str(meta.get("name", "")),
                    namespace=str(meta.get("namespace", "")),
                    body=body,
                    path=rel,
                    line=doc.line_of(),
                    located=yamlio.Located(rel, body, doc.lines),
                )
            )
    return found
