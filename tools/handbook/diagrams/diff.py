"""What changed between two versions of a diagram's graph: nodes and edges added, removed, relabelled.

Nodes are matched by id, edges by their two ends (see `handbook.diagrams.model`).
Where several edges join the same two nodes, edges with equal labels are paired
first and the rest are paired in drawing order, so one relabelled edge among
parallel ones is reported as relabelled, not as removed and added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from handbook.diagrams.model import Edge, Graph, Node

Kind = Literal["added", "removed", "relabelled", "moved"]


@dataclass(frozen=True)
class Change:
    """One difference between two graphs.

    Attributes:
        kind: `added`, `removed`, `relabelled` (same element, new label) or
            `moved` (same node, other cluster).
        element: `node` or `edge`.
        key: The node id, or `tail -> head` for an edge.
        before: The label (or, for `moved`, the cluster) before, `""` if added.
        after: The label (or cluster) after, `""` if removed.
    """

    kind: Kind
    element: Literal["node", "edge"]
    key: str
    before: str = ""
    after: str = ""

    def describe(self) -> str:
        """One line for people, e.g. `relabelled edge apps -> gateway: "join" -> "join (HTTP)"`."""

        def flat(text: str) -> str:
            # Node labels stack distinct facts (name, ports, note); edge labels just wrap.
            joiner = " / " if self.element == "node" else " "
            return joiner.join(line.strip() for line in text.splitlines() if line.strip())

        if self.kind == "relabelled":
            return f'relabelled {self.element} {self.key}: "{flat(self.before)}" -> "{flat(self.after)}"'
        if self.kind == "moved":
            return f'moved node {self.key}: cluster "{self.before or "(none)"}" -> "{self.after or "(none)"}"'
        label = flat(self.after if self.kind == "added" else self.before)
        return f"{self.kind} {self.element} {self.key}" + (f' "{label}"' if label and label != self.key else "")


@dataclass
class EdgePairing:
    """How the edges of two graphs correspond.

    Attributes:
        matched: `(before, after)` pairs of the same edge (labels may differ).
        added: Edges only in the after graph.
        removed: Edges only in the before graph.
    """

    matched: list[tuple[Edge, Edge]] = field(default_factory=list)
    added: list[Edge] = field(default_factory=list)
    removed: list[Edge] = field(default_factory=list)


def pair_edges(before: list[Edge], after: list[Edge]) -> EdgePairing:
    """Match the edges of two graphs by their ends (equal labels first, then drawing order).

    Args:
        before: Edges of the old graph.
        after: Edges of the new graph.

    Returns:
        The pairing.
    """
    pairing = EdgePairing()
    keys = list(dict.fromkeys([e.key for e in before] + [e.key for e in after]))
    for key in keys:
        old = [e for e in before if e.key == key]
        new = [e for e in after if e.key == key]
        for edge in list(old):
            same = next((n for n in new if n.label == edge.label), None)
            if same is not None:
                pairing.matched.append((edge, same))
                old.remove(edge)
                new.remove(same)
        while old and new:
            pairing.matched.append((old.pop(0), new.pop(0)))
        pairing.removed.extend(old)
        pairing.added.extend(new)
    return pairing


def _edge_key(edge: Edge) -> str:
    return f"{edge.tail} -> {edge.head}"


def diff_graphs(before: Graph | None, after: Graph | None) -> list[Change]:
    """The changes from `before` to `after` (either may be `None`: the diagram is new or gone).

    Args:
        before: The old graph.
        after: The new graph.

    Returns:
        Node changes in drawing order, then edge changes in drawing order.
    """
    old_nodes: dict[str, Node] = {n.id: n for n in (before.nodes if before else [])}
    new_nodes: dict[str, Node] = {n.id: n for n in (after.nodes if after else [])}
    changes: list[Change] = []
    for node_id, node in new_nodes.items():
        if node_id not in old_nodes:
            changes.append(Change("added", "node", node_id, after=node.label))
        else:
            old = old_nodes[node_id]
            if old.label != node.label:
                changes.append(Change("relabelled", "node", node_id, old.label, node.label))
            if old.cluster != node.cluster:
                changes.append(Change("moved", "node", node_id, " / ".join(old.cluster), " / ".join(node.cluster)))
    for node_id, node in old_nodes.items():
        if node_id not in new_nodes:
            changes.append(Change("removed", "node", node_id, before=node.label))
    pairing = pair_edges(before.edges if before else [], after.edges if after else [])
    for old_edge, new_edge in pairing.matched:
        if old_edge.label != new_edge.label:
            changes.append(Change("relabelled", "edge", _edge_key(new_edge), old_edge.label, new_edge.label))
    changes.extend(Change("added", "edge", _edge_key(e), after=e.label) for e in pairing.added)
    changes.extend(Change("removed", "edge", _edge_key(e), before=e.label) for e in pairing.removed)
    return changes
