"""Checks that the Kubernetes manifests agree with the catalog, the configuration and the code.

`check_manifests` takes every object of `stack/deploy/kubernetes/` (as loaded
YAML) and returns a `Finding` per disagreement, with the object and key path at
fault. Rule codes (family DP, deployment):

- DP001 an object fails the Kubernetes schema (see `chorus.deploy.kubeschema`);
- DP002 an object a catalog workload needs is missing, a workload object is not in the catalog, or a
  service lacks a workload role it needs (fan-out's `edge`: the cascade is how a space outgrows a node);
- DP003 an object is outside the `chorus` namespace, or the namespace is not created first;
- DP004 an object or pod template lacks the labels that name its service, team and workload;
- DP005 a selector does not select exactly the workload's pods (Deployment, Service, PDB, HPA target);
- DP006 a container or Service port, or the scrape annotation, disagrees with the catalog and configuration;
- DP007 a readiness or liveness probe is missing, or not an HTTP GET of `/readyz` / `/healthz` on a container port;
- DP008 a container lacks CPU and memory requests and limits, or a request exceeds its limit;
- DP009 fan-out's termination grace period or preStop drain does not cover the configured drain;
- DP010 replicas or autoscaling disagree with the workload's nature (singleton, fixed, autoscaled) or the configuration;
- DP011 the configuration does not reach the pods unchanged (ConfigMap drift, digest, mount, bad override);
- DP012 the signing key is not taken from its Secret, or a Secret is committed;
- DP013 a container's command is not the service's module, its arguments do not parse, or its `--role`
  is not the workload's catalog role;
- DP014 the image is not the version of Chorus in this checkout.
"""

from __future__ import annotations

import importlib
import math
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chorus import __version__
from chorus.argcheck import parse_problem
from chorus.catalog import Catalog, Service
from chorus.config import CONFIG_PATH_ENV, ENV_PREFIX, ChorusConfig, ConfigError, load_config
from chorus.deploy import (
    CONFIG_HASH_ANNOTATION,
    CONFIG_KEY,
    CONFIG_MOUNT,
    CONFIGMAP_NAME,
    NAME_LABEL,
    NAMESPACE,
    PART_OF,
    SERVICE_LABEL,
    SIGNING_KEY_SECRET,
    SIGNING_KEY_SECRET_KEY,
    TEAM_LABEL,
)
from chorus.deploy.configmap import config_digest
from chorus.deploy.findings import Finding, KeyPath

READINESS_PATH = "/readyz"
"""The readiness endpoint every service serves (200 ready, 503 not)."""

LIVENESS_PATH = "/healthz"
"""The liveness endpoint every service serves (200 while the process serves)."""

METRICS_PATH = "/metrics"
"""The Prometheus endpoint every service serves."""

SINGLETONS: Mapping[str, str] = {
    "gateway": "it keeps spaces, sessions and placement in memory: two gateways would split them",
    "packager": "each packager writes every live space to its own disk: two behind one Service would "
    "serve two different playlists of the same space",
}
"""Services that must run exactly one pod, and why."""

AUTOSCALED: Mapping[str, str] = {"fanout": "edge"}
"""Service to the role of its workload that an HPA scales with the audience (that Deployment must
not set `replicas`). Fan-out's edges take every listener of a cascade; its origins take only
speakers and one subscription per edge and space, so they run a fixed count
(`fanout_origin_replicas`)."""

REQUIRED_ROLES: Mapping[str, str] = {
    "fanout": "without edge nodes there is no cascade, and a space can never grow past one node's listener_cap",
}
"""Services that need an additional workload in the role of `AUTOSCALED`, and why."""

DRAINED = frozenset({"fanout"})
"""Services whose every workload drains through the gateway before a pod stops (preStop)."""

SIGNING_KEY_USERS = frozenset({"gateway", "fanout", "packager"})
"""Services that load the join-token signing key at start (they exit without it)."""

DRAIN_SLACK_S = 5.0
"""Time a drain needs beyond the configured waits: closing handshakes (up to 2 s), the report that
shows the node empty, and `chorusctl drain --wait` polling every 0.5 s."""

STOP_MARGIN_S = 10.0
"""Time a fan-out node needs after SIGTERM to close its port and its last connections."""

_SERVICE_URL = re.compile(r"//(chorus-[a-z0-9-]+)(?:\.[a-z0-9.-]+)?:([0-9]+)")
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_CONTAINERS: KeyPath = ("spec", "template", "spec", "containers")


@dataclass(frozen=True)
class Workload:
    """One workload of a catalog service, as the checks see it.

    Attributes:
        service: The catalog service.
        name: The workload name (`metadata.name` of its Deployment, Service, PDB, HPA).
        role: Its role in the catalog's `additional_workloads`, or `None` for the service's main workload.
        keys: The key path of its name in the catalog.
    """

    service: Service
    name: str
    role: str | None
    keys: KeyPath

    @property
    def autoscaled(self) -> bool:
        """Whether an HPA owns its replica count."""
        return self.role is not None and AUTOSCALED.get(self.service.name) == self.role

    @property
    def what(self) -> str:
        """`Deployment <name>`, the prefix of findings about it."""
        return f"Deployment {self.name}"


def catalog_workloads(catalog: Catalog) -> list[Workload]:
    """Every workload of every catalog service, main ones first within a service.

    Args:
        catalog: The catalog.

    Returns:
        The workloads, in catalog order.
    """
    found: list[Workload] = []
    for number, service in enumerate(catalog.services):
        for extra, (name, role) in enumerate(service.workloads()):
            keys: KeyPath = ("services", number, "workload") if role is None else (
                "services", number, "additional_workloads", extra - 1, "name")
            found.append(Workload(service, name, role, keys))
    return found


@dataclass(frozen=True)
class Probe:
    """A probe a manifest points at a service.

    Attributes:
        service: The catalog service.
        kind: `readiness`, `liveness` or `startup`.
        path: The HTTP path probed.
        port: The container port probed (named ports resolved).
    """

    service: str
    kind: str
    path: str
    port: int


def expected_labels(service: Service, workload: str | None = None) -> dict[str, str]:
    """The labels every object and pod of a service's workload carries.

    Args:
        service: The catalog service.
        workload: One of its workload names; `None` is its main workload.

    Returns:
        `app.kubernetes.io/name` (the workload), `app.kubernetes.io/part-of`, `chorus.dev/service`, `chorus.dev/team`.
    """
    return {NAME_LABEL: workload or service.workload, "app.kubernetes.io/part-of": PART_OF, SERVICE_LABEL: service.name,
            TEAM_LABEL: service.team}


def selector_labels(service: Service, workload: str | None = None) -> dict[str, str]:
    """The labels that select a workload's pods (selectors are immutable: keep them to the workload name).

    Args:
        service: The catalog service.
        workload: One of its workload names; `None` is its main workload.

    Returns:
        `{app.kubernetes.io/name: <workload>}`.
    """
    return {NAME_LABEL: workload or service.workload}


def service_ports(service: Service, config: ChorusConfig) -> dict[str, int]:
    """A service's named ports: the catalog's names, the configuration's number where it holds one.

    Args:
        service: The catalog service.
        config: The configuration.

    Returns:
        Port name to number, e.g. `{"ws": 8090}`.
    """
    section = getattr(config, service.name, None)
    port = getattr(section, "port", None)
    if port is not None and len(service.ports) == 1:
        return {name: int(port) for name in service.ports}
    return dict(service.ports)


def drain_budget_s(config: ChorusConfig) -> float:
    """How long draining a fan-out node takes, from `chorusctl drain` to the node being empty.

    The drain instruction reaches the node with the answer to its next report (up to
    `fanout.report_interval_s`); it spreads reconnect instructions over `fanout.drain_spread_s`,
    waits `fanout.drain_grace_s`, closes who is left, and the next report shows it empty.

    Args:
        config: The configuration.

    Returns:
        Seconds: `2 * report_interval_s + drain_spread_s + drain_grace_s + DRAIN_SLACK_S`.
    """
    fanout = config.fanout
    return 2 * fanout.report_interval_s + fanout.drain_spread_s + fanout.drain_grace_s + DRAIN_SLACK_S


def fanout_replica_bounds(config: ChorusConfig) -> tuple[int, int]:
    """The bounds of the edge autoscaler (the fan-out workload that grows with the audience).

    At least two edges (one can drain while another serves) and at least `fanout.edges`. At
    most the edges the gateway can fill: it admits `max_sessions * (1 - priority_share)`
    listeners, all of them on edges in a cascade, and places `listener_cap * (1 - headroom)` on
    a node; one more so an edge can drain at full load.

    Args:
        config: The configuration.

    Returns:
        `(minReplicas, maxReplicas)`.
    """
    gateway, fanout = config.gateway, config.fanout
    listeners = gateway.max_sessions * (1 - gateway.priority_share)
    per_node = max(1, math.floor(fanout.listener_cap * (1 - fanout.headroom)))
    low = max(2, fanout.edges)
    return low, max(low, math.ceil(listeners / per_node) + 1)


def fanout_origin_replicas(config: ChorusConfig) -> int:
    """How many origin nodes run: a fixed count, `max(2, fanout.nodes)`.

    Origins take a space's speakers and one subscription per edge serving it, not its
    listeners (they go to edges), so their load does not follow the audience. Two, so one can
    drain while the other takes new spaces.

    Args:
        config: The configuration.

    Returns:
        The origin Deployment's `replicas`.
    """
    return max(2, config.fanout.nodes)


def fanout_listener_target(config: ChorusConfig) -> int:
    """The average listeners per fan-out node the autoscaler aims for.

    80% of what the gateway places on a node (`listener_cap * (1 - headroom)`), so nodes are
    added before the gateway finds every node full.

    Args:
        config: The configuration.

    Returns:
        Listeners per node.
    """
    fanout = config.fanout
    return max(1, math.floor(fanout.listener_cap * (1 - fanout.headroom) * 0.8))


def quantity(value: Any) -> float | None:
    """A Kubernetes resource quantity as a number (`500m` -> 0.5, `256Mi` -> 268435456).

    Args:
        value: The quantity as written.

    Returns:
        The number, or `None` if it is not a quantity.
    """
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(value).strip())
    if match is None:
        return None
    factors = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
               "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return float(match.group(1)) * factors[match.group(2)]


def _get(obj: Any, *keys: str | int) -> Any:
    """The value at `keys` inside nested mappings and lists, or `None`."""
    for key in keys:
        if isinstance(obj, Mapping) and isinstance(key, str):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def _name(obj: Mapping[str, Any]) -> str:
    """`metadata.name`, or `""`."""
    return str(_get(obj, "metadata", "name") or "")


def _main_container(deployment: Mapping[str, Any], service: Service) -> tuple[int, Mapping[str, Any]] | None:
    """The container named after the service, with its index."""
    for index, container in enumerate(_get(deployment, *_CONTAINERS) or []):
        if isinstance(container, Mapping) and container.get("name") == service.name:
            return index, container
    return None


def probes(objects: Sequence[Mapping[str, Any]], catalog: Catalog) -> list[Probe]:
    """Every HTTP probe the Deployments point at the catalog's services.

    Args:
        objects: The manifests' objects.
        catalog: The catalog.

    Returns:
        The probes, with named ports resolved to numbers.
    """
    found: list[Probe] = []
    workloads = catalog.workload_services()
    for obj in objects:
        service = workloads.get(_name(obj)) if obj.get("kind") == "Deployment" else None
        main = _main_container(obj, service) if service else None
        if service is None or main is None:
            continue
        container = main[1]
        for kind in ("readiness", "liveness", "startup"):
            get = _get(container, f"{kind}Probe", "httpGet")
            if isinstance(get, Mapping):
                port = _resolve_port(container, get.get("port"))
                if port is not None:
                    found.append(Probe(service.name, kind, str(get.get("path", "/")), port))
    return found


def _resolve_port(container: Mapping[str, Any], port: Any) -> int | None:
    """A probe's port (number or name) as the container port number, or `None` if no such port."""
    for declared in container.get("ports") or []:
        if port in (declared.get("name"), declared.get("containerPort")):
            return int(declared["containerPort"])
    return None


def check_manifests(
    objects: Sequence[Mapping[str, Any]],
    catalog: Catalog,
    config: ChorusConfig,
    config_path: Path,
    series: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """Check every object against the catalog, the configuration and the services' code.

    Args:
        objects: Every object in `stack/deploy/kubernetes/`, as loaded YAML, in file order.
        catalog: The catalog.
        config: The configuration loaded from `config_path`.
        config_path: The configuration file (its text is what the ConfigMap must carry).
        series: Exported series names (`chorus.deploy.promql.exported_series`); when given,
            metrics an autoscaler reads must be among them.

    Returns:
        Every problem found.
    """
    checker = _Checker(objects, catalog, config, config_path, series)
    return list(checker.run())


class _Checker:
    """One run of `check_manifests`."""

    def __init__(
        self,
        objects: Sequence[Mapping[str, Any]],
        catalog: Catalog,
        config: ChorusConfig,
        config_path: Path,
        series: Mapping[str, Any] | None,
    ) -> None:
        """Index the objects by kind and name; read the configuration file once."""
        self.objects = objects
        self.series = series
        self.catalog = catalog
        self.config = config
        self.config_path = config_path
        self.config_text = config_path.read_text(encoding="utf-8")
        self.index: dict[tuple[str, str], int] = {}
        for i, obj in enumerate(objects):
            self.index.setdefault((str(obj.get("kind", "")), _name(obj)), i)

    def find(self, kind: str, name: str) -> int | None:
        """The index of the object of that kind and name."""
        return self.index.get((kind, name))

    def run(self) -> Iterator[Finding]:
        """Every finding."""
        yield from self.namespaces()
        yield from self.configmap()
        workloads = self.catalog.workload_services()
        for i, obj in enumerate(self.objects):
            kind = obj.get("kind")
            if kind == "Secret":
                yield Finding("DP012", f"Secret {_name(obj)} is committed: create secrets in the cluster, never in the repository", i)
            if kind in ("Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler") and _name(obj) not in workloads:
                yield Finding("DP002", f"{kind} {_name(obj)} is not a catalog workload ({', '.join(sorted(workloads))})", i, ("metadata", "name"))
        for number, service in enumerate(self.catalog.services):
            role = AUTOSCALED.get(service.name)
            if service.name in REQUIRED_ROLES and role not in {w.role for w in service.additional_workloads}:
                yield Finding("DP002", f"service {service.name} needs an additional workload with role {role}: "
                              f"{REQUIRED_ROLES[service.name]}", None, ("services", number, "workload"))
        for workload in catalog_workloads(self.catalog):
            yield from self.workload(workload)

    # ------------------------------------------------------------------ cluster-wide

    def namespaces(self) -> Iterator[Finding]:
        """The namespace exists and holds every namespaced object."""
        first = self.find("Namespace", NAMESPACE)
        if first is None:
            yield Finding("DP002", f"no Namespace {NAMESPACE}: add one so `kubectl apply -f` creates it", 0)
        elif first != 0:
            yield Finding("DP003", f"Namespace {NAMESPACE} must be the first object (`kubectl apply -f DIR` applies files "
                          "in name order, and every other object needs the namespace): put it in a file that sorts first",
                          first, ("metadata", "name"))
        for i, obj in enumerate(self.objects):
            if obj.get("kind") in ("Namespace",):
                continue
            namespace = _get(obj, "metadata", "namespace")
            if namespace != NAMESPACE:
                yield Finding("DP003", f"{obj.get('kind')} {_name(obj)} is in namespace {namespace or '(none)'}, not {NAMESPACE}", i, ("metadata",))

    def configmap(self) -> Iterator[Finding]:
        """The ConfigMap carries the configuration file unchanged."""
        i = self.find("ConfigMap", CONFIGMAP_NAME)
        if i is None:
            yield Finding("DP002", f"no ConfigMap {CONFIGMAP_NAME}: run `python -m chorus.deploy sync`", 0)
            return
        if _get(self.objects[i], "data", CONFIG_KEY) != self.config_text:
            yield Finding("DP011", f"ConfigMap {CONFIGMAP_NAME} is not {self.config_path.name} as it is now: "
                          "run `python -m chorus.deploy sync`", i, ("data", CONFIG_KEY))

    # ------------------------------------------------------------------ per service

    def workload(self, workload: Workload) -> Iterator[Finding]:
        """Every object of one catalog workload."""
        service, name = workload.service, workload.name
        labels = expected_labels(service, name)
        what = f"service {service.name}" + (f" (role {workload.role})" if workload.role else "")
        for kind in ("Deployment", "Service", "PodDisruptionBudget"):
            i = self.find(kind, name)
            if i is None:
                yield Finding("DP002", f"{what} has no {kind} named {name} (its catalog workload)", None, workload.keys)
                continue
            obj = self.objects[i]
            yield from self.labels(i, ("metadata", "labels"), obj, labels, f"{kind} {name}")
            if kind == "Deployment":
                yield from self.deployment(i, obj, workload)
            elif kind == "Service":
                yield from self.service_object(i, obj, workload)
            else:
                yield from self.selects(i, ("spec", "selector", "matchLabels"), _get(obj, "spec", "selector"), workload, kind)
        hpa = self.find("HorizontalPodAutoscaler", name)
        if workload.autoscaled and hpa is None:
            yield Finding("DP002", f"{what} is autoscaled but has no HorizontalPodAutoscaler {name}", None, workload.keys)
        elif hpa is not None and service.name in AUTOSCALED and not workload.autoscaled:
            yield Finding("DP010", f"HorizontalPodAutoscaler {name}: {name} runs a fixed number of pods; the workload of "
                          f"{service.name} that scales with the audience is its {AUTOSCALED[service.name]} workload",
                          hpa, ("metadata", "name"))
        elif hpa is not None:
            yield from self.autoscaler(hpa, self.objects[hpa], workload)

    def labels(self, i: int, keys: KeyPath, obj: Mapping[str, Any], wanted: Mapping[str, str], what: str) -> Iterator[Finding]:
        """`obj` at `keys` carries every wanted label with its value."""
        have = _get(obj, *keys) or {}
        wrong = {k: v for k, v in wanted.items() if have.get(k) != v}
        if wrong:
            shown = ", ".join(f"{k}: {v}" for k, v in wrong.items())
            yield Finding("DP004", f"{what}: labels must include {shown}", i, keys)

    def selects(self, i: int, keys: KeyPath, selector: Any, workload: Workload, kind: str) -> Iterator[Finding]:
        """A label selector is exactly the workload's selector labels."""
        wanted = selector_labels(workload.service, workload.name)
        match = _get(selector, "matchLabels") if kind != "Service" else selector
        if match != wanted or (kind != "Service" and _get(selector, "matchExpressions")):
            yield Finding("DP005", f"{kind} {workload.name}: selector must be exactly {wanted} (it selects the "
                          f"workload's pods and nothing else); found {match}", i, keys)

    def deployment(self, i: int, obj: Mapping[str, Any], workload: Workload) -> Iterator[Finding]:
        """A workload's Deployment."""
        service = workload.service
        what = workload.what
        template = ("spec", "template", "metadata")
        yield from self.labels(i, (*template, "labels"), obj, expected_labels(service, workload.name), f"{what} pod template")
        yield from self.selects(i, ("spec", "selector", "matchLabels"), _get(obj, "spec", "selector"), workload, "Deployment")
        annotations = _get(obj, *template, "annotations") or {}
        digest = config_digest(self.config_text)
        if annotations.get(CONFIG_HASH_ANNOTATION) != digest:
            yield Finding("DP011", f"{what}: pod template annotation {CONFIG_HASH_ANNOTATION} must be the configuration's "
                          "digest, so a config change rolls the pods: run `python -m chorus.deploy sync`", i, (*template, "annotations"))
        ports = service_ports(service, self.config)
        scrape = {"prometheus.io/scrape": "true", "prometheus.io/port": str(next(iter(ports.values()))), "prometheus.io/path": METRICS_PATH}
        wrong = {k: v for k, v in scrape.items() if str(annotations.get(k)) != v}
        if wrong:
            yield Finding("DP006", f"{what}: scrape annotations must be {wrong} (the port that serves /metrics)", i, (*template, "annotations"))
        yield from self.replicas(i, obj, workload)
        main = _main_container(obj, service)
        if main is None:
            yield Finding("DP013", f"{what}: no container named {service.name} (runbooks use `-c {service.name}`)", i, _CONTAINERS)
            return
        c, container = main
        where: KeyPath = (*_CONTAINERS, c)
        yield from self.container_ports(i, where, container, service, ports)
        yield from self.probes(i, where, container, what)
        for index, each in enumerate(_get(obj, *_CONTAINERS) or []):
            yield from self.resources(i, (*_CONTAINERS, index), each, what)
        yield from self.config_delivery(i, obj, where, container, what)
        yield from self.signing_key(i, where, container, service, what)
        yield from self.command(i, where, container, workload)
        image = str(container.get("image", ""))
        if not image.endswith(f":{__version__}"):
            yield Finding("DP014", f"{what}: image {image} is not tagged with this checkout's Chorus version {__version__}", i, (*where, "image"))
        if service.name in DRAINED:
            yield from self.drain(i, obj, where, container, what)

    def replicas(self, i: int, obj: Mapping[str, Any], workload: Workload) -> Iterator[Finding]:
        """Singletons run one pod and are replaced, not rolled; autoscaled workloads leave replicas to the HPA;
        the other workloads of an autoscaled service (fan-out's origins) run the fixed count the configuration implies."""
        service, what = workload.service, workload.what
        spec = obj.get("spec") or {}
        if service.name in SINGLETONS and workload.role is None:
            if spec.get("replicas") != 1 or _get(spec, "strategy", "type") != "Recreate":
                yield Finding("DP010", f"{what}: must have replicas: 1 and strategy Recreate, because "
                              f"{SINGLETONS[service.name]}", i, ("spec",))
        if workload.autoscaled and "replicas" in spec:
            yield Finding("DP010", f"{what}: must not set replicas (its HorizontalPodAutoscaler owns them; "
                          "`kubectl apply` would reset a scaled-up fleet)", i, ("spec", "replicas"))
        elif service.name == "fanout" and not workload.autoscaled:
            wanted = fanout_origin_replicas(self.config)
            if spec.get("replicas") != wanted:
                yield Finding("DP010", f"{what}: origins run a fixed count: replicas must be {wanted} (max(2, fanout.nodes "
                              f"{self.config.fanout.nodes})); listeners go to the edges, which the autoscaler grows",
                              i, ("spec", "replicas") if "replicas" in spec else ("spec",))

    def container_ports(self, i: int, where: KeyPath, container: Mapping[str, Any], service: Service, ports: Mapping[str, int]) -> Iterator[Finding]:
        """The container declares exactly the catalog's ports, with the configuration's numbers."""
        declared = {str(p.get("name")): p.get("containerPort") for p in container.get("ports") or []}
        if declared != dict(ports):
            yield Finding("DP006", f"container {service.name}: ports must be {dict(ports)} (catalog names, configuration "
                          f"numbers); found {declared}", i, (*where, "ports"))

    def probes(self, i: int, where: KeyPath, container: Mapping[str, Any], what: str) -> Iterator[Finding]:
        """Readiness and liveness are HTTP GETs of the services' endpoints on a declared port."""
        for kind, path in (("readinessProbe", READINESS_PATH), ("livenessProbe", LIVENESS_PATH), ("startupProbe", LIVENESS_PATH)):
            probe = container.get(kind)
            if probe is None and kind == "startupProbe":
                continue
            get = _get(probe, "httpGet")
            if not isinstance(get, Mapping) or get.get("path") != path:
                yield Finding("DP007", f"{what}: {kind} must be an HTTP GET of {path}", i, (*where, kind))
            elif _resolve_port(container, get.get("port")) is None:
                yield Finding("DP007", f"{what}: {kind} port {get.get('port')} is not a port of the container", i, (*where, kind, "httpGet", "port"))

    def resources(self, i: int, where: KeyPath, container: Mapping[str, Any], what: str) -> Iterator[Finding]:
        """CPU and memory requests and limits, each request within its limit."""
        resources = container.get("resources") or {}
        for resource in ("cpu", "memory"):
            request = quantity(_get(resources, "requests", resource))
            limit = quantity(_get(resources, "limits", resource))
            if request is None or limit is None:
                yield Finding("DP008", f"{what}: container {container.get('name')} needs a {resource} request and limit", i, (*where, "resources"))
            elif request > limit:
                yield Finding("DP008", f"{what}: container {container.get('name')} requests more {resource} than its limit", i, (*where, "resources", "requests", resource))

    def config_delivery(self, i: int, obj: Mapping[str, Any], where: KeyPath, container: Mapping[str, Any], what: str) -> Iterator[Finding]:
        """The ConfigMap is mounted where `CHORUS_CONFIG` points, and environment overrides are valid keys."""
        env = {str(e.get("name")): e for e in container.get("env") or []}
        path = f"{CONFIG_MOUNT}/{CONFIG_KEY}"
        if _get(env.get(CONFIG_PATH_ENV), "value") != path:
            yield Finding("DP011", f"{what}: container must set {CONFIG_PATH_ENV}={path}", i, (*where, "env"))
        volumes = {str(v.get("name")): v for v in _get(obj, "spec", "template", "spec", "volumes") or []}
        mounted = [m for m in container.get("volumeMounts") or [] if m.get("mountPath") == CONFIG_MOUNT]
        if not mounted or _get(volumes.get(str(mounted[0].get("name"))), "configMap", "name") != CONFIGMAP_NAME:
            yield Finding("DP011", f"{what}: container must mount ConfigMap {CONFIGMAP_NAME} at {CONFIG_MOUNT}", i, (*where, "volumeMounts"))
        overrides = {name: str(e.get("value", "")) for name, e in env.items() if name.startswith(ENV_PREFIX)}
        try:
            load_config(self.config_path, env=overrides)
        except ConfigError as exc:
            yield Finding("DP011", f"{what}: environment override does not fit the configuration: {exc.message} ({exc.key})", i, (*where, "env"))

    def signing_key(self, i: int, where: KeyPath, container: Mapping[str, Any], service: Service, what: str) -> Iterator[Finding]:
        """The signing key comes from its Secret, never from a literal."""
        name = self.config.gateway.token.key_env
        entry = next((e for e in container.get("env") or [] if e.get("name") == name), None)
        if entry is None:
            if service.name in SIGNING_KEY_USERS:
                yield Finding("DP012", f"{what}: {service.name} needs the signing key in {name} (gateway.token.key_env) "
                              f"from Secret {SIGNING_KEY_SECRET}", i, (*where, "env"))
            return
        ref = _get(entry, "valueFrom", "secretKeyRef") or {}
        if "value" in entry or ref.get("name") != SIGNING_KEY_SECRET or ref.get("key") != SIGNING_KEY_SECRET_KEY:
            yield Finding("DP012", f"{what}: {name} must come from secretKeyRef {SIGNING_KEY_SECRET}/{SIGNING_KEY_SECRET_KEY}, "
                          "never a literal", i, (*where, "env"))

    def command(self, i: int, where: KeyPath, container: Mapping[str, Any], workload: Workload) -> Iterator[Finding]:
        """The container runs the service's module with arguments its parser accepts, in the workload's role."""
        service, what = workload.service, workload.what
        module = f"chorus.{service.name}"
        if list(container.get("command") or []) != ["python", "-m", module]:
            yield Finding("DP013", f"{what}: command must be [python, -m, {module}]", i, (*where, "command"))
            return
        args = [str(a) for a in container.get("args") or []]
        if "--port" in args or any(a.startswith("--port=") for a in args):
            yield Finding("DP006", f"{what}: do not pass --port: the service listens on the configuration's port, "
                          "which the container port and the Service follow", i, (*where, "args"))
        defined = {str(e.get("name")) for e in container.get("env") or []}
        for ref in sorted({m for a in args for m in _VAR_REF.findall(a)} - defined):
            yield Finding("DP013", f"{what}: argument uses $({ref}), which the container's env does not define", i, (*where, "args"))
        try:
            parser = importlib.import_module(f"{module}.__main__").build_parser()
        except (ImportError, AttributeError):
            yield Finding("DP013", f"{what}: {module} has no __main__.build_parser() to check the arguments against", i, (*where, "command"))
            return
        problem = parse_problem(parser, args)
        if problem is not None:
            yield Finding("DP013", f"{what}: arguments do not parse for `python -m {module}`: {problem}", i, (*where, "args"))
            return
        yield from self.urls(i, (*where, "args"), args, what)
        role = getattr(parser.parse_args(args), "role", None)
        wanted = workload.role if workload.role is not None else parser.get_default("role")
        if role != wanted:
            said = f"--role {workload.role}" if workload.role else "no --role (the default role)"
            yield Finding("DP013", f"{what}: the catalog runs this workload with {said}; its arguments give role {role}",
                          i, (*where, "args"))

    def urls(self, i: int, keys: KeyPath, words: Sequence[str], what: str) -> Iterator[Finding]:
        """URLs of Chorus Services (`http://chorus-gateway...:8080`) name a catalog workload and its port."""
        by_workload = self.catalog.workload_services()
        for word in words:
            for workload, port in _SERVICE_URL.findall(word):
                service = by_workload.get(workload)
                if service is None:
                    yield Finding("DP006", f"{what}: {word} names {workload}, which is not a catalog workload", i, keys)
                elif int(port) not in service_ports(service, self.config).values():
                    ports = service_ports(service, self.config)
                    yield Finding("DP006", f"{what}: {word} uses port {port}, but {workload} serves on {ports}", i, keys)

    def drain(self, i: int, obj: Mapping[str, Any], where: KeyPath, container: Mapping[str, Any], what: str) -> Iterator[Finding]:
        """A preStop hook drains the node through the gateway, and the grace period covers it."""
        budget = drain_budget_s(self.config)
        fanout = self.config.fanout
        explained = (f"2 x fanout.report_interval_s ({fanout.report_interval_s:g}) + drain_spread_s ({fanout.drain_spread_s:g}) "
                     f"+ drain_grace_s ({fanout.drain_grace_s:g}) + {DRAIN_SLACK_S:g} s slack = {budget:g} s")
        hook = _get(container, "lifecycle", "preStop", "exec", "command")
        drain_args = _chorusctl_args(hook)
        if drain_args is None:
            yield Finding("DP009", f"{what}: needs a preStop exec hook running `chorusctl drain $POD_NAME --wait "
                          "--timeout S` so the node drains before it stops", i, (*where, "lifecycle"))
            return
        from chorus.cli import build_parser

        hook_keys = (*where, "lifecycle", "preStop", "exec", "command")
        problem = parse_problem(build_parser(), drain_args)
        if problem is not None:
            yield Finding("DP009", f"{what}: preStop command does not parse for chorusctl: {problem}", i, hook_keys)
            return
        yield from self.urls(i, hook_keys, drain_args, what)
        parsed = build_parser().parse_args(drain_args)
        if parsed.command != "drain" or not parsed.wait or parsed.undo:
            yield Finding("DP009", f"{what}: preStop must run `chorusctl drain NODE --wait`", i, hook_keys)
            return
        if parsed.timeout < budget:
            yield Finding("DP009", f"{what}: preStop drain --timeout {parsed.timeout:g} is shorter than the drain: {explained}", i, hook_keys)
        grace = _get(obj, "spec", "template", "spec", "terminationGracePeriodSeconds")
        need = max(parsed.timeout, budget) + STOP_MARGIN_S
        if not isinstance(grace, int) or grace < need:
            yield Finding("DP009", f"{what}: terminationGracePeriodSeconds {grace} must be at least {need:g} (the preStop drain "
                          f"timeout {parsed.timeout:g} s, or the drain: {explained}; then {STOP_MARGIN_S:g} s to stop)",
                          i, ("spec", "template", "spec", "terminationGracePeriodSeconds"))

    # ------------------------------------------------------------------ other kinds

    def service_object(self, i: int, obj: Mapping[str, Any], workload: Workload) -> Iterator[Finding]:
        """A Service selects the workload's pods and exposes the catalog's ports."""
        service = workload.service
        yield from self.selects(i, ("spec", "selector"), _get(obj, "spec", "selector"), workload, "Service")
        wanted = service_ports(service, self.config)
        found = {str(p.get("name")): p for p in _get(obj, "spec", "ports") or []}
        for name, number in wanted.items():
            port = found.get(name)
            if port is None or port.get("port") != number or port.get("targetPort") not in (name, number):
                yield Finding("DP006", f"Service {workload.name}: needs port {name}: {number} with targetPort {name}", i, ("spec", "ports"))
        for name in sorted(set(found) - set(wanted)):
            yield Finding("DP006", f"Service {workload.name}: port {name} is not a catalog port of {service.name}", i, ("spec", "ports"))

    def autoscaler(self, i: int, obj: Mapping[str, Any], workload: Workload) -> Iterator[Finding]:
        """The HPA scales the workload's Deployment within the bounds the configuration implies."""
        service, name = workload.service, workload.name
        target = _get(obj, "spec", "scaleTargetRef") or {}
        if (target.get("apiVersion"), target.get("kind"), target.get("name")) != ("apps/v1", "Deployment", name):
            yield Finding("DP005", f"HorizontalPodAutoscaler {name}: must target apps/v1 Deployment {name}", i, ("spec", "scaleTargetRef"))
        for m, metric in enumerate(_get(obj, "spec", "metrics") or []):
            metric_name = _get(metric, "pods", "metric", "name") or _get(metric, "object", "metric", "name")
            if metric_name is not None and self.series is not None and metric_name not in self.series:
                yield Finding("DP010", f"HorizontalPodAutoscaler {name}: metric {metric_name} is not exported by any service",
                              i, ("spec", "metrics", m))
            if metric_name == "chorus_fanout_listeners":
                target = fanout_listener_target(self.config)
                if str(_get(metric, "pods", "target", "averageValue")) != str(target):
                    yield Finding("DP010", f"HorizontalPodAutoscaler {name}: listener target must be {target} "
                                  "(80% of listener_cap x (1 - headroom))", i, ("spec", "metrics", m))
        if service.name != "fanout":
            return
        low, high = fanout_replica_bounds(self.config)
        spec = obj.get("spec") or {}
        if (spec.get("minReplicas"), spec.get("maxReplicas")) != (low, high):
            gateway, fanout = self.config.gateway, self.config.fanout
            yield Finding("DP010", f"HorizontalPodAutoscaler {name}: bounds must be minReplicas {low} (max(2, fanout.edges)) "
                          f"and maxReplicas {high} (ceil(gateway.max_sessions {gateway.max_sessions} x (1 - priority_share "
                          f"{gateway.priority_share:g}) / floor(listener_cap {fanout.listener_cap} x (1 - headroom {fanout.headroom:g}))) + 1)",
                          i, ("spec", "minReplicas" if spec.get("minReplicas") != low else "maxReplicas"))


def _chorusctl_args(command: Any) -> list[str] | None:
    """The `chorusctl` arguments of an exec hook (`[chorusctl, ...]` or `[sh, -c, "exec chorusctl ..."]`)."""
    if not isinstance(command, list) or not command:
        return None
    words = [str(w) for w in command]
    if words[0] in ("sh", "/bin/sh") and len(words) == 3 and words[1] == "-c":
        words = shlex.split(words[2])
        if words and words[0] == "exec":
            words = words[1:]
    if not words or words[0] != "chorusctl":
        return None
    return words[1:]
