"""Run one diagram source in this (child) process: record what it draws and render it to PNG.

Usage (by `handbook.diagrams.render`, never by hand)::

    HANDBOOK_ROOT=ROOT python -P -m handbook.diagrams.sandbox SOURCE OUTDIR

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

import re
import runpy
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RANDOM_ID = re.compile(r"^[0-9a-f]{32}$")


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

        diagrams.Diagram.__init__ = init  # type: ignore[method-assign]
        diagrams.Diagram.node = node  # type: ignore[method-assign]
        diagrams.Cluster.node = cluster_node  # type: ignore[method-assign]
        diagrams.Diagram.connect = connect  # type: ignore[method-assign]
        diagrams.Diagram.__exit__ = exit_  # type: ignore[method-assign]


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

    def fail(line: int, code: str, message: str) -> int:
        (out / "error.json").write_text(SourceError(rel, line, code, message).to_json(), encoding="utf-8")
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
        return fail(raw.line, "DG006", f"Graphviz could not render the diagram ({detail.splitlines()[0]}); is `dot` installed? run `make setup`")
    (out / "image.png").write_bytes(image)
    (out / "graph.json").write_text(build_graph(raw, kit.SERVICE_NODES).to_json(), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -P -m handbook.diagrams.sandbox SOURCE OUTDIR`.

    Args:
        argv: `[SOURCE, OUTDIR]`; defaults to `sys.argv[1:]`.

    Returns:
        The exit code: 0 drawn, 1 the source failed, 2 bad arguments.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -P -m handbook.diagrams.sandbox SOURCE OUTDIR", file=sys.stderr)
        return 2
    return run(Path(args[0]).resolve(), Path(args[1]))


if __name__ == "__main__":
    sys.exit(main())
