"""Docstring family (DOC): every public module, class, function and method of `handbook` and `chorus` is documented.

The API reference is generated from docstrings, so an undocumented public object
is a hole in the reference. Public means: in a module whose path has no part
starting with `_` (package `__init__.py` files count), with a name that does not
start with `_`. Magic methods (`__init__`, `__str__`...), overloads, property
setters and functions nested in functions are not public API and are skipped.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from handbook import sources
from handbook.checks.registry import check
from handbook.problems import Problem
from handbook.resultcache import ResultCache
from handbook.project import Project
from handbook.reference.api import is_public_module

PACKAGES = (sources.HANDBOOK_PACKAGE, sources.STACK_PACKAGE)
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _decorator_names(node: FunctionNode | ast.ClassDef) -> set[str]:
    names = set()
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, ast.Attribute):
            names.add(target.attr)
    return names


def _skipped(node: FunctionNode) -> bool:
    """Overloads and property setters/deleters carry no docstring of their own."""
    return bool(_decorator_names(node) & {"overload", "setter", "deleter"})


def _body_nodes(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of a module or class body, looking inside `if`/`try` blocks (e.g. `if TYPE_CHECKING:`)."""
    for node in body:
        if isinstance(node, ast.If):
            yield from _body_nodes(node.body)
            yield from _body_nodes(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _body_nodes(block)
        else:
            yield node


def _undocumented_in_class(path: Path, cls: ast.ClassDef) -> Iterator[Problem]:
    for node in _body_nodes(cls.body):
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            if ast.get_docstring(node) is None:
                yield Problem(path, node.lineno, node.col_offset + 1, "DOC002", f"public class {cls.name}.{node.name} has no docstring")
            yield from _undocumented_in_class(path, node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name.startswith("_") or _skipped(node) or ast.get_docstring(node) is not None:
                continue
            yield Problem(path, node.lineno, node.col_offset + 1, "DOC004", f"public method {cls.name}.{node.name} has no docstring")


def undocumented(path: Path, text: str) -> Iterator[Problem]:
    """Every public object of one module that has no docstring.

    Args:
        path: The file, as reported in problems.
        text: Its source.

    Yields:
        `DOC001`-`DOC004` problems, or `DOC005` when the file does not parse.
    """
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        yield Problem(path, exc.lineno or 1, exc.offset or 1, "DOC005", f"Python file does not parse: {exc.msg}")
        return
    if ast.get_docstring(tree) is None:
        yield Problem(path, 1, 1, "DOC001", "public module has no docstring: say in one line what it holds")
    for node in _body_nodes(tree.body):
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            if ast.get_docstring(node) is None:
                yield Problem(path, node.lineno, node.col_offset + 1, "DOC002", f"public class {node.name} has no docstring")
            yield from _undocumented_in_class(path, node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            if not _skipped(node) and ast.get_docstring(node) is None:
                yield Problem(path, node.lineno, node.col_offset + 1, "DOC003", f"public function {node.name} has no docstring")


def public_module_files(root: Path) -> list[Path]:
    """Every public module file of the documented packages, sorted.

    Args:
        root: The project root.

    Returns:
        Absolute paths.
    """
    found: list[Path] = []
    for package in PACKAGES:
        base = root / package
        if base.is_dir():
            found.extend(p for p in sorted(base.rglob("*.py")) if is_public_module(p.relative_to(base)))
    return found


@check(
    "docstrings",
    family="DOC",
    rules={
        "DOC001": "public module has no docstring",
        "DOC002": "public class has no docstring",
        "DOC003": "public function has no docstring",
        "DOC004": "public method has no docstring",
        "DOC005": "Python file of a documented package does not parse",
    },
)
def public_objects_are_documented(project: Project) -> Iterator[Problem]:
    """Report every public module, class, function and method of `handbook` and `chorus` without a docstring."""
    cache = ResultCache(project.root, "docstrings", salt=Path(__file__).read_text(encoding="utf-8"))
    for path in public_module_files(project.root):
        text = project.read_text(path)
        found = cache.get(text)
        if found is None:
            found = [[p.line, p.col, p.code, p.message] for p in undocumented(path, text)]
            cache.put(text, found)
        for line, col, code, message in found:
            yield Problem(path, line, col, code, message)
    cache.save()
