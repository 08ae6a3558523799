"""`stack/deploy/prometheus/*.yaml`: the alerting rules as typed objects, with the line of each.

`rule_files` gives each rules file whole (its alerts and the document the AR rules read);
`alert_rules` every alerting rule of every file, in file order. What an expression reads
and compares against comes from the one PromQL walker, `handbook.promql`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from handbook import yamlio
from handbook.errors import HandbookError
from handbook.sources.base import memo, read_yaml

ALERTS_DIR = Path("stack/deploy/prometheus")


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

    @property
    def service(self) -> str:
        """The `service` label, or `""`."""
        return self.labels.get("service", "")

    @property
    def runbook_stem(self) -> str:
        """The runbook the `runbook_url` annotation names, as a file stem, or `""`.

        Accepts a site URL (`http://host/runbooks/fanout-near-cap/`), a page URL
        (`.../runbooks/fanout-near-cap.html`) or a docs path (`runbooks/fanout-near-cap.md`).
        """
        segments = [s for s in urlparse(self.annotations.get("runbook_url", "")).path.split("/") if s]
        if "runbooks" not in segments[:-1]:
            return ""
        stem = segments[segments.index("runbooks") + 1]
        for suffix in (".md", ".html"):
            stem = stem.removesuffix(suffix)
        return "" if stem == "index" else stem

    @property
    def threshold(self) -> float | None:
        """The number the expression compares against (the first comparison with a literal), or `None`.

        `None` also when the expression does not parse (AR001 reports that at the rule's line).
        """
        from handbook import promql

        try:
            found = promql.analyse(self.expr).thresholds
        except promql.PromQLError:
            return None
        return found[0] if found else None


@dataclass(frozen=True)
class RulesFile:
    """One Prometheus rules file.

    Attributes:
        path: The file, relative to the root.
        alerts: Its alerting rules, in file order (recording rules are skipped).
        located: The document with line numbers (what the AR rules check, and where they point).
    """

    path: Path
    alerts: tuple[AlertRule, ...]
    located: yamlio.Located = field(compare=False, repr=False)


def _rule_paths(root: Path) -> list[Path]:
    folder = root / ALERTS_DIR
    return sorted(folder.glob("*.y*ml")) if folder.is_dir() else []


def rule_documents(root: Path) -> list[yamlio.Located]:
    """Every rules file as YAML with line numbers, unvalidated (what the AR rules check; loaded once per process).

    Args:
        root: The project root.

    Returns:
        The documents, in name order.

    Raises:
        HandbookError: A rules file is not valid YAML.
    """
    return memo("rule_documents", root, lambda: _rule_paths(root),
                lambda: [read_yaml(root, path.relative_to(root)) for path in _rule_paths(root)])


def rule_files(root: Path) -> list[RulesFile]:
    """Every rules file under `stack/deploy/prometheus/`, in name order (loaded once per process).

    Args:
        root: The project root.

    Returns:
        The files.

    Raises:
        HandbookError: A rules file is not valid YAML or not shaped like Prometheus rules.
    """
    return memo("rule_files", root, lambda: _rule_paths(root),
                lambda: [_read_rules_file(doc) for doc in rule_documents(root)])


def alert_rules(root: Path) -> list[AlertRule]:
    """Every alerting rule in `stack/deploy/prometheus/*.yaml`, in file order (loaded once per process).

    Args:
        root: The project root.

    Returns:
        The rules; recording rules are skipped.
    """
    return [rule for rules_file in rule_files(root) for rule in rules_file.alerts]


def _read_rules_file(doc: yamlio.Located) -> RulesFile:
    """One rules file, its shape checked (one line naming file and line when it is wrong)."""
    rules: list[AlertRule] = []
    rel = doc.path
    groups = (doc.data or {}).get("groups") if isinstance(doc.data, dict) else None
    if not isinstance(groups, list):
        raise HandbookError("not a Prometheus rules file: expected a top-level 'groups:' list", path=rel, line=1)
    for g, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("rules") or [], list):
            raise HandbookError("a rule group must be a mapping with 'name:' and a 'rules:' list",
                                path=rel, line=doc.line_of("groups", g))
        for r, rule in enumerate(group.get("rules") or []):
            if not isinstance(rule, dict):
                raise HandbookError("a rule must be a mapping with 'alert:' (or 'record:') and 'expr:'",
                                    path=rel, line=doc.line_of("groups", g, "rules", r))
            if "alert" not in rule:
                continue
            for part in ("labels", "annotations"):
                if not isinstance(rule.get(part) or {}, dict):
                    raise HandbookError(f"'{part}:' must be a mapping of names to values",
                                        path=rel, line=doc.line_of("groups", g, "rules", r, part))
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
    return RulesFile(rel, tuple(rules), doc)
