"""The facts a page may refer to: every value a source of truth holds, by a stable name.

A fact is one value from `stack/` - a configuration key's current value, an
alert's threshold or `for:` duration, a metric's name, a service's port, a
workload's replica count - with the reference entry it links to (from
`handbook.anchors`) and the file and line it came from. Live values in pages
(`{@config.fanout.listener_cap}`), the drift checks and the runbook scaffold
all read facts from here, and this module reads the stack only through
`handbook.sources`.

Names are dotted and start with their kind:

| kind | examples |
|---|---|
| `config` | `config.fanout.listener_cap` (today's value), `env.fanout.listener_cap` (its override variable) |
| `alert` | `alert.ChorusJoinShedding` (name), `.threshold`, `.for`, `.severity`, `.expr`, `.description` |
| `metric` | `metric.chorus_joins_total` |
| `service`, `team` | `service.fanout.port.ws`, `service.fanout.workload`, `service.fanout.workload.edge` (an additional workload, by role), `service.fanout.team`, `team.media.oncall` |
| `k8s` | `k8s.deployment.chorus-fanout` (name), `.namespace`, `.replicas`, `.container.fanout.port.ws`, `k8s.horizontalpodautoscaler.chorus-fanout-edge.max_replicas` |
| `cli` | `cli.chorusctl.capacity` (the command line `chorusctl capacity`) |
| `scenario` | `scenario.launch-night.session_cap_s` (a result of `stack/scenarios.yaml` analysed by `handbook.scenario`) |
"""

from __future__ import annotations

import difflib
import enum
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handbook import anchors, sources
from handbook.errors import HandbookError

DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@dataclass(frozen=True)
class Fact:
    """One referable value.

    Attributes:
        name: The dotted name pages use, e.g. `config.fanout.listener_cap`.
        value: The value itself (a number, string, list...).
        anchor: The docs-relative link target of its reference entry, or `None`.
        source: Where it comes from, `path:line` (or just the path).
        literal: Whether it is a name or code (rendered in a code span) rather than a quantity.
        drift: How hand-typing it in prose is detected: `number`, `duration`, `name`, or `""` (not checked).
    """

    name: str
    value: Any
    anchor: str | None
    source: str
    literal: bool = False
    drift: str = ""
    unit: str = ""

    @property
    def text(self) -> str:
        """The value as it appears on a page and in a command."""
        return format_value(self.value)

    @property
    def seconds(self) -> float | None:
        """For a duration fact, the value in seconds."""
        if self.drift != "duration":
            return None
        if self.unit and isinstance(self.value, (int, float)):
            return float(self.value) * DURATION_UNITS[self.unit]
        return duration_seconds(str(self.value))


def format_value(value: Any) -> str:
    """A value as a reader would type it: `true`, `null`, `5`, `0.05`, `a, b`.

    Args:
        value: A fact's value.

    Returns:
        The text.
    """
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, default=str)


def duration_seconds(text: str) -> float | None:
    """Seconds in a Prometheus duration such as `5m`, `1h30m` or `250ms`; `None` if it is not one.

    Args:
        text: The duration as written.

    Returns:
        The number of seconds, or `None`.
    """
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * DURATION_UNITS[u] for n, u in parts)


@dataclass
class Facts:
    """Every fact of a tree, by name, plus the reference anchors that exist.

    Attributes:
        by_name: Fact name to fact.
        targets: Every `page#anchor` a generated reference page defines.
        unavailable: Source kind to why it could not be loaded (e.g. the stack has no `chorus.cli` yet).
        absent: Name of a fact its source should hold but does not (an alert without `for:`) to why,
            so a reference to it is blamed on the source, not called unknown.
    """

    by_name: dict[str, Fact] = field(default_factory=dict)
    targets: set[str] = field(default_factory=set)
    unavailable: dict[str, str] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)
    _suggested: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False)

    def add(self, fact: Fact) -> None:
        """Add a fact (the first of two with the same name wins) and its anchor."""
        self._suggested.clear()
        self.by_name.setdefault(fact.name, fact)
        if fact.anchor:
            self.targets.add(fact.anchor)

    def get(self, name: str) -> Fact | None:
        """The fact called `name`, or `None`."""
        return self.by_name.get(name)

    def suggest(self, name: str) -> str | None:
        """The closest existing fact name to a misspelt one (difflib), or `None`.

        Remembered per name: a page that repeats one unknown name thousands of times compares it once.
        """
        if name not in self._suggested:
            kind = name.split(".", 1)[0]
            pool = [n for n in self.by_name if n.split(".", 1)[0] == kind] or list(self.by_name)
            close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
            self._suggested[name] = close[0] if close else None
        return self._suggested[name]

    def why_missing(self, name: str) -> str:
        """A one-line explanation of an unknown name: a suggestion, or the source that is not there."""
        kind = name.split(".", 1)[0]
        if kind in self.unavailable:
            return f"{kind} facts are unavailable: {self.unavailable[kind]}"
        if name in self.absent:
            return self.absent[name]
        suggestion = self.suggest(name)
        if suggestion:
            return f"did you mean {suggestion}?"
        kinds = sorted({n.split(".", 1)[0] for n in self.by_name})
        return f"no such fact (names start with one of: {', '.join(kinds)})"

    @property
    def digest(self) -> str:
        """A digest of every fact's name, value, source and kind: what per-page results cached against facts key on."""
        import hashlib

        rows = sorted((f.name, format_value(f.value), f.source, f.drift, f.unit, f.literal) for f in self.by_name.values())
        return hashlib.blake2b(json.dumps(rows).encode(), digest_size=16).hexdigest()

    def __iter__(self) -> Iterator[Fact]:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line else str(path)


def _config(root: Path, facts: Facts) -> None:
    for key in sources.config_keys(root):
        where = _where(key.path, key.line)
        anchor = anchors.config_key(key.key)
        value = key.current
        if isinstance(value, bool) or value is None:
            drift = ""
        elif isinstance(value, (int, float)):
            # `join_rate_per_s` is a rate, not a duration: "200 seconds" in prose is not it.
            is_duration = key.key.endswith(("_seconds", "_s", "_ms")) and not key.key.endswith(("_per_s", "_per_ms"))
            drift = "duration" if is_duration else "number"
        else:
            drift = ""
        unit = ("ms" if key.key.endswith("_ms") else "s") if drift == "duration" else ""
        facts.add(Fact(f"config.{key.key}", value, anchor, where, drift=drift, unit=unit))
        facts.add(Fact(f"env.{key.key}", key.env, anchor, where, literal=True, drift="name"))


def _alerts(root: Path, facts: Facts) -> None:
    for rule in sources.alert_rules(root):
        where = _where(rule.path, rule.line)
        anchor = anchors.alert(rule.name)
        base = f"alert.{rule.name}"
        facts.add(Fact(base, rule.name, anchor, where, literal=True, drift="name"))
        facts.add(Fact(f"{base}.expr", rule.expr, anchor, where, literal=True))
        facts.add(Fact(f"{base}.severity", rule.severity, anchor, where))
        if rule.for_:
            facts.add(Fact(f"{base}.for", rule.for_, anchor, where, drift="duration"))
        else:
            facts.absent[f"{base}.for"] = f"alert {rule.name} has no 'for:' ({where}): add it there (AR008)"
        threshold = rule.threshold
        if threshold is not None:
            facts.add(Fact(f"{base}.threshold", threshold, anchor, where, drift="number"))
        else:
            facts.absent[f"{base}.threshold"] = (f"alert {rule.name}'s expression ({where}) does not parse or "
                                                 "compares against no number: fix it there (AR001)")
        for label, value in rule.labels.items():
            facts.add(Fact(f"{base}.label.{label}", value, anchor, where))
        description = " ".join(rule.annotations.get("description", "").split())
        if description:
            # Rendered as plain text, not as a paragraph-long link: it is quoted, whole, from the rule.
            facts.add(Fact(f"{base}.description", description, None, where))


def _metrics(root: Path, facts: Facts) -> None:
    for metric in sources.stack_metrics(root):
        anchor = anchors.metric(metric.name)
        where = "chorus.metrics:" + ",".join(metric.services)
        facts.add(Fact(f"metric.{metric.name}", metric.name, anchor, where, literal=True, drift="name"))
        for series in metric.series:
            if series and series != metric.name:
                facts.add(Fact(f"metric.{series}", series, anchor, where, literal=True, drift="name"))


def _catalog(root: Path, facts: Facts) -> None:
    catalog = sources.catalog_model(root)
    doc = sources.catalog(root)

    def where(*keys: str | int) -> str:
        return _where(doc.path, doc.line_of(*keys))

    for t, team in enumerate(catalog.teams):
        facts.add(Fact(f"team.{team.name}", team.name, None, where("teams", t), literal=True))
        facts.add(Fact(f"team.{team.name}.oncall", team.oncall, None, where("teams", t, "oncall"), literal=True, drift="name"))
        facts.add(Fact(f"team.{team.name}.chat", team.chat, None, where("teams", t, "chat"), literal=True, drift="name"))
    for s, service in enumerate(catalog.services):
        anchor = anchors.component(service.name)
        base = f"service.{service.name}"
        facts.add(Fact(base, service.name, anchor, where("services", s), literal=True))
        facts.add(Fact(f"{base}.team", service.team, anchor, where("services", s, "team"), literal=True))
        facts.add(Fact(f"{base}.tier", service.tier, anchor, where("services", s, "tier")))
        facts.add(Fact(f"{base}.workload", service.workload, anchor, where("services", s, "workload"), literal=True, drift="name"))
        facts.add(Fact(f"{base}.purpose", service.purpose, anchor, where("services", s, "purpose")))
        facts.add(Fact(f"{base}.depends_on", service.depends_on, anchor, where("services", s, "depends_on"), literal=True))
        for port, number in service.ports.items():
            facts.add(Fact(f"{base}.port.{port}", number, anchor, where("services", s, "ports", port), drift="number"))
        for w, extra in enumerate(service.additional_workloads):
            facts.add(Fact(f"{base}.workload.{extra.role}", extra.name, anchor,
                           where("services", s, "additional_workloads", w, "name"), literal=True, drift="name"))


def _k8s(root: Path, facts: Facts) -> None:
    for obj in sources.manifests(root):
        if not obj.kind or not obj.name:
            continue
        kind = obj.kind.lower()
        base = f"k8s.{kind}.{obj.name}"
        anchor = anchors.workload(obj.kind, obj.name)
        doc = obj.located

        def add(suffix: str, value: Any, *keys: str | int, literal: bool = False, drift: str = "") -> None:
            """Add one fact about this object."""
            facts.add(Fact(f"{base}{suffix}", value, anchor, _where(obj.path, doc.line_of(*keys)), literal=literal, drift=drift))

        distinctive = "-" in obj.name  # `chorus-fanout` is worth flagging in prose; `chorus` is an ordinary word
        add("", obj.name, "metadata", "name", literal=True, drift="name" if distinctive else "")
        if obj.namespace:
            add(".namespace", obj.namespace, "metadata", "namespace", literal=True)
        spec = obj.body.get("spec") or {}
        for key, short in (("replicas", "replicas"), ("minReplicas", "min_replicas"), ("maxReplicas", "max_replicas"),
                           ("minAvailable", "min_available"), ("maxUnavailable", "max_unavailable")):
            if isinstance(spec.get(key), (int, str)) and not isinstance(spec.get(key), bool):
                add(f".{short}", spec[key], "spec", key, drift="number" if isinstance(spec[key], int) else "")
        for m, metric in enumerate(spec.get("metrics") or []):
            target = ((metric.get("resource") or {}).get("target") or {}) if isinstance(metric, dict) else {}
            name = (metric.get("resource") or {}).get("name") if isinstance(metric, dict) else None
            if name and "averageUtilization" in target:
                add(f".target.{name}", target["averageUtilization"], "spec", "metrics", m, "resource", "target", drift="number")
        for port in spec.get("ports") or [] if kind == "service" else []:
            if isinstance(port, dict) and "port" in port:
                add(f".port.{port.get('name', port['port'])}", port["port"], "spec", "ports", drift="number")
        for container in obj.containers:
            cbase = f".container.{container.name}"
            add(cbase, container.name, literal=True)
            if container.image:
                add(f"{cbase}.image", container.image, literal=True)
            for port, number in container.ports.items():
                add(f"{cbase}.port.{port}", number, drift="number")
            for bound, amounts in container.resources.items():
                for res, amount in amounts.items():
                    add(f"{cbase}.{bound}.{res}", amount, literal=True)


def _cli(root: Path, facts: Facts) -> None:
    for words in sources.cli_commands(root, "chorusctl"):
        facts.add(Fact("cli.chorusctl." + ".".join(words), " ".join(("chorusctl", *words)), anchors.cli_command("chorusctl", *words), "chorus.cli", literal=True))


def _openapi(root: Path, facts: Facts) -> None:
    document = sources.openapi(root)
    for path, operations in (document.get("paths") or {}).items():
        for method in operations:
            if method.lower() in ("get", "put", "post", "delete", "patch", "head", "options"):
                facts.targets.add(anchors.http_operation(method.upper(), path))


LOADERS = (
    ("config", lambda root, facts: _config(root, facts)),
    ("alert", lambda root, facts: _alerts(root, facts)),
    ("metric", lambda root, facts: _metrics(root, facts)),
    ("service", lambda root, facts: _catalog(root, facts)),
    ("k8s", lambda root, facts: _k8s(root, facts)),
    ("cli", lambda root, facts: _cli(root, facts)),
    ("http", lambda root, facts: _openapi(root, facts)),
    ("scenario", lambda root, facts: _scenarios(root, facts)),
)


def _scenarios(root: Path, facts: Facts) -> None:
    """Load scenarios analysed against the facts already built (after config, alerts and k8s)."""
    from handbook import scenario

    for kind in ("config", "alert", "k8s"):
        if kind in facts.unavailable:
            raise sources.SourceUnavailable(f"scenarios need {kind} facts: {facts.unavailable[kind]}")
    for fact in scenario.facts(root, facts):
        facts.add(fact)


def build(root: Path, skip: Iterable[str] = ()) -> Facts:
    """Every fact of the tree at `root`, from `handbook.sources`.

    A source that does not exist yet (e.g. the stack has no `chorus.metrics`)
    is recorded in `Facts.unavailable` instead of failing, so pages that do not
    use it still build; a source that exists but is broken raises.

    Args:
        root: The project root.
        skip: Kinds not to load (e.g. `http`, which only adds link targets and builds the whole app).

    Returns:
        The facts.

    Raises:
        HandbookError: A source of truth exists but cannot be read (names file and line).
    """
    facts = Facts()
    for kind, load in LOADERS:
        if kind in skip:
            continue
        try:
            load(root, facts)
        except sources.SourceMissing as exc:
            facts.unavailable[kind] = f"{exc.path} is missing"
        except sources.SourceUnavailable as exc:
            facts.unavailable[kind] = str(exc)
    for kind, alias in (("service", "team"), ("config", "env")):
        if kind in facts.unavailable:
            facts.unavailable[alias] = facts.unavailable[kind]
    return facts


def is_missing(exc: HandbookError) -> bool:
    """Whether an error only says a source-of-truth file is absent from this tree."""
    return isinstance(exc, (sources.SourceMissing, sources.SourceUnavailable))


def for_project(project: Any) -> Facts:
    """The facts of a `Project`, built once per run and cached on it."""
    cache = project.__dict__
    if "_facts" not in cache:
        cache["_facts"] = build(project.root)
    return cache["_facts"]
