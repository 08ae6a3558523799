"""Render every diagram source of a tree, each in its own child process, from the cache when unchanged.

Each source in `diagrams/*.py` (files starting with `_` are helpers, not
diagrams) runs in `handbook.diagrams.sandbox`, with a temporary folder as its
working directory and `python -P`, so the handbook's `diagrams/` folder can never
shadow the `diagrams` package and a source that raises or hangs only fails
itself: the others still render. The site build, `handbook check`, `handbook
diagrams render` and `handbook diagrams diff` all render through `render_all`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from handbook.diagrams import cache as cache_mod
from handbook.diagrams.model import Graph, SourceError

DIAGRAMS_DIR = Path("diagrams")
TIMEOUT_SECONDS = 120


@dataclass
class Rendered:
    """The outcome for one diagram source.

    Attributes:
        source: The source, relative to the project root, e.g. `diagrams/containers.py`.
        image: The rendered PNG (in the cache), or `None` when the source failed.
        graph: What it draws, or `None` when the source failed.
        error: Why it failed, or `None`.
        cached: True when taken from the cache without rendering.
    """

    source: Path
    image: Path | None = None
    graph: Graph | None = None
    error: SourceError | None = None
    cached: bool = False

    @property
    def name(self) -> str:
        """The diagram's name: its file stem, e.g. `containers`."""
        return self.source.stem


@dataclass
class RenderRun:
    """Every diagram of a tree, rendered or taken from the cache.

    Attributes:
        results: One outcome per source, in source order.
    """

    results: list[Rendered] = field(default_factory=list)

    @property
    def rendered(self) -> int:
        """How many diagrams were rendered now (not taken from the cache, not failed)."""
        return sum(1 for r in self.results if not r.cached and r.error is None)

    @property
    def failed(self) -> list[Rendered]:
        """The sources that could not be drawn."""
        return [r for r in self.results if r.error is not None]

    def by_name(self) -> dict[str, Rendered]:
        """Outcomes by diagram name."""
        return {r.name: r for r in self.results}

    def summary(self) -> str:
        """One line for logs, e.g. `diagrams: nothing to render, all 5 from the cache`."""
        cached = sum(1 for r in self.results if r.cached)
        if self.results and cached == len(self.results):
            line = f"diagrams: nothing to render, all {cached} from the cache"
        else:
            line = f"diagrams: rendered {self.rendered}, {cached} from the cache"
        if self.failed:
            line += f"; {len(self.failed)} failed"
        return line


def diagram_sources(root: Path) -> list[Path]:
    """The diagram sources of a tree, relative to its root, sorted: `diagrams/*.py` minus `_*.py` helpers."""
    folder = root / DIAGRAMS_DIR
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(root) for p in folder.glob("*.py") if not p.name.startswith("_"))


def _run_sandbox(root: Path, source: Path, workspace: Path) -> SourceError | None:
    """Run one source in a child process writing into `workspace`; the error if it failed."""
    env = {**os.environ, "HANDBOOK_ROOT": str(root)}
    with tempfile.TemporaryDirectory(prefix="handbook-diagram-") as cwd:
        try:
            result = subprocess.run(
                [sys.executable, "-P", "-m", "handbook.diagrams.sandbox", str(root / source), str(workspace)],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            return SourceError(source, 1, "DG006", f"diagram source ran for over {TIMEOUT_SECONDS} s and was stopped")
    if (workspace / "error.json").is_file():
        return SourceError.from_json(source, (workspace / "error.json").read_text(encoding="utf-8"))
    if result.returncode != 0 or not (workspace / cache_mod.IMAGE).is_file():
        last = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        return SourceError(source, 1, "DG006", f"diagram sandbox failed: {last}")
    return None


def render_one(root: Path, source: Path, cache: cache_mod.Cache, inputs: str) -> Rendered:
    """Render one source, or take it from the cache.

    Args:
        root: The project root.
        source: The source, relative to the root.
        cache: The render cache.
        inputs: `cache.inputs_digest(root)`.

    Returns:
        The outcome.
    """
    try:
        source_bytes = (root / source).read_bytes()
    except OSError as exc:
        return Rendered(source, error=SourceError(source, 1, "DG006", f"cannot read the diagram source: {exc.strerror}"))
    key = cache_mod.key_for(source_bytes, inputs)
    entry = cache.lookup(key)
    if entry is not None:
        graph = Graph.from_json((entry / cache_mod.GRAPH).read_text(encoding="utf-8"))
        return Rendered(source, entry / cache_mod.IMAGE, graph, cached=True)
    workspace = cache.workspace()
    error = _run_sandbox(root, source, workspace)
    if error is not None:
        shutil.rmtree(workspace, ignore_errors=True)
        return Rendered(source, error=error)
    entry = cache.store(key, workspace)
    graph = Graph.from_json((entry / cache_mod.GRAPH).read_text(encoding="utf-8"))
    return Rendered(source, entry / cache_mod.IMAGE, graph)


def render_all(
    root: Path,
    sources: Iterable[Path] | None = None,
    cache_dir: Path | None = None,
    jobs: int | None = None,
) -> RenderRun:
    """Render the diagram sources of a tree, in parallel, each isolated from the others.

    Args:
        root: The project root.
        sources: Sources relative to the root (default: all of `diagram_sources(root)`).
        cache_dir: The cache folder (default: `ROOT/.cache/diagrams`).
        jobs: Parallel child processes (default: the number of CPUs).

    Returns:
        The outcomes, in source order.

    Raises:
        HandbookError: The catalog or a manifest cannot be read.
    """
    root = root.resolve()
    chosen = list(diagram_sources(root) if sources is None else sources)
    cache = cache_mod.Cache(cache_dir or root / cache_mod.CACHE_DIR)
    inputs = cache_mod.inputs_digest(root)
    with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda s: render_one(root, s, cache, inputs), chosen))
    cache.prune()
    return RenderRun(results)


def failure_image(error: SourceError, folder: Path) -> Path:
    """A PNG that says a diagram failed and why, shown on the page in its place.

    Args:
        error: The failure.
        folder: Where to write the image.

    Returns:
        The image, or an empty file when Graphviz itself is missing.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{error.path.stem}.failed.png"
    text = str(error).replace("\\", "\\\\").replace('"', '\\"')
    dot = (
        'digraph failed { graph [pad="0.3"]; node [shape=box style="rounded,filled" fillcolor="#fdecea" '
        f'color="#c62828" fontname="Sans-Serif" fontsize=14]; e [label="This diagram failed to render\\n\\n{text}"] }}'
    )
    try:
        image = subprocess.run(["dot", "-Tpng"], input=dot.encode(), capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        image = b""
    target.write_bytes(image)
    return target
