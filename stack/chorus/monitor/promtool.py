"""`promtool check rules` and `promtool test rules`, their output mapped to `path:line:col: message`.

promtool prints its findings for people, without a file line for test failures. This
module runs it and turns each finding into a `ToolProblem` at the line to fix: for a
rules file the line promtool names, for a failing test case the line of the
`alert_rule_test` entry (found by the test's name, the alert and the eval time). It
also reads the test files itself, because promtool cannot see two mistakes: a
typo'd `alertname` in a case that expects no alert passes, and an alert with no case
at all is not its concern.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chorus.monitor.binaries import MonitorError, find_binary
from chorus.yamllines import LocatedDocument, SourceError, load_yaml

PROMTOOL_TIMEOUT_S = 120.0


@dataclass(frozen=True, order=True)
class ToolProblem:
    """One finding about a rules or test file.

    Attributes:
        path: The file to fix.
        line: 1-based line.
        col: 1-based column.
        kind: What kind of finding: `check` (promtool check rules), `test` (a failing case),
            `unknown-alert` (a test names an alert the rules lack), `unreadable` (a test file that
            cannot be used).
        message: What is wrong and what to do.
    """

    path: Path
    line: int
    col: int
    kind: str
    message: str

    def format(self) -> str:
        """`path:line:col: message`."""
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


@dataclass
class AlertCase:
    """One `alert_rule_test` entry of a promtool test file.

    Attributes:
        path: The test file.
        line: The line of the entry.
        test: The name of the test (`tests[].name`) it belongs to.
        alertname: The alert it asserts on.
        eval_time: When (as written, e.g. `10m`).
        eval_s: When, in seconds.
        fires: Whether it expects the alert to fire (non-empty `exp_alerts`).
    """

    path: Path
    line: int
    test: str
    alertname: str
    eval_time: str
    eval_s: float
    fires: bool


@dataclass
class RuleTestFile:
    """A promtool test file, read with the line of every key.

    Attributes:
        path: The file.
        rule_files: Its `rule_files`, resolved against its folder.
        cases: Its `alert_rule_test` entries.
        doc: The located document.
    """

    path: Path
    rule_files: list[Path]
    cases: list[AlertCase] = field(default_factory=list)
    doc: LocatedDocument | None = None


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


def seconds(text: str) -> float:
    """Seconds in a Prometheus duration such as `1h30m` (`0` for an empty or unreadable one)."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", str(text))
    return sum(float(n) * _UNITS[u] for n, u in parts)


def read_test_file(path: Path) -> RuleTestFile:
    """Read a promtool test file.

    Args:
        path: The file.

    Returns:
        Its rule files and alert cases.

    Raises:
        SourceError: It is not valid YAML or not shaped like a promtool test file.
    """
    doc = load_yaml(path)
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise SourceError("not a promtool test file: expected `rule_files:` and a `tests:` list", path, doc.line_of(()))
    rule_files = [(path.parent / str(p)).resolve() for p in data.get("rule_files") or []]
    result = RuleTestFile(path, rule_files, doc=doc)
    for t, test in enumerate(data["tests"]):
        if not isinstance(test, dict):
            raise SourceError("each test is a mapping with `input_series` and `alert_rule_test`", path, doc.line_of(("tests", t)))
        for c, case in enumerate(test.get("alert_rule_test") or []):
            if not isinstance(case, dict):
                raise SourceError("each alert_rule_test entry is a mapping", path, doc.line_of(("tests", t, "alert_rule_test", c)))
            result.cases.append(AlertCase(
                path=path,
                line=doc.line_of(("tests", t, "alert_rule_test", c, "alertname")),
                test=str(test.get("name", f"test {t + 1}")),
                alertname=str(case.get("alertname", "")),
                eval_time=str(case.get("eval_time", "")),
                eval_s=seconds(str(case.get("eval_time", ""))),
                fires=bool(case.get("exp_alerts")),
            ))
    return result


def _run(args: list[str], timeout_s: float = PROMTOOL_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([find_binary("promtool"), *args], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise MonitorError(f"promtool {' '.join(args)} took more than {timeout_s:.0f} s: shorten the tests' input series") from None


_LOCATED = re.compile(r"^(?P<file>\S.*?): (?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$")
_YAML_LINE = re.compile(r"^(?P<file>\S.*?): yaml: line (?P<line>\d+): (?P<msg>.*)$")
_UNMARSHAL = re.compile(r"^(?P<file>\S.*?): yaml: unmarshal errors:$")
_UNMARSHAL_ITEM = re.compile(r"^\s+line (?P<line>\d+): (?P<msg>.*)$")


def parse_check_output(output: str, paths: Iterable[Path]) -> list[ToolProblem]:
    """Turn `promtool check rules` output into problems.

    Args:
        output: promtool's stdout and stderr.
        paths: The files it checked (lines naming other text are ignored).

    Returns:
        One problem per finding, duplicates removed.
    """
    by_name = {str(p): p for p in paths}
    problems: list[ToolProblem] = []
    pending: Path | None = None
    for raw in output.splitlines():
        if pending is not None:
            item = _UNMARSHAL_ITEM.match(raw)
            if item:
                problems.append(ToolProblem(pending, int(item["line"]), 1, "check", item["msg"].strip()))
                continue
            pending = None
        for pattern in (_LOCATED, _YAML_LINE):
            match = pattern.match(raw)
            if match and match["file"] in by_name:
                col = int(match.groupdict().get("col") or 1)
                problems.append(ToolProblem(by_name[match["file"]], int(match["line"]), col, "check", match["msg"].strip()))
                break
        else:
            match = _UNMARSHAL.match(raw)
            if match and match["file"] in by_name:
                pending = by_name[match["file"]]
            elif ": " in raw and raw.split(": ", 1)[0] in by_name:
                name, msg = raw.split(": ", 1)
                line = _line_quoting(by_name[name], msg)
                problems.append(ToolProblem(by_name[name], line, 1, "check", msg.strip()))
    return sorted(set(problems))


def _line_quoting(path: Path, message: str) -> int:
    """The first line of `path` containing the value a message quotes (e.g. `"1x"`), else 1."""
    quoted = re.search(r'"([^"]+)"', message)
    if quoted:
        try:
            for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if re.search(rf"(?<![\w.]){re.escape(quoted[1])}(?![\w.])", text):
                    return number
        except OSError:
            pass
    return 1


def check_rules(paths: list[Path]) -> list[ToolProblem]:
    """Run `promtool check rules` on rules files.

    Args:
        paths: The rules files.

    Returns:
        Its findings at their lines (empty when it accepts every file).

    Raises:
        MonitorError: promtool is not installed.
    """
    if not paths:
        return []
    result = _run(["check", "rules", *map(str, paths)])
    problems = parse_check_output(result.stdout + "\n" + result.stderr, paths)
    if result.returncode != 0 and not problems:
        detail = next((l.strip() for l in (result.stderr or result.stdout).splitlines() if l.strip() and "FAILED" not in l), "")
        problems = [ToolProblem(paths[0], 1, 1, "check", f"promtool check rules failed: {detail}")]
    return problems


_LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _alert_sets(text: str) -> list[dict[str, str]]:
    """The alerts of an `exp:[...]` or `got:[...]` block, labels and annotations merged (annotations prefixed `@`)."""
    alerts: list[dict[str, str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Labels:{"):
            alerts.append(dict(_LABELS.findall(stripped)))
        elif stripped.startswith("Annotations:{") and alerts:
            alerts[-1].update({f"@{k}": v for k, v in _LABELS.findall(stripped)})
    return alerts


def _difference(expected: list[dict[str, str]], got: list[dict[str, str]]) -> str:
    """What differs between expected and actual alerts, briefly."""
    if len(expected) != len(got):
        return f"expected {len(expected)} alert(s), got {len(got)}"
    for want, have in zip(expected, got):
        for key in sorted(set(want) | set(have)):
            if want.get(key) != have.get(key):
                what = f"annotation {key[1:]}" if key.startswith("@") else f"label {key}"
                return f"{what} is {have.get(key, '(missing)')!r}, expected {want.get(key, '(missing)')!r}"
    return "expected and actual alerts differ in order"


_FAILURE = re.compile(r"^\s+name: (?P<test>.*),\s*\n\s+alertname: (?P<alert>\S+), time: (?P<time>\S+?),\s*\n(?P<body>(?:\s{6,}.*\n?)*)", re.MULTILINE)


def parse_test_output(output: str, test_file: RuleTestFile) -> list[ToolProblem]:
    """Turn `promtool test rules` output for one file into problems at the failing cases' lines.

    Args:
        output: promtool's output for this file.
        test_file: The file, read.

    Returns:
        One problem per failing case; other failures at the file's first line.
    """
    problems: list[ToolProblem] = []
    for match in _FAILURE.finditer(output):
        when = seconds(match["time"])
        case = next((c for c in test_file.cases if c.test == match["test"].strip() and c.alertname == match["alert"]
                     and abs(c.eval_s - when) < 0.001), None)
        body = match["body"]
        exp, _, got = body.partition("got:")
        detail = _difference(_alert_sets(exp), _alert_sets(got))
        line = case.line if case else 1
        problems.append(ToolProblem(test_file.path, line, 1, "test",
                                    f"test '{match['test'].strip()}': {match['alert']} at {match['time']}: {detail}"))
    if not problems and "FAILED" in output:
        lines = [l.strip() for l in output.splitlines() if l.strip() and not l.startswith("Unit Testing") and "FAILED" not in l]
        located = next((l for l in lines if _LOCATED.match(l)), None)
        text = located or (lines[0] if lines else "promtool test rules failed")
        problems.append(ToolProblem(test_file.path, 1, 1, "test", f"promtool test rules: {text}"))
    return problems


def run_rule_tests(test_file: RuleTestFile) -> list[ToolProblem]:
    """Run `promtool test rules` on one test file.

    Args:
        test_file: The file, read with `read_test_file`.

    Returns:
        Its failing cases at their lines (empty when every case passes).

    Raises:
        MonitorError: promtool is not installed or ran too long.
    """
    result = _run(["test", "rules", str(test_file.path)])
    if result.returncode == 0:
        return []
    return parse_test_output(result.stdout + "\n" + result.stderr, test_file)


def unknown_alerts(test_file: RuleTestFile, alert_names: set[str]) -> list[ToolProblem]:
    """Problems promtool cannot see in a test file: cases naming alerts the rules lack.

    Args:
        test_file: The file, read.
        alert_names: Every alert in the rules.

    Returns:
        One `unknown-alert` problem per such case.
    """
    import difflib

    problems = []
    for case in test_file.cases:
        if case.alertname not in alert_names:
            close = difflib.get_close_matches(case.alertname, sorted(alert_names), n=1)
            hint = f"did you mean {close[0]}?" if close else "the rules have no such alert"
            problems.append(ToolProblem(case.path, case.line, 1, "unknown-alert",
                                        f"test '{case.test}' names unknown alert {case.alertname!r}: {hint}"))
    return problems


def rule_names(doc: Any) -> list[str]:
    """The alert names of a loaded rules document."""
    groups = doc.get("groups") if isinstance(doc, dict) else None
    return [str(r["alert"]) for g in groups or [] if isinstance(g, dict) for r in g.get("rules") or [] if isinstance(r, dict) and "alert" in r]
