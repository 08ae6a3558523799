"""`stack/deploy/kubernetes/`: every object, with the parts the handbook reads typed once.

A `Manifest` knows its containers, its labels, its pod template's labels, its selector
and what it scales; `selects` is the one label-selector match and `Manifests` answers
"which autoscaler, disruption budget and Services belong to this workload" in one place,
for the deployment reference, the diagrams' overlay, the on-call page and the facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handbook import yamlio
from handbook.sources.base import memo, read_text

KUBERNETES_DIR = Path("stack/deploy/kubernetes")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
"""Kinds that run pods the handbook documents as workloads."""


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Container:
    """One container of a pod template.

    Attributes:
        name: `name`.
        image: `image`, or `""`.
        ports: Port name (or number, when unnamed) to `containerPort`.
        resources: `requests` / `limits` to resource to amount.
        init: Whether it is an init container.
        body: The container as loaded.
    """

    name: str
    image: str
    ports: dict[str, int]
    resources: dict[str, dict[str, Any]]
    init: bool
    body: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object from `stack/deploy/kubernetes/`.

    Attributes:
        kind: e.g. `Deployment`.
        name: `metadata.name`.
        namespace: `metadata.namespace`, or `""`.
        body: The whole object as loaded.
        path: The file it is in.
        line: The line the object starts on.
        located: The document with line numbers, for pointing at fields.
    """

    kind: str
    name: str
    namespace: str
    body: dict[str, Any]
    path: Path
    line: int
    located: yamlio.Located = field(compare=False, repr=False)

    @property
    def spec(self) -> dict[str, Any]:
        """`spec`, or `{}`."""
        return _mapping(self.body.get("spec"))

    @property
    def labels(self) -> dict[str, str]:
        """`metadata.labels`."""
        return {str(k): str(v) for k, v in _mapping(_mapping(self.body.get("metadata")).get("labels")).items()}

    @property
    def pod_spec(self) -> dict[str, Any]:
        """The pod spec it runs (a workload's or a CronJob's template, a Pod's own spec), or `{}`."""
        spec = self.spec
        if self.kind == "Pod":
            return spec
        template = _mapping(_mapping(_mapping(spec.get("jobTemplate")).get("spec", spec)).get("template"))
        return _mapping(template.get("spec"))

    @property
    def pod_labels(self) -> dict[str, str]:
        """The labels of the pods it runs (its pod template's), or `{}`."""
        template = _mapping(self.spec.get("template"))
        return {str(k): str(v) for k, v in _mapping(_mapping(template.get("metadata")).get("labels")).items()}

    @property
    def selector(self) -> dict[str, Any]:
        """`spec.selector` as written: a `matchLabels`/`matchExpressions` selector, or a Service's plain map."""
        return _mapping(self.spec.get("selector"))

    @property
    def match_labels(self) -> dict[str, str]:
        """The labels its selector requires (`matchLabels`, or a Service's plain map)."""
        selector = self.selector
        plain = selector if "matchExpressions" not in selector and self.kind == "Service" else {}
        return {str(k): str(v) for k, v in _mapping(selector.get("matchLabels", plain)).items()}

    @property
    def containers(self) -> list[Container]:
        """Every container, then every init container, of the pods it runs."""
        pod = self.pod_spec
        found = []
        for init, body in [*((False, c) for c in pod.get("containers") or []),
                           *((True, c) for c in pod.get("initContainers") or [])]:
            if not isinstance(body, dict):
                continue
            ports = {str(p.get("name", p["containerPort"])): p["containerPort"]
                     for p in body.get("ports") or [] if isinstance(p, dict) and "containerPort" in p}
            resources = {bound: dict(_mapping(_mapping(body.get("resources")).get(bound)))
                         for bound in ("requests", "limits")}
            found.append(Container(str(body.get("name", "")), str(body.get("image") or ""), ports, resources, init, body))
        return found

    @property
    def scale_target(self) -> tuple[str, str] | None:
        """An autoscaler's `(kind, name)` of `spec.scaleTargetRef`; `None` for any other object."""
        if self.kind != "HorizontalPodAutoscaler":
            return None
        target = _mapping(self.spec.get("scaleTargetRef"))
        return str(target.get("kind", "")), str(target.get("name", ""))

    def same_namespace(self, other: Manifest) -> bool:
        """Whether two objects are in the same namespace (an unset namespace matches any)."""
        return not self.namespace or not other.namespace or self.namespace == other.namespace


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a label selector matches `labels` (an empty selector matches nothing here).

    Args:
        selector: `matchLabels` / `matchExpressions`, or a Service's plain label map.
        labels: A pod's labels.

    Returns:
        Whether every requirement holds.
    """
    if not selector:
        return False
    match = selector.get("matchLabels", selector if "matchExpressions" not in selector else {}) or {}
    if any(labels.get(str(k)) != str(v) for k, v in match.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values):
            return False
        if (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return bool(match) or bool(selector.get("matchExpressions"))


class Manifests(list[Manifest]):
    """Every object of the manifests, in file order, with the lookups between them."""

    def of_kind(self, *kinds: str) -> Iterator[Manifest]:
        """The objects of these kinds, in order."""
        return (m for m in self if m.kind in kinds)

    def workload(self, name: str) -> Manifest | None:
        """The workload (Deployment, StatefulSet, DaemonSet) called `name`, or `None`."""
        return next((m for m in self.of_kind(*WORKLOAD_KINDS) if m.name == name), None)

    def autoscalers(self, workload: Manifest) -> list[Manifest]:
        """The HorizontalPodAutoscalers whose `scaleTargetRef` names this workload (kind unset: any)."""
        return [m for m in self.of_kind("HorizontalPodAutoscaler") if m.same_namespace(workload)
                and m.scale_target is not None and m.scale_target[1] == workload.name
                and m.scale_target[0] in ("", workload.kind)]

    def selecting(self, workload: Manifest, *kinds: str) -> list[Manifest]:
        """The objects of these kinds (Service, PodDisruptionBudget) whose selector selects the workload's pods."""
        labels = workload.pod_labels
        return [m for m in self.of_kind(*kinds) if m.same_namespace(workload) and selects(m.selector, labels)]


def manifests(root: Path) -> Manifests:
    """Every Kubernetes object under `stack/deploy/kubernetes/`, in file order (loaded once per process).

    Args:
        root: The project root.

    Returns:
        The objects (a `List` kind is not expanded).

    Raises:
        HandbookError: A manifest file is not valid YAML.
    """
    return memo("manifests", root, lambda: _files(root), lambda: Manifests(_read(root, _files(root))))


def _files(root: Path) -> list[Path]:
    folder = root / KUBERNETES_DIR
    return sorted(folder.rglob("*.y*ml")) if folder.is_dir() else []


def _read(root: Path, files: Iterable[Path]) -> Iterator[Manifest]:
    for path in files:
        rel = path.relative_to(root)
        for doc in yamlio.load_all(rel, text=read_text(root, rel)):
            body = doc.data
            if not isinstance(body, dict):
                continue
            meta = _mapping(body.get("metadata"))
            yield Manifest(kind=str(body.get("kind", "")), name=str(meta.get("name", "")),
                           namespace=str(meta.get("namespace", "")), body=body, path=rel,
                           line=doc.line_of(), located=doc)
