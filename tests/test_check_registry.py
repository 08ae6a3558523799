"""The one check registry: declared codes only, broken checks and sources reported, not fatal."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import handbook.checks as builtin_checks
from conftest import ROOT
from handbook.checks import registry
from handbook.checks.registry import Rule, all_rules, check
from handbook.problems import Problem
from handbook.project import Project
from handbook.runner import run_checks
from test_runbook_checks import BIN, make_tree


@pytest.fixture
def scratch_checks() -> Iterator[list[str]]:
    """Register throwaway checks for one test, and remove them afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        registry._CHECKS.pop(name, None)


def test_a_code_the_check_did_not_declare_is_refused(tmp_path: Path, scratch_checks: list[str]) -> None:
    @check("test-undeclared", family="ZZ", rules={"ZZ001": "declared"})
    def undeclared(project: Project) -> Iterator[Problem]:
        yield Problem(Path("a.md"), 3, 1, "ZZ001", "fine")
        yield Problem(Path("a.md"), 4, 1, "ZZ002", "never declared")

    scratch_checks.append("test-undeclared")
    report = run_checks(Project(make_tree(tmp_path)), ["ZZ"])
    assert [(p.line, p.code) for p in report.problems] == [(3, "ZZ001"), (4, "HB004")]
    assert "ZZ002" in report.problems[1].message and report.incomplete


def test_a_crashing_check_reports_itself_and_the_others_still_run(tmp_path: Path, scratch_checks: list[str]) -> None:
    @check("test-crash", family="ZY", rules={"ZY001": "never reported"})
    def crash(project: Project) -> Iterator[Problem]:
        raise KeyError("boom")
        yield  # pragma: no cover

    scratch_checks.append("test-crash")
    root = make_tree(tmp_path, {"runbooks/task.md": "---\ntitle: [\n---\n"})
    report = run_checks(Project(root), ["ZY", "FM"])
    codes = {p.code for p in report.problems}
    assert "HB002" in codes and codes - {"HB002"}, report.problems  # FM still reported the page
    crash_line = next(p for p in report.problems if p.code == "HB002")
    assert crash_line.path.name == "test_check_registry.py" and "KeyError" in crash_line.message


def test_a_module_that_fails_to_import_reports_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "zz_broken.py").write_text("import nothing_by_this_name\n", encoding="utf-8")
    monkeypatch.setattr(builtin_checks, "__path__", [*builtin_checks.__path__, str(folder)])
    monkeypatch.setattr(builtin_checks, "_LOADED", False)
    monkeypatch.setattr(registry, "_BROKEN_MODULES", {})
    report = run_checks(Project(make_tree(tmp_path)), ["FM"])
    broken = [p for p in report.problems if p.code == "HB003"]
    assert len(broken) == 1 and "handbook.checks.zz_broken" in broken[0].message
    assert broken[0].path.name == "zz_broken.py" and broken[0].line == 1
    assert "front-matter" in report.checks_run


def test_deploy_families_are_selectable_from_the_cli() -> None:
    result = subprocess.run([str(BIN / "handbook"), "--root", str(ROOT), "check", "--select", "DP", "--select", "AR"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All clear: 2 checks" in result.stderr


def test_every_rule_is_documented_and_declared_once() -> None:
    rules = all_rules()
    codes = [r.code for r in rules]
    assert len(codes) == len(set(codes))
    assert {"DP001", "DP014", "AR001", "AR013", "HB001"} <= set(codes)
    assert "AR007" not in codes  # merged into AL005
    for rule in rules:
        if rule.code[:2] in ("DP", "AR", "HB"):
            assert rule.why, rule.code


def test_a_rule_declared_by_two_checks_is_refused(scratch_checks: list[str]) -> None:
    with pytest.raises(ValueError, match="already declared"):
        check("test-twice", family="DP", rules={"DP001": Rule("DP001", "again")})(lambda project: [])
