"""Containers: every Chorus service, who calls it, and what it depends on.

Arrows between services point from a service to what it depends on, exactly as
`depends_on` in stack/catalog.yaml says (`handbook check` enforces it: DG003-DG005).
"""

from diagrams import Cluster, Edge
from diagrams.generic.device import Mobile
from diagrams.onprem.client import Users
from diagrams.onprem.monitoring import Prometheus
from diagrams.onprem.network import Internet

from handbook.diagrams.kit import diagram, service

with diagram("Chorus containers"):
    apps = Mobile("Chorus apps\nhosts · speakers · listeners", nodeid="apps")
    crowd = Users("HLS audience", nodeid="hls-audience")
    cdn = Internet("CDN", nodeid="cdn")

    with Cluster("Chorus"):
        gateway = service("gateway", note="control plane")
        fanout = service("fanout", note="media relay")
        packager = service("packager", note="HLS")

    prometheus = Prometheus("Prometheus", nodeid="prometheus")

    fanout >> Edge(label="depends on") >> gateway
    packager >> gateway
    packager >> fanout

    apps >> Edge(label="join (HTTP)") >> gateway
    apps >> Edge(label="audio (WebSocket)") >> fanout
    packager >> Edge(label="playlist + segments") >> cdn
    cdn >> Edge(label="HLS") >> crowd
    prometheus >> Edge(label="scrapes /metrics", style="dashed") >> [gateway, fanout, packager]
