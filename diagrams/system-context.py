"""System context: Chorus as one box, the people and systems around it.

Arrows point from whoever starts the conversation to whom they call.
"""

from diagrams import Edge
from diagrams.generic.device import Mobile
from diagrams.generic.place import Datacenter
from diagrams.onprem.client import User, Users
from diagrams.onprem.monitoring import Prometheus
from diagrams.onprem.network import Internet

from handbook.diagrams.kit import diagram

with diagram("Chorus: system context"):
    talkers = User("Hosts and speakers\nopen a space, talk", nodeid="talkers")
    listeners = Users("Listeners\nhear the space live", nodeid="listeners")
    apps = Mobile("Chorus apps\nphone and web", nodeid="apps")
    chorus = Datacenter("Chorus\nlive-audio spaces", nodeid="chorus")
    cdn = Internet("CDN", nodeid="cdn")
    audience = Users("HLS audience\nthe mass of listeners", nodeid="hls-audience")
    prometheus = Prometheus("Prometheus\nmetrics and alert rules", nodeid="prometheus")
    oncall = User("On-call engineer\nalert -> runbook", nodeid="oncall")

    talkers >> Edge(label="talk") >> apps
    listeners >> Edge(label="listen") >> apps
    apps >> Edge(label="join (HTTP)\naudio (WebSocket)") >> chorus
    audience >> Edge(label="plays HLS") >> cdn
    cdn >> Edge(label="fetches playlist\nand segments") >> chorus
    prometheus >> Edge(label="scrapes /metrics", style="dashed") >> chorus
    prometheus >> Edge(label="alerts", style="dashed") >> oncall
