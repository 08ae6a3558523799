"""Deployment reference: the Kubernetes objects in `stack/deploy/kubernetes/`.

Workloads with their replicas, containers, resources, ports and probes; the
autoscalers, disruption budgets and services that act on them; every other
object by kind. Each object sits at `anchors.workload(kind, name)`.
"""

from __future__ import annotations

from typing import Any

from handbook import anchors, sources
from handbook.reference import markdown as md
from handbook.reference.snapshot import Snapshot
from handbook.sources import WORKLOAD_KINDS, Manifest, Manifests, selects

PAGE = anchors.DEPLOYMENT_PAGE
SECTIONS = (
    ("Workloads", WORKLOAD_KINDS),
    ("Autoscaling", ("HorizontalPodAutoscaler",)),
    ("Disruption budgets", ("PodDisruptionBudget",)),
    ("Services", ("Service",)),
)


def ref(obj: Manifest) -> str:
    """A link to an object's entry on this page."""
    return f"[{md.code(f'{obj.kind}/{obj.name}')}]({md.link(PAGE, anchors.workload(obj.kind, obj.name))})"


def probe_text(probe: dict[str, Any]) -> str:
    """How a probe checks the container, and its timing, e.g. `GET /healthz on http`, every 10 s."""
    if "httpGet" in probe:
        how = f"{md.code('GET ' + str(probe['httpGet'].get('path', '/')))} on port {md.code(probe['httpGet'].get('port', ''))}"
    elif "tcpSocket" in probe:
        how = f"TCP connect to port {md.code(probe['tcpSocket'].get('port', ''))}"
    elif "grpc" in probe:
        how = f"gRPC health on port {md.code(probe['grpc'].get('port', ''))}"
    elif "exec" in probe:
        how = f"runs {md.code(' '.join(str(c) for c in probe['exec'].get('command', [])))}"
    else:
        how = "unknown handler"
    timing = [
        f"{label} {probe[key]}{unit}"
        for key, label, unit in (
            ("initialDelaySeconds", "after", " s"),
            ("periodSeconds", "every", " s"),
            ("timeoutSeconds", "timeout", " s"),
            ("failureThreshold", "fails after", ""),
        )
        if key in probe
    ]
    return how + (f"; {', '.join(timing)}" if timing else "")


def resources_text(resources: dict[str, Any], which: str) -> str:
    """A container's `requests` or `limits`, e.g. `cpu 500m, memory 256Mi`."""
    values = resources.get(which) or {}
    return ", ".join(f"{k} {md.code(v)}" for k, v in values.items()) or "none"


def containers_block(obj: Manifest) -> str:
    """The containers of a workload: image, ports, resources, then their probes."""
    rows, probes = [], []
    for container in sorted(obj.containers, key=lambda c: not c.init):  # init containers run first
        ports = ", ".join(md.code(number) + (f" ({md.text(name)})" if name != str(number) else "")
                          for name, number in container.ports.items())
        label = md.code(container.name) + (" (init)" if container.init else "")
        rows.append([label, md.code(container.image), ports or "none", resources_text(container.resources, "requests"),
                     resources_text(container.resources, "limits")])
        for probe_kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe_kind in container.body:
                probes.append([md.code(container.name), probe_kind.removesuffix("Probe"), probe_text(container.body[probe_kind])])
    parts = [md.table(["container", "image", "ports", "requests", "limits"], rows)]
    if probes:
        parts.append(md.table(["container", "probe", "check"], probes))
    return "\n\n".join(p for p in parts if p)


def hpa_text(hpa: Manifest) -> str:
    """An autoscaler's bounds and targets, e.g. `2–20 replicas; cpu at 70 % utilization`."""
    spec = hpa.body.get("spec") or {}
    targets = []
    for metric in spec.get("metrics") or []:
        kind = metric.get("type", "")
        body = metric.get(kind[:1].lower() + kind[1:], {}) if kind else {}
        name = body.get("name") or (body.get("metric") or {}).get("name", "")
        target = body.get("target") or {}
        amount = target.get("averageUtilization")
        shown = f"{amount} % utilization" if amount is not None else md.code(target.get("averageValue", target.get("value", "?")))
        targets.append(f"{md.code(name)} at {shown}")
    text = f"{spec.get('minReplicas', 1)}–{spec.get('maxReplicas', '?')} replicas"
    return text + (f"; {', '.join(targets)}" if targets else "")


def workload_entry(obj: Manifest, everything: Manifests) -> str:
    """The entry of one Deployment, StatefulSet or DaemonSet."""
    spec = obj.body.get("spec") or {}
    hpas = everything.autoscalers(obj)
    pdbs = everything.selecting(obj, "PodDisruptionBudget")
    services = everything.selecting(obj, "Service")
    if obj.kind == "DaemonSet":
        replicas = "one per node"
    else:
        replicas = md.code(spec.get("replicas", 1)) + (" (initial; the autoscaler sets it)" if hpas else "")
    facts = [
        f"- **Namespace:** {md.code(obj.namespace or 'default')}",
        f"- **Replicas:** {replicas}",
    ]
    if hpas:
        facts.append("- **Autoscaling:** " + "; ".join(f"{ref(h)}: {hpa_text(h)}" for h in hpas))
    if pdbs:
        facts.append("- **Disruption budget:** " + "; ".join(f"{ref(p)}: {pdb_text(p)}" for p in pdbs))
    if services:
        facts.append("- **Reached through:** " + ", ".join(ref(s) for s in services))
    if obj.pod_labels:
        facts.append("- **Pod labels:** " + ", ".join(md.code(f"{k}={v}") for k, v in obj.pod_labels.items()))
    facts.append(f"- **Defined in:** {md.code(f'{obj.path.as_posix()}:{obj.line}')}")
    return "\n\n".join(
        [md.heading(3, md.code(f"{obj.kind}/{obj.name}"), md.fragment(anchors.workload(obj.kind, obj.name))), "\n".join(facts), containers_block(obj)]
    )


def pdb_text(pdb: Manifest) -> str:
    """A disruption budget's rule, e.g. `minAvailable 2`."""
    spec = pdb.body.get("spec") or {}
    rules = [f"{k} {md.code(spec[k])}" for k in ("minAvailable", "maxUnavailable") if k in spec]
    return ", ".join(rules) or "no rule"


def other_entry(obj: Manifest, everything: Manifests) -> str:
    """The entry of an autoscaler, disruption budget, service or any other object."""
    spec = obj.body.get("spec") or {}
    facts = [f"- **Namespace:** {md.code(obj.namespace or 'default')}"]
    workloads = [m for m in everything.of_kind(*WORKLOAD_KINDS) if m.same_namespace(obj)]
    if obj.kind == "HorizontalPodAutoscaler":
        target = spec.get("scaleTargetRef") or {}
        matches = [w for w in workloads if obj in everything.autoscalers(w)]
        facts.append("- **Scales:** " + (", ".join(ref(w) for w in matches) or md.code(f"{target.get('kind')}/{target.get('name')}")))
        facts.append(f"- **Bounds and targets:** {hpa_text(obj)}")
    elif obj.kind in ("PodDisruptionBudget", "Service"):
        selector = spec.get("selector")
        matches = [w for w in workloads if selects(selector, w.pod_labels)]
        facts.append("- **Selects:** " + (", ".join(ref(w) for w in matches) or "no workload in this tree"))
        if obj.kind == "PodDisruptionBudget":
            facts.append(f"- **Budget:** {pdb_text(obj)}")
        else:
            facts.append(f"- **Type:** {md.code(spec.get('type', 'ClusterIP'))}")
            ports = [
                f"{md.code(p.get('port'))} → {md.code(p.get('targetPort', p.get('port')))}"
                + (f" ({md.text(p['name'])}, {p.get('protocol', 'TCP')})" if p.get("name") else "")
                for p in spec.get("ports") or []
            ]
            facts.append("- **Ports:** " + (", ".join(ports) or "none"))
    facts.append(f"- **Defined in:** {md.code(f'{obj.path.as_posix()}:{obj.line}')}")
    return "\n\n".join([md.heading(3, md.code(f"{obj.kind}/{obj.name}"), md.fragment(anchors.workload(obj.kind, obj.name))), "\n".join(facts)])


def render(snap: Snapshot) -> str:
    """The deployment reference page.

    Args:
        snap: The build's sources (`manifests`).

    Returns:
        The page's Markdown.
    """
    objects: Manifests = snap.get("manifests")
    folder = md.code(sources.KUBERNETES_DIR.as_posix() + "/")
    intro = (
        f"How Chorus runs on Kubernetes, generated at build time from {folder}: workloads, replicas, "
        "autoscaling bounds, resources, ports, probes and disruption budgets."
    )
    if not objects:
        return md.page("Deployment", intro, md.note("warning", "No manifests yet", f"No Kubernetes object is defined in {folder} in this tree."), front_matter={"owner": "handbook"})
    workloads = [o for o in objects if o.kind in WORKLOAD_KINDS]
    rows = []
    for w in workloads:
        hpa = next(
            iter(objects.autoscalers(w)),
            None,
        )
        rows.append([ref(w), md.code(w.namespace or "default"), md.code((w.body.get("spec") or {}).get("replicas", 1)), hpa_text(hpa) if hpa else "none"])
    blocks = []
    if rows:
        blocks.append("## Overview\n\n" + md.table(["workload", "namespace", "replicas", "autoscaling"], rows))
    placed: set[int] = set()
    for title, kinds in SECTIONS:
        chosen = [o for o in objects if o.kind in kinds]
        if not chosen:
            continue
        placed.update(id(o) for o in chosen)
        entries = [workload_entry(o, objects) if o.kind in WORKLOAD_KINDS else other_entry(o, objects) for o in chosen]
        blocks.append("\n\n".join([md.heading(2, title, anchors.slug(title)), *entries]))
    rest = [o for o in objects if id(o) not in placed]
    if rest:
        blocks.append("\n\n".join([md.heading(2, "Other objects", "other-objects"), *(other_entry(o, objects) for o in rest)]))
    return md.page("Deployment", intro, *blocks, front_matter={"owner": "handbook"})
