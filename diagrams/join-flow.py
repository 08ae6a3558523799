"""Join flow: from "join" in an app to audio playing, including the shed path.

Numbers give the order of a successful join; the red path is load shedding.
Return arrows do not take part in the layout (`constraint="false"`), so the
steps read left to right.
"""

from diagrams import Cluster, Edge, Node
from diagrams.generic.device import Mobile
from diagrams.programming.flowchart import Decision

from handbook.diagrams.kit import diagram, service

SHED = "#c62828"
RETURN = {"constraint": "false"}

with diagram("Chorus: join flow"):
    app = Mobile("Chorus app", nodeid="app")

    with Cluster("gateway: control plane"):
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

    app >> Edge(label="1  join request (HTTP)") >> admission
    admission >> Edge(label="2  admitted\nhosts, speakers first") >> token
    token >> Edge(label="3") >> placement
    placement >> Edge(label="4  token + node address", **RETURN) >> app
    app >> Edge(label="5  media WebSocket + token", **RETURN) >> fanout
    admission >> Edge(label="bucket empty\nor at cap", color=SHED, fontcolor=SHED) >> shed
    shed >> Edge(label="wait, then retry", color=SHED, fontcolor=SHED, style="dashed", **RETURN) >> app
    fanout >> Edge(label="registers, reports load", style="dashed", **RETURN) >> placement
    placement >> Edge(style="invis") >> fanout  # keeps the fan-out node right of the gateway
