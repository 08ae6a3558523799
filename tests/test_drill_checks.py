"""Drill declarations (DR): each rule fires on a broken fixture at its line; the markers read as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from handbook.drill.spec import MarkerError, parse_marker, read_plan
from handbook.mdscan import MarkdownPage
from test_runbook_checks import check, found, make_tree

GATEWAY_DOWN = "runbooks/gateway-down.md"


def fixture_text(tmp_path: Path) -> str:
    return (make_tree(tmp_path / "orig") / GATEWAY_DOWN).read_text()


def test_marker_words_and_options() -> None:
    marker = parse_marker('<!-- drill: step destructive expect="state +ready" expect="^ok$" exit=3 timeout=5 -->', 7)
    assert marker is not None
    assert marker.line == 7 and marker.flags == {"step", "destructive"}
    assert marker.expect == ("state +ready", "^ok$") and marker.exit == 3 and marker.timeout == 5
    assert parse_marker("<!-- drill: step exit=any -->", 1).exit is None  # type: ignore[union-attr]
    assert parse_marker("<!-- an ordinary comment -->", 1) is None


@pytest.mark.parametrize("text, message", [
    ("<!-- drill: stpe -->", "unknown drill word 'stpe'"),
    ("<!-- drill: step expct=x -->", "unknown drill option expct="),
    ('<!-- drill: step expect="(" -->', "not a valid regular expression"),
    ("<!-- drill: production -->", "`production` block says why"),
    ("<!-- drill: destructive -->", "says one of `step`"),
    ("<!-- drill: step skip reason=x -->", "says one of `step`"),
    ("<!-- drill: skip -->", "`skip` block says why"),
    ('<!-- drill: step expect="open -->', "close the quotes"),
    ("<!-- drill: step exit=zero -->", "must be a number or `any`"),
])
def test_bad_markers_say_what_to_do(text: str, message: str) -> None:
    with pytest.raises(MarkerError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_marker(text, 1)


def test_plan_orders_steps_by_section() -> None:
    page = MarkdownPage(
        "---\ntitle: x\ndrill: {induce: [{kill: fanout-1}]}\n---\n\n## Diagnose\n\n"
        "<!-- drill: step -->\n```bash\necho one\n```\n\n## Mitigate\n\n"
        "<!-- drill: step destructive -->\n```bash\nchorusctl drain fanout-1\n```\n\n"
        "## Verify\n\n<!-- drill: production reason=\"production only\" -->\n```bash\nkubectl get pods\n```\n"
    )
    plan = read_plan(page)
    assert plan.spec is not None and plan.spec.induce[0].kind == "kill"
    assert [(s.section, s.destructive) for s in plan.runnable()] == [("Diagnose", False), ("Mitigate", True)]
    assert [s.marker.reason for s in plan.steps if not s.runs] == ["production only"]


def test_real_fixture_is_clean(tmp_path: Path) -> None:
    assert check(make_tree(tmp_path), "DR") == []


def test_dr001_alert_runbook_without_drill(tmp_path: Path) -> None:
    text = fixture_text(tmp_path).replace("drill:\n  stack: {nodes: 1}\n  induce:\n    - kill: gateway\n", "")
    problems = check(make_tree(tmp_path, {GATEWAY_DOWN: text}), "DR001")
    assert found(problems) == [(GATEWAY_DOWN, 1, "DR001")]
    assert "ChorusGatewayDown" in problems[0].message and "not_drillable" in problems[0].message


def test_dr002_declaration_errors_point_at_the_key(tmp_path: Path) -> None:
    text = fixture_text(tmp_path).replace("    - kill: gateway\n", "    - kill: gateway\n      wait: 3\n")
    text = text.replace("  stack: {nodes: 1}\n", "  stack: {nodes: 1, flavour: big}\n")
    problems = check(make_tree(tmp_path, {GATEWAY_DOWN: text}), "DR002")
    assert [(p.line, "flavour" in p.message or "exactly one" in p.message) for p in problems] == [(10, True), (12, True)]


def test_dr003_marker_errors(tmp_path: Path) -> None:
    text = fixture_text(tmp_path).replace("## Verify\n", "## Verify\n\n<!-- drill: step -->\nJust prose.\n\n<!-- drill: stpe -->\n")
    problems = check(make_tree(tmp_path, {GATEWAY_DOWN: text}), "DR003")
    lines = text.splitlines()
    assert [p.line for p in problems] == [lines.index("<!-- drill: step -->") + 1, lines.index("<!-- drill: stpe -->") + 1]
    assert "right above a fenced code block" in problems[0].message


def test_dr004_destructive_command_not_marked(tmp_path: Path) -> None:
    text = fixture_text(tmp_path).replace('production destructive reason="kubectl', 'production reason="kubectl')
    problems = check(make_tree(tmp_path, {GATEWAY_DOWN: text}), "DR004")
    block = text.splitlines().index("kubectl -n chorus rollout restart deploy/chorus-gateway")
    assert found(problems) == [(GATEWAY_DOWN, block, "DR004")]
    assert "rollout restart" in problems[0].message


def test_dr005_kubectl_without_marker(tmp_path: Path) -> None:
    text = fixture_text(tmp_path).replace('<!-- drill: production reason="kubectl reaches production only" -->\n', "", 1)
    problems = check(make_tree(tmp_path, {GATEWAY_DOWN: text}), "DR005")
    block = text.splitlines().index("kubectl -n chorus rollout status deployment/chorus-gateway")
    assert found(problems) == [(GATEWAY_DOWN, block, "DR005")]


def test_dr006_unknown_alert(tmp_path: Path) -> None:
    text = fixture_text(tmp_path).replace("  stack: {nodes: 1}\n", "  alert: ChorusGatewayGone\n  stack: {nodes: 1}\n")
    problems = check(make_tree(tmp_path, {GATEWAY_DOWN: text}), "DR006")
    assert found(problems) == [(GATEWAY_DOWN, 10, "DR006")]


def test_dr007_kill_of_a_service_the_stack_lacks(tmp_path: Path) -> None:
    text = fixture_text(tmp_path).replace("    - kill: gateway\n", "    - kill: fanout-3\n")
    problems = check(make_tree(tmp_path, {GATEWAY_DOWN: text}), "DR007")
    assert found(problems) == [(GATEWAY_DOWN, 12, "DR007")]
    assert "fanout-1" in problems[0].message
