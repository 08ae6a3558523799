"""Deployment: each service's Kubernetes workload, what scales it and what protects it from disruption.

Drawn from the catalog's `workload` names (and `additional_workloads`, such as
fan-out's edges) and, where the manifests in
stack/deploy/kubernetes/ declare them, the workload's kind and replicas, its
HorizontalPodAutoscaler, its PodDisruptionBudget and the Services routing to it.
"""

from diagrams import Cluster, Edge, Node
from diagrams.k8s.clusterconfig import HPA
from diagrams.k8s.compute import STS, Deploy
from diagrams.k8s.network import SVC
from diagrams.onprem.monitoring import Prometheus
from diagrams.onprem.network import Internet

from handbook.diagrams.kit import diagram, service, workloads

ICONS = {"StatefulSet": STS}
BOX = {"fixedsize": "false", "labelloc": "c", "margin": "0.25,0.15", "color": "#326ce5"}

found = workloads()
namespaces = sorted({w.namespace for w in found if w.namespace})
title = "Chorus: deployment" + ("" if any(w.declared for w in found) else " (from the catalog; no manifests yet)")

with diagram(title, direction="LR"):
    prometheus = Prometheus("Prometheus", nodeid="prometheus")
    nodes = {}
    with Cluster("namespace " + ", ".join(namespaces) if namespaces else "Kubernetes"):
        for service_name in dict.fromkeys(w.service for w in found):
            with Cluster(service_name):
                for w in (w for w in found if w.service == service_name):
                    if w.declared:
                        if w.replicas is not None:
                            replicas = f"{w.replicas} replica" + ("" if w.replicas == 1 else "s")
                        else:
                            replicas = "replicas: set by its autoscaler" if w.autoscaler is not None else "replicas: default"
                        note = f"{w.kind} {w.name}\n{replicas}"
                    else:
                        note = f"workload {w.name}\n(not in the manifests yet)"
                    nodeid = f"{w.service}.{w.role}" if w.role else w.service
                    workload = service(w.service, role=w.role, icon=ICONS.get(w.kind, Deploy), nodeid=nodeid, note=note)
                    nodes[nodeid] = workload
                    if w.autoscaler is not None:
                        scaler = w.autoscaler
                        label = "\n".join((f"HPA {scaler.name}", f"{scaler.min_replicas}–{scaler.max_replicas} replicas", *scaler.targets))
                        HPA(label, nodeid=f"hpa.{scaler.name}") >> Edge(label="scales") >> workload
                    if w.budget is not None:
                        pdb = Node(f"PodDisruptionBudget\n{w.budget.name}\n{w.budget.rule}", nodeid=f"pdb.{w.budget.name}", **BOX)
                        pdb >> Edge(label="limits voluntary\ndisruption", style="dashed") >> workload
                    for route in w.routes:
                        name = route.split()[0]
                        SVC(f"Service {route}", nodeid=f"svc.{name}") >> Edge(label="routes") >> workload
    for name, workload in nodes.items():
        prometheus >> Edge(style="dashed") >> workload
    if "packager" in nodes:
        Internet("CDN", nodeid="cdn") >> Edge(label="fetches HLS") >> nodes["packager"]
