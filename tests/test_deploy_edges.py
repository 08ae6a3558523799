"""Fan-out edges in Kubernetes: the catalog names the edge workload, the manifests run it, every consumer agrees.

The cascade (origin + edges) is the only way one space grows past one node, so
production must run edges: a Deployment `chorus-fanout-edge` whose pods run
`python -m chorus.fanout --role edge`, scaled by its own autoscaler, while the
origins run a fixed count.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chorus.catalog import CatalogError, Service, load_catalog
from chorus.config import load_config
from chorus.tokens import operator_token
from chorus.deploy.workloads import fanout_origin_replicas, fanout_replica_bounds
from conftest import ROOT
from deploy_support import (SIGNING_KEY, copy_tree, free_port, line_of, manifest_problems, mutate, rule_problems, service_env,
                            wait_for)
from handbook import facts, sources
from handbook.diagrams.workloads import workloads
from handbook.reference import components
from handbook.reference.snapshot import Snapshot

K8S = sources.KUBERNETES_DIR
EDGE = "chorus-fanout-edge"


def _objects(root: Path = ROOT) -> dict[tuple[str, str], dict]:
    return {(m.kind, m.name): m.body for m in sources.manifests(root)}


def test_the_catalog_gives_fanout_an_edge_workload() -> None:
    fanout = load_catalog(ROOT / sources.CATALOG).service("fanout")
    assert fanout.workloads() == [("chorus-fanout", None), (EDGE, "edge")]


def test_the_edge_workload_runs_edges_scaled_with_the_audience_and_origins_are_fixed() -> None:
    config = load_config(ROOT / sources.CONFIG, env={})
    objects = _objects()
    edge = objects[("Deployment", EDGE)]
    container = edge["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "chorus.fanout"]
    assert container["args"][:2] == ["--role", "edge"]
    assert "chorusctl drain" in " ".join(container["lifecycle"]["preStop"]["exec"]["command"])
    assert "replicas" not in edge["spec"]
    hpa = objects[("HorizontalPodAutoscaler", EDGE)]["spec"]
    assert hpa["scaleTargetRef"]["name"] == EDGE
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == fanout_replica_bounds(config)
    assert ("PodDisruptionBudget", EDGE) in objects and ("Service", EDGE) in objects
    origin = objects[("Deployment", "chorus-fanout")]
    assert origin["spec"]["replicas"] == fanout_origin_replicas(config)
    assert "--role" not in origin["spec"]["template"]["spec"]["containers"][0]["args"]
    assert ("HorizontalPodAutoscaler", "chorus-fanout") not in objects, "origins do not scale with the audience"
    assert manifest_problems(ROOT) == []


def test_both_fanout_workloads_start_as_their_manifests_say_and_register_in_their_role() -> None:
    """Run each fan-out Deployment's own command and arguments (pod name and IP filled in) against a real gateway."""
    env = service_env()
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    processes = [subprocess.Popen([sys.executable, "-m", "chorus.gateway", "--host", "127.0.0.1", "--port", str(gateway_port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for workload in ("chorus-fanout", EDGE):
            container = _objects()[("Deployment", workload)]["spec"]["template"]["spec"]["containers"][0]
            values = {"POD_NAME": f"{workload}-abc12", "POD_IP": "127.0.0.1"}
            args = [a.replace("$(POD_NAME)", values["POD_NAME"]).replace("$(POD_IP)", values["POD_IP"])
                    .replace("http://chorus-gateway.chorus.svc:8080", gateway_url) for a in container["args"]]
            command = [sys.executable if w == "python" else w for w in container["command"]]
            processes.append(subprocess.Popen([*command, *args], env={**env, "CHORUS__FANOUT__PORT": "0"},
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        operator = {"Authorization": f"Bearer {operator_token(SIGNING_KEY.encode(), 'tests')}"}
        wait_for(lambda: len(httpx.get(f"{gateway_url}/v1/nodes", timeout=1, headers=operator).json()) == 2, 20,
                 "both nodes to register")
        roles = {n["id"]: n["role"] for n in httpx.get(f"{gateway_url}/v1/nodes", timeout=2, headers=operator).json()}
        assert roles == {"chorus-fanout-abc12": "origin", f"{EDGE}-abc12": "edge"}
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


BROKEN = [
    # (file, text, replacement, code, file the finding points at, text starting that line)
    ("catalog", "    additional_workloads:\n      - name: chorus-fanout-edge\n        role: edge\n", "    additional_workloads:\n      - name: chorus-fanout-edge\n        role: edgy\n",
     "DP002", "catalog", "    workload: chorus-fanout\n"),
    ("fanout-edge.yaml", "            - --role\n            - edge\n", "            - --role\n            - origin\n", "DP013", "fanout-edge.yaml", "          args:"),
    ("fanout-edge.yaml", "  revisionHistoryLimit: 5", "  replicas: 3\n  revisionHistoryLimit: 5", "DP010", "fanout-edge.yaml", "  replicas: 3"),
    ("fanout.yaml", "  replicas: 2", "  replicas: 3", "DP010", "fanout.yaml", "  replicas: 3"),
    ("fanout-edge.yaml", "kind: HorizontalPodAutoscaler", "kind: HorizontalPodAutoscalerr", "DP002", "catalog", "      - name: chorus-fanout-edge"),
    ("fanout-edge.yaml", "                  - exec chorusctl drain", "                  - exec chorusctl status #", "DP009", "fanout-edge.yaml",
     "                command:\n                  - sh"),
]


@pytest.mark.parametrize(("file", "old", "new", "code", "points_at", "anchor"), BROKEN, ids=[f"{c[3]}-{i}" for i, c in enumerate(BROKEN)])
def test_edge_checks_fire_on_a_broken_copy(tmp_path: Path, file: str, old: str, new: str, code: str, points_at: str, anchor: str) -> None:
    tree = copy_tree(tmp_path)
    mutate(tree, sources.CATALOG if file == "catalog" else K8S / file, old, new)
    rel = sources.CATALOG if points_at == "catalog" else K8S / points_at
    where = f"{rel}:{line_of(tree, rel, anchor)}: {code} "
    problems = manifest_problems(tree)
    assert [p for p in problems if p.startswith(where)], "\n".join(problems)


def test_an_origin_autoscaler_is_refused(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    path = tree / K8S / "fanout-edge.yaml"
    text = path.read_text(encoding="utf-8")
    hpa = text[text.index("apiVersion: autoscaling/v2"):].replace(EDGE, "chorus-fanout")
    (tree / K8S / "fanout-origin-hpa.yaml").write_text(hpa, encoding="utf-8")
    problems = manifest_problems(tree)
    assert any(p.startswith(f"{K8S}/fanout-origin-hpa.yaml:4: DP010 HorizontalPodAutoscaler chorus-fanout: chorus-fanout runs a fixed number")
               for p in problems), problems


@pytest.mark.parametrize(("old", "new", "message"), [
    ("the workload that grows with the audience.\n", "the workload that grows with the audience.\n      - name: chorus-fanout-edge2\n"
     "        role: edge\n        purpose: x\n", "role 'edge' has two workloads"),
    ("      - name: chorus-fanout-edge\n", "      - name: chorus-gateway\n", "workload 'chorus-gateway' is already the workload of service 'gateway'"),
])
def test_the_catalog_refuses_ambiguous_workloads(tmp_path: Path, old: str, new: str, message: str) -> None:
    tree = copy_tree(tmp_path)
    mutate(tree, sources.CATALOG, old, new)
    with pytest.raises(CatalogError) as refused:
        load_catalog(tree / sources.CATALOG)
    assert message in str(refused.value) and str(refused.value).startswith(f"{tree / sources.CATALOG}:")


def test_fanout_alerts_cover_edges_by_their_own_job(tmp_path: Path) -> None:
    text = (ROOT / sources.ALERTS_DIR / "alerts.yaml").read_text(encoding="utf-8")
    assert 'up{job=~"chorus-fanout|chorus-fanout-edge"} == 0' in text
    assert 'chorus_fanout_upstream_connected{job="chorus-fanout-edge"}' in text
    assert rule_problems(ROOT) == []
    tree = copy_tree(tmp_path)
    mutate(tree, sources.ALERTS_DIR / "alerts.yaml", 'up{job=~"chorus-fanout|chorus-fanout-edge"} == 0',
           'up{job=~"chorus-fanout|chorus-fanout-edgy"} == 0')
    assert any(": AR009 alert ChorusFanoutNodeDown: job 'chorus-fanout-edgy' is not a catalog workload" in p
               for p in rule_problems(tree))


def test_the_handbook_sees_the_edge_workload_everywhere() -> None:
    found = {w.name: w for w in workloads(ROOT)}
    assert found[EDGE].role == "edge" and found[EDGE].autoscaler is not None and found[EDGE].budget is not None
    assert found["chorus-fanout"].replicas == 2 and found["chorus-fanout"].autoscaler is None
    known = facts.build(ROOT)
    assert known.get("service.fanout.workload.edge").value == EDGE
    assert known.get(f"k8s.horizontalpodautoscaler.{EDGE}.max_replicas") is not None
    header = components.header(load_service("fanout"), Snapshot(ROOT))
    assert f"- **Workload, role edge:** [`Deployment/{EDGE}`]" in header


def load_service(name: str) -> Service:
    return sources.catalog_model(ROOT).service(name)
