"""What every source module shares: where the sources live, reading them, the stack's own code.

Paths are relative to the project root. A source is read once per process while its
files are unchanged (`memo`); the stack's own Python (`chorus.*`) is imported and called
through `chorus_module` / `chorus_call`, so a failure in it becomes one line naming
file and line instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from handbook import yamlio
from handbook.errors import HandbookError

STACK_PACKAGE = Path("stack/chorus")
HANDBOOK_PACKAGE = Path("tools/handbook")


MEMO: dict[tuple[str, Path], tuple[Any, Any]] = {}
"""Sources already loaded in this process: (what, root) to (fingerprint of its files, value)."""
_STEADY: set[tuple[str, Path]] | None = None
"""While a `steady_tree` block runs: the sources already loaded (or confirmed unchanged) in it."""
_CHECKED_ROOT: Path | None = None
"""While a `steady_tree` block for a root runs: that root."""
_FOREIGN: dict[Path, tuple[Path, Path] | None] = {}
"""In that block: `foreign_stack_code` of the root, once asked."""


@contextmanager
def steady_tree(root: Path | None = None) -> Iterator[None]:
    """Read the tree as one snapshot: inside this block, a source loaded once is not re-stat'ed.

    A check run is one snapshot (files are not edited under it); outside a block, a
    long-lived process such as `mkdocs serve` stats a source's files on every lookup, so it
    notices an edit. Nested blocks share the outer one.

    Args:
        root: The tree being checked: facts from the stack's code (`chorus_module`) are then
            refused when its `stack/chorus/` is not the code this process imports.
    """
    global _STEADY, _CHECKED_ROOT
    if _STEADY is not None:
        yield
        return
    _STEADY, _CHECKED_ROOT = set(), root
    try:
        yield
    finally:
        _STEADY, _CHECKED_ROOT = None, None
        _FOREIGN.clear()


@lru_cache(maxsize=64)
def _resolved(root: Path) -> Path:
    """`root` with symlinks resolved (asked once per root: resolving costs a system call per path part)."""
    return root.resolve()


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


def memo(what: str, root: Path, files: Callable[[], list[Path]], build: Callable[[], Any]) -> Any:
    """Load a source once per process while its files are unchanged (checks, facts and pages share it).

    Args:
        what: The source's name.
        root: The project root.
        files: How to list the files it is read from (not called when a `steady_tree` block already
            loaded the source).
        build: How to load it.

    Returns:
        The loaded source.
    """
    key = (what, _resolved(root))
    known = MEMO.get(key)
    if known is not None and _STEADY is not None and key in _STEADY:
        return known[1]
    stamp = _fingerprint(files())
    if known is None or known[0] != stamp:
        known = (stamp, build())
        MEMO[key] = known
    if _STEADY is not None:
        _STEADY.add(key)
    return known[1]


class SourceMissing(HandbookError):
    """A source-of-truth file that is absent from this tree (a tree without, say, `stack/catalog.yaml`).

    Its own kind, so callers that tolerate an absent file decide by type, never by message text.
    """


class SourceUnavailable(HandbookError):
    """A fact a derived source needs is not in the stack (e.g. a scenario's autoscaler is not in the manifests)."""



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
        raise SourceMissing("source of truth is missing", path=rel)
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
        HandbookError: The module could not be imported (names file and line), or the tree being
            checked has other stack code than the imported package (`foreign_stack_code`).
    """
    root = _CHECKED_ROOT
    if root is not None:
        if root not in _FOREIGN:
            _FOREIGN[root] = foreign_stack_code(root)
        foreign = _FOREIGN[root]
        if foreign is not None:
            path, imported = foreign
            raise HandbookError(
                f"differs from the chorus code this handbook imports ({imported}), so facts from the stack's code "
                f"would describe that code: run the handbook installed in this tree (make check there), or put "
                f"its stack first: PYTHONPATH={root / 'stack'}", path=path, line=1)
    try:
        return importlib.import_module(name)
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


def foreign_stack_code(root: Path) -> tuple[Path, Path] | None:
    """Where the tree's `stack/chorus/` differs from the `chorus` package this process imports, if it does.

    The facts taken from the stack's code (its commands, endpoints, settings) come from the
    imported package. `handbook --root OTHER` run by another checkout's handbook imports
    that checkout's code: if it differs from OTHER's, every such fact, and every cache keyed
    by OTHER's stack, would describe the wrong code.

    Args:
        root: The project root being checked.

    Returns:
        `None` when the imported package is the tree's own, or every one of its files is in the
        tree with the same bytes (a module only the tree has changes nothing the imported code
        says, unless another module imports it, and that one then differs); else the tree's
        first differing file (relative to the root) and the imported package's folder.
    """
    tree = _resolved(root) / STACK_PACKAGE
    try:
        imported = Path(importlib.import_module("chorus").__file__ or "").resolve().parent
    except Exception:  # noqa: BLE001 - a stack that cannot be imported is reported by the checks that need it
        return None
    if imported == tree or not tree.is_dir():
        return None
    for other in sorted(imported.rglob("*.py")):
        name = other.relative_to(imported)
        mine = tree / name
        if not mine.is_file() or mine.read_bytes() != other.read_bytes():
            return STACK_PACKAGE / name, imported
    return None


def purge_chorus_modules() -> None:
    """Forget every imported `chorus` module, so the next import reads the code afresh.

    `mkdocs serve` rebuilds in one long-lived process; without this a change to
    the stack's code would not show until the server restarts.
    """
    for name in [n for n in sys.modules if n == "chorus" or n.startswith("chorus.")]:
        del sys.modules[name]
    MEMO.clear()
    importlib.invalidate_caches()


def source_error(exc: Exception, root: Path) -> HandbookError:
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


