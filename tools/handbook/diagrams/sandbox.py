"""Run one diagram source in this (child) process: record what it draws and render it to PNG.

Usage (by `handbook.diagrams.render`, inside the `bwrap` sandbox of
`handbook.diagrams.isolation`, never by hand)::

    HANDBOOK_ROOT=ROOT python -P -m handbook.diagrams.sandbox [--limits cpu=S,as=B,fsize=B,nofile=N] SOURCE OUTDIR

The limits are set (soft and hard, so the source cannot raise them) before the
source runs, and every process it starts inherits them.

`-P` keeps the current folder off `sys.path`, and the renderer runs this from a
temporary folder, so the top-level `diagrams/` folder of the handbook can never
shadow the `diagrams` package. The source runs as `__main__`. While it runs, the
`Diagram`, `Cluster` and connection methods of the `diagrams` package are wrapped
to record every node, edge and cluster with the source line that drew it; at the
end of the `with` block the diagram is rendered once by Graphviz to PNG (icons are
embedded in the PNG, so the image is self-contained) instead of into the current
folder.

Writes `OUTDIR/image.png` and `OUTDIR/graph.json` and exits 0; or writes
`OUTDIR/error.json` (line, code, message) and exits 1. A child process per source
isolates sources from each other: one that raises or hangs cannot break the rest.
"""

from __future__ import annotations

import errno
import re
import resource
import runpy
import socket
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RANDOM_ID = re.compile(r"^[0-9a-f]{32}$")
FONTSIZE = re.compile(r'fontsize="?([0-9.]+)')
#: Graphviz's font size for labels that set none.
GRAPHVIZ_DEFAULT_PT = 14.0
RLIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
}
#: Extra CPU seconds between the soft limit (SIGXCPU) and the hard one (SIGKILL).
CPU_GRACE_SECONDS = 2
READ_ONLY_ERRORS = (errno.EROFS, errno.EACCES, errno.EPERM)
NETWORK_ERRORS = (errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL)


@dataclass
class _RawNode:
    nodeid: str
    label: str
    cluster: tuple[str, ...]
    line: int
    kind: str


@dataclass
class _RawEdge:
    tail: str
    head: str
    attrs: dict[str, Any]
    line: int


@dataclass
class _RawDiagram:
    obj: Any
    title: str
    direction: str
    line: int
    nodes: list[_RawNode] = field(default_factory=list)
    edges: list[_RawEdge] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class Recorder:
    """Wraps the `diagrams` package so every drawing call is recorded with its source line."""

    def __init__(self) -> None:
        self.started: list[_RawDiagram] = []
        self.finished: list[_RawDiagram] = []

    def _current(self, diagram: Any) -> _RawDiagram | None:
        return next((d for d in self.started if d.obj is diagram), None)

    def install(self) -> None:
        """Wrap `Diagram.__init__`, `Diagram.node`, `Cluster.node`, `Diagram.connect`, `Diagram.__exit__`."""
        import diagrams
        from handbook.diagrams.kit import caller_location

        recorder = self
        original_init = diagrams.Diagram.__init__
        original_node = diagrams.Diagram.node
        original_cluster_node = diagrams.Cluster.node
        original_connect = diagrams.Diagram.connect

        def line_here() -> int:
            return caller_location()[1] or 1

        def node_kind() -> str:
            frame = sys._getframe(2)
            owner = frame.f_locals.get("self")
            return type(owner).__name__ if isinstance(owner, diagrams.Node) else ""

        def init(self: Any, name: str = "", *args: Any, **kwargs: Any) -> None:
            original_init(self, name, *args, **kwargs)
            recorder.started.append(_RawDiagram(self, name, str(self.dot.graph_attr.get("rankdir", "LR")), line_here()))

        def node(self: Any, nodeid: str, label: str, **attrs: Any) -> None:
            raw = recorder._current(self)
            if raw is not None:
                raw.nodes.append(_RawNode(nodeid, label, (), line_here(), node_kind()))
            original_node(self, nodeid, label, **attrs)

        def cluster_node(self: Any, nodeid: str, label: str, **attrs: Any) -> None:
            raw = recorder._current(self._diagram)
            if raw is not None:
                path: list[str] = []
                cluster = self
                while cluster is not None:
                    path.insert(0, cluster.label)
                    cluster = cluster._parent
                raw.nodes.append(_RawNode(nodeid, label, tuple(path), line_here(), node_kind()))
            original_cluster_node(self, nodeid, label, **attrs)

        def connect(self: Any, node: Any, node2: Any, edge: Any) -> None:
            raw = recorder._current(self)
            if raw is not None:
                raw.edges.append(_RawEdge(node.nodeid, node2.nodeid, dict(edge.attrs), line_here()))
            original_connect(self, node, node2, edge)

        def exit_(self: Any, exc_type: Any, exc: Any, tb: Any) -> bool:
            raw = recorder._current(self)
            if exc_type is None and raw is not None:
                recorder.finished.append(raw)
            diagrams.setdiagram(None)
            return False

        diagrams.Diagram.__init__ = init
        diagrams.Diagram.node = node
        diagrams.Cluster.node = cluster_node
        diagrams.Diagram.connect = connect
        diagrams.Diagram.__exit__ = exit_


def build_graph(raw: _RawDiagram, service_nodes: dict[str, str]) -> Any:
    """Turn a recorded diagram into a `Graph` with stable node ids and arrows turned the way they point.

    Invisible edges (`style="invis"`, used to steer the layout) draw nothing and are left out.

    Args:
        raw: What the recorder saw.
        service_nodes: Node ids drawn by `kit.service()`, to their service names.

    Returns:
        The `handbook.diagrams.model.Graph`.
    """
    from handbook.diagrams.model import Edge, Graph, Node

    ids: dict[str, str] = {}
    taken: set[str] = set()
    nodes: list[Node] = []
    for n in raw.nodes:
        stable = n.nodeid
        if RANDOM_ID.match(n.nodeid) and n.nodeid not in service_nodes:
            stable = _slug(n.label) or _slug(n.kind) or "node"
        base, count = stable, 2
        while stable in taken:
            stable, count = f"{base}-{count}", count + 1
        taken.add(stable)
        ids[n.nodeid] = stable
        nodes.append(Node(stable, n.label, service_nodes.get(n.nodeid, ""), n.cluster, n.line, n.kind))
    edges: list[Edge] = []
    for e in raw.edges:
        if "invis" in str(e.attrs.get("style", "")):
            continue  # layout help only: draws nothing
        tail, head = ids.get(e.tail, e.tail), ids.get(e.head, e.head)
        direction = str(e.attrs.get("dir", "forward"))
        if direction == "back":
            tail, head = head, tail
        edges.append(
            Edge(
                tail,
                head,
                label=str(e.attrs.get("label", "")),
                line=e.line,
                directed=direction != "none",
                style=str(e.attrs.get("style", "")),
            )
        )
    return Graph(title=raw.title, direction=raw.direction, line=raw.line, nodes=nodes, edges=edges)


def smallest_font(dot_source: str) -> float:
    """The smallest font size any label of a Graphviz source can have, points."""
    sizes = [float(size) for size in FONTSIZE.findall(dot_source)]
    return min(sizes) if sizes else GRAPHVIZ_DEFAULT_PT


def _error_line(source: Path, exc: BaseException) -> int:
    """The line of `source` closest to where `exc` was raised (1 if the source is not on the stack)."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == source:
        return exc.lineno or 1
    line = getattr(exc, "line", None)
    if isinstance(line, int) and line:
        return line
    found = 1
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == source and frame.lineno:
            found = frame.lineno
    return found


def apply_limits(spec: str) -> None:
    """Set this process's resource limits, soft and hard, from `cpu=S,as=B,fsize=B,nofile=N`.

    Raises:
        ValueError: An unknown name or a value that is not an integer.
    """
    for part in filter(None, spec.split(",")):
        name, _, value = part.partition("=")
        limit = int(value)
        hard = limit + CPU_GRACE_SECONDS if name == "cpu" else limit
        resource.setrlimit(RLIMITS[name], (limit, hard))


def _confinement_message(exc: BaseException, root: Path) -> str:
    """What a source that hit the sandbox's walls tried to do, or `""` when it did not."""
    if isinstance(exc, socket.gaierror) or (isinstance(exc, OSError) and exc.errno in NETWORK_ERRORS):
        return "diagram source tried to use the network, and diagram sources have none; draw from the catalog instead"
    if isinstance(exc, OSError) and exc.errno in READ_ONLY_ERRORS and exc.filename:
        target = Path(str(exc.filename))
        try:
            target = target.resolve().relative_to(root)
        except (OSError, ValueError):
            pass
        return (
            f"diagram source tried to write {target}, outside its temporary folder; "
            "diagram sources may write only to the current folder (a temporary one)"
        )
    return ""


def run(source: Path, out: Path) -> int:
    """Run one source, writing its image and graph, or its error, into `out`.

    Args:
        source: The diagram source.
        out: An existing, empty folder.

    Returns:
        0 when drawn, 1 when the source failed (see `out/error.json`).
    """
    from handbook.diagrams import kit
    from handbook.diagrams.model import SourceError

    root = kit.project_root()
    try:
        rel = source.relative_to(root)
    except ValueError:
        rel = source

    def fail(line: int, code: str, message: str, transient: bool = False) -> int:
        error = SourceError(rel, line, code, message, transient)
        (out / "error.json").write_text(error.to_json(), encoding="utf-8")
        return 1

    recorder = Recorder()
    recorder.install()
    sys.argv = [str(source)]
    try:
        runpy.run_path(str(source), run_name="__main__")
    except kit.UnknownServiceError as exc:
        return fail(exc.line or _error_line(source, exc), "DG001", exc.message)
    except SyntaxError as exc:
        return fail(_error_line(source, exc), "DG006", f"diagram source has a syntax error: {exc.msg}")
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code is reported, not raised
        walls = _confinement_message(exc, root)
        if walls:
            return fail(_error_line(source, exc), "DG006", walls)
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return fail(
            _error_line(source, exc),
            "DG006",
            f"diagram source raised {type(exc).__name__}" + (f": {detail}" if detail else "") + "; fix the source",
        )
    if len(recorder.finished) != 1:
        return fail(
            recorder.started[1].line if len(recorder.started) > 1 else 1,
            "DG007",
            f"a diagram source must draw exactly one diagram (`with diagram(...)`), this one drew {len(recorder.finished)}",
        )
    raw = recorder.finished[0]
    try:
        image = raw.obj.dot.pipe(format="png")
    except Exception as exc:  # noqa: BLE001 - Graphviz missing or rejecting the graph
        detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip() or str(exc)
        missing = isinstance(exc, OSError) or "ExecutableNotFound" in type(exc).__name__
        message = f"Graphviz could not render the diagram ({detail.splitlines()[0]}); is `dot` installed? run `make setup`"
        return fail(raw.line, "DG006", message, transient=missing)
    (out / "image.png").write_bytes(image)
    graph = build_graph(raw, kit.SERVICE_NODES)
    graph.font_pt = smallest_font(raw.obj.dot.source)
    graph.dpi = float(raw.obj.dot.graph_attr.get("dpi", 96))
    (out / "graph.json").write_text(graph.to_json(), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -P -m handbook.diagrams.sandbox [--limits SPEC] SOURCE OUTDIR`.

    Args:
        argv: `[--limits SPEC] SOURCE OUTDIR`; defaults to `sys.argv[1:]`.

    Returns:
        The exit code: 0 drawn, 1 the source failed, 2 bad arguments.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -P -m handbook.diagrams.sandbox [--limits cpu=S,as=B,fsize=B,nofile=N] SOURCE OUTDIR"
    if args[:1] == ["--limits"] and len(args) >= 2:
        try:
            apply_limits(args[1])
        except (KeyError, ValueError, OSError) as exc:
            print(f"{usage}\nbad --limits {args[1]!r}: {exc}", file=sys.stderr)
            return 2
        args = args[2:]
    if len(args) != 2:
        print(usage, file=sys.stderr)
        return 2
    return run(Path(args[0]).resolve(), Path(args[1]))


if __name__ == "__main__":
    sys.exit(main())
