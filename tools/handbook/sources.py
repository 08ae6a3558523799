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

import argparse
import enum
import functools
import importlib
import inspect
import sys
import traceback
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from handbook import yamlio
from handbook.errors import HandbookError

CATALOG = Path("stack/catalog.yaml")
CONFIG = Path("stack/config/chorus.yaml")
ALERTS_DIR = Path("stack/deploy/prometheus")
KUBERNETES_DIR = Path("stack/deploy/kubernetes")
STACK_PACKAGE = Path("stack/chorus")
HANDBOOK_PACKAGE = Path("tools/handbook")


_MEMO: dict[tuple[str, Path], tuple[Any, Any]] = {}
"""Sources already loaded in this process: (what, root) to (fingerprint of its files, value)."""


def _fingerprint(files: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """What identifies the content of some files cheaply: path, size and modification time."""
    found = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def _memo(what: str, root: Path, files: list[Path], build: Callable[[], Any]) -> Any:
    """Load a source once per process while its files are unchanged (checks, facts and pages share it).

    Args:
        what: The source's name.
        root: The project root.
        files: The files it is read from.
        build: How to load it.

    Returns:
        The loaded source.
    """
    key = (what, root.resolve())
    stamp = _fingerprint(files)
    known = _MEMO.get(key)
    if known is not None and known[0] == stamp:
        return known[1]
    value = build()
    _MEMO[key] = (stamp, value)
    return value


class SourceUnavailable(HandbookError):
    """A source of truth that does not exist in this tree yet (e.g. `chorus.metrics` not written).

    Generated pages say so instead of failing the build; a source that exists but
    cannot be read raises a plain `HandbookError` and fails it.
    """


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
    return yamlio.load(rel, text=read_text(root, rel))


def read_text(root: Path, rel: Path) -> str:
    """A source file's text: UTF-8, a leading BOM dropped.

    Args:
        root: The project root.
        rel: The file, relative to the root.

    Returns:
        The text.

    Raises:
        HandbookError: A byte is not UTF-8 (names file, line).
    """
    from chorus.yamllines import SourceError, decode

    try:
        return decode(rel, (root / rel).read_bytes())
    except SourceError as exc:
        raise yamlio.error(exc) from None


def catalog(root: Path) -> yamlio.Located:
    """`stack/catalog.yaml` with line numbers, once `chorus.catalog` has validated it.

    Raises:
        HandbookError: The catalog is not valid YAML or fails its model (a service that is a
            string, a duplicate service, a dependency cycle...): one line naming file and line.
    """
    def load() -> yamlio.Located:
        doc = read_yaml(root, CATALOG)
        module = chorus_module("chorus.catalog")
        try:
            module.load_catalog(root / CATALOG)
        except module.SourceError as exc:
            raise _source_error(exc, root) from None
        return doc

    return _memo("catalog", root, [root / CATALOG], load)


def alert_rules(root: Path) -> list[AlertRule]:
    """Every alerting rule in `stack/deploy/prometheus/*.yaml`, in file order (loaded once per process).

    Args:
        root: The project root.

    Returns:
        The rules; recording rules are skipped.
    """
    folder = root / ALERTS_DIR
    files = sorted(folder.glob("*.y*ml")) if folder.is_dir() else []
    return _memo("alert_rules", root, files, lambda: _read_alert_rules(root))


def _read_alert_rules(root: Path) -> list[AlertRule]:
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
    return rules


def manifests(root: Path) -> list[Manifest]:
    """Every Kubernetes object under `stack/deploy/kubernetes/`, in file order (loaded once per process).

    Args:
        root: The project root.

    Returns:
        The objects (a `List` kind is not expanded).

    Raises:
        HandbookError: A manifest file is not valid YAML.
    """
    folder = root / KUBERNETES_DIR
    files = sorted(folder.rglob("*.y*ml")) if folder.is_dir() else []
    return _memo("manifests", root, files, lambda: _read_manifests(root))


def _read_manifests(root: Path) -> list[Manifest]:
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
        for doc in yamlio.load_all(rel, text=read_text(root, rel)):
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
                    located=doc,
                )
            )
    return found


# --- Chorus entry points ---------------------------------------------------------------------


def _where(exc: BaseException) -> tuple[Path | None, int | None]:
    """The file and line an exception came from, preferring the innermost frame in the stack's code."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return Path(exc.filename), exc.lineno
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{STACK_PACKAGE}" in f.filename.replace("\\", "/")]
    frame = (ours or frames)[-1] if ours or frames else None
    return (Path(frame.filename), frame.lineno) if frame is not None else (None, None)


def _fail(what: str, exc: BaseException) -> HandbookError:
    path, line = _where(exc)
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return HandbookError(f"{what} failed: {type(exc).__name__}: {detail}", path=path, line=line)


def chorus_module(name: str) -> types.ModuleType:
    """Import a module of the `chorus` package, turning failures into one-line errors.

    Args:
        name: The dotted module name, e.g. `chorus.config`.

    Returns:
        The module.

    Raises:
        SourceUnavailable: The module does not exist (yet) in this tree.
        HandbookError: The module exists but could not be imported (names file and line).
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise SourceUnavailable(f"`{name}` does not exist in this tree yet") from None
        raise _fail(f"importing {name}", exc) from None
    except Exception as exc:  # any error in the stack's own code must become one line
        raise _fail(f"importing {name}", exc) from None


def chorus_call(what: str, func: Callable[..., Any], *args: Any) -> Any:
    """Call one of the stack's entry points, turning an exception into a one-line error.

    Args:
        what: What is being done, for the message (e.g. `chorus.cli.build_parser()`).
        func: The entry point.
        *args: Its arguments.

    Returns:
        What the entry point returned.

    Raises:
        HandbookError: The entry point raised (names the file and line it raised at).
    """
    try:
        return func(*args)
    except HandbookError:
        raise
    except Exception as exc:
        raise _fail(what, exc) from None


def purge_chorus_modules() -> None:
    """Forget every imported `chorus` module, so the next import reads the code afresh.

    `mkdocs serve` rebuilds in one long-lived process; without this a change to
    the stack's code would not show until the server restarts.
    """
    for name in [n for n in sys.modules if n == "chorus" or n.startswith("chorus.")]:
        del sys.modules[name]
    _MEMO.clear()
    importlib.invalidate_caches()


# --- configuration -----------------------------------------------------------------------------

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET", "__bool__": lambda self: False})()
"""Marks a default that does not exist (a required key) or a key absent from `chorus.yaml`."""

BOUND_ATTRIBUTES = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")


@dataclass(frozen=True)
class ConfigKey:
    """One leaf key of the Chorus configuration, as the schema defines it and `chorus.yaml` sets it.

    Attributes:
        key: The dotted key, e.g. `fanout.listener_cap`.
        section: The top-level section, e.g. `fanout` (`""` for a top-level leaf).
        section_description: The schema's description of that section, or `""`.
        type: The type as a reader writes it, e.g. `int`, `list[str]`, `"a" | "b"`.
        default: The schema's default, or `UNSET` when the key is required.
        bounds: Constraint name to value, e.g. `{"ge": 1, "le": 100000}`.
        value: The value written in `chorus.yaml`, or `UNSET` when the file leaves it to the default.
        env: The environment variable that overrides it, e.g. `CHORUS__FANOUT__LISTENER_CAP`.
        description: The schema's description.
        path: The configuration file, relative to the root.
        line: The line of the key in the configuration file, or `None` when it is not set there.
    """

    key: str
    section: str
    section_description: str
    type: str
    default: Any
    bounds: dict[str, Any]
    value: Any
    env: str
    description: str
    path: Path
    line: int | None

    @property
    def required(self) -> bool:
        """Whether the schema has no default, so the file must set the key."""
        return self.default is UNSET

    @property
    def current(self) -> Any:
        """Today's value: the one in `chorus.yaml`, else the default."""
        return self.default if self.value is UNSET else self.value


def type_label(annotation: Any) -> str:
    """A short, readable name for a type annotation.

    Args:
        annotation: A type, e.g. `int`, `list[str]`, `Literal["a", "b"]`, `float | None`.

    Returns:
        The name as a reader would write it, e.g. `list[str]`, `"a" | "b"`, `float | None`.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is typing.Annotated:
        return type_label(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(a).replace("'", '"') for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_label(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin).replace("typing.", ""))
        return f"{name}[{', '.join(type_label(a) for a in args)}]" if args else name
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(repr(m.value).replace("'", '"') for m in annotation)
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _model_of(annotation: Any) -> type | None:
    """The pydantic model a field holds (also through `Optional[...]`), or `None` for a leaf."""
    from pydantic import BaseModel

    candidates = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        candidates = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(candidates) == 1 and isinstance(candidates[0], type) and issubclass(candidates[0], BaseModel):
        return candidates[0]
    return None


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        for name in BOUND_ATTRIBUTES:
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def _lookup(data: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if not isinstance(data, Mapping) or part not in data:
            return UNSET
        data = data[part]
    return data


def _validate(schema: type, doc: yamlio.Located) -> None:
    """Validate the whole file with the schema; the first error becomes one line at its key."""
    from pydantic import ValidationError

    try:
        schema.model_validate(doc.data if doc.data is not None else {})  # type: ignore[attr-defined]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first.get("loc", ()))
        key = ".".join(str(p) for p in loc) or "(top level)"
        raise HandbookError(
            f"{key}: {first.get('msg', 'invalid value')}; fix the value (see the configuration reference)",
            path=doc.path,
            line=doc.line_of(*loc),
        ) from None


def config_keys(root: Path, schema: type | None = None, env_prefix: str | None = None) -> list[ConfigKey]:
    """Every leaf key of the configuration schema with its value in `stack/config/chorus.yaml`.

    Args:
        root: The project root (the configuration file is read from it).
        schema: The pydantic model; defaults to `chorus.config.ChorusConfig`.
        env_prefix: The override prefix; defaults to `chorus.config.ENV_PREFIX`.

    Returns:
        The keys in schema order, sections depth first.

    Raises:
        SourceUnavailable: The file or `chorus.config` does not exist in this tree.
        HandbookError: The file is not valid YAML, or fails the schema
            (names the file and the line of the offending key).
    """
    if not (root / CONFIG).is_file():
        # Like an empty alerts folder: a tree without the file has no configuration to show.
        raise SourceUnavailable(f"`{CONFIG.as_posix()}` does not exist in this tree")
    doc = read_yaml(root, CONFIG)  # a broken file fails the build even before the schema exists
    if schema is None or env_prefix is None:
        module = chorus_module("chorus.config")
        schema = schema or module.ChorusConfig
        env_prefix = module.ENV_PREFIX if env_prefix is None else env_prefix
    _validate(schema, doc)
    keys: list[ConfigKey] = []
    sections: dict[str, str] = {}

    def walk(model: type, prefix: tuple[str, ...]) -> None:
        for name, info in model.model_fields.items():  # type: ignore[attr-defined]
            part = info.alias or name
            parts = (*prefix, part)
            nested = _model_of(info.annotation)
            if nested is not None:
                if not prefix:
                    sections[part] = inspect.cleandoc(info.description or nested.__dict__.get("__doc__") or "").split("\n\n")[0]
                walk(nested, parts)
                continue
            default = info.get_default(call_default_factory=True) if not info.is_required() else UNSET
            value = _lookup(doc.data, parts)
            keys.append(
                ConfigKey(
                    key=".".join(parts),
                    section=parts[0] if len(parts) > 1 else "",
                    section_description=sections.get(parts[0], "") if len(parts) > 1 else "",
                    type=type_label(info.annotation),
                    default=default.value if isinstance(default, enum.Enum) else default,
                    bounds=_bounds(info.metadata),
                    value=value,
                    env=env_prefix + "__".join(p.upper() for p in parts),
                    description=(info.description or "").strip(),
                    path=CONFIG,
                    line=doc.line_of(*parts) if value is not UNSET else None,
                )
            )

    walk(schema, ())
    return keys


# --- metrics -----------------------------------------------------------------------------------

SERIES_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}


@dataclass(frozen=True)
class MetricInfo:
    """One metric family a Chorus service exports.

    Attributes:
        name: The name to query: a counter's `_total` name, an info's `_info` name,
            otherwise the family name (a histogram's base name).
        type: `counter`, `gauge`, `histogram`, `summary`, `info`, `enum`...
        labels: The label names, in declaration order.
        help: The HELP text.
        services: The services that export it, in catalog order.
        series: Every series name a query may use, e.g. a histogram's `_bucket`, `_sum`, `_count`.
        buckets: A histogram's upper bounds, else empty.
    """

    name: str
    type: str
    labels: tuple[str, ...]
    help: str
    services: tuple[str, ...]
    series: tuple[str, ...]
    buckets: tuple[float, ...] = ()


def _families(registry: Any) -> list[tuple[Any, Any]]:
    """`(collector, family)` for every metric family a registry holds, in registration order."""
    found: list[tuple[Any, Any]] = []
    collectors = list(getattr(registry, "_collector_to_names", {}))  # prometheus_client keeps no public list
    for collector in collectors:
        describe = getattr(collector, "describe", None)
        families = describe() if describe is not None else []
        if not families:
            families = list(collector.collect())
        found.extend((collector, family) for family in families)
    return found


def metrics(registries: Mapping[str, Any] | None = None) -> list[MetricInfo]:
    """Every metric the services export, merged by name across services.

    Args:
        registries: Service name to `prometheus_client.CollectorRegistry`; defaults to
            `chorus.metrics.service_registries()`.

    Returns:
        The metrics, sorted by name.

    Raises:
        SourceUnavailable: `chorus.metrics` does not exist yet.
        HandbookError: Two services declare the same metric with a different type, labels or help.
    """
    if registries is None:
        module = chorus_module("chorus.metrics")
        registries = chorus_call("chorus.metrics.service_registries()", module.service_registries)
    merged: dict[str, MetricInfo] = {}
    for service, registry in registries.items():
        for collector, family in _families(registry):
            labels = getattr(collector, "_labelnames", None)
            if labels is None:
                labels = tuple(dict.fromkeys(k for s in family.samples for k in s.labels if k not in ("le", "quantile")))
            suffixes = SERIES_SUFFIXES.get(family.type, ("",))
            series = tuple(family.name + s for s in suffixes)
            name = series[0] if family.type in ("counter", "info") else family.name
            metric = MetricInfo(
                name=name,
                type=family.type,
                labels=tuple(labels),
                help=family.documentation,
                services=(service,),
                series=series,
                buckets=tuple(getattr(collector, "_upper_bounds", ()) or ()),
            )
            if name in merged:
                known = merged[name]
                if (known.type, known.labels, known.help) != (metric.type, metric.labels, metric.help):
                    raise HandbookError(
                        f"metric {name} is declared differently by services {', '.join(known.services)} "
                        f"and {service} (type, labels or help differ): declare it once and share it"
                    )
                metric = MetricInfo(**{**known.__dict__, "services": (*known.services, service)})
            merged[name] = metric
    return sorted(merged.values(), key=lambda m: m.name)


# --- HTTP API and command lines ------------------------------------------------------------------


def openapi(root: Path) -> dict[str, Any]:
    """The gateway's OpenAPI document, as its app serves it at `/openapi.json` (built once per process).

    Args:
        root: The project root; the app is built from its `stack/config/chorus.yaml`.

    Returns:
        The OpenAPI document.
    """
    return cached_from_stack(root, "openapi", lambda: _build_openapi(root))


def _build_openapi(root: Path) -> dict[str, Any]:
    """The gateway's OpenAPI document, as its app serves it at `/openapi.json`.

    Args:
        root: The project root; the app is built from its `stack/config/chorus.yaml`.

    Returns:
        The OpenAPI document.

    Raises:
        SourceUnavailable: `chorus.gateway.app`, `chorus.config` or the configuration file
            does not exist in this tree.
        HandbookError: The configuration cannot be read or the app cannot be built.
    """
    app_module = chorus_module("chorus.gateway.app")
    config_module = chorus_module("chorus.config")
    config_keys(root)  # a readable, valid chorus.yaml, or one line naming file and line
    load = config_module.load_config
    if "env" in inspect.signature(load).parameters:  # the page must not depend on the builder's shell
        load = functools.partial(load, env={})
    config = chorus_call("chorus.config.load_config()", load, root / CONFIG)
    app = chorus_call("chorus.gateway.app.create_app()", app_module.create_app, config)
    return chorus_call("the gateway's .openapi()", app.openapi)


CLI_PROGRAMS = ("chorusctl", "handbook")
"""The command-line tools the handbook documents, in the order the CLI reference shows them."""


def cli_parser(program: str) -> argparse.ArgumentParser:
    """The argument parser of one documented command-line tool.

    Args:
        program: `chorusctl` (from `chorus.cli.build_parser()`) or `handbook`
            (from `handbook.cli.build_parser()`).

    Returns:
        The parser with all its subcommands.

    Raises:
        SourceUnavailable: `chorus.cli` does not exist yet.
        HandbookError: The parser cannot be built, or `program` is not documented.
    """
    if program == "handbook":
        from handbook.cli import build_parser

        return build_parser()
    if program == "chorusctl":
        module = chorus_module("chorus.cli")
        return chorus_call("chorus.cli.build_parser()", module.build_parser)
    raise HandbookError(f"no parser is known for {program!r}: expected one of {', '.join(CLI_PROGRAMS)}")


# --- the site's own settings ---------------------------------------------------------------------

MKDOCS = Path("mkdocs.yml")


@dataclass(frozen=True)
class SiteSettings:
    """What the handbook's URLs are built from, as `mkdocs.yml` sets it.

    Attributes:
        site_url: The site's base URL, ending in `/` (alert `runbook_url`s start with it).
        use_directory_urls: Whether `runbooks/x.md` is served at `runbooks/x/` (else `runbooks/x.html`).
    """

    site_url: str
    use_directory_urls: bool
    plugins: tuple[str, ...] = ()
    plugins_line: int = 1

    def page_url(self, docs_path: str) -> str:
        """The absolute URL of a page, e.g. `runbooks/x.md` -> `http://host/runbooks/x/`."""
        stem = docs_path[: -len(".md")] if docs_path.endswith(".md") else docs_path
        if stem == "index" or stem.endswith("/index"):
            return self.site_url + stem[: -len("index")]
        return self.site_url + (stem + "/" if self.use_directory_urls else stem + ".html")


def site_settings(root: Path) -> SiteSettings:
    """The URL settings of the site in `mkdocs.yml` (read without resolving its Python tags).

    Args:
        root: The project root.

    Returns:
        The settings; `site_url` defaults to `/` when unset.

    Raises:
        HandbookError: `mkdocs.yml` is not valid YAML.
    """
    import yaml

    path = root / MKDOCS
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise HandbookError(f"YAML syntax error: {exc}", path=MKDOCS, line=mark.line + 1 if mark else None) from None
    url = str(data.get("site_url") or "/")
    plugins = data.get("plugins") or []
    names = tuple(str(next(iter(p))) if isinstance(p, dict) and p else str(p) for p in plugins) if isinstance(plugins, list) else ()
    text = path.read_text(encoding="utf-8")
    line = next((n for n, row in enumerate(text.splitlines(), start=1) if row.startswith("plugins:")), 1)
    return SiteSettings(url if url.endswith("/") else url + "/", str(data.get("use_directory_urls", "true")).lower() != "false",
                        names, line)


# --- the stack, loaded once per run ---------------------------------------------------------------


def _source_error(exc: Exception, root: Path) -> HandbookError:
    """A `chorus.yamllines.SourceError` (configuration, catalog) as a one-line handbook error."""
    path = getattr(exc, "path", None)
    if path is not None:
        path = Path(path)
        if path.is_absolute():
            try:
                path = path.resolve().relative_to(root.resolve())
            except ValueError:
                pass
    key = getattr(exc, "key", "")
    message = getattr(exc, "message", str(exc))
    return HandbookError(f"{key}: {message}" if key else message, path=path, line=getattr(exc, "line", None))


STACK_DIR = Path("stack")
CACHED_PACKAGES = ("kubernetes-validate", "promql-parser", "pydantic", "fastapi", "prometheus-client", "PyYAML")
"""Libraries whose version changes what the stack's checks and documents say (part of the cache key)."""


def _stack_files(root: Path) -> list[Path]:
    """Every file under `stack/` (what a long-lived process must notice changing)."""
    return [p for p in sorted((root / STACK_DIR).rglob("*")) if p.is_file() and "__pycache__" not in p.parts]


def stack_fingerprint(root: Path) -> str:
    """A digest of everything under `stack/`, the libraries that read it, and the handbook code that uses them.

    Results derived only from these (the deployment and alert-rule findings, the OpenAPI
    document, the metrics) are cached under this key, so an unchanged stack is not imported
    and re-analysed on every run.

    Args:
        root: The project root.

    Returns:
        A hex digest.
    """
    import hashlib
    import importlib.metadata

    digest = hashlib.blake2b(digest_size=16)
    files = _stack_files(root)
    here = Path(__file__).resolve().parent
    files += [here / "sources.py", here / "checks" / "deploy.py"]
    for path in files:
        digest.update(str(path.relative_to(root) if path.is_relative_to(root) else path.name).encode())
        digest.update(path.read_bytes())
    for package in CACHED_PACKAGES:
        try:
            digest.update(f"{package}={importlib.metadata.version(package)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(package.encode())
    return digest.hexdigest()


def cached_from_stack(root: Path, name: str, build: Callable[[], Any]) -> Any:
    """A JSON-able value derived only from `stack/`, cached on disk under the stack's fingerprint.

    Args:
        root: The project root.
        name: What the value is (one cache file each).
        build: How to compute it when the stack changed.

    Returns:
        The value.
    """
    from handbook.resultcache import ResultCache

    def compute() -> Any:
        cache = ResultCache(root, name)
        fingerprint = stack_fingerprint(root)
        value = cache.get(fingerprint)
        if value is None:
            value = build()
            cache.put(fingerprint, value)
        cache.save()
        return value

    return _memo(f"cached:{name}", root, _stack_files(root), compute)


class StackKeyedCache:
    """Values derived from `stack/` and a small input (a command line), cached under the stack's fingerprint.

    Args:
        root: The project root.
        name: What the values are (one cache file).
    """

    def __init__(self, root: Path, name: str) -> None:
        from handbook.resultcache import ResultCache

        self.cache = ResultCache(root, name)
        self.fingerprint = _memo("fingerprint", root, _stack_files(root), lambda: stack_fingerprint(root))

    def get(self, key: str, build: Callable[[], Any]) -> Any:
        """The value for `key`, computed with `build` on a miss."""
        text = f"{self.fingerprint}\0{key}"
        value = self.cache.get(text)
        if value is None:
            value = build()
            self.cache.put(text, value)
        return value

    def save(self) -> None:
        """Write the cache (entries not used in this run are dropped)."""
        self.cache.save()


def cli_commands(root: Path, program: str = "chorusctl") -> list[tuple[str, ...]]:
    """Every subcommand path of a documented CLI, e.g. `("spaces", "create")` (cached with the stack).

    Args:
        root: The project root.
        program: The program (`chorusctl`).

    Returns:
        The word tuples, parents before children.
    """
    import argparse

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> list[list[str]]:
        found: list[list[str]] = []
        for action in parser._actions:  # argparse has no public walk of subcommands
            if isinstance(action, argparse._SubParsersAction):
                for word, sub in action.choices.items():
                    found.append([*prefix, word])
                    found.extend(walk(sub, (*prefix, word)))
        return found

    return [tuple(words) for words in cached_from_stack(root, f"commands-{program}", lambda: walk(cli_parser(program), ()))]


def stack_metrics(root: Path) -> list["MetricInfo"]:
    """`metrics()` of the stack in this checkout, cached under the stack's fingerprint.

    Args:
        root: The project root.

    Returns:
        The metrics, sorted by name.
    """

    def build() -> list[dict[str, Any]]:
        return [dict(m.__dict__) for m in metrics()]

    fields: list[dict[str, Any]] = [{k: tuple(v) if isinstance(v, list) else v for k, v in m.items()}
                                    for m in cached_from_stack(root, "metrics", build)]
    return [MetricInfo(**m) for m in fields]


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
        module = chorus_module("chorus.catalog")
        try:
            return module.load_catalog(self.root / CATALOG)
        except module.SourceError as exc:
            raise _source_error(exc, self.root) from None

    @functools.cached_property
    def catalog_doc(self) -> yamlio.Located:
        """`stack/catalog.yaml` with line numbers (for pointing findings at catalog entries)."""
        return catalog(self.root)

    @functools.cached_property
    def config(self) -> Any:
        """The validated `chorus.config.ChorusConfig`, without environment overrides."""
        module = chorus_module("chorus.config")
        try:
            return module.load_config(self.root / CONFIG, env={})
        except module.SourceError as exc:
            raise _source_error(exc, self.root) from None

    @functools.cached_property
    def manifests(self) -> list[Manifest]:
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
        folder = self.root / ALERTS_DIR
        files = sorted(folder.glob("*.y*ml")) if folder.is_dir() else []
        return [read_yaml(self.root, path.relative_to(self.root)) for path in files]

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
