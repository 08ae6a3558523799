"""The front matter keys the theme reads on every page, and how schema errors are located.

Each kind of page adds keys of its own (runbooks: `handbook.runbook.RunbookMeta`; review
keys: `handbook.knowledge.review`; decision records and incident reviews theirs), so
`PageSettings` allows other keys and checks only the shape of those Material acts on.
A wrong shape there does not fail quietly: `search: fast` makes Material's search plugin
crash the build, far from the page that caused it.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handbook.mdscan import FrontMatterBlock

HIDDEN_PARTS = ("navigation", "toc", "footer", "path", "tags", "feedback")
"""What a page may hide with `hide:` (Material's templates test for these names)."""


class SearchSettings(BaseModel):
    """Material's per-page search settings."""

    model_config = ConfigDict(extra="forbid")

    boost: float = Field(default=1.0, gt=0, le=10, description="How much higher this page ranks in search (Material `search.boost`).")
    exclude: bool = Field(default=False, description="Leave the page out of the search index (Material `search.exclude`).")


class PageSettings(BaseModel):
    """The keys Material reads from any page's front matter; other keys are left to their own schemas."""

    model_config = ConfigDict(extra="allow")

    title: str | None = Field(default=None, min_length=1, description="The page's title (navigation, tab, search).")
    description: str | None = Field(default=None, description="The page's meta description.")
    subtitle: str | None = Field(default=None, description="A line under the title in the navigation.")
    icon: str | None = Field(default=None, description="An icon shown beside the title in the navigation.")
    status: str | None = Field(default=None, description="A status shown beside the title (decision records use it).")
    template: str | None = Field(default=None, description="A template other than the theme's default.")
    hide: list[Literal[HIDDEN_PARTS]] | None = Field(default=None, description="Parts of the page layout to hide.")  # type: ignore[valid-type]
    tags: list[str] | None = Field(default=None, description="Tags of the page.")
    search: SearchSettings | None = Field(default=None, description="Material search settings (e.g. boost).")


def schema_errors(exc: ValidationError, block: FrontMatterBlock, model: type[BaseModel]) -> list[tuple[int, int, str]]:
    """Every error of a front matter validation, at the line and column of the key it concerns.

    Args:
        exc: What pydantic raised.
        block: The front matter that was validated (it knows where each key is).
        model: The schema: an unknown key is answered with the keys allowed where it was written.

    Returns:
        `(line, col, message)` for each error; the message starts with the key's dotted path.
    """
    errors = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        line, col = block.position(*loc) if loc and loc[0] in block.data else (1, 1)
        where = ".".join(str(part) for part in loc) or "front matter"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = f"unknown key (allowed: {', '.join(_model_at(model, loc[:-1]).model_fields)})"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] in ("model_type", "dict_type"):
            message = "must be a mapping of keys to values"
        elif err["type"] == "list_type":
            shown = f'"{err["input"]}"' if isinstance(err["input"], str) else err["input"]
            message = f"must be a list: write [{shown}]"
        errors.append((line, col, f"{where}: {message}"))
    return errors


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel]:
    """The schema of the mapping at `loc` inside `model` (`model` itself when `loc` leads to no other schema)."""
    for part in loc:
        field = model.model_fields.get(str(part))
        inner = next((kind for kind in (field.annotation, *get_args(field.annotation)) if isinstance(kind, type)
                      and issubclass(kind, BaseModel)), None) if field is not None else None
        if inner is None:
            return model
        model = inner
    return model
