"""Alert tests (AT): promtool accepts the rules, every alert has passing tests that fire, miss and time it.

The tests are promtool unit-test files in `stack/deploy/prometheus/tests/` (`promtool test
rules`). For each alert the check wants, among the cases of those files: one where it fires
(promtool then asserts every label and rendered annotation), a near miss (a test where it
never fires), and timing (a test where it does not fire yet, fires, and stops again). It runs
`promtool check rules` and `promtool test rules` and puts each finding at its line: the
rules file's line for a rejected rule, the `alert_rule_test` entry for a failing case.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from chorus.monitor.binaries import MonitorError, find_binary
from chorus.monitor.promtool import (
    AlertCase,
    RuleTestFile,
    ToolProblem,
    check_rules,
    read_test_file,
    run_rule_tests,
    unknown_alerts,
)
from chorus.yamllines import SourceError
from handbook import sources
from handbook.checks.registry import check
from handbook.problems import Problem
from handbook.project import Project
from handbook.toolprobe import probe

TESTS_DIR = sources.ALERTS_DIR / "tests"
"""Where the promtool test files live, next to the rules."""

CACHE_DIR = Path(".cache/promtool")
"""Where promtool's verdicts are kept, keyed by the rules, the tests and promtool's version."""

_KIND_CODES = {"check": "AT004", "test": "AT005", "unknown-alert": "AT006", "unreadable": "AT007"}


def _rel(project: Project, path: Path) -> Path:
    """`path` relative to the project root when it is inside it."""
    try:
        return path.resolve().relative_to(project.root.resolve())
    except ValueError:
        return path


def coverage(cases: list[AlertCase]) -> dict[str, set[str]]:
    """Which kinds of case each alert has: `fires`, `near-miss` and `timing`.

    A near miss is a test in which the alert has cases and never fires. Timing is a test in
    which it does not fire, then fires, then does not fire again (eval times in order).

    Args:
        cases: Every `alert_rule_test` entry of every test file.

    Returns:
        Alert name to the kinds it has.
    """
    kinds: dict[str, set[str]] = defaultdict(set)
    by_test: dict[tuple[Path, str, str], list[AlertCase]] = defaultdict(list)
    for case in cases:
        by_test[(case.path, case.test, case.alertname)].append(case)
    for (_path, _test, alert), group in by_test.items():
        timeline = [c.fires for c in sorted(group, key=lambda c: c.eval_s)]
        if any(timeline):
            kinds[alert].add("fires")
            first = timeline.index(True)
            last = len(timeline) - 1 - timeline[::-1].index(True)
            if first > 0 and last < len(timeline) - 1:
                kinds[alert].add("timing")
        else:
            kinds[alert].add("near-miss")
    return kinds


def _verdicts(project: Project, rule_files: list[Path], test_files: list[RuleTestFile]) -> list[ToolProblem]:
    """promtool's findings (check, then tests), cached by content so an unchanged tree costs no promtool run.

    Raises:
        MonitorError: promtool is not installed or ran too long.
    """
    digest = hashlib.sha256()
    promtool = find_binary("promtool")
    digest.update(probe([promtool, "--version"]).stdout.encode())
    for path in [*rule_files, *(f.path for f in test_files)]:
        digest.update(str(path.relative_to(project.root)).encode() + b"\0" + path.read_bytes() + b"\0")
    cache = project.root / CACHE_DIR / f"{digest.hexdigest()[:32]}.json"
    try:
        return [ToolProblem(**{**item, "path": Path(item["path"])}) for item in json.loads(cache.read_text())]
    except (OSError, ValueError, TypeError):
        pass
    verdicts = check_rules(rule_files)
    if not verdicts:
        with ThreadPoolExecutor(max_workers=4) as pool:
            verdicts = [found for failures in pool.map(run_rule_tests, test_files) for found in failures]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps([{**asdict(v), "path": str(v.path)} for v in verdicts]))
    except OSError:
        pass  # a read-only tree: no cache, same verdicts
    return verdicts


@check(
    "alert-tests",
    family="AT",
    rules={
        "AT001": "an alert has no promtool test case where it fires",
        "AT002": "an alert has no near miss: no promtool test where it must not fire",
        "AT003": "an alert's timing is not tested: no promtool test where it does not fire yet, fires, then stops",
        "AT004": "`promtool check rules` rejects a rules file",
        "AT005": "a `promtool test rules` case fails",
        "AT006": "a promtool test case names an alert that is not in the rules",
        "AT007": "a promtool test file cannot be used, or promtool is not installed",
    },
)
def alert_tests(project: Project) -> Iterator[Problem]:
    """Run promtool over the rules and their tests, and check every alert is tested three ways."""
    rules_dir = project.root / sources.ALERTS_DIR
    rule_files = sorted(rules_dir.glob("*.y*ml")) if rules_dir.is_dir() else []
    if not rule_files:
        return
    rules = sources.alert_rules(project.root)
    test_files: list[RuleTestFile] = []
    tests_dir = project.root / TESTS_DIR
    for path in sorted(tests_dir.glob("*.y*ml")) if tests_dir.is_dir() else []:
        try:
            test_file = read_test_file(path)
        except SourceError as exc:
            yield Problem(_rel(project, path), exc.line or 1, 1, "AT007", f"{exc.message}")
            continue
        if not any(f in {r.resolve() for r in rule_files} for f in test_file.rule_files):
            line = test_file.doc.line_of(("rule_files",)) if test_file.doc else 1
            yield Problem(_rel(project, path), line, 1, "AT007",
                          f"the test loads none of the rules in {sources.ALERTS_DIR}: set `rule_files: [../alerts.yaml]`")
            continue
        test_files.append(test_file)
    names = {rule.name for rule in rules}
    for test_file in test_files:
        for found in unknown_alerts(test_file, names):
            yield Problem(_rel(project, found.path), found.line, found.col, _KIND_CODES[found.kind], found.message)
    try:
        verdicts = _verdicts(project, rule_files, test_files)
    except MonitorError as exc:
        yield Problem(_rel(project, rule_files[0]), 1, 1, "AT007", str(exc))
        return
    for found in verdicts:
        message = f"promtool check rules: {found.message}" if found.kind == "check" else found.message
        yield Problem(_rel(project, found.path), found.line, found.col, _KIND_CODES[found.kind], message)
    kinds = coverage([case for f in test_files for case in f.cases])
    where = f"add one to {TESTS_DIR}/ (see the files there)"
    for rule in rules:
        have = kinds.get(rule.name, set())
        if "fires" not in have:
            yield Problem(rule.path, rule.line, 1, "AT001", f"alert {rule.name} has no promtool case where it fires: {where}")
        if "near-miss" not in have:
            yield Problem(rule.path, rule.line, 1, "AT002", f"alert {rule.name} has no near miss (a test where it must not fire): {where}")
        if "fires" in have and "timing" not in have:
            yield Problem(rule.path, rule.line, 1, "AT003",
                          f"alert {rule.name}'s timing is untested: give a firing test a case before it fires and one after it stops")
