"""The sources package: one typed model per source of truth, and the one lookup of each kind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from handbook import promql, sources
from handbook.errors import HandbookError

ROOT = Path(__file__).resolve().parents[1]
EDGE = "chorus-fanout-edge"


def test_the_catalog_is_the_stacks_validated_model() -> None:
    catalog = sources.catalog_model(ROOT)
    assert type(catalog).__module__ == "chorus.catalog"
    fanout = catalog.service("fanout")
    assert ("chorus-fanout-edge", "edge") in fanout.workloads()
    assert sources.catalog_model(ROOT) is catalog  # loaded once per process while the file is unchanged


def test_an_absent_source_is_its_own_kind_not_a_message(tmp_path: Path) -> None:
    with pytest.raises(sources.SourceMissing):
        sources.catalog_model(tmp_path)
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack/catalog.yaml").write_text("services: fast\n", encoding="utf-8")
    with pytest.raises(HandbookError) as caught:
        sources.catalog_model(tmp_path)
    assert not isinstance(caught.value, sources.SourceMissing)
    assert str(caught.value).startswith("stack/catalog.yaml:1")


def test_manifests_know_their_containers_selectors_and_autoscalers() -> None:
    objects = sources.manifests(ROOT)
    edge = objects.workload(EDGE)
    assert edge is not None and edge.kind == "Deployment"
    assert [c.name for c in edge.containers] == ["fanout"]
    assert "ws" in edge.containers[0].ports
    assert edge.match_labels.items() <= edge.pod_labels.items()
    assert [h.name for h in objects.autoscalers(edge)] == [EDGE]
    assert objects.autoscalers(edge)[0].scale_target == ("Deployment", EDGE)
    assert [p.name for p in objects.selecting(edge, "PodDisruptionBudget")] == [EDGE]
    assert [s.kind for s in objects.selecting(edge, "Service")] == ["Service"]
    origin = objects.workload("chorus-fanout")
    assert origin is not None and objects.autoscalers(origin) == []


def test_one_selector_match_for_every_reader() -> None:
    labels = {"app": "a", "tier": "1"}
    assert sources.selects({"matchLabels": {"app": "a"}}, labels)
    assert sources.selects({"app": "a"}, labels)  # a Service's plain map
    assert not sources.selects({"matchLabels": {"app": "b"}}, labels)
    assert sources.selects({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["1", "2"]}]}, labels)
    assert not sources.selects({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, labels)
    assert not sources.selects({}, labels)  # an empty selector selects nothing here


def test_rules_files_are_typed_with_their_thresholds() -> None:
    files = sources.rule_files(ROOT)
    assert files and all(f.alerts for f in files)
    rules = sources.alert_rules(ROOT)
    assert rules == [rule for f in files for rule in f.alerts]
    assert all(rule.line > 1 for rule in rules)
    compared = [rule for rule in rules if rule.threshold is not None]
    assert compared and all(rule.threshold == promql.threshold(rule.expr) for rule in compared)


def test_one_promql_walker() -> None:
    expr = 'sum(rate(a_total{job="x"}[5m])) / sum({__name__="b"}) > 0.9'
    assert promql.metric_names(expr) == {"a_total", "b"}
    assert promql.selector_texts(expr) == ['a_total{job="x"}', '{__name__="b"}']
    assert promql.threshold(expr) == 0.9
    assert promql.threshold("sum(rate(x[5m])") is None


def test_a_rules_file_of_the_wrong_shape_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / sources.ALERTS_DIR
    folder.mkdir(parents=True)
    (folder / "alerts.yaml").write_text("groups:\n  - oops\n", encoding="utf-8")
    with pytest.raises(HandbookError) as caught:
        sources.alert_rules(tmp_path)
    assert str(caught.value).startswith(f"{sources.ALERTS_DIR / 'alerts.yaml'}:2")


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    shutil.copytree(ROOT / sources.KUBERNETES_DIR, tmp_path / sources.KUBERNETES_DIR)
    before = sources.manifests(tmp_path)
    path = tmp_path / sources.KUBERNETES_DIR / "fanout-edge.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(EDGE, "chorus-fanout-rim"), encoding="utf-8")
    after = sources.manifests(tmp_path)
    assert after is not before and after.workload("chorus-fanout-rim") is not None


def test_a_check_run_reads_one_snapshot_and_the_next_run_sees_the_edit(tmp_path: Path) -> None:
    """Inside `steady_tree` a loaded source is not re-stat'ed; outside it, an edit is noticed."""
    shutil.copytree(ROOT / sources.KUBERNETES_DIR, tmp_path / sources.KUBERNETES_DIR)
    path = tmp_path / sources.KUBERNETES_DIR / "fanout-edge.yaml"
    with sources.steady_tree():
        before = sources.manifests(tmp_path)
        path.write_text(path.read_text(encoding="utf-8").replace(EDGE, "chorus-fanout-rim"), encoding="utf-8")
        assert sources.manifests(tmp_path) is before  # the same snapshot for the whole run
    after = sources.manifests(tmp_path)
    assert after is not before and after.workload("chorus-fanout-rim") is not None


def test_a_tree_with_other_stack_code_gets_no_facts_from_this_code(tmp_path: Path) -> None:
    from deploy_support import copy_tree

    from handbook.project import Project
    from handbook.runner import run_checks

    tree = copy_tree(tmp_path / "tree")
    shutil.copytree(ROOT / "stack/chorus", tree / "stack/chorus", ignore=shutil.ignore_patterns("__pycache__"))
    assert sources.foreign_stack_code(tree) is None  # the same files and bytes: its facts are this code's
    assert not [p for p in run_checks(Project(tree), ["AR"]).problems if p.code == "HB001"]
    with (tree / "stack/chorus/cli/spaces.py").open("a", encoding="utf-8") as changed:
        changed.write("# another checkout's change\n")
    assert sources.foreign_stack_code(tree) == (Path("stack/chorus/cli/spaces.py"), ROOT / "stack/chorus")
    refused = [p for p in run_checks(Project(tree), ["AR"]).problems if p.code == "HB001"]
    assert [(p.path.as_posix(), p.line) for p in refused] == [("stack/chorus/cli/spaces.py", 1)]
    assert "differs from the chorus code this handbook imports" in refused[0].message
    assert f"PYTHONPATH={tree / 'stack'}" in refused[0].message
    (tree / "stack/chorus/cli/spaces.py").write_bytes((ROOT / "stack/chorus/cli/spaces.py").read_bytes())
    (tree / "stack/chorus/only_here.py").write_text('"""A module only this tree has."""\n', encoding="utf-8")
    assert sources.foreign_stack_code(tree) is None  # nothing the imported code says changes
    (tree / "stack/chorus/metrics.py").unlink()
    assert sources.foreign_stack_code(tree) == (Path("stack/chorus/metrics.py"), ROOT / "stack/chorus")
