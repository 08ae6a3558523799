"""Join flow: from "join" in an app to audio playing, including the shed path.

Numbers give the order of a successful join; the red path is load shedding.
Three columns: the app, the gateway's steps (top to bottom), the fan-out node
and the shed answer. Arrows inside a column and return arrows do not take part
in the layout (`constraint="false"`); invisible edges place the columns.
"""

from diagrams import Edge, Node
from diagrams.generic.device import Mobile
from diagrams.programming.flowchart import Decision

from handbook.diagrams.kit import cluster, diagram, service

SHED = "#c62828"
RETURN = {"constraint": "false"}

with diagram("Chorus: join flow", graph_attr={"ranksep": "0.7"}):
    app = Mobile("Chorus app", nodeid="app")

    with cluster("gateway: control plane"):
        admission = service(
            "gateway", role="admission", ports=False, icon=Decision, note="token bucket\n+ session cap"
        )
        token = service("gateway", role="join token", nodeid="gateway.token", ports=False, note="signed, short-lived")
        placement = service("gateway", role="placement", ports=False, note="node with most headroom")
        shed = Node(
            "503 Service Unavailable\nRetry-After: jittered",
            nodeid="shed",
            fixedsize="false",
            labelloc="c",
            style="rounded,filled",
            fillcolor="#ffebee",
            color=SHED,
            fontcolor=SHED,
            margin="0.25,0.15",
        )

    fanout = service("fanout", note="verifies the token itself")

    app >> Edge(label="1  join request\n(HTTP)") >> admission
    admission >> Edge(label="2  admitted\nhosts and\nspeakers first", **RETURN) >> token
    token >> Edge(label="3", **RETURN) >> placement
    placement >> Edge(label="4  token +\nnode address", **RETURN) >> app
    app >> Edge(label="5  media WebSocket\n+ token", **RETURN) >> fanout
    admission >> Edge(label="bucket empty\nor at cap", color=SHED, fontcolor=SHED) >> shed
    shed >> Edge(label="wait, then retry", color=SHED, fontcolor=SHED, style="dashed", **RETURN) >> app
    fanout >> Edge(label="registers, reports load", style="dashed", **RETURN) >> placement
    # Layout only: the gateway's three steps stand in one column (steps 2 and 3 read downwards),
    # the app left of it, the fan-out node right of it.
    app >> Edge(style="invis") >> [token, placement]
    placement >> Edge(style="invis") >> fanout
