"""What the stack holds, as *subjects* a page can describe, each with a fingerprint of its aspects.

A subject is one thing of `stack/` a page may refer to, keyed `kind:id`:

| kind | id | aspects |
|---|---|---|
| `config` | `fanout.listener_cap` | value, override variable, type, default, bounds, description |
| `alert` | `ChorusFanoutNearCap` | expression, `for:`, severity, threshold, labels, annotations |
| `metric` | `chorus_fanout_listeners` | type, labels, help, services |
| `service` | `fanout` (a catalog entry) | purpose, team, tier, dependencies, ports, workloads |
| `team` | `media` (a catalog team) | on-call, chat, people |
| `k8s` | `deployment/chorus-fanout` | every field of the object |
| `cli` | `chorusctl drain` | the command's options and help |
| `module` | `chorus.fanout.node` | the source file's content |

The facts (`handbook.facts`) give the values pages show; this module adds what prose may
describe without quoting (a default, a label, a manifest field, a module's code), so a change to
any of them is seen. Comparing two snapshots (`diff`) says which aspect of which subject changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handbook import facts as facts_mod
from handbook import sources
from handbook.errors import HandbookError

KIND_LABELS = {
    "config": "config key",
    "alert": "alert",
    "metric": "metric",
    "service": "catalog entry",
    "team": "catalog team",
    "k8s": "manifest object",
    "cli": "command",
    "module": "module",
}

DIGEST = "other fields"
"""The aspect holding a digest of a whole entry or object: it changes when any field does."""

Snapshot = dict[str, dict[str, str]]
"""Subject key (`kind:id`) to aspect name to its value as text."""


def subject_of_fact(name: str) -> str | None:
    """The subject key a fact name belongs to, e.g. `alert.X.threshold` -> `alert:X`.

    Args:
        name: A fact name, as written in a live value.

    Returns:
        The subject key, or `None` for a name of no known kind.
    """
    kind, _, rest = name.partition(".")
    if not rest:
        return None
    if kind in ("config", "env"):
        return f"config:{rest}"
    if kind == "metric":
        return f"metric:{rest}"
    if kind in ("alert", "service", "team"):
        return f"{kind}:{rest.split('.', 1)[0]}"
    if kind == "k8s":
        parts = rest.split(".")
        return f"k8s:{parts[0]}/{parts[1]}" if len(parts) >= 2 else None
    if kind == "cli":
        return "cli:" + " ".join(rest.split("."))
    return None


def label(key: str) -> str:
    """A subject key as a reader says it, e.g. `config:fanout.listener_cap` -> `config key fanout.listener_cap`."""
    kind, _, ident = key.partition(":")
    return f"{KIND_LABELS.get(kind, kind)} {ident}"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _digest(value: Any) -> str:
    return hashlib.sha1(_text(value).encode("utf-8")).hexdigest()[:12]


class _Collector:
    def __init__(self) -> None:
        self.snapshot: Snapshot = {}

    def put(self, key: str, aspect: str, value: Any) -> None:
        self.snapshot.setdefault(key, {})[aspect] = _text(value)


def _aspect(name: str, key: str) -> str:
    """Which aspect of its subject a fact is, e.g. `alert.X.threshold` -> `threshold`."""
    kind, _, ident = key.partition(":")
    if name.startswith("env."):
        return "override variable"
    if kind in ("config", "metric"):
        return "value" if kind == "config" else f"series {name.removeprefix('metric.')}"
    prefix = f"{kind}." + ident.replace("/", ".").replace(" ", ".")
    return name.removeprefix(prefix).lstrip(".") or "name"


def _from_facts(facts: facts_mod.Facts, out: _Collector, unavailable: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    """Every fact as an aspect of its subject; returns metric series name -> family subject key."""
    unavailable.update(facts.unavailable)
    series: dict[str, str] = {}
    for fact in facts:
        values[fact.name] = fact.text
        key = subject_of_fact(fact.name)
        if key is None:
            continue
        if key.startswith("metric:"):
            family = "metric:" + (fact.anchor or fact.name).rsplit("#", 1)[-1].removeprefix("metric.")
            series[fact.name.removeprefix("metric.")] = family
            key = family
        out.put(key, _aspect(fact.name, key), fact.value)
    return series


def _config_details(root: Path, out: _Collector) -> None:
    for key in sources.config_keys(root):
        subject = f"config:{key.key}"
        out.put(subject, "type", key.type)
        out.put(subject, "default", key.default if key.default is not sources.UNSET else "(required)")
        out.put(subject, "bounds", key.bounds)
        out.put(subject, "description", key.description)


def _metric_details(out: _Collector) -> None:
    for metric in sources.metrics():
        subject = f"metric:{metric.name}"
        out.put(subject, "type", metric.type)
        out.put(subject, "labels", list(metric.labels))
        out.put(subject, "help", metric.help)
        out.put(subject, "services", list(metric.services))


def _alert_details(root: Path, out: _Collector) -> None:
    for rule in sources.alert_rules(root):
        out.put(f"alert:{rule.name}", "annotations", rule.annotations)


def _catalog_details(root: Path, out: _Collector) -> None:
    catalog = sources.catalog_model(root)
    for team in catalog.teams:
        people = [person.model_dump(exclude={"github"}, exclude_unset=True) for person in team.people]
        out.put(f"team:{team.name}", "people", people)  # GitHub handles route reviews; they describe nothing
    for service in catalog.services:
        out.put(f"service:{service.name}", DIGEST, _digest(service.model_dump(exclude_unset=True)))


def _manifest_details(root: Path, out: _Collector) -> None:
    for obj in sources.manifests(root):
        if obj.kind and obj.name:
            out.put(f"k8s:{obj.kind.lower()}/{obj.name}", DIGEST, _digest(obj.body))


def _cli_details(out: _Collector) -> None:
    parser = sources.cli_parser("chorusctl")

    def walk(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
        for action in parser._actions:  # argparse has no public walk of subcommands
            if isinstance(action, argparse._SubParsersAction):
                for word, sub in action.choices.items():
                    path = (*words, word)
                    options = sorted(
                        ("/".join(a.option_strings) or a.dest, str(a.help or ""), str(a.default))
                        for a in sub._actions
                        if not isinstance(a, (argparse._SubParsersAction, argparse._HelpAction))
                    )
                    out.put("cli:" + " ".join(("chorusctl", *path)), "options", options)
                    walk(sub, path)

    walk(parser, ())


def _modules(root: Path, out: _Collector) -> None:
    package = root / sources.STACK_PACKAGE
    for path in sorted(package.rglob("*.py")) if package.is_dir() else []:
        rel = path.relative_to(root / "stack").with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out.put("module:" + ".".join(parts), path.relative_to(root).as_posix(), _digest(path.read_bytes().hex()))


@dataclass
class StackSubjects:
    """The subjects of one tree.

    Attributes:
        snapshot: Subject key to aspect to value.
        series: A metric series name (`x_bucket`) to its family's subject key.
        unavailable: Source kind to why it could not be read in this tree (a broken source: not compared).
        values: Every fact's name to its value as pages show it (to render live values in commands).
    """

    snapshot: Snapshot
    series: dict[str, str]
    unavailable: dict[str, str]
    values: dict[str, str]
    absent: list[str] = field(default_factory=list)
    """Source kinds that do not exist in this tree (compared as empty: everything they hold now is new)."""

    def facts(self) -> facts_mod.Facts:
        """The facts' values as `Facts` (enough to render live values in code; no anchors)."""
        found = facts_mod.Facts()
        for name, text in self.values.items():
            found.add(facts_mod.Fact(name, text, None, ""))
        return found

    def to_json(self) -> str:
        """The subjects as JSON (what the cache and the subprocess exchange)."""
        return json.dumps({"snapshot": self.snapshot, "series": self.series, "unavailable": self.unavailable,
                           "values": self.values, "absent": self.absent}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "StackSubjects":
        """Read what `to_json` wrote."""
        data = json.loads(text)
        return cls(data["snapshot"], data["series"], data["unavailable"], data.get("values", {}), data.get("absent", []))


def collect(root: Path, facts: facts_mod.Facts | None = None) -> StackSubjects:
    """Every subject of the tree at `root`, read through `handbook.facts` and `handbook.sources`.

    A source that is missing or broken in this tree is recorded in `unavailable`, never raised:
    an old revision may predate a source, or hold a file the current code cannot read.

    Args:
        root: A project root (a checkout, or an extracted revision).
        facts: The tree's facts when already built (default: built here).

    Returns:
        The subjects.
    """
    out = _Collector()
    unavailable: dict[str, str] = {}
    absent: dict[str, str] = {}
    series: dict[str, str] = {}
    values: dict[str, str] = {}
    try:
        series = _from_facts(facts if facts is not None else facts_mod.build(root, skip=("http",)), out, absent, values)
    except Exception as exc:  # noqa: BLE001 - a broken source at an old revision is a note, not a crash
        unavailable["facts"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for name, load in (
        ("config", lambda: _config_details(root, out)),
        ("metric", lambda: _metric_details(out)),
        ("alert", lambda: _alert_details(root, out)),
        ("service", lambda: _catalog_details(root, out)),
        ("k8s", lambda: _manifest_details(root, out)),
        ("cli", lambda: _cli_details(out)),
        ("module", lambda: _modules(root, out)),
    ):
        try:
            load()
        except Exception as exc:  # noqa: BLE001 - see above
            missing = isinstance(exc, HandbookError) and facts_mod.is_missing(exc)
            (absent if missing else unavailable).setdefault(name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return StackSubjects(out.snapshot, series, unavailable, values, sorted(absent))


@dataclass(frozen=True)
class Change:
    """One subject that differs between two snapshots.

    Attributes:
        key: The subject key, e.g. `config:fanout.listener_cap`.
        what: `added`, `removed` or `changed`.
        aspects: For `changed`, `(aspect, before, after)` for every aspect that differs.
    """

    key: str
    what: str
    aspects: tuple[tuple[str, str | None, str | None], ...] = ()

    def describe(self) -> str:
        """One line, e.g. `config key fanout.listener_cap changed: value 500 -> 400`."""
        if self.what != "changed":
            return f"{label(self.key)} {self.what}"
        if self.key.startswith("module:"):
            return f"{label(self.key)} changed: {', '.join(a for a, _, _ in self.aspects)}"
        named = [a for a in self.aspects if a[0] != DIGEST]
        if not named:
            return f"{label(self.key)} changed"
        parts = []
        for aspect, before, after in named[:3]:
            if before is None:
                parts.append(f"{aspect} added")
            elif after is None:
                parts.append(f"{aspect} removed")
            elif len(before) + len(after) <= 60:
                parts.append(f"{aspect} {before} -> {after}")
            else:
                parts.append(f"{aspect} changed")
        more = f" (+{len(named) - 3} more)" if len(named) > 3 else ""
        return f"{label(self.key)} changed: {'; '.join(parts)}{more}"


def diff(before: Snapshot, after: Snapshot, skip_kinds: set[str] = frozenset()) -> dict[str, Change]:  # type: ignore[assignment]
    """Every subject added, removed or changed from `before` to `after`.

    Args:
        before: The older snapshot.
        after: The newer snapshot.
        skip_kinds: Kinds that could not be read on one side (not compared: everything would look new).

    Returns:
        Subject key to its change.
    """
    changes: dict[str, Change] = {}
    for key in sorted(set(before) | set(after)):
        if key.partition(":")[0] in skip_kinds:
            continue
        old, new = before.get(key), after.get(key)
        if old is None:
            changes[key] = Change(key, "added")
        elif new is None:
            changes[key] = Change(key, "removed")
        elif old != new:
            aspects = tuple((a, old.get(a), new.get(a)) for a in sorted(set(old) | set(new)) if old.get(a) != new.get(a))
            changes[key] = Change(key, "changed", aspects)
    return changes


def main() -> int:
    """Print the subjects of the tree given as the only argument, as JSON (run in a fresh interpreter).

    The editable install's finder is removed first: a module the tree does not have must be
    missing, not found in the checkout the handbook was installed from.
    """
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__name__", type(f).__name__).lower()]
    root = Path(sys.argv[1]).resolve()
    print(collect(root).to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
