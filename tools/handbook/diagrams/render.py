"""Render every diagram source of a tree, each in its own child process, from the cache when unchanged.

Each source in `diagrams/*.py` (files starting with `_` are helpers, not
diagrams) runs in `handbook.diagrams.sandbox`, confined by
`handbook.diagrams.isolation` (bubblewrap: no network, no secrets, read-only
tree, limits, every process it forks killed at the end), with a temporary
folder as its working directory and `python -P`, so the handbook's `diagrams/` folder can never
shadow the `diagrams` package and a source that raises or hangs only fails
itself: the others still render. The site build, `handbook check`, `handbook
diagrams render` and `handbook diagrams diff` all render through `render_all`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from handbook.diagrams import cache as cache_mod
from handbook.diagrams.isolation import Isolation, Limits, bwrap_command, clean_environment, isolation
from handbook.diagrams.model import Graph, SourceError

DIAGRAMS_DIR = Path("diagrams")
#: Exit codes of a child stopped by its CPU limit (SIGXCPU, SIGKILL at the hard limit), direct or via bwrap.
CPU_KILLED = {-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU, 128 + signal.SIGKILL}


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
        notice: One line to log when sources ran without a sandbox (or could not run), else `""`.
    """

    results: list[Rendered] = field(default_factory=list)
    notice: str = ""

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


def _child_command(root: Path, source: Path, workspace: Path, limits: Limits, sandboxed: bool) -> list[str]:
    """The command that runs one source: the runner, inside `bwrap` when `sandboxed`."""
    runner = [
        sys.executable, "-P", "-m", "handbook.diagrams.sandbox",
        "--limits", limits.as_argument(),
        str(root / source), str(workspace),
    ]  # fmt: skip
    return bwrap_command(root, workspace, runner, limits) if sandboxed else runner


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group (whatever it forked too), then reap the child."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _run_sandbox(root: Path, source: Path, workspace: Path, limits: Limits, confinement: Isolation) -> SourceError | None:
    """Run one source confined, writing into `workspace`; the error if it failed.

    The child starts a new session, so its whole process group is killed when it
    ends or overruns `limits.wall_seconds`; inside `bwrap` its own PID namespace
    ends every process it forked as well.
    """
    if not confinement.runnable:
        return SourceError(source, 1, "DG008", confinement.notice(), transient=True)
    command = _child_command(root, source, workspace, limits, confinement.sandboxed)
    with tempfile.TemporaryDirectory(prefix="handbook-diagram-") as cwd:
        # A file, not a pipe: a process the source left behind cannot hold the render open.
        with open(Path(cwd) / "stderr.txt", "w+", encoding="utf-8", errors="replace") as errors:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=clean_environment(root),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
            try:
                process.wait(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                return SourceError(source, 1, "DG006", f"diagram source ran for over {limits.wall_seconds:g} s and was stopped")
            finally:
                _kill_group(process)
            errors.seek(0)
            stderr = errors.read(64_000)
    if (workspace / cache_mod.ERROR).is_file():
        return SourceError.from_json(source, (workspace / cache_mod.ERROR).read_text(encoding="utf-8"))
    if process.returncode in CPU_KILLED:
        return SourceError(source, 1, "DG006", f"diagram source used over {limits.cpu_seconds} s of CPU and was stopped")
    if process.returncode != 0 or not (workspace / cache_mod.IMAGE).is_file():
        last = (stderr.strip().splitlines() or [f"exit code {process.returncode}"])[-1]
        # `bwrap: ...` means the sandbox itself could not start: the machine's fault, not the source's
        return SourceError(source, 1, "DG006", f"diagram sandbox failed: {last}", transient=last.startswith("bwrap:"))
    return None


def render_one(
    root: Path,
    source: Path,
    cache: cache_mod.Cache,
    inputs: str,
    limits: Limits | None = None,
    confinement: Isolation | None = None,
) -> Rendered:
    """Render one source, or take it from the cache.

    A failure of the source (it raised, overran its limits, drew nothing) is
    cached like a drawing, so an endless source costs its time limit once; a
    failure of the machine (`SourceError.transient`) is not.

    Args:
        root: The project root.
        source: The source, relative to the root.
        cache: The render cache.
        inputs: `cache.inputs_digest(root)`.
        limits: What the source may use (default: `Limits()`).
        confinement: The sandbox (default: `isolation()`).

    Returns:
        The outcome.
    """
    try:
        source_bytes = (root / source).read_bytes()
    except OSError as exc:
        return Rendered(source, error=SourceError(source, 1, "DG006", f"cannot read the diagram source: {exc.strerror}"))
    limits = limits or Limits()
    key = cache_mod.key_for(source_bytes, inputs, limits.as_argument())
    entry = cache.lookup(key)
    if entry is not None:
        if (entry / cache_mod.ERROR).is_file():
            return Rendered(source, error=SourceError.from_json(source, (entry / cache_mod.ERROR).read_text()), cached=True)
        graph = Graph.from_json((entry / cache_mod.GRAPH).read_text(encoding="utf-8"))
        return Rendered(source, entry / cache_mod.IMAGE, graph, cached=True)
    workspace = cache.workspace()
    error = _run_sandbox(root, source, workspace, limits, confinement or isolation())
    if error is not None:
        shutil.rmtree(workspace, ignore_errors=True)
        if not error.transient:
            workspace.mkdir()
            (workspace / cache_mod.ERROR).write_text(error.to_json(), encoding="utf-8")
            cache.store(key, workspace)
        return Rendered(source, error=error)
    entry = cache.store(key, workspace)
    graph = Graph.from_json((entry / cache_mod.GRAPH).read_text(encoding="utf-8"))
    return Rendered(source, entry / cache_mod.IMAGE, graph)


def render_all(
    root: Path,
    sources: Iterable[Path] | None = None,
    cache_dir: Path | None = None,
    jobs: int | None = None,
    limits: Limits | None = None,
) -> RenderRun:
    """Render the diagram sources of a tree, in parallel, each isolated from the others.

    Args:
        root: The project root.
        sources: Sources relative to the root (default: all of `diagram_sources(root)`).
        cache_dir: The cache folder (default: `ROOT/.cache/diagrams`).
        jobs: Parallel child processes (default: the number of CPUs).
        limits: What each source may use (default: `Limits()`).

    Returns:
        The outcomes, in source order.

    Raises:
        HandbookError: The catalog or a manifest cannot be read.
    """
    root = root.resolve()
    chosen = list(diagram_sources(root) if sources is None else sources)
    cache = cache_mod.Cache(cache_dir or root / cache_mod.CACHE_DIR)
    inputs = cache_mod.inputs_digest(root)
    confinement = isolation()
    with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda s: render_one(root, s, cache, inputs, limits, confinement), chosen))
    cache.prune()
    rendered_now = any(not r.cached for r in results)
    return RenderRun(results, notice=confinement.notice() if rendered_now else "")


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
