"""Values derived only from `stack/`, cached on disk (`.cache/handbook/`) under the stack's fingerprint.

The fingerprint is a digest of every file under `stack/`, the libraries that read it and
the handbook code that analyses it; it is computed once per process while `stack/` is
unchanged.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from handbook.sources.base import memo

STACK_DIR = Path("stack")
CACHED_PACKAGES = ("kubernetes-validate", "promql-parser", "pydantic", "fastapi", "prometheus-client", "PyYAML")
"""Libraries whose version changes what the stack's checks and documents say (part of the cache key)."""
ANALYSERS = ("checks/deploy.py", "checks/commands.py", "checks/outputs.py", "scenario.py", "actions.py")
"""Handbook modules (besides `handbook.sources`) whose results are cached under the fingerprint: their code is part of it."""


def _stack_files(root: Path) -> list[Path]:
    """Every file under `stack/` (what a long-lived process must notice changing), in path order.

    `os.walk` rather than `Path.rglob`: this runs on every lookup of a cached value, and is
    ten times faster.
    """
    found: list[str] = []
    for folder, subfolders, names in os.walk(root / STACK_DIR):
        subfolders[:] = [d for d in subfolders if d != "__pycache__"]
        found.extend(os.path.join(folder, name) for name in names)
    return [Path(p) for p in sorted(found)]


def library_versions(packages: tuple[str, ...] = CACHED_PACKAGES) -> dict[str, str]:
    """The installed version of each of `packages` ("" when not installed), read from metadata folder names.

    `NAME-VERSION.dist-info` and `NAME-VERSION.egg-info` folders on `sys.path` name the version;
    only a package found neither way is asked of `importlib.metadata`, whose import (and the
    email parser it uses) costs more than the rest of a cache lookup.
    """
    wanted = {_normalized(name): name for name in packages}
    found = dict.fromkeys(packages, "")
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            stem, dot, suffix = name.rpartition(".")
            if dot and suffix in ("dist-info", "egg-info"):
                package, _, version = stem.partition("-")
                key = wanted.get(_normalized(package))
                if key and not found[key]:
                    found[key] = version.split("-")[0]
    missing = [name for name, version in found.items() if not version]
    if missing:
        import importlib.metadata

        for name in missing:
            try:
                found[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                pass
    return found


def _normalized(name: str) -> str:
    """A distribution name as metadata folders spell it: lower case, `-` and `.` as `_`."""
    return name.lower().replace("-", "_").replace(".", "_")


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
    digest = hashlib.blake2b(digest_size=16)
    files = _stack_files(root)
    here = Path(__file__).resolve().parent
    files += [*sorted(here.glob("*.py")), *(here.parent / name for name in ANALYSERS)]
    for path in files:
        digest.update(str(path.relative_to(root) if path.is_relative_to(root) else path.name).encode())
        digest.update(path.read_bytes())
    for package, version in library_versions().items():
        digest.update(f"{package}={version}".encode())
    return digest.hexdigest()


def fingerprint(root: Path) -> str:
    """`stack_fingerprint`, computed once per process while `stack/` is unchanged."""
    return memo("fingerprint", root, lambda: _stack_files(root), lambda: stack_fingerprint(root))


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
        stamp = fingerprint(root)
        value = cache.get(stamp)
        if value is None:
            value = build()
            cache.put(stamp, value)
        cache.save()
        return value

    return memo(f"cached:{name}", root, lambda: _stack_files(root), compute)


class StackKeyedCache:
    """Values derived from `stack/` and a small input (a command line), cached under the stack's fingerprint.

    Args:
        root: The project root.
        name: What the values are (one cache file).
    """

    def __init__(self, root: Path, name: str) -> None:
        from handbook.resultcache import ResultCache

        self.cache = ResultCache(root, name)
        self.fingerprint = fingerprint(root)

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
