"""The content checks (CL claims, AD decisions, IN incidents, GL glossary, SL SLOs) on the real tree and on broken copies.

Each broken copy changes one line of the real tree and expects the check to name
that file and line with its code - proof that the check can fail.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from handbook.checks.incidents import incident_actions
from handbook.problems import Problem
from handbook.project import Project
from handbook.runner import run_checks


FAMILIES = ["CL", "AD", "IN", "GL", "SL"]


def tree(tmp_path: Path) -> Path:
    """A copy of what the content checks read: pages, runbooks, the stack, the glossary, mkdocs.yml."""
    root = tmp_path / "tree"
    for folder in ("docs", "runbooks", "stack", "includes", "diagrams", "tools"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    return root


def mutate(root: Path, rel: str, old: str, new: str) -> int:
    """Replace the one occurrence of `old` in a file with `new`; the 1-based line where it starts."""
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not unique in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def problems(root: Path, family: str) -> list[Problem]:
    return run_checks(Project(root), [family]).problems


def where(found: list[Problem]) -> list[str]:
    return [f"{Path(p.path).as_posix()}:{p.line}: {p.code}" for p in found]


def test_the_real_tree_is_clean_for_the_content_families() -> None:
    report = run_checks(Project(ROOT), FAMILIES)
    assert report.problems == [], "\n".join(p.format(ROOT) for p in report.problems)


# --- CL: claims -----------------------------------------------------------------------------------


def test_cl001_a_manifest_cited_for_a_field_it_does_not_set(tmp_path: Path) -> None:
    root = tree(tmp_path)
    line = mutate(root, "runbooks/fanout-near-cap.md", "`stack/deploy/kubernetes/fanout-edge.yaml`", "`stack/deploy/kubernetes/fanout.yaml`")
    found = problems(root, "CL001")
    assert where(found) == [f"runbooks/fanout-near-cap.md:{line}: CL001"]
    assert "maxReplicas" in found[0].message and "fanout-edge.yaml" in found[0].message


def test_cl001_a_manifest_that_does_not_exist(tmp_path: Path) -> None:
    root = tree(tmp_path)
    line = mutate(root, "runbooks/fanout-near-cap.md", "`stack/deploy/kubernetes/fanout-edge.yaml`", "`stack/deploy/kubernetes/edges.yaml`")
    assert where(problems(root, "CL001")) == [f"runbooks/fanout-near-cap.md:{line}: CL001"]


def test_cl002_a_packager_sentence_bound_to_a_fanout_key(tmp_path: Path) -> None:
    root = tree(tmp_path)
    line = mutate(root, "runbooks/hls-playlist-stale.md", "{@config.packager.retry_max_s} s apart)", "{@config.fanout.upstream_retry_max_s} s apart)")
    found = problems(root, "CL002")
    assert where(found) == [f"runbooks/hls-playlist-stale.md:{line}: CL002"]
    assert "fanout setting" in found[0].message and "packager" in found[0].message


def test_cl002_allows_a_key_whose_description_covers_the_sentence() -> None:
    # fanout-node-down quotes gateway.node_timeout_s in a sentence about nodes; its description is about nodes.
    text = (ROOT / "runbooks/fanout-node-down.md").read_text()
    assert "{@config.gateway.node_timeout_s}" in text
    assert problems(ROOT, "CL002") == []


def test_cl003_arithmetic_on_live_values(tmp_path: Path) -> None:
    root = tree(tmp_path)
    line = mutate(root, "runbooks/join-shedding.md", "plus a random share of up to\n{@config.gateway.retry_after_jitter_s} s more",
                  "up to {@config.gateway.retry_after_base_s} + {@config.gateway.retry_after_jitter_s} s")
    assert where(problems(root, "CL003")) == [f"runbooks/join-shedding.md:{line}: CL003"]


# --- AD: decision records -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("  code: [chorus.gateway.admission.Admission,", "  code: [chorus.gateway.admission.Admitter,", "AD002"),
        ("  config: [gateway.join_rate_per_s,", "  config: [gateway.join_rate,", "AD003"),
        ("  runbooks: [join-shedding, reconnect-storm]", "  runbooks: [join-shed, reconnect-storm]", "AD003"),
        ("  alerts: [ChorusJoinShedding,", "  alerts: [ChorusJoinShed,", "AD003"),
        ("status: accepted", "status: approved", "AD001"),
        ("status: accepted", "status: superseded", "AD005"),
        ("(../architecture/join-flow.md#the-shed-path-503-and-retry-after)", "(../architecture/join-flow.md#shed-path)", "AD004"),
        ("[analysis](../incidents/launch-night.md)", "[analysis](../incidents/launch.md)", "AD004"),
    ],
)
def test_ad_a_broken_record_is_reported_at_its_line(tmp_path: Path, old: str, new: str, code: str) -> None:
    root = tree(tmp_path)
    rel = "docs/decisions/0004-shed-with-retry-after.md"
    line = mutate(root, rel, old, new)
    found = problems(root, code)
    assert where(found) == [f"{rel}:{line}: {code}"], [p.format() for p in found]


def test_ad_code_objects_resolve_to_modules_classes_and_methods() -> None:
    from handbook.decisions import code_object

    assert code_object(ROOT, "chorus.gateway.admission") == (Path("stack/chorus/gateway/admission.py"), 1)
    assert code_object(ROOT, "chorus.gateway.admission.Admission.decide") is not None
    assert code_object(ROOT, "chorus.gateway.admission.Admission.nope") is None
    assert code_object(ROOT, "handbook.livevalues") is not None
    assert code_object(ROOT, "os.path") is None


# --- IN: incident action items --------------------------------------------------------------------


def test_in001_open_items_are_notes_before_due_and_problems_after(tmp_path: Path) -> None:
    project = Project(ROOT)
    before = list(incident_actions(project, today=dt.date(2026, 12, 1)))
    open_items = [p for p in before if p.code == "IN001"]
    assert open_items and all(p.silenced for p in open_items)
    assert all(str(p.path) == "docs/incidents/launch-night.md" for p in open_items)
    after = [p for p in incident_actions(Project(ROOT), today=dt.date(2027, 3, 1)) if p.code == "IN001"]
    assert [p.line for p in after] == [p.line for p in open_items] and not any(p.silenced for p in after)
    assert "it was due" in after[0].message


def test_in001_an_item_turns_done_when_its_proof_holds(tmp_path: Path) -> None:
    root = tree(tmp_path)
    rel = "docs/incidents/launch-night.md"
    line = mutate(root, rel, "    proof: {runbook_exists: prescale-mega-event}", "    proof: {runbook_exists: prescale-huge-event}")
    found = [p for p in incident_actions(Project(root), today=dt.date(2027, 3, 1)) if p.code == "IN001" and "A4" in p.message]
    assert [p.line for p in found] == [line - 5]  # the item's `- id:` line
    mutate(root, rel, "    proof: {runbook_exists: prescale-huge-event}", "    proof: {runbook_exists: prescale-mega-event}")
    assert not [p for p in incident_actions(Project(root), today=dt.date(2027, 3, 1)) if "A4" in p.message]


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("    type: detect\n    due: 2027-01-15\n    proof: {alert_exists", "    type: guess\n    due: 2027-01-15\n    proof: {alert_exists", "IN002"),
        ("    proof: {config_bound: gateway.max_sessions}", "    proof: {bound: gateway.max_sessions}", "IN002"),
        ("    owner: media\n    type: mitigate", "    owner: audio\n    type: mitigate", "IN003"),
        ("    proof: {alert_tested: ChorusJoinShedding}", "    proof: {alert_tested: ChorusJoinShed}", "IN003"),
        ("[pre-scale](../runbooks/prescale-mega-event.md) that", "[pre-scale](../runbooks/prescale.md) that", "IN004"),
    ],
)
def test_in_malformed_items_and_broken_links(tmp_path: Path, old: str, new: str, code: str) -> None:
    root = tree(tmp_path)
    rel = "docs/incidents/launch-night.md"
    mutate(root, rel, old, new)
    found = [p for p in incident_actions(Project(root)) if p.code == code]
    assert len(found) == 1 and str(found[0].path) == rel, [p.format() for p in found]


# --- GL: glossary ---------------------------------------------------------------------------------


def test_gl001_a_term_explained_on_a_missing_anchor(tmp_path: Path) -> None:
    root = tree(tmp_path)
    line = mutate(root, "includes/glossary.yaml", "explained: architecture/join-flow.md#the-shed-path-503-and-retry-after",
                  "explained: architecture/join-flow.md#shedding")
    found = problems(root, "GL001")
    assert [(p.line, p.code) for p in found] == [(line - 3, "GL001")] and "#shedding does not exist" in found[0].message


def test_gl002_a_word_defined_twice(tmp_path: Path) -> None:
    root = tree(tmp_path)
    mutate(root, "includes/glossary.yaml", "    forms: [sheds, shedding, Shed]", "    forms: [sheds, shedding, Shed, edges]")
    found = problems(root, "GL002")
    assert len(found) == 1 and "'edges' is already defined" in found[0].message


# --- SL: SLOs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("    objective: 0.99\n", "    objective: 99\n", "SL001"),
        ("    service: packager\n", "    service: hls\n", "SL002"),
        ("    total: sum(rate(chorus_gateway_joins_total[5m]))", "    total: sum(rate(chorus_gateway_join_total[5m]))", "SL003"),
        ("    protected_by: [ChorusHlsPlaylistStale,", "    protected_by: [ChorusHlsStale,", "SL004"),
    ],
)
def test_sl_a_broken_slo_is_reported_at_its_line(tmp_path: Path, old: str, new: str, code: str) -> None:
    root = tree(tmp_path)
    line = mutate(root, "stack/slo.yaml", old, new)
    found = problems(root, code)
    assert [(Path(p.path).as_posix(), p.line) for p in found] == [("stack/slo.yaml", line)], [p.format() for p in found]


def test_promtool_tests_are_found_in_flow_and_block_form(tmp_path: Path) -> None:
    from handbook.actions import promtool_tested

    folder = tmp_path / "stack/deploy/prometheus/tests"
    folder.mkdir(parents=True)
    (folder / "gateway_test.yaml").write_text(
        "rule_files: [../alerts.yaml]\ntests:\n  - interval: 15s\n    alert_rule_test:\n"
        "      - {eval_time: 1m, alertname: ChorusJoinShedding, exp_alerts: []}\n"
        "      - eval_time: 2m\n        alertname: ChorusReconnectStorm\n        exp_alerts: []\n"
    )
    (folder / "notes.yaml").write_text("alertname: ChorusDeadAir\n")  # not a promtool test file
    assert promtool_tested(tmp_path) == {
        "ChorusJoinShedding": "stack/deploy/prometheus/tests/gateway_test.yaml",
        "ChorusReconnectStorm": "stack/deploy/prometheus/tests/gateway_test.yaml",
    }
