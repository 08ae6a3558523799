"""`stack/config/chorus.yaml` against its schema: every leaf key, its type, bounds, default and value.

The schema is the stack's own (`chorus.config.ChorusConfig`); each key carries the line
it is set on, for the configuration reference, live values and the drift checks.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handbook import yamlio
from handbook.errors import HandbookError
from handbook.sources.base import chorus_module, memo, read_yaml, source_error

CONFIG = Path("stack/config/chorus.yaml")

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


def config_model(root: Path) -> Any:
    """Today's Chorus configuration as the services load it, without the builder's environment (once per process).

    Args:
        root: The project root.

    Returns:
        The validated `chorus.config.ChorusConfig`.

    Raises:
        HandbookError: The file is missing, not YAML, or fails the schema (names file and line).
    """

    def load() -> Any:
        config_keys(root)  # schema errors as one line at the offending key
        module = chorus_module("chorus.config")
        try:
            return module.load_config(root / CONFIG, env={})
        except module.SourceError as exc:
            raise source_error(exc, root) from None

    return memo("config-model", root, lambda: [root / CONFIG], load)


def config_keys(root: Path, schema: type | None = None, env_prefix: str | None = None) -> list[ConfigKey]:
    """Every leaf key of the configuration schema with its value in `stack/config/chorus.yaml`.

    Args:
        root: The project root (the configuration file is read from it).
        schema: The pydantic model; defaults to `chorus.config.ChorusConfig`.
        env_prefix: The override prefix; defaults to `chorus.config.ENV_PREFIX`.

    Returns:
        The keys in schema order, sections depth first.

    Raises:
        SourceMissing: The tree has no `stack/config/chorus.yaml`.
        HandbookError: The file is not valid YAML, or fails the schema
            (names the file and the line of the offending key).
    """
    doc = read_yaml(root, CONFIG)
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
