"""Alert tests (AT): promtool's verdicts land on the line to fix, and every alert is tested three ways.

Each test copies the runbook fixture tree (two alerts and a promtool test file for them), breaks
one thing, and runs the `alert-tests` check, in-process or through the CLI.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, ROOT
from handbook.checks.alerttests import coverage
from chorus.monitor.promtool import parse_check_output, read_test_file
from test_runbook_checks import check, found, make_tree

pytestmark = pytest.mark.skipif(not any((Path(d) / "promtool").exists() for d in os.environ.get("PATH", "").split(os.pathsep)),
                                reason="promtool missing: `make setup` installs it")

TESTS = "stack/deploy/prometheus/tests/alerts_test.yaml"
RULES = "stack/deploy/prometheus/alerts.yaml"


def fixture_text(rel: str) -> str:
    return (make_tree.__globals__["BASE"] / rel).read_text()


def line_of(text: str, needle: str, nth: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == nth:
                return number
    raise AssertionError(f"{needle!r} not in text")


def test_real_rules_and_tests_are_clean() -> None:
    from handbook.project import Project
    from handbook.runner import run_checks

    assert [p.format(ROOT) for p in run_checks(Project(ROOT), ["AT"]).problems] == []


def test_every_real_alert_fires_misses_and_is_timed() -> None:
    from handbook import sources

    cases = [c for path in sorted((ROOT / "stack/deploy/prometheus/tests").glob("*.yaml")) for c in read_test_file(path).cases]
    kinds = coverage(cases)
    for rule in sources.alert_rules(ROOT):
        assert kinds[rule.name] == {"fires", "near-miss", "timing"}, rule.name


def test_clean_fixture_is_clean(tmp_path: Path) -> None:
    assert check(make_tree(tmp_path), "AT") == []


def test_at001_at002_an_alert_without_tests(tmp_path: Path) -> None:
    root = make_tree(tmp_path, remove=(TESTS,))
    assert found(check(root, "AT")) == [(RULES, 4, "AT001"), (RULES, 4, "AT002"), (RULES, 13, "AT001"), (RULES, 13, "AT002")]


def test_at003_untimed_alert(tmp_path: Path) -> None:
    text = fixture_text(TESTS)
    # Drop the case after gateway-down stops firing: its resolution is no longer pinned.
    resolve = line_of(text, "alertname: ChorusGatewayDown, exp_alerts: []}")
    lines = text.splitlines(keepends=True)
    del lines[resolve - 1]
    root = make_tree(tmp_path, {TESTS: "".join(lines)})
    assert found(check(root, "AT")) == [(RULES, 13, "AT003")]


def test_at006_typo_in_a_near_miss_names_the_test_line(tmp_path: Path) -> None:
    # promtool passes this case (it expects no alert, and no alert has that name): only the check sees it.
    text = fixture_text(TESTS)
    line = line_of(text, "alertname: ChorusGatewayDown, exp_alerts: []}", nth=3)
    lines = text.splitlines(keepends=True)
    lines[line - 1] = lines[line - 1].replace("ChorusGatewayDown", "ChorusGatewayDwn")
    root = make_tree(tmp_path, {TESTS: "".join(lines)})
    problems = check(root, "AT")
    assert sorted(found(problems)) == [(RULES, 13, "AT002"), (TESTS, line, "AT006")]
    assert "did you mean ChorusGatewayDown?" in next(p.message for p in problems if p.code == "AT006")


def test_at005_failing_case_names_the_case_line_and_the_difference(tmp_path: Path) -> None:
    text = fixture_text(TESTS).replace("severity: critical", "severity: warning")
    root = make_tree(tmp_path, {TESTS: text})
    problems = check(root, "AT")
    line = line_of(text, "alertname: ChorusGatewayDown", nth=2)
    assert found(problems) == [(TESTS, line, "AT005")]
    assert "label severity is 'critical', expected 'warning'" in problems[0].message
    assert "gateway down fires after 1m" in problems[0].message


def test_at004_rejected_rule_is_reported_at_its_line(tmp_path: Path) -> None:
    text = fixture_text(RULES).replace("(chorus_fanout_listeners / chorus_fanout_listener_cap)",
                                       "(chorus_fanout_listeners / / chorus_fanout_listener_cap)")
    root = make_tree(tmp_path, {RULES: text})
    problems = [p for p in check(root, "AT")]
    assert found(problems)[:1] == [(RULES, 5, "AT004")]
    assert "could not parse expression" in problems[0].message


def test_at004_bad_duration_is_found_by_its_value(tmp_path: Path) -> None:
    text = fixture_text(RULES).replace("for: 1m", "for: 1x")
    root = make_tree(tmp_path, {RULES: text})
    problems = [p for p in check(root, "AT") if p.code == "AT004"]
    assert found(problems) == [(RULES, line_of(text, "for: 1x"), "AT004")]


def test_at007_unusable_test_files(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "stack/deploy/prometheus/tests/broken_test.yaml": "tests: [\n",
        "stack/deploy/prometheus/tests/other_test.yaml": "rule_files: [elsewhere.yaml]\ntests: []\n",
    })
    assert found(check(root, "AT")) == [
        ("stack/deploy/prometheus/tests/broken_test.yaml", 1, "AT007"),  # the last line: the file ends inside [
        ("stack/deploy/prometheus/tests/other_test.yaml", 1, "AT007"),
    ]


def test_cli_reports_one_line_per_problem_without_traceback(tmp_path: Path) -> None:
    text = fixture_text(TESTS).replace("ChorusFanoutNearCap, exp_alerts: []}", "ChorusFanoutNaerCap, exp_alerts: []}")
    root = make_tree(tmp_path, {TESTS: text})
    result = subprocess.run([str(BIN / "handbook"), "--root", str(root), "check", "--select", "AT"], capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stdout.splitlines()[:-1]
    assert lines and all(": AT00" in line for line in lines), result.stdout
    assert f"{TESTS}:{line_of(text, 'ChorusFanoutNaerCap')}:1: AT006" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_promtool_missing_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    env = dict(os.environ, PATH=str(BIN))
    result = subprocess.run([str(BIN / "handbook"), "--root", str(root), "check", "--select", "AT"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert f"{RULES}:1:1: AT007 promtool not found on PATH: run `make setup`" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_unmarshal_and_yaml_errors_map_to_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    output = f"{path}: yaml: unmarshal errors:\n  line 6: field fore not found in type rulefmt.RuleNode\n{path}: yaml: line 3: did not find expected key\n"
    problems = parse_check_output(output, [path])
    assert [(p.line, p.message) for p in problems] == [(3, "did not find expected key"), (6, "field fore not found in type rulefmt.RuleNode")]
