"""Diagram family (DG): diagrams draw only catalog services, and the containers diagram draws the catalog.

Every diagram source is rendered (from the cache when unchanged) and its recorded
graph is compared with `stack/catalog.yaml`: service nodes must name catalog
services, and `diagrams/containers.py` must draw every service and exactly the
`depends_on` edges, with arrows pointing from a service to what it depends on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from handbook import sources
from handbook.checks.registry import check
from handbook.diagrams import legibility
from handbook.diagrams.model import Graph
from handbook.diagrams.render import Rendered, RenderRun, render_all
from handbook.problems import Problem
from handbook.project import Project

CONTAINERS = Path("diagrams/containers.py")


def _service_name(label: str) -> str:
    """The name a plain node's label would give a service: its first line, before any ` · role`."""
    first = (label.splitlines() or [""])[0]
    return first.split(" · ")[0].strip().lower()


def _catalog_problems_in(graph: Graph, path: Path, services: dict[str, Any]) -> Iterator[Problem]:
    """DG001/DG002 for one rendered diagram."""
    for node in graph.nodes:
        if node.service and node.service not in services:
            yield Problem(path, node.line, 1, "DG001", f"service {node.service!r} is not in stack/catalog.yaml")
        elif not node.service and _service_name(node.label) in services:
            name = _service_name(node.label)
            yield Problem(
                path,
                node.line,
                1,
                "DG002",
                f"node {node.caption!r} is labelled as catalog service {name!r} but not drawn with "
                f"service({name!r}): use the helper so the node stays bound to the catalog",
            )


def _containers_problems(
    graph: Graph, path: Path, services: dict[str, Any], catalog: Any
) -> Iterator[Problem]:
    """DG003/DG004/DG005 for the containers diagram."""
    drawn = graph.services()
    for index, name in enumerate(services):
        if name not in drawn:
            where = f"{sources.CATALOG}:{catalog.line_of('services', index, 'name')}"
            yield Problem(
                path,
                graph.line,
                1,
                "DG003",
                f"the containers diagram does not draw catalog service {name!r} ({where}): add service({name!r})",
            )
    edges: set[tuple[str, str]] = set()
    for edge in graph.edges:
        tail, head = graph.node(edge.tail), graph.node(edge.head)
        if tail is None or head is None or not tail.service or not head.service or tail.service == head.service:
            continue
        edges.add((tail.service, head.service))
        if tail.service not in services or head.service not in services[tail.service].depends_on:
            yield Problem(
                path,
                edge.line,
                1,
                "DG004",
                f"edge {tail.service} -> {head.service} is not a dependency in stack/catalog.yaml "
                f"({tail.service}.depends_on does not list {head.service!r}): remove the edge, turn it round, "
                "or add the dependency to the catalog",
            )
    for index, (name, entry) in enumerate(services.items()):
        for position, dependency in enumerate(entry.depends_on):
            if (name, dependency) not in edges and name in drawn and dependency in drawn:
                where = f"{sources.CATALOG}:{catalog.line_of('services', index, 'depends_on', position)}"
                yield Problem(
                    path,
                    graph.line,
                    1,
                    "DG005",
                    f"the containers diagram misses the dependency {name} -> {dependency} ({where}): "
                    f"draw service({name!r}) >> service({dependency!r})",
                )


def _legibility_problems(result: Rendered, path: Path) -> Iterator[Problem]:
    """DG009 when the diagram's smallest label is under `MIN_LABEL_PX` in the content column."""
    graph = result.graph
    if result.image is None or graph is None or not graph.font_pt:
        return
    shown = legibility.measure(result.image, graph.font_pt, graph.dpi)
    if not shown.legible:
        yield Problem(
            path,
            graph.line,
            1,
            "DG009",
            f"labels of {graph.font_pt:g} pt show at {shown.label_px:g} px on a page (the diagram is {shown.display[0]} px "
            f"wide, the content column {legibility.CONTENT_WIDTH_PX} px), under {legibility.MIN_LABEL_PX:g} px: "
            "split it into smaller views, lay it out top to bottom (direction='TB') or shorten its labels",
        )


def diagram_problems(project: Project, run: RenderRun | None = None) -> Iterator[Problem]:
    """Every DG problem of a tree.

    Args:
        project: The tree.
        run: Renderings to check (default: render the tree, from the cache when unchanged).

    Yields:
        The problems, DG001-DG009.
    """
    root = project.root
    if not (root / "diagrams").is_dir() or not (root / sources.CATALOG).is_file():
        return
    catalog = sources.catalog(root)
    services = {service.name: service for service in sources.catalog_model(root).services}
    run = run if run is not None else render_all(root)
    for result in run.results:
        path = root / result.source
        if result.error is not None:
            error = result.error
            yield Problem(path, error.line, 1, error.code, error.message)
            continue
        assert result.graph is not None
        yield from _legibility_problems(result, path)
        yield from _catalog_problems_in(result.graph, path, services)
        if result.source == CONTAINERS:
            yield from _containers_problems(result.graph, path, services, catalog)
    if run.results and CONTAINERS not in {r.source for r in run.results}:
        yield Problem(
            root / sources.CATALOG,
            catalog.line_of("services"),
            1,
            "DG003",
            f"no containers diagram draws the catalog's services: add {CONTAINERS}",
        )


@check(
    "diagrams",
    family="DG",
    rules={
        "DG001": "a diagram draws a service that is not in stack/catalog.yaml",
        "DG002": "a node is labelled as a catalog service but not drawn with service(), so it is not bound to the catalog",
        "DG003": "the containers diagram does not draw a catalog service",
        "DG004": "the containers diagram draws an edge between services that is not a depends_on in the catalog",
        "DG005": "the containers diagram misses an edge for a depends_on in the catalog",
        "DG006": "a diagram source raises, overruns its time or CPU limit, tries to write outside its temporary "
        "folder or to use the network (or Graphviz cannot render it); the other diagrams still render",
        "DG007": "a diagram source draws no diagram, or more than one",
        "DG008": "diagram sources cannot be sandboxed on this machine (bubblewrap missing or not allowed), so none ran",
        "DG009": "a diagram's smallest label is under 11 px where it is shown (the content column): it is too wide",
    },
)
def diagrams_match_catalog(project: Project) -> Iterator[Problem]:
    """Render every diagram and report the ones that fail or disagree with the catalog."""
    yield from diagram_problems(project)
