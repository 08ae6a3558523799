"""Containers: every Chorus service, who calls it, and what it depends on.

Arrows point from a caller to what it calls. Between services that is exactly the
`depends_on` of stack/catalog.yaml: `handbook check` fails (DG003-DG005) when this
diagram misses a service, misses a dependency or draws one the catalog lacks.
"""

from diagrams import Edge
from diagrams.generic.device import Mobile
from diagrams.onprem.client import Users
from diagrams.onprem.monitoring import Prometheus
from diagrams.onprem.network import Internet

from handbook.diagrams.kit import cluster, diagram, service

with diagram("Chorus: containers", direction="TB"):
    apps = Mobile("Chorus apps\nhosts · speakers · listeners", nodeid="apps")
    audience = Users("HLS audience", nodeid="hls-audience")
    cdn = Internet("CDN", nodeid="cdn")
    prometheus = Prometheus("Prometheus", nodeid="prometheus")

    with cluster("Chorus"):
        gateway = service("gateway", note="control plane")
        fanout = service("fanout", note="media relay")
        packager = service("packager", note="HLS for the masses")

    fanout >> Edge(label="registers,\nreports load") >> gateway
    packager >> Edge(label="joins like a listener") >> gateway
    packager >> Edge(label="subscribes to audio") >> fanout

    apps >> Edge(label="join (HTTP)") >> gateway
    apps >> Edge(label="audio (WebSocket)") >> fanout
    audience >> Edge(label="plays HLS") >> cdn
    cdn >> Edge(label="fetches playlist\nand segments") >> packager
    prometheus >> Edge(label="scrapes /metrics", style="dashed") >> gateway
    prometheus >> Edge(style="dashed") >> [fanout, packager]
