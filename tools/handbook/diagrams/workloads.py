"""Deployment facts for the deployment diagram: each service's workload, autoscaler and budget.

The catalog names every service's workload (`workload: chorus-fanout`) and any
additional workloads that run it in another role (`additional_workloads:`, e.g.
fan-out's edges in `chorus-fanout-edge`). When the
Kubernetes manifests exist (`stack/deploy/kubernetes/`, read through
`handbook.sources.manifests`), the workload is matched to its object there, and
so are the HorizontalPodAutoscaler that scales it, the PodDisruptionBudget that
covers its pods and the Services that route to them. Without manifests the
workload is known by name only, and `declared` is False.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handbook import sources

WORKLOAD_KINDS = sources.WORKLOAD_KINDS


@dataclass(frozen=True)
class Autoscaler:
    """A HorizontalPodAutoscaler aimed at a workload.

    Attributes:
        name: Its `metadata.name`.
        min_replicas: `spec.minReplicas` (Kubernetes defaults it to 1).
        max_replicas: `spec.maxReplicas`.
        targets: What it scales on, e.g. `cpu 70%`.
    """

    name: str
    min_replicas: int
    max_replicas: int | None
    targets: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line, e.g. `2–20 replicas · cpu 70%`."""
        span = f"{self.min_replicas}–{self.max_replicas} replicas"
        return " · ".join((span, *self.targets))


@dataclass(frozen=True)
class Budget:
    """A PodDisruptionBudget covering a workload's pods.

    Attributes:
        name: Its `metadata.name`.
        rule: `minAvailable N` or `maxUnavailable N`, as written.
    """

    name: str
    rule: str


@dataclass(frozen=True)
class Workload:
    """One catalog service's workload.

    Attributes:
        service: The catalog service name.
        name: The workload name from the catalog.
        role: Its role for an additional workload (e.g. `edge`), `""` for the service's main workload.
        kind: `Deployment`, `StatefulSet`... from the manifests, or `""` when not declared.
        namespace: From the manifests, or `""`.
        replicas: `spec.replicas` from the manifests, if written.
        autoscaler: The HPA scaling it, if any.
        budget: The PDB covering its pods, if any.
        routes: Kubernetes Services routing to it, e.g. `chorus-fanout :8090`.
        declared: Whether the manifests declare it.
    """

    service: str
    name: str
    role: str = ""
    kind: str = ""
    namespace: str = ""
    replicas: int | None = None
    autoscaler: Autoscaler | None = None
    budget: Budget | None = None
    routes: tuple[str, ...] = ()
    declared: bool = False


def _targets(spec: dict[str, Any]) -> tuple[str, ...]:
    """What an HPA scales on, one short phrase per metric."""
    found: list[str] = []
    if "targetCPUUtilizationPercentage" in spec:
        found.append(f"cpu {spec['targetCPUUtilizationPercentage']}%")
    for metric in spec.get("metrics") or []:
        kind = str(metric.get("type", ""))
        body = metric.get(kind[:1].lower() + kind[1:]) or {}
        name = body.get("name") or (body.get("metric") or {}).get("name") or kind
        target = body.get("target") or {}
        if "averageUtilization" in target:
            found.append(f"{name} {target['averageUtilization']}%")
        elif "averageValue" in target:
            found.append(f"{name} avg {target['averageValue']}")
        elif "value" in target:
            found.append(f"{name} {target['value']}")
        else:
            found.append(str(name))
    return tuple(found)


def _autoscaler(body: dict[str, Any]) -> Autoscaler:
    spec = body.get("spec") or {}
    return Autoscaler(
        name=str((body.get("metadata") or {}).get("name", "")),
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec["maxReplicas"]) if "maxReplicas" in spec else None,
        targets=_targets(spec),
    )


def _budget(body: dict[str, Any]) -> Budget:
    spec = body.get("spec") or {}
    rule = next((f"{key} {spec[key]}" for key in ("minAvailable", "maxUnavailable") if key in spec), "")
    return Budget(name=str((body.get("metadata") or {}).get("name", "")), rule=rule)


def _route(body: dict[str, Any]) -> str:
    ports = ((body.get("spec") or {}).get("ports")) or []
    shown = " ".join(f":{p.get('port')}" for p in ports if isinstance(p, dict))
    return f"{(body.get('metadata') or {}).get('name', '')} {shown}".strip()


def workloads(root: Path) -> list[Workload]:
    """Every workload of every catalog service, completed from the manifests when they exist.

    Args:
        root: The project root.

    Returns:
        The workloads, in catalog order (a service's main workload first, then its additional ones).

    Raises:
        HandbookError: The catalog or a manifest cannot be read (names file and line).
    """
    objects = sources.manifests(root)
    return [_workload(service.name, name, role or "", objects)
            for service in sources.catalog_model(root).services for name, role in service.workloads()]


def _workload(service: str, name: str, role: str, objects: sources.Manifests) -> Workload:
    """One workload, matched to its objects in the manifests."""
    obj = objects.workload(name)
    if obj is None:
        return Workload(service=service, name=name, role=role)
    spec = obj.spec
    hpa = next(iter(objects.autoscalers(obj)), None)
    pdb = next(iter(objects.selecting(obj, "PodDisruptionBudget")), None)
    routes = tuple(_route(m.body) for m in objects.selecting(obj, "Service"))
    return Workload(
        service=service,
        name=name,
        role=role,
        kind=obj.kind,
        namespace=obj.namespace,
        replicas=int(spec["replicas"]) if "replicas" in spec else None,
        autoscaler=_autoscaler(hpa.body) if hpa else None,
        budget=_budget(pdb.body) if pdb else None,
        routes=routes,
        declared=True,
    )
