"""Media path: how a speaker's audio reaches every listener, live and through HLS.

Arrows follow the audio. Frames are relayed untouched: no node decodes or
re-encodes audio on the live path.
"""

from diagrams import Edge
from diagrams.onprem.client import User, Users
from diagrams.onprem.network import Internet

from handbook.diagrams.kit import cluster, diagram, service

with diagram("Chorus: media path", direction="TB"):
    speaker = User("Speaker's app\n20 ms audio frames", nodeid="speaker")

    with cluster("fan-out tier"):
        origin = service("fanout", role="origin", note="the space's home node")
        edge_a = service("fanout", role="edge", nodeid="fanout.edge-a", ports=False, note="listener cap · drains")
        edge_b = service("fanout", role="edge", nodeid="fanout.edge-b", ports=False, note="listener cap · drains")

    near = Users("Listeners\non the origin", nodeid="listeners-origin")
    far_a = Users("Listeners", nodeid="listeners-a")
    far_b = Users("Listeners", nodeid="listeners-b")

    packager = service("packager", note="playlist + segments")
    cdn = Internet("CDN", nodeid="cdn")
    audience = Users("HLS audience\nhundreds of thousands", nodeid="hls-audience")

    speaker >> Edge(label="publish (WebSocket)") >> origin
    origin >> Edge(label="batched frames") >> near
    origin >> Edge(label="cascade: edge subscribes\nlike a listener") >> [edge_a, edge_b]
    edge_a >> Edge(label="batched frames") >> far_a
    edge_b >> Edge(label="batched frames") >> far_b
    edge_b >> Edge(label="subscribes like a listener", color="#6a1b9a") >> packager
    packager >> Edge(label="HLS, a few seconds behind", color="#6a1b9a") >> cdn
    cdn >> Edge(color="#6a1b9a") >> audience
