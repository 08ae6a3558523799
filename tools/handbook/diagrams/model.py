"""The graph a diagram draws: nodes, edges and clusters, each with the source line that drew it.

The sandbox records this graph while a diagram source runs, the checks compare it
with the catalog, and the review diff compares two of them. It is stored as JSON
next to the rendered image.

Identity matters for the diff: a node's `id` is the `nodeid` its source gave it
(service nodes get the service name, e.g. `fanout` or `fanout.origin`), or, when
the source gave none, a slug of its label. An edge is identified by its tail and
head ids, in the direction the arrow points.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Node:
    """One node of a diagram.

    Attributes:
        id: Stable identity (see the module docstring).
        label: The text drawn under the node, lines joined by `\\n`.
        service: The catalog service this node stands for, or `""` for other nodes.
        cluster: The labels of the clusters it sits in, outermost first.
        line: The line of the diagram source that drew it.
        kind: The `diagrams` class that drew it, e.g. `Server`.
    """

    id: str
    label: str
    service: str = ""
    cluster: tuple[str, ...] = ()
    line: int = 0
    kind: str = ""

    @property
    def caption(self) -> str:
        """The label on one line, for messages."""
        return " / ".join(part for part in self.label.splitlines() if part.strip()) or self.id


@dataclass(frozen=True)
class Edge:
    """One arrow of a diagram, from `tail` to `head` (already turned the way it points).

    Attributes:
        tail: Node id the arrow starts at.
        head: Node id the arrow points to.
        label: Text on the arrow, or `""`.
        line: The line of the diagram source that drew it.
        directed: False for a plain line (`a - b`), True for an arrow.
        style: The Graphviz style, e.g. `dashed`, or `""`.
    """

    tail: str
    head: str
    label: str = ""
    line: int = 0
    directed: bool = True
    style: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the edge in a diff: its two ends."""
        return (self.tail, self.head)


@dataclass
class Graph:
    """Everything one diagram draws.

    Attributes:
        title: The diagram's title (the `Diagram` name).
        direction: Graphviz rank direction, e.g. `LR`.
        line: The line of the `Diagram(...)` statement.
        nodes: Nodes in drawing order.
        edges: Edges in drawing order.
        font_pt: The smallest font size of any label it draws, points (0 when unknown).
        dpi: The resolution its image was rendered at (0 when unknown).
    """

    title: str = ""
    direction: str = "LR"
    line: int = 1
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    font_pt: float = 0.0
    dpi: float = 0.0

    def node(self, node_id: str) -> Node | None:
        """The node with this id, or `None`."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        return None

    def services(self) -> dict[str, Node]:
        """The first node drawn for each catalog service, by service name."""
        found: dict[str, Node] = {}
        for node in self.nodes:
            if node.service and node.service not in found:
                found[node.service] = node
        return found

    def to_json(self) -> str:
        """Serialise to JSON text."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Graph":
        """Read a graph written by `to_json`."""
        data: dict[str, Any] = json.loads(text)
        return cls(
            title=data.get("title", ""),
            direction=data.get("direction", "LR"),
            line=int(data.get("line", 1)),
            nodes=[Node(**{**n, "cluster": tuple(n.get("cluster", ()))}) for n in data.get("nodes", [])],
            edges=[Edge(**e) for e in data.get("edges", [])],
            font_pt=float(data.get("font_pt", 0.0)),
            dpi=float(data.get("dpi", 0.0)),
        )


@dataclass(frozen=True)
class SourceError:
    """Why a diagram source could not be drawn, at which line.

    Attributes:
        path: The diagram source, relative to the project root.
        line: The line at fault (1 when unknown).
        code: The check code: `DG001` unknown service, `DG006` the source raised,
            `DG007` the source drew no diagram or more than one, `DG008` sources
            cannot be sandboxed here.
        message: What went wrong and what to do.
        transient: True when the failure is the machine's (Graphviz missing, no
            sandbox), not the source's: such a failure is not cached.
    """

    path: Path
    line: int
    code: str
    message: str
    transient: bool = False

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"

    def to_json(self) -> str:
        """Serialise to JSON text (the path is left to the reader)."""
        return json.dumps({"line": self.line, "code": self.code, "message": self.message, "transient": self.transient})

    @classmethod
    def from_json(cls, path: Path, text: str) -> "SourceError":
        """Read an error written by `to_json` for the source at `path`."""
        data = json.loads(text)
        return cls(
            path,
            int(data.get("line", 1)),
            str(data.get("code", "DG006")),
            str(data.get("message", "")),
            bool(data.get("transient", False)),
        )
