"""API reference: one page per Python module of `handbook` and `chorus`, found on disk.

A new module appears in the site and its navigation on the next build without
anyone editing a list. Each page holds a mkdocstrings `:::` directive, so
signatures, type hints, cross-references and source come from the code itself.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from handbook import sources
from handbook.reference import markdown as md

API_DIR = "reference/api"
NAV_FILE = "SUMMARY.md"
"""The file literate-nav reads a folder's navigation from (its default `nav_file`)."""
PACKAGES = ((sources.STACK_PACKAGE, "chorus"), (sources.HANDBOOK_PACKAGE, "handbook"))
SECTIONS = {
    "chorus": ("Chorus stack", "The services and `chorusctl`: what runs in production."),
    "handbook": (
        "Handbook tooling",
        "The handbook's own code (checks, generators, this site's plugin), for people changing the "
        "handbook. Left out of the site search, so a search for a Chorus name finds Chorus.",
    ),
}
"""Each package's section in the navigation and on the index: title and one sentence."""


@dataclass(frozen=True)
class Module:
    """One documented module.

    Attributes:
        name: The dotted name, e.g. `handbook.checks.registry`.
        path: The source file, relative to the project root.
        is_package: Whether it is a package's `__init__.py`.
        summary: The first line of its docstring, or `""`.
    """

    name: str
    path: Path
    is_package: bool
    summary: str

    @property
    def uri(self) -> str:
        """The page's docs-relative path: `reference/api/handbook/cli.md`, a package's `.../index.md`."""
        parts = self.name.split(".")
        return f"{API_DIR}/{'/'.join(parts)}/index.md" if self.is_package else f"{API_DIR}/{'/'.join(parts)}.md"


def is_public_module(rel: Path) -> bool:
    """Whether a module file is public API: no part of its path starts with `_`, except `__init__.py`."""
    parts = [*rel.parent.parts, rel.stem]
    if rel.name == "__init__.py":
        parts = list(rel.parent.parts)
    return not any(part.startswith("_") for part in parts)


def _summary(path: Path) -> str:
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except (SyntaxError, UnicodeDecodeError):
        return ""
    return doc.strip().splitlines()[0] if doc else ""


def modules(root: Path) -> list[Module]:
    """Every public module of the documented packages, packages before their modules.

    Args:
        root: The project root.

    Returns:
        The modules, sorted by dotted name.
    """
    found: list[Module] = []
    for folder, package in PACKAGES:
        base = root / folder
        if not (base / "__init__.py").is_file():
            continue
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base)
            if not is_public_module(rel) or not (path.parent / "__init__.py").is_file():
                continue
            parts = [package, *rel.parent.parts] if rel.name == "__init__.py" else [package, *rel.parent.parts, rel.stem]
            found.append(Module(".".join(parts), path.relative_to(root), rel.name == "__init__.py", _summary(path)))
    return sorted(found, key=lambda m: m.name.split("."))


def module_page(module: Module, all_modules: list[Module]) -> str:
    """The page of one module: its source file, its submodules, and the mkdocstrings directive.

    Args:
        module: The module.
        all_modules: Every documented module (to list a package's submodules).

    Returns:
        The page's Markdown.
    """
    depth = module.name.count(".") + 1
    children = [m for m in all_modules if m.name.startswith(module.name + ".") and m.name.count(".") == depth]
    blocks = []
    if children:
        rows = [[f"[{md.code(m.name)}]({md.link(module.uri, m.uri)})", md.text(m.summary)] for m in children]
        blocks.append("## Submodules\n\n" + md.table(["module", "what it holds"], rows))
    intro = f"Source: {md.code(module.path.as_posix())}. Generated from the code and its docstrings."
    directive = f"::: {module.name}"
    return md.page(module.name, intro, directive, *blocks, front_matter={"owner": "handbook"})


def index_page(all_modules: list[Module]) -> str:
    """The API reference's index: every module with the first line of its docstring.

    Args:
        all_modules: Every documented module.

    Returns:
        The page's Markdown.
    """
    uri = f"{API_DIR}/index.md"
    blocks = []
    for _folder, package in PACKAGES:
        mods = [m for m in all_modules if m.name.split(".")[0] == package]
        rows = [[f"[{md.code(m.name)}]({md.link(uri, m.uri)})", md.text(m.summary)] for m in mods]
        if rows:
            title, about = SECTIONS[package]
            blocks.append(f"## {title}\n\n{about}\n\n" + md.table(["module", "what it holds"], rows))
    intro = (
        "Every public module of the `handbook` tools and the `chorus` stack, one page each, generated "
        "from the code at build time: signatures with type hints, docstrings, cross-references between "
        "objects and the source of each object. A new module appears here on the next build."
    )
    return md.page("Python API", intro, *blocks, front_matter={"owner": "handbook"})


def nav_file(all_modules: list[Module]) -> str:
    """The literate-nav file of the API folder: one section per package (Chorus, then the handbook's tooling), modules nested.

    Args:
        all_modules: Every documented module.

    Returns:
        The nav file's Markdown (a nested list of links).
    """
    lines = ["* [Python API](index.md)"]
    base = f"{API_DIR}/"
    for _folder, package in PACKAGES:
        mods = [m for m in all_modules if m.name.split(".")[0] == package]
        if mods:
            lines.append(f"* {SECTIONS[package][0]}")
        for module in mods:
            indent = "    " * (module.name.count(".") + 1)
            lines.append(f"{indent}* [{module.name}]({module.uri.removeprefix(base)})")
    return "\n".join(lines) + "\n"


def pages(root: Path) -> dict[str, str]:
    """Every API reference page by docs-relative path.

    Args:
        root: The project root.

    Returns:
        The index page, the folder's navigation file and one page per module.
    """
    found = modules(root)
    result = {f"{API_DIR}/index.md": index_page(found), f"{API_DIR}/{NAV_FILE}": nav_file(found)}
    for module in found:
        result[module.uri] = module_page(module, found)
    return result
