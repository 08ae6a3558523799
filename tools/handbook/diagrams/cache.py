"""The render cache: an unchanged diagram is never rendered twice.

A rendering is stored in `.cache/diagrams/<key>/` (`image.png`, `graph.json`),
and a source's failure as `error.json` (so a source that hangs costs its time
limit once, not on every build).
The key is a SHA-256 over everything that can change the picture:

- the diagram source;
- its inputs: `stack/catalog.yaml` and every file under `stack/deploy/kubernetes/`;
- the tooling: this package's kit, sandbox, model and workloads modules, the
  `diagrams` package version, Graphviz's version and Python's version.

Entries are written to a temporary folder and renamed into place, so readers
never see half an entry and concurrent builds cannot corrupt each other. Failures
of the machine rather than the source (no Graphviz, no sandbox) are not cached. The oldest entries beyond `KEEP` are pruned.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

from handbook import sources
from handbook.toolprobe import probe

CACHE_DIR = Path(".cache/diagrams")
KEEP = 200
STALE_WORKSPACE_SECONDS = 3600
TOOL_MODULES = ("kit.py", "sandbox.py", "model.py", "workloads.py", "isolation.py")
IMAGE = "image.png"
GRAPH = "graph.json"
ERROR = "error.json"


@lru_cache(maxsize=1)
def graphviz_version() -> str:
    """Graphviz's version line (`dot -V`), or `dot missing`."""
    try:
        result = probe(["dot", "-V"])
    except (OSError, subprocess.SubprocessError):
        return "dot missing"
    return (result.stderr or result.stdout).strip()


@lru_cache(maxsize=1)
def tool_fingerprint() -> str:
    """A digest of the rendering tools: kit and sandbox code, `diagrams`, Graphviz and Python versions."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in TOOL_MODULES:
        digest.update(name.encode() + b"\0" + (here / name).read_bytes() + b"\0")
    digest.update(importlib.metadata.version("diagrams").encode() + b"\0")
    digest.update(graphviz_version().encode() + b"\0")
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()


def input_files(root: Path) -> list[Path]:
    """The files every diagram may read, relative to the root: the catalog and the manifests."""
    found = [sources.CATALOG] if (root / sources.CATALOG).is_file() else []
    folder = root / sources.KUBERNETES_DIR
    if folder.is_dir():
        found.extend(sorted(p.relative_to(root) for p in folder.rglob("*") if p.is_file()))
    return found


def inputs_digest(root: Path) -> str:
    """A digest of the catalog and the manifests, shared by every diagram of a tree."""
    digest = hashlib.sha256()
    for rel in input_files(root):
        digest.update(rel.as_posix().encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def key_for(source_bytes: bytes, inputs: str, limits: str = "") -> str:
    """The cache key of one diagram.

    Args:
        source_bytes: The diagram source.
        inputs: `inputs_digest` of its tree.
        limits: The limits it runs under (`Limits.as_argument()`).

    Returns:
        A hex key naming the cache entry.
    """
    digest = hashlib.sha256()
    for part in (source_bytes, inputs.encode(), tool_fingerprint().encode(), limits.encode()):
        digest.update(part + b"\0")
    return digest.hexdigest()[:32]


class Cache:
    """A folder of renderings keyed by content.

    Attributes:
        folder: Where entries live, e.g. `ROOT/.cache/diagrams`.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def lookup(self, key: str) -> Path | None:
        """The entry for `key` if it is complete, a drawing or a failure (and mark it used), else `None`."""
        entry = self.folder / key
        if ((entry / IMAGE).is_file() and (entry / GRAPH).is_file()) or (entry / ERROR).is_file():
            os.utime(entry)
            return entry
        return None

    def workspace(self) -> Path:
        """A fresh empty folder inside the cache, to render into before `store`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="tmp-", dir=self.folder))

    def store(self, key: str, workspace: Path) -> Path:
        """Move a finished workspace into place as the entry for `key`.

        Args:
            key: The cache key.
            workspace: A folder from `workspace()` holding `image.png` and `graph.json`.

        Returns:
            The entry folder.
        """
        entry = self.folder / key
        try:
            os.replace(workspace, entry)
        except OSError:  # another build stored the same key first: keep theirs
            shutil.rmtree(workspace, ignore_errors=True)
        return entry

    def prune(self, keep: int = KEEP) -> int:
        """Delete the least recently used entries beyond `keep`, and workspaces left for over an hour.

        Returns:
            How many entries were deleted.
        """
        if not self.folder.is_dir():
            return 0
        for workspace in self.folder.glob("tmp-*"):
            if time.time() - workspace.stat().st_mtime > STALE_WORKSPACE_SECONDS:
                shutil.rmtree(workspace, ignore_errors=True)
        entries = sorted(
            (p for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("tmp-")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for stale in entries[keep:]:
            shutil.rmtree(stale, ignore_errors=True)
        return max(0, len(entries) - keep)
