"""What a diagram source imports: catalog-bound service nodes and the house style.

A diagram in `diagrams/` is a Python file using the `diagrams` package. It draws
Chorus services only through `service()`, which looks the name up in
`stack/catalog.yaml`; an unknown name stops the diagram with an error naming the
diagram file and line::

    from diagrams.onprem.client import Users
    from handbook.diagrams.kit import diagram, service

    with diagram("Containers"):
        gateway = service("gateway")
        fanout = service("fanout")
        fanout >> gateway

The project root is taken from `HANDBOOK_ROOT` (set by the renderer), else found
from the running script's folder, so a source also runs on its own with
`python diagrams/containers.py` (it then writes its image next to you).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import diagrams
from chorus.catalog import Service
from diagrams import Cluster, Diagram, Node
from diagrams.onprem.compute import Server

from handbook import sources
from handbook.diagrams import workloads as _workloads
from handbook.errors import HandbookError
from handbook.project import Project

ROOT_ENV = "HANDBOOK_ROOT"

#: Node ids drawn by `service()`, mapped to the catalog service they stand for.
SERVICE_NODES: dict[str, str] = {}

#: The resolution diagrams render at: twice a screen's 96 dpi, published at half size (sharp when enlarged).
RENDER_DPI = 192

#: Graph attributes every Chorus diagram shares (small padding, compact, readable at the content width).
GRAPH_STYLE = {
    "pad": "0.5",
    "nodesep": "0.9",
    "ranksep": "1.0",
    "dpi": str(RENDER_DPI),
    "fontsize": "20",
    "splines": "spline",
}
#: Node attributes: labels of 17 pt under icons of 0.9 in at the top of the node (the `diagrams` default is
#: 13 pt under 1.4 in icons centred in the node). Labels may be wider than the node: `nodesep` (top-to-bottom)
#: and `ranksep` (left-to-right) leave them room, and `pad` keeps the outermost ones inside the image.
NODE_STYLE = {"fontsize": "17", "width": "0.9", "height": "0.9", "imagepos": "tc"}
#: Edge attributes: labels of 17 pt (Graphviz's default is 14).
EDGE_STYLE = {"fontsize": "17"}
#: Height of an icon node: the icon plus its first label line (more lines add 0.4 in each).
ICON_NODE_HEIGHT = 1.3
#: Cluster attributes: titles of 17 pt (the `diagrams` default is 12).
CLUSTER_STYLE = {"fontsize": "17", "margin": "12"}

_PACKAGE_DIR = Path(__file__).resolve().parent
_LIBRARY_DIR = Path(diagrams.__file__).resolve().parent


class UnknownServiceError(HandbookError):
    """A diagram named a service that `stack/catalog.yaml` does not list."""


def caller_location() -> tuple[Path | None, int | None]:
    """The file and line of the innermost caller outside this package and the `diagrams` library.

    Returns:
        The diagram source's file and line that led here, or `(None, None)`.
    """
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename).resolve()
        if _PACKAGE_DIR not in path.parents and _LIBRARY_DIR not in path.parents:
            return path, frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return None, None


def project_root() -> Path:
    """The handbook checkout the diagram belongs to.

    Returns:
        `$HANDBOOK_ROOT` when set, else the nearest folder holding `mkdocs.yml`
        above the running script (or the current folder).
    """
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
    script = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] else Path.cwd()
    return Project.find(script).root


def catalog_services() -> dict[str, Service]:
    """Every service in the catalog, by name, in catalog order.

    Returns:
        Name to the validated `chorus.catalog.Service` (purpose, team, depends_on, ports, workload...).
    """
    return {service.name: service for service in sources.catalog_model(project_root()).services}


def workloads() -> list[_workloads.Workload]:
    """The Kubernetes workload of every catalog service (see `handbook.diagrams.workloads`)."""
    return _workloads.workloads(project_root())


def _relative(path: Path | None) -> Path | None:
    if path is None:
        return None
    try:
        return path.relative_to(project_root())
    except ValueError:
        return path


def ports_line(name: str) -> str:
    """A service's ports as drawn under its name, e.g. `ws :8090`."""
    ports = catalog_services()[name].ports
    return "  ".join(f"{proto} :{port}" for proto, port in ports.items())


def service(
    name: str,
    role: str = "",
    note: str = "",
    *,
    icon: type[Node] = Server,
    nodeid: str = "",
    ports: bool = True,
    **attrs: Any,
) -> Node:
    """Draw a Chorus service, by its catalog name.

    Args:
        name: The service's name in `stack/catalog.yaml`.
        role: What this node shows of the service when it appears more than once,
            e.g. `origin` or `edge`; part of the node's id and label.
        note: Extra lines under the label.
        icon: The `diagrams` node class to draw with (default: a server).
        nodeid: The node's stable id (default: the name, plus `.role`).
        ports: Whether to print the catalog's ports under the name.
        **attrs: Graphviz node attributes.

    Returns:
        The node, to connect with `>>`, `<<` and `-`.

    Raises:
        UnknownServiceError: `name` is not in the catalog (names the diagram file and line).
    """
    known = catalog_services()
    if name not in known:
        path, line = caller_location()
        raise UnknownServiceError(
            f"service {name!r} is not in stack/catalog.yaml (known: {', '.join(known) or 'none'}); "
            "add it to the catalog or fix the name",
            path=_relative(path),
            line=line,
        )
    node_id = nodeid or (f"{name}.{role}" if role else name)
    lines = [f"{name} · {role}" if role else name]
    if ports and ports_line(name):
        lines.append(ports_line(name))
    if note:
        lines.extend(note.splitlines())
    SERVICE_NODES[node_id] = name
    return icon("\n".join(lines), nodeid=node_id, **attrs)


def _house_defaults() -> None:
    """Set the `diagrams` package's per-node and per-edge defaults that graph attributes cannot override.

    Every `Edge` writes its own `fontsize` (13) and every icon node its own height
    (1.9 in, sized for 1.4 in icons); the house style's are `EDGE_STYLE` and `ICON_NODE_HEIGHT`.
    """
    diagrams.Edge._default_edge_attrs = {**diagrams.Edge._default_edge_attrs, **EDGE_STYLE}
    diagrams.Node._height = ICON_NODE_HEIGHT


def diagram(title: str, direction: str = "LR", **kwargs: Any) -> Diagram:
    """A `diagrams.Diagram` in the house style, never opening a viewer.

    Args:
        title: The title printed under the diagram.
        direction: `LR`, `TB`, `RL` or `BT`.
        **kwargs: Other `Diagram` arguments; `graph_attr` is merged over the house style.

    Returns:
        The diagram, to use as a context manager.
    """
    _house_defaults()
    graph_attr = {**GRAPH_STYLE, **kwargs.pop("graph_attr", {})}
    node_attr = {**NODE_STYLE, **kwargs.pop("node_attr", {})}
    edge_attr = {**EDGE_STYLE, **kwargs.pop("edge_attr", {})}
    kwargs.setdefault("show", False)
    kwargs.setdefault("filename", Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "diagram")
    return Diagram(title, direction=direction, graph_attr=graph_attr, node_attr=node_attr, edge_attr=edge_attr, **kwargs)


def cluster(label: str, direction: str = "LR", **graph_attr: str) -> Cluster:
    """A `diagrams.Cluster` in the house style (legible title).

    Args:
        label: The cluster's title.
        direction: `LR`, `TB`, `RL` or `BT` inside the cluster.
        **graph_attr: Graphviz attributes over the house style.

    Returns:
        The cluster, to use as a context manager.
    """
    return Cluster(label, direction=direction, graph_attr={**CLUSTER_STYLE, **graph_attr})
