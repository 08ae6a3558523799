"""The overlay: both versions of a diagram on one layout, coloured by what changed.

The union of the two graphs is laid out once by Graphviz, so a reviewer sees the
change, not a re-layout: added nodes and edges are green, removed ones red and
dashed, relabelled ones amber (with the old label), unchanged ones grey. Clusters
are kept (from the new version, or the old one for removed nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import graphviz

from handbook.diagrams.diff import pair_edges
from handbook.diagrams.model import Edge, Graph, Node


@dataclass(frozen=True)
class Colour:
    """How one kind of change is drawn.

    Attributes:
        line: Outline and edge colour.
        fill: Node fill.
        text: Label colour.
        style: Extra Graphviz style, e.g. `dashed`.
    """

    line: str
    fill: str
    text: str
    style: str = ""


COLOURS = {
    "added": Colour("#2e7d32", "#e8f5e9", "#1b5e20"),
    "removed": Colour("#c62828", "#ffebee", "#b71c1c", "dashed"),
    "relabelled": Colour("#ef6c00", "#fff3e0", "#e65100"),
    "unchanged": Colour("#9e9e9e", "#f5f5f5", "#616161"),
}
LEGEND = "green: added   red dashed: removed   amber: relabelled (was ...)   grey: unchanged"


def _dot_lines(text: str) -> str:
    """A label with its line breaks written as DOT's `\\n`, so each statement stays on one line."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label(old: str | None, new: str | None) -> tuple[str, str]:
    """The label to draw and the change status for an element present in `old` and/or `new`."""
    if old is None:
        return new or "", "added"
    if new is None:
        return old, "removed"
    if old != new:
        was = " / ".join(line for line in old.splitlines() if line.strip()) or "no label"
        return f"{new}\n(was: {was})" if new else f"(was: {was})", "relabelled"
    return new, "unchanged"


def overlay_graph(before: Graph | None, after: Graph | None) -> graphviz.Digraph:
    """The union graph of two versions, styled by change.

    Args:
        before: The old graph (`None` when the diagram is new).
        after: The new graph (`None` when the diagram was deleted).

    Returns:
        A Graphviz digraph ready to render.
    """
    old = {n.id: n for n in (before.nodes if before else [])}
    new = {n.id: n for n in (after.nodes if after else [])}
    base = after or before or Graph()
    dot = graphviz.Digraph("overlay")
    dot.attr(
        rankdir=base.direction or "LR",
        pad="0.4",
        nodesep="0.6",
        ranksep="0.9",
        fontname="Sans-Serif",
        fontsize="14",
        label=_dot_lines(f"{base.title}\n{LEGEND}"),
        labelloc="b",
    )
    dot.attr("node", shape="box", style="rounded,filled", fontname="Sans-Serif", fontsize="12", margin="0.2,0.1")
    dot.attr("edge", fontname="Sans-Serif", fontsize="11")

    order = list(dict.fromkeys([*new, *old]))
    clusters: dict[tuple[str, ...], list[str]] = {}
    for node_id in order:
        node: Node = new.get(node_id) or old[node_id]
        clusters.setdefault(node.cluster, []).append(node_id)

    def add_node(target: graphviz.Digraph, node_id: str) -> None:
        before_node, after_node = old.get(node_id), new.get(node_id)
        label, status = _label(before_node.label if before_node else None, after_node.label if after_node else None)
        colour = COLOURS[status]
        style = "rounded,filled" + (f",{colour.style}" if colour.style else "")
        target.node(node_id, label=_dot_lines(label), color=colour.line, fillcolor=colour.fill, fontcolor=colour.text, style=style)

    def add_cluster(target: graphviz.Digraph, path: tuple[str, ...], depth: int) -> None:
        for node_id in clusters.get(path, []):
            add_node(target, node_id)
        children = sorted({p[: depth + 1] for p in clusters if len(p) > depth and p[:depth] == path})
        for child in children:
            with target.subgraph(name=f"cluster_{'__'.join(child)}") as sub:
                sub.attr(label=child[-1], style="rounded,dashed", color="#bdbdbd", fontcolor="#757575", labeljust="l", labelloc="t")
                add_cluster(sub, child, depth + 1)

    add_cluster(dot, (), 0)

    pairing = pair_edges(before.edges if before else [], after.edges if after else [])
    drawn: list[tuple[Edge | None, Edge | None, str, str]] = [(o, n, *_label(o.label, n.label)) for o, n in pairing.matched]
    drawn += [(None, e, e.label, "added") for e in pairing.added]
    drawn += [(e, None, e.label, "removed") for e in pairing.removed]
    for old_edge, new_edge, label, status in drawn:
        edge = new_edge or old_edge
        assert edge is not None
        colour = COLOURS[status]
        style = colour.style or ("dashed" if edge.style == "dashed" else "solid")
        dot.edge(
            edge.tail,
            edge.head,
            label=_dot_lines(label),
            color=colour.line,
            fontcolor=colour.text,
            style=style,
            penwidth="1.2" if status == "unchanged" else "2.2",
            dir="forward" if edge.directed else "none",
        )
    return dot


def render_overlay(before: Graph | None, after: Graph | None, target: Path) -> Path:
    """Render the overlay of two versions to a PNG.

    Args:
        before: The old graph.
        after: The new graph.
        target: The PNG to write.

    Returns:
        `target`.
    """
    target.write_bytes(overlay_graph(before, after).pipe(format="png"))
    return target
