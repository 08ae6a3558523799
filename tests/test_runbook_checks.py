"""Runbook checks: each rule fires on a broken fixture, at the exact line, and the clean fixture is clean.

Every test copies `fixtures/runbooks_tree` (a small handbook with a catalog, two alert
rules, manifests and two clean runbooks), breaks one thing, and runs the checks in-process.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import BIN, FIXTURES
from handbook.problems import Problem
from handbook.project import Project
from handbook.runner import run_checks

BASE = FIXTURES / "runbooks_tree"

FRONT = """\
---
title: "A task"
services: [fanout]
severity: info
owner: media
last_reviewed: 2026-11-01
review_interval: 90d
---
"""

SECTIONS = """\

## What is happening

Something.

## Impact

Some.

## Diagnose

Look.

## Mitigate

Act.

## Verify

Check.

## Escalate

Call.
"""


def make_tree(tmp_path: Path, files: dict[str, str] | None = None, remove: tuple[str, ...] = ()) -> Path:
    """A copy of the fixture tree with files written (dedented) and others removed."""
    root = tmp_path / "tree"
    shutil.copytree(BASE, root)
    for rel in remove:
        (root / rel).unlink()
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


FIXTURE_IGNORES = ("DP", "AR", "MK")
"""The fixture's stack is a minimal sketch for the runbook checks (no configuration, a one-object
manifest); the deployment and alert-rule families are tested over copies of the real tree."""


def check(root: Path, *select: str) -> list[Problem]:
    """Run the selected checks (all but the deployment families when none) and return the problems."""
    return run_checks(Project(root), list(select) or None, None if select else FIXTURE_IGNORES).problems


def found(problems: list[Problem]) -> list[tuple[str, int, str]]:
    """`(file, line, code)` of each problem, for compact assertions."""
    return [(p.path.as_posix() if not p.path.is_absolute() else p.path.name, p.line, p.code) for p in problems]


def task(body: str = SECTIONS, front: str = FRONT) -> str:
    """A task runbook: front matter and body."""
    return front + body


def test_clean_fixture_is_clean(tmp_path: Path) -> None:
    assert check(make_tree(tmp_path)) == []


# --- RB: format ------------------------------------------------------------------------------------


def test_rb001_schema_errors_point_at_the_key(tmp_path: Path) -> None:
    front = FRONT.replace("severity: info", "severity: sev1").replace("review_interval: 90d", "review_interval: quarterly")
    front = front.replace("owner: media\n", "owner: media\nowners: [media]\n").replace('title: "A task"\n', "")
    root = make_tree(tmp_path, {"runbooks/task.md": task(front=front)})
    problems = check(root, "RB001")
    assert found(problems) == [
        ("runbooks/task.md", 1, "RB001"),  # title is missing: reported at the opening ---
        ("runbooks/task.md", 3, "RB001"),
        ("runbooks/task.md", 5, "RB001"),
        ("runbooks/task.md", 7, "RB001"),
    ]
    messages = {p.line: p.message for p in problems}
    assert "severity" in messages[3] and "'critical', 'warning' or 'info'" in messages[3]
    assert "owners: unknown key (allowed: title, alerts" in messages[5]
    assert "review_interval" in messages[7]
    assert any("title: required key is missing" in p.message for p in problems)


def test_rb001_missing_front_matter(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"runbooks/bare.md": SECTIONS})
    assert found(check(root, "RB001")) == [("runbooks/bare.md", 1, "RB001")]


def test_rb002_missing_section(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"runbooks/task.md": task(SECTIONS.replace("## Impact\n\nSome.\n", ""))})
    problems = check(root, "RB002")
    assert found(problems) == [("runbooks/task.md", 9, "RB002")]
    assert "## Impact" in problems[0].message


def test_rb002_a_runbook_without_any_section_is_one_line(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"runbooks/task.md": task("")})
    problems = check(root, "RB")
    assert found(problems) == [("runbooks/task.md", 9, "RB002")]
    assert "no section at all" in problems[0].message and "handbook new runbook" in problems[0].message


def test_rb003_out_of_order(tmp_path: Path) -> None:
    body = SECTIONS.replace("## Verify\n\nCheck.\n\n## Escalate\n\nCall.\n", "## Escalate\n\nCall.\n\n## Verify\n\nCheck.\n")
    root = make_tree(tmp_path, {"runbooks/task.md": task(body)})
    assert found(check(root, "RB003")) == [("runbooks/task.md", 30, "RB003")]


def test_rb004_unexpected_and_duplicate_sections(tmp_path: Path) -> None:
    body = SECTIONS + "\n## Notes\n\nx\n\n## Impact\n\nagain\n"
    root = make_tree(tmp_path, {"runbooks/task.md": task(body)})
    assert found(check(root, "RB004")) == [("runbooks/task.md", 34, "RB004"), ("runbooks/task.md", 38, "RB004")]


def test_rb005_empty_section(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"runbooks/task.md": task(SECTIONS.replace("Check.\n", ""))})
    assert found(check(root, "RB005")) == [("runbooks/task.md", 26, "RB005")]


def test_rb006_todo_left(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"runbooks/task.md": task(SECTIONS.replace("Act.", "TODO: act."))})
    assert found(check(root, "RB006")) == [("runbooks/task.md", 24, "RB006")]


# --- OW: ownership ---------------------------------------------------------------------------------


def test_ow_services_and_owner_exist_in_catalog(tmp_path: Path) -> None:
    files = {
        "runbooks/a.md": task(front=FRONT.replace("[fanout]", "[fanout, mixer]")),
        "runbooks/b.md": task(front=FRONT.replace("owner: media", "owner: audio")),
        "runbooks/c.md": task(front=FRONT.replace("owner: media", "owner: control-plane")),
    }
    problems = check(make_tree(tmp_path, files), "OW")
    assert found(problems) == [("runbooks/a.md", 3, "OW001"), ("runbooks/b.md", 5, "OW002"), ("runbooks/c.md", 5, "OW003")]
    assert problems[0].col == 20 and "'mixer'" in problems[0].message


# --- AL: alerts ------------------------------------------------------------------------------------


def test_al001_alert_without_runbook(tmp_path: Path) -> None:
    problems = check(make_tree(tmp_path, remove=("runbooks/gateway-down.md",)), "AL")
    assert found(problems) == [("stack/deploy/prometheus/alerts.yaml", 13, "AL001")]
    assert "handbook new runbook NAME --alert ChorusGatewayDown" in problems[0].message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("last_reviewed: 2026-11-01", "last_reviewed: 2026-02-30"), ("runbooks/fanout-near-cap.md", 7, "FM001")),
        (("owner: media", "owner: media\nowner: media"), ("runbooks/fanout-near-cap.md", 7, "FM001")),
        (("severity: warning", "severity: loud"), ("runbooks/fanout-near-cap.md", 5, "RB001")),
    ],
    ids=["impossible-date", "duplicate-key", "schema"],
)
def test_invalid_front_matter_is_reported_once_at_its_line(tmp_path: Path, change: tuple[str, str], expected: tuple) -> None:
    # its alert is still named (no AL001 "create a runbook"), and CODEOWNERS is not called out of date
    text = (BASE / "runbooks/fanout-near-cap.md").read_text().replace(*change, 1)
    problems = check(make_tree(tmp_path, {"runbooks/fanout-near-cap.md": text}))
    assert found(problems) == [expected]


def test_an_unreadable_runbook_is_one_line_not_a_missing_runbook(tmp_path: Path) -> None:
    # its alert is still answered (no AL001) and CODEOWNERS is not called out of date (no CO001)
    root = make_tree(tmp_path)
    page = root / "runbooks/fanout-near-cap.md"
    page.write_bytes(page.read_bytes().replace(b"## Impact\n", b"## Impact\ncaf\xff\n", 1))
    assert [code for _, _, code in found(check(root))] == ["HB001"]


def test_al002_alert_with_two_runbooks_and_al003_unknown_alert(tmp_path: Path) -> None:
    front = FRONT.replace("services:", "alerts: [ChorusGatewayDown, ChorusFanoutNearCapp]\nservices:").replace("severity: info", "severity: critical")
    front = front.replace("[fanout]", "[gateway]").replace("owner: media", "owner: control-plane")
    problems = check(make_tree(tmp_path, {"runbooks/zz-second.md": task(front=front)}), "AL")
    assert found(problems) == [("runbooks/zz-second.md", 3, "AL002"), ("runbooks/zz-second.md", 3, "AL003")]
    assert "runbooks/gateway-down.md" in problems[0].message
    assert "did you mean ChorusFanoutNearCap?" in problems[1].message


def test_al004_al005_runbook_url(tmp_path: Path) -> None:
    rules = (BASE / "stack/deploy/prometheus/alerts.yaml").read_text()
    rules = rules.replace("          runbook_url: https://handbook.example/runbooks/fanout-near-cap/\n", "")
    rules = rules.replace("runbooks/gateway-down/", "runbooks/gateway-outage/")
    problems = check(make_tree(tmp_path, {"stack/deploy/prometheus/alerts.yaml": rules}), "AL")
    assert found(problems) == [("stack/deploy/prometheus/alerts.yaml", 4, "AL004"), ("stack/deploy/prometheus/alerts.yaml", 12, "AL005")]
    assert "expected https://handbook.example/runbooks/gateway-down/" in problems[1].message


def test_al005_base_url_comes_from_site_url(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"mkdocs.yml": "site_name: x\nsite_url: https://elsewhere.example/handbook/\n"})
    assert [p.code for p in check(root, "AL")] == ["AL005", "AL005"]


def test_al006_severity_differs(tmp_path: Path) -> None:
    text = (BASE / "runbooks/gateway-down.md").read_text().replace("severity: critical", "severity: warning")
    assert found(check(make_tree(tmp_path, {"runbooks/gateway-down.md": text}), "AL")) == [("runbooks/gateway-down.md", 5, "AL006")]


# --- RF: live values and links ---------------------------------------------------------------------


def test_rf001_unknown_live_value_suggests_the_closest(tmp_path: Path) -> None:
    body = SECTIONS.replace("Something.", "Cap is {@alert.ChorusFanoutNearCap.treshold} and {@k8s.deployment.chorus-fanot.replicas}.")
    problems = check(make_tree(tmp_path, {"runbooks/task.md": task(body)}), "RF001")
    assert [(p.line, p.col) for p in problems] == [(12, 8), (12, 50)]
    assert "did you mean alert.ChorusFanoutNearCap.threshold?" in problems[0].message
    assert "did you mean k8s.deployment.chorus-fanout.replicas?" in problems[1].message


def test_rf001_in_docs_pages_and_code_blocks_too(tmp_path: Path) -> None:
    files = {"docs/page.md": "# Page\n\n```bash\nkubectl -n {@k8s.namespace.chorsu} get pods\n```\n"}
    problems = check(make_tree(tmp_path, files), "RF")
    assert found(problems) == [("docs/page.md", 4, "RF001")]
    assert problems[0].col == 12 and "k8s.namespace.chorus" in problems[0].message


def test_rf002_malformed_and_escaped(tmp_path: Path) -> None:
    body = SECTIONS.replace("Something.", "Bad {@ fanout cap } but \\{@literal} and ${@} are fine.")
    assert found(check(make_tree(tmp_path, {"runbooks/task.md": task(body)}), "RF")) == [("runbooks/task.md", 12, "RF002")]


def test_rf003_rf004_links_and_anchors(tmp_path: Path) -> None:
    body = SECTIONS.replace(
        "Look.",
        "See [a](gateway-down.md#impact), [b](gateway-down.md#impakt), [c](missing.md),\n"
        "[d](../index.md#escalation-path), [e](#verify), [f](../reference/alerts.md#chorusgatewaydown),\n"
        "[g](../reference/alerts.md#chorusgatewaydwn), [h](https://example.com/x).",
    )
    problems = check(make_tree(tmp_path, {"runbooks/task.md": task(body)}), "RF")
    assert [(p.line, p.col, p.code) for p in problems] == [(20, 38, "RF004"), (20, 67, "RF003"), (21, 5, "RF004"), (22, 5, "RF004")]
    messages = " ".join(p.message for p in problems)
    assert "did you mean #impact?" in messages and "did you mean #escalation-paths?" in messages
    assert "did you mean #chorusgatewaydown?" in messages


# --- CMD: kubectl ----------------------------------------------------------------------------------


def test_cmd_kubectl_names_must_exist(tmp_path: Path) -> None:
    body = SECTIONS.replace(
        "Look.",
        "```bash\n"
        "kubectl -n chorus-prod get pods\n"  # 21: unknown namespace
        "kubectl get deployment/chorus-fanout\n"  # 22: missing -n
        "kubectl -n chorus rollout restart deployment/chorus-fanot\n"  # 23: unknown deployment
        "kubectl -n chorus logs deploy/chorus-fanout -c fan-out\n"  # 24: unknown container
        "kubectl -n chorus get pods -l app.kubernetes.io/name=chorus-fan \\\n"  # 25: unknown label value
        "  -o wide\n"
        "kubectl -n chorus get hpa chorus-fanout -o yaml | grep -i replicas\n"  # 27: fine
        "```",
    )
    problems = check(make_tree(tmp_path, {"runbooks/task.md": task(body)}), "CMD")
    assert found(problems) == [
        ("runbooks/task.md", 21, "CMD002"),
        ("runbooks/task.md", 22, "CMD002"),
        ("runbooks/task.md", 23, "CMD003"),
        ("runbooks/task.md", 24, "CMD004"),
        ("runbooks/task.md", 25, "CMD005"),
    ]
    assert "add -n chorus" in problems[1].message
    assert "chorus-fanout, chorus-gateway" in problems[2].message


def test_cmd_console_blocks_check_only_prompted_lines(tmp_path: Path) -> None:
    body = SECTIONS.replace("Look.", "```console\n$ kubectl -n nowhere get pods\nkubectl -n also-nowhere output line\n```")
    assert found(check(make_tree(tmp_path, {"runbooks/task.md": task(body)}), "CMD")) == [("runbooks/task.md", 21, "CMD002")]


# --- HV: hand-typed values -------------------------------------------------------------------------


def test_hv001_hand_typed_numbers_durations_and_names(tmp_path: Path) -> None:
    body = SECTIONS.replace(
        "Something.",
        "It fires above 90% for 5 minutes; we run 12 replicas of `chorus-fanout`.\n"
        "Step 2 of 3, on 2026-11-01, at 10.0.0.1, 8 nodes, page #chorus-media.",
    )
    problems = check(make_tree(tmp_path, {"runbooks/task.md": task(body)}), "HV")
    assert [(p.line, p.col) for p in problems] == [(12, 16), (12, 24), (12, 42), (12, 58), (13, 56)]
    assert "alert.ChorusFanoutNearCap.threshold" in problems[0].message
    assert "alert.ChorusFanoutNearCap.for" in problems[1].message
    assert "{@k8s.deployment.chorus-fanout.replicas}" in problems[2].message
    assert "team.media.chat" in problems[4].message


def test_hv_silencer_prints_its_reason_and_hv002(tmp_path: Path) -> None:
    body = SECTIONS.replace(
        "Something.",
        "Opus frames last 5 minutes<!-- literal: a made-up example, not the alert's for -->.\n"
        "Cap 12 <!-- literal -->\n"
        "Nothing here <!-- literal: stale -->",
    )
    root = make_tree(tmp_path, {"runbooks/task.md": task(body)})
    report = run_checks(Project(root), ["HV"])
    # Line 14's silencer silences nothing that is known, but this sketch has no configuration: it may silence one of
    # its values, so it is not called useless (tests/test_bad_input.py shows it reported on a complete tree).
    assert found(report.problems) == [("runbooks/task.md", 13, "HV001"), ("runbooks/task.md", 13, "HV002")]
    assert [(p.line, p.silenced) for p in report.silenced] == [(12, "a made-up example, not the alert's for")]
    result = subprocess.run([str(BIN / "handbook"), "--root", str(root), "check", "--select", "HV"], capture_output=True, text=True)
    assert "runbooks/task.md:12:18: note: HV001 silenced (a made-up example, not the alert's for):" in result.stdout
    assert result.returncode == 1


HTTP_CONFIG = "gateway:\n  join_rate_per_s: 200\n  max_sessions: 503\n"


def hv_problems(tmp_path: Path, prose: str, config: str | None = None) -> list[tuple[int, int, str, str]]:
    """`(line, col, code, value)` of each HV problem for a task runbook whose first section is `prose` (from line 12)."""
    files = {"runbooks/task.md": task(SECTIONS.replace("Something.", prose))}
    if config is not None:
        files["stack/config/chorus.yaml"] = config
    return [(p.line, p.col, p.code, p.message.split("'")[1]) for p in check(make_tree(tmp_path, files), "HV")]


def test_hv_http_status_codes_are_not_settings(tmp_path: Path) -> None:
    prose = (
        "The packager answers HTTP 200 and a `503` response; curl shows `200 OK`.\n"  # 12: none
        "It serves the old playlist with `200`, as `curl -I` shows.\n"  # 13: none (alone in code, line speaks HTTP)
        "The playlist answered `404` for about 3 s, then `200`:\n"  # 14: none
        "Shed joins fail with 503 Service Unavailable; status 503, a 503 error.\n"  # 15: none
        "The gateway admits 200 joins a second and answers 503 sessions at most.\n"  # 16: 200 and 503 are counts
        "The cap is `503`, and 200 is the rate.\n"  # 17: no HTTP on the line
    )
    assert hv_problems(tmp_path, prose, HTTP_CONFIG) == [
        (16, 20, "HV001", "200"),
        (16, 51, "HV001", "503"),
        (17, 13, "HV001", "503"),
        (17, 23, "HV001", "200"),
    ]


def test_hv_a_suffix_written_onto_a_number_changes_it(tmp_path: Path) -> None:
    prose = (
        "The gateway holds 0.503k sessions and admits 200 joins.\n"  # 12: k is a thousand: 503; 200 as written
        "Joins come 2x faster, errors are 5xx, buffers 200KiB.\n"  # 13: none: not the plain numbers
    )
    assert hv_problems(tmp_path, prose, HTTP_CONFIG) == [(12, 19, "HV001", "0.503k"), (12, 46, "HV001", "200")]


def test_hv_promql_range_windows_are_not_durations(tmp_path: Path) -> None:
    prose = (
        "The shed ratio over 5 minutes, `rate(x[5m])` and `max_over_time(x[5m:1m])` stay below it.\n"  # 12: none
        "Count them per 5m, in the last 5 minutes, over the past 5m, in a 5m window, at `offset 5m`.\n"  # 13: none
        "It fires when that has held for 5 minutes, or for over 5m.\n"  # 14: both are the alert's for:
        "Listeners reconnect within 5 minutes.\n"  # 15: not a window
    )
    assert hv_problems(tmp_path, prose) == [
        (14, 33, "HV001", "5 minutes"),
        (14, 56, "HV001", "5m"),
        (15, 28, "HV001", "5 minutes"),
    ]


def test_hv_a_rate_key_is_not_a_duration(tmp_path: Path) -> None:
    """`join_rate_per_s: 200` is a rate: "200 s" does not match it, "200" still does."""
    assert hv_problems(tmp_path, "A 200 s timeout; 200 is the admission rate.", HTTP_CONFIG) == [(12, 18, "HV001", "200")]


# --- all problems in one run -----------------------------------------------------------------------


def test_all_problems_in_one_run_from_the_cli(tmp_path: Path) -> None:
    body = SECTIONS.replace("Look.", "```bash\nkubectl -n nowhere get pods\n```").replace("Something.", "{@team.media.oncal}")
    front = FRONT.replace("owner: media", "owner: nobody")
    root = make_tree(tmp_path, {"runbooks/task.md": task(body, front)}, remove=("runbooks/gateway-down.md",))
    result = subprocess.run([str(BIN / "handbook"), "--root", str(root), "check", "--ignore", "DP", "--ignore", "AR", "--ignore", "MK"],
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr
    codes = [line.split(": ", 1)[1].split()[0] for line in result.stdout.splitlines()[:-1]]
    # RF003: fanout-near-cap.md links to the removed gateway-down.md
    # CO001: CODEOWNERS no longer matches the pages (one removed, one added)
    assert sorted(codes) == ["AL001", "CMD002", "CO001", "OW002", "RF001", "RF003"]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("bad", ["groups: [", "groups: {a: 1}"])
def test_broken_alert_rules_exit_2_naming_the_file(tmp_path: Path, bad: str) -> None:
    root = make_tree(tmp_path, {"stack/deploy/prometheus/alerts.yaml": bad})
    result = subprocess.run([str(BIN / "handbook"), "--root", str(root), "check", "--ignore", "DP"], capture_output=True, text=True)
    assert result.returncode == 2
    # One line: HB001, or the rules file's own rule (AR013) when it reports the same place; either names the
    # checks the file stopped.
    at_file = [line for line in result.stdout.splitlines() if line.startswith("stack/deploy/prometheus/alerts.yaml:1:1: ")]
    assert len(at_file) == 1 and at_file[0].split()[1] in ("HB001", "AR013") and "could not run" in at_file[0], result.stdout
    assert "Traceback" not in result.stdout + result.stderr


PAGE = "---\ntitle: Fan-out pages at 90% after 5m\nowner: media\nlast_reviewed: 2026-11-01\n---\n\n# Fan-out\n\n{prose}\n"


def page_problems(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, int, str]]:
    return [(str(p.path), p.line, p.message.split("'")[1]) for p in check(make_tree(tmp_path, files), "HV")]


def test_hv_covers_every_docs_page_and_its_title(tmp_path: Path) -> None:
    prose = "A node pages above 90% for 5 minutes; we run 12 replicas of `chorus-fanout`."
    found_on = page_problems(tmp_path, {"docs/architecture/fanout.md": PAGE.format(prose=prose)})
    assert found_on == [
        ("docs/architecture/fanout.md", 2, "90%"),  # the title quotes the alert's threshold...
        ("docs/architecture/fanout.md", 2, "5m"),  # ...and its for:, which go stale with the rule
        ("docs/architecture/fanout.md", 9, "90%"),
        ("docs/architecture/fanout.md", 9, "5 minutes"),
        ("docs/architecture/fanout.md", 9, "12"),
        ("docs/architecture/fanout.md", 9, "chorus-fanout"),
    ]


def test_hv_dated_records_keep_the_values_of_their_date(tmp_path: Path) -> None:
    prose = "A node paged above 90% for 5 minutes; we ran 12 replicas."
    files = {
        "docs/decisions/0042-a-choice.md": PAGE.format(prose=prose),
        "docs/incidents/a-bad-night.md": PAGE.format(prose=prose),
        "docs/incidents/index.md": PAGE.format(prose=prose),  # the index is not a record: checked
    }
    assert sorted({path for path, _, _ in page_problems(tmp_path, files)}) == ["docs/incidents/index.md"]


def test_hv_a_command_line_option_argument_is_not_a_fact(tmp_path: Path) -> None:
    prose = "Run `chorusctl up --time-scale 12 --wait=5m` for 12 replicas."
    assert page_problems(tmp_path, {"docs/start/x.md": PAGE.format(prose=prose).replace("title: Fan-out pages at 90% after 5m", "title: X")}) == [
        ("docs/start/x.md", 9, "12"),
    ]


def test_hv_results_are_cached_per_page_against_the_facts(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"docs/start/x.md": PAGE.format(prose="We run 12 replicas.").replace("Fan-out pages at 90% after 5m", "X")})

    def messages() -> list[str]:
        return [p.message for p in run_checks(Project(root), ["HV"]).problems if p.path.name == "x.md"]

    first = messages()
    assert len(first) == 1 and "k8s.deployment.chorus-fanout.replicas" in first[0]
    assert (root / ".cache/handbook/hand-typed.json").is_file()
    assert messages() == first
    manifest = next((root / "stack/deploy/kubernetes").glob("*.yaml"))
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("replicas: 12", "replicas: 14"), encoding="utf-8")
    assert not any("k8s.deployment.chorus-fanout.replicas" in m for m in messages())  # the fact moved on: not a stale hit


# --- HV: a runbook title states its alert's values -------------------------------------------------


def near_cap_title(tmp_path: Path, title: str, threshold: str = "0.9", hold: str = "5m") -> list[Problem]:
    """HV problems after giving the fanout-near-cap runbook `title` and its alert `threshold` and `for:`."""
    rules = (BASE / "stack/deploy/prometheus/alerts.yaml").read_text()
    assert "> 0.9\n        for: 5m" in rules
    rules = rules.replace("> 0.9\n        for: 5m", f"> {threshold}\n        for: {hold}")
    text = (BASE / "runbooks/fanout-near-cap.md").read_text()
    text = text.replace('title: "ChorusFanoutNearCap: a fan-out node is near its listener cap"', f'title: "{title}"')
    return check(make_tree(tmp_path, {"stack/deploy/prometheus/alerts.yaml": rules, "runbooks/fanout-near-cap.md": text}), "HV")


@pytest.mark.parametrize(
    ("title", "threshold", "hold", "flagged"),
    [
        ("ChorusFanoutNearCap: over 90% of a node's cap for five minutes", "0.9", "5m", []),
        ("ChorusFanoutNearCap: over 90% of a node's cap for five minutes", "0.8", "10m", ["90%", "five minutes"]),
        ("ChorusFanoutNearCap: over a quarter of the cap, over the last minute", "0.25", "1m", []),
        ("ChorusFanoutNearCap: over a quarter of the cap, over the last minute", "0.5", "2m", ["a quarter", "the last minute"]),
        ("ChorusFanoutNearCap: half the cap in use for 10m", "0.5", "5m", ["10m"]),
        ("ChorusFanoutNearCap: a node is near its cap", "0.8", "10m", []),
    ],
)
def test_hv_a_runbook_title_states_its_alerts_values(tmp_path: Path, title: str, threshold: str, hold: str, flagged: list[str]) -> None:
    problems = near_cap_title(tmp_path, title, threshold, hold)
    assert ["80%" in p.message for p in problems if p.message.split("'")[1] == "90%"] in ([], [True])
    assert [(p.path.as_posix(), p.line, p.message.split("'")[1]) for p in problems] == [("runbooks/fanout-near-cap.md", 2, q) for q in flagged]
    for problem in problems:  # the alert the runbook answers, today's value, and no live value (RF006 forbids it)
        assert "ChorusFanoutNearCap" in problem.message and "{@" not in problem.message
        assert "update the title to today's value (" in problem.message


def test_hv_a_runbook_title_is_compared_with_its_own_alerts_only(tmp_path: Path) -> None:
    # 1m is ChorusGatewayDown's for:, not this runbook's alert's (5m): the title is stale, and says whose value it is
    problems = near_cap_title(tmp_path, "ChorusFanoutNearCap: a node near its cap for 1m")
    assert [p.message.split(" (")[0] for p in problems] == ["the title says '1m' but alert ChorusFanoutNearCap's for: is 5m"]


def test_quantities_read_the_word_forms_titles_use() -> None:
    from handbook.quantities import quantities

    said = [(q.text, q.value, q.duration) for q in quantities("over a quarter of joins, half, two thirds, 25%, 0.9 and 100 over the last minute, for five minutes or 1h30m")]
    assert said == [
        ("a quarter", 0.25, False), ("half", 0.5, False), ("two thirds", 2 / 3, False), ("25%", 0.25, False), ("0.9", 0.9, False),
        ("100", 100.0, False), ("the last minute", 60.0, True), ("five minutes", 300.0, True), ("1h30m", 5400.0, True),
    ]
    assert quantities("one fan-out node, a second node, 3 replicas, a 700,000-listener launch, first-half") == []
