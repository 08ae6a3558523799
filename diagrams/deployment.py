"""Deployment: each service's Kubernetes workload, what scales it and what protects it from disruption.

Drawn from the catalog's `workload` names (and `additional_workloads`, such as
fan-out's edges) and, where the manifests in
stack/deploy/kubernetes/ declare them, the workload's kind and replicas, its
HorizontalPodAutoscaler, its PodDisruptionBudget and the Services routing to it.

Prometheus (which scrapes every workload) and the CDN (which fetches HLS from the
packager) are on the containers diagram, not here. Top to bottom: each service's Services, budget and autoscaler above its
workloads. Services are laid out in rows of at most `ROW_WIDTH` such nodes, so
the picture stays about as wide as a page and a row or two tall, not a column
three screens long.
"""

from diagrams import Edge, Node
from diagrams.k8s.clusterconfig import HPA
from diagrams.k8s.compute import STS, Deploy
from diagrams.k8s.network import SVC

from handbook.diagrams.kit import cluster, diagram, service, workloads

ICONS = {"StatefulSet": STS}
BOX = {"fixedsize": "false", "labelloc": "c", "margin": "0.2,0.1", "color": "#326ce5"}
ROW_WIDTH = 5
LAYOUT_ONLY = {"style": "invis"}

found = workloads()
namespaces = sorted({w.namespace for w in found if w.namespace})
title = "Chorus: deployment" + ("" if any(w.declared for w in found) else " (from the catalog; no manifests yet)")


def attachments(w):
    """How many nodes are drawn above a workload: its Services, budget and autoscaler."""
    return len(w.routes) + (w.budget is not None) + (w.autoscaler is not None)


services = list(dict.fromkeys(w.service for w in found))
rows: list[list[str]] = []
widths: list[int] = []
for name in services:  # each service goes into the first row with room for it
    size = max(1, sum(attachments(w) for w in found if w.service == name))
    row = next((i for i, used in enumerate(widths) if used + size <= ROW_WIDTH), None)
    if row is None:
        rows.append([])
        widths.append(0)
        row = len(rows) - 1
    rows[row].append(name)
    widths[row] += size

with diagram(title, direction="TB", graph_attr={"nodesep": "0.95"}):
    nodes = {}
    tops, bottoms = [], []  # per row: the nodes drawn first and last, to stack the rows
    with cluster("namespace " + ", ".join(namespaces) if namespaces else "Kubernetes"):
        for row in rows:
            tops.append([])
            bottoms.append([])
            for service_name in row:
                with cluster(service_name):
                    for w in (w for w in found if w.service == service_name):
                        if w.declared:
                            if w.replicas is not None:
                                replicas = f"{w.replicas} replica" + ("" if w.replicas == 1 else "s")
                            else:
                                replicas = "replicas: by autoscaler" if w.autoscaler is not None else "replicas: default"
                            note = f"{w.kind}\n{w.name}\n{replicas}"
                        else:
                            note = f"workload\n{w.name}\n(not in the manifests yet)"
                        nodeid = f"{w.service}.{w.role}" if w.role else w.service
                        icon = ICONS.get(w.kind, Deploy)
                        workload = service(w.service, role=w.role, icon=icon, nodeid=nodeid, note=note)
                        nodes[nodeid] = workload
                        bottoms[-1].append(workload)
                        above = []
                        if w.autoscaler is not None:
                            scaler = w.autoscaler
                            targets = (target.replace(" avg ", "\navg ") for target in scaler.targets)
                            label = "\n".join(("HPA", scaler.name, f"{scaler.min_replicas}–{scaler.max_replicas} replicas", *targets))
                            above.append(HPA(label, nodeid=f"hpa.{scaler.name}"))
                            above[-1] >> Edge(label="scales") >> workload
                        if w.budget is not None:
                            pdb = Node(f"PodDisruptionBudget\n{w.budget.name}\n{w.budget.rule}", nodeid=f"pdb.{w.budget.name}", **BOX)
                            above.append(pdb)
                            pdb >> Edge(label="limits voluntary\ndisruption", style="dashed") >> workload
                        for route in w.routes:
                            name, _, port = route.partition(" ")
                            above.append(SVC(f"Service\n{name}\n{port}", nodeid=f"svc.{name}"))
                            above[-1] >> Edge(label="routes") >> workload
                        tops[-1].extend(above or [workload])
    for upper, lower in zip(bottoms, tops[1:]):
        upper[0] >> Edge(**LAYOUT_ONLY) >> lower[0]  # the next row of services goes below this one
