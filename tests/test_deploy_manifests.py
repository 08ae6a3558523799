"""The Kubernetes manifests: schema-valid, in line with the catalog, the configuration and the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from chorus.catalog import load_catalog
from chorus.config import load_config
from chorus.deploy import KUBERNETES_VERSION, configmap
from chorus.deploy.__main__ import main as deploy_main
from chorus.deploy.kubeschema import schema_findings
from chorus.deploy.workloads import (
    AUTOSCALED,
    LIVENESS_PATH,
    READINESS_PATH,
    drain_budget_s,
    expected_labels,
    fanout_replica_bounds,
    probes,
    selector_labels,
)
from conftest import ROOT
from deploy_support import copy_tree, line_of, manifest_problems, mutate, running_services
from handbook import sources

K8S = sources.KUBERNETES_DIR


def test_kubernetes_validate_is_the_pinned_version() -> None:
    import importlib.metadata

    assert importlib.metadata.version("kubernetes-validate") == "1.37.0"
    assert KUBERNETES_VERSION == "1.34.0"


def test_every_manifest_is_valid_against_the_kubernetes_schema_strictly() -> None:
    manifests = sources.manifests(ROOT)
    kinds = {m.kind for m in manifests}
    assert {"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= kinds
    assert schema_findings([m.body for m in manifests]) == []


def test_real_manifests_agree_with_catalog_config_and_code() -> None:
    assert manifest_problems(ROOT) == []


def test_each_catalog_service_has_its_workload_service_and_budget() -> None:
    catalog = load_catalog(ROOT / sources.CATALOG)
    objects = {(m.kind, m.name): m.body for m in sources.manifests(ROOT)}
    for service in catalog.services:
        deployment = objects[("Deployment", service.workload)]
        assert deployment["spec"]["selector"]["matchLabels"] == selector_labels(service)
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert expected_labels(service).items() <= template_labels.items()
        # The Service and the budget select the Deployment's pods, and only them.
        assert objects[("Service", service.workload)]["spec"]["selector"].items() <= template_labels.items()
        assert objects[("PodDisruptionBudget", service.workload)]["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
        for other in catalog.services:
            if other is not service:
                other_labels = objects[("Deployment", other.workload)]["spec"]["template"]["metadata"]["labels"]
                assert not objects[("Service", service.workload)]["spec"]["selector"].items() <= other_labels.items()
        ports = {p["name"]: p["containerPort"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert ports == service.ports
        for name, role in service.workloads():
            autoscaled = role is not None and AUTOSCALED.get(service.name) == role
            assert (("HorizontalPodAutoscaler", name) in objects) == autoscaled, (name, role)


def test_fanout_grace_period_and_autoscaler_follow_the_configuration() -> None:
    config = load_config(ROOT / sources.CONFIG, env={})
    objects = {(m.kind, m.name): m.body for m in sources.manifests(ROOT)}
    pod = objects[("Deployment", "chorus-fanout")]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= drain_budget_s(config) + 10
    hpa = objects[("HorizontalPodAutoscaler", "chorus-fanout-edge")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == fanout_replica_bounds(config)
    assert objects[("Deployment", "chorus-fanout-edge")]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= drain_budget_s(config) + 10


def test_the_configmap_carries_the_configuration_unchanged() -> None:
    data = yaml.safe_load((ROOT / K8S / "configmap.yaml").read_text(encoding="utf-8"))
    assert data["data"]["chorus.yaml"] == (ROOT / sources.CONFIG).read_text(encoding="utf-8")
    assert configmap.sync(check=True) == []


def test_sync_finds_drift_then_repairs_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = copy_tree(tmp_path)
    config_file, kube = tree / sources.CONFIG, tree / K8S
    mutate(tree, sources.CONFIG, "listener_cap: 1000", "listener_cap: 1200")
    drifts = configmap.sync(check=True, config_path=config_file, kubernetes_dir=kube, configmap_file=kube / "configmap.yaml")
    assert sorted(d.path.name for d in drifts) == ["configmap.yaml", "fanout-edge.yaml", "fanout.yaml", "gateway.yaml", "packager.yaml"]
    assert "run `python -m chorus.deploy sync`" in str(drifts[0])
    configmap.sync(config_path=config_file, kubernetes_dir=kube, configmap_file=kube / "configmap.yaml")
    assert configmap.sync(check=True, config_path=config_file, kubernetes_dir=kube, configmap_file=kube / "configmap.yaml") == []
    carried = yaml.safe_load((kube / "configmap.yaml").read_text(encoding="utf-8"))["data"]["chorus.yaml"]
    assert carried == config_file.read_text(encoding="utf-8")


def test_sync_command_exit_codes() -> None:
    assert deploy_main(["sync", "--check"]) == 0
    result = subprocess.run([sys.executable, "-m", "chorus.deploy", "sync", "--check", "--config", "/nonexistent/chorus.yaml"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_a_configuration_that_cannot_be_carried_verbatim_is_refused() -> None:
    with pytest.raises(configmap.ConfigMapError, match="exactly one newline"):
        configmap.render_configmap("gateway:\n  port: 1\n\n")


def test_probes_point_at_paths_the_running_services_serve() -> None:
    catalog = load_catalog(ROOT / sources.CATALOG)
    found = probes([m.body for m in sources.manifests(ROOT)], catalog)
    assert {(p.service, p.kind) for p in found} >= {(s.name, k) for s in catalog.services for k in ("readiness", "liveness")}
    assert {p.path for p in found if p.kind == "readiness"} == {READINESS_PATH}
    with running_services([s.name for s in catalog.services]) as urls:
        for probe in found:
            response = httpx.get(urls[probe.service] + probe.path, timeout=5)
            if probe.path == LIVENESS_PATH:
                assert response.status_code == 200, (probe, response.text)
            else:
                assert response.status_code in (200, 503), (probe, response.text)
        # Serving a path is not the same as answering every path: an unknown one is a 404.
        for url in urls.values():
            assert httpx.get(url + "/no-such-probe", timeout=5).status_code == 404


# Each case breaks one thing in a copy of the real tree; the check must name that code and line.
# (file to break, text, replacement, code, file the finding points at, text starting that line)
BROKEN = [
    ("gateway.yaml", "          readinessProbe:", "          readinesProbe:", "DP001", "gateway.yaml", "        - name: gateway"),
    ("packager.yaml", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgett", "DP002", "catalog", "workload: chorus-packager"),
    ("gateway.yaml", "  name: chorus-gateway\n  namespace: chorus\n  labels:\n    app.kubernetes.io/name: chorus-gateway\n"
     "    app.kubernetes.io/part-of: chorus\n    chorus.dev/service: gateway\n    chorus.dev/team: control-plane\nspec:\n  selector:",
     "  name: chorus-gateway\n  namespace: default\n  labels:\n    app.kubernetes.io/name: chorus-gateway\n"
     "    app.kubernetes.io/part-of: chorus\n    chorus.dev/service: gateway\n    chorus.dev/team: control-plane\nspec:\n  selector:",
     "DP003", "gateway.yaml", "metadata:\n  name: chorus-gateway\n  namespace: default"),
    ("fanout.yaml", "        chorus.dev/team: media\n      annotations:", "        chorus.dev/team: control-plane\n      annotations:",
     "DP004", "fanout.yaml", "      labels:\n        app.kubernetes.io/name: chorus-fanout"),
    ("gateway.yaml", "  selector:\n    app.kubernetes.io/name: chorus-gateway\n  ports:",
     "  selector:\n    app.kubernetes.io/name: chorus-fanout\n  ports:", "DP005", "gateway.yaml",
     "  selector:\n    app.kubernetes.io/name: chorus-fanout"),
    ("fanout.yaml", "              containerPort: 8090", "              containerPort: 8091", "DP006", "fanout.yaml",
     "          ports:\n            # The node serves"),
    ("fanout.yaml", "            - http://chorus-gateway.chorus.svc:8080", "            - http://chorus-gateway.chorus.svc:8081",
     "DP006", "fanout.yaml", "          args:"),
    ("gateway.yaml", "              path: /readyz", "              path: /ready", "DP007", "gateway.yaml", "          readinessProbe:"),
    ("packager.yaml", "              memory: 512Mi\n            limits:", "              memory: 1Gi\n            limits:", "DP008",
     "packager.yaml", "              memory: 1Gi"),
    ("fanout.yaml", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 20", "DP009", "fanout.yaml",
     "      terminationGracePeriodSeconds: 20"),
    ("fanout.yaml", "--wait --timeout 30", "--wait --timeout 10", "DP009", "fanout.yaml", "                command:\n                  - sh"),
    ("fanout-edge.yaml", "  maxReplicas: 11", "  maxReplicas: 40", "DP010", "fanout-edge.yaml", "  maxReplicas: 40"),
    ("gateway.yaml", "  replicas: 1", "  replicas: 2", "DP010", "gateway.yaml", "spec:\n  replicas: 2"),
    ("configmap.yaml", "    listener_cap: 1000", "    listener_cap: 999", "DP011", "configmap.yaml", "  chorus.yaml: |2"),
    ("gateway.yaml", "            - name: CHORUS_CONFIG\n", "            - name: CHORUS__GATEWAY__JOIN_RATE\n              value: \"5\"\n"
     "            - name: CHORUS_CONFIG\n", "DP011", "gateway.yaml", "          env:"),
    ("gateway.yaml", "              valueFrom:\n                secretKeyRef:\n                  name: chorus-signing-key\n                  key: signing-key",
     "              value: not-a-secret-at-all-0123456789abcdef", "DP012", "gateway.yaml", "          env:"),
    ("fanout.yaml", "            - --node-id\n", "            - --nodeid\n", "DP013", "fanout.yaml", "          args:"),
    ("packager.yaml", "image: chorus:0.1.0", "image: chorus:latest", "DP014", "packager.yaml", "          image: chorus:latest"),
]


@pytest.mark.parametrize(("file", "old", "new", "code", "points_at", "anchor"), BROKEN, ids=[f"{c[3]}-{i}" for i, c in enumerate(BROKEN)])
def test_each_manifest_check_fires_on_a_broken_copy(tmp_path: Path, file: str, old: str, new: str, code: str, points_at: str, anchor: str) -> None:
    tree = copy_tree(tmp_path)
    mutate(tree, K8S / file, old, new)
    rel = sources.CATALOG if points_at == "catalog" else K8S / points_at
    where = f"{rel}:{line_of(tree, rel, anchor)}: {code} "
    problems = manifest_problems(tree)
    assert [p for p in problems if f": {code} " in p and p.startswith(where)], "\n".join(problems)
    assert all(p.startswith(where) for p in problems if f": {code} " in p), "\n".join(problems)


def test_a_committed_secret_is_refused(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    (tree / K8S / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: chorus-signing-key\n  namespace: chorus\n"
        "stringData:\n  signing-key: oops\n", encoding="utf-8")
    problems = manifest_problems(tree)
    assert any(p.startswith(f"{K8S}/secret.yaml:1: DP012 Secret chorus-signing-key is committed") for p in problems), problems


def test_the_namespace_must_be_created_first(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    (tree / K8S / "00-namespace.yaml").rename(tree / K8S / "namespace.yaml")
    problems = manifest_problems(tree)
    assert [p for p in problems if ": DP003 " in p] == [
        f"{K8S}/namespace.yaml:6: DP003 Namespace chorus must be the first object (`kubectl apply -f DIR` applies files "
        "in name order, and every other object needs the namespace): put it in a file that sorts first"
    ]


def test_a_catalog_port_change_is_caught_in_every_manifest_that_states_it(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    mutate(tree, sources.CONFIG, "  port: 8070", "  port: 8071")
    mutate(tree, sources.CATALOG, "      http: 8070", "      http: 8071")
    problems = manifest_problems(tree)
    codes = sorted({p.split(": ")[1].split()[0] for p in problems})
    assert codes == ["DP006", "DP011"], problems
    assert sum("DP006" in p for p in problems) == 3  # container port, scrape annotation, Service port


def test_the_fanout_prestop_hook_drains_a_real_node() -> None:
    """Run the manifest's preStop command, as written, against a live gateway and node."""
    import os
    import time

    from deploy_support import service_env, wait_for

    objects = {(m.kind, m.name): m.body for m in sources.manifests(ROOT)}
    container = objects[("Deployment", "chorus-fanout")]["spec"]["template"]["spec"]["containers"][0]
    shell, flag, script = container["lifecycle"]["preStop"]["exec"]["command"]
    assert (shell, flag) == ("sh", "-c")
    with running_services(["fanout"]) as urls:
        wait_for(lambda: httpx.get(urls["fanout"] + "/readyz", timeout=2).status_code == 200, 15, "the node to register")
        local = script.replace("http://chorus-gateway.chorus.svc:8080", urls["gateway"])
        assert local != script
        env = {**service_env(), "POD_NAME": "deploy-test-1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        started = time.monotonic()
        result = subprocess.run([shell, flag, local], env=env, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
        assert result.returncode == 0, result.stdout + result.stderr
        assert "deploy-test-1 drained" in result.stdout
        config = load_config(ROOT / sources.CONFIG, env={})
        assert took < drain_budget_s(config)
        # The node learns with the answer to its next report, and leaves the Service (not ready).
        wait_for(lambda: httpx.get(urls["fanout"] + "/readyz", timeout=2).status_code == 503,
                 2 * config.fanout.report_interval_s + 2, "the node to drain")
        assert httpx.get(urls["fanout"] + "/readyz", timeout=2).text == "draining\n"
