"""Checks bound to the real Chorus code: chorusctl parses, PromQL uses exported metrics, curl calls real paths.

These feed broken runbooks to the checks while the CLI parser, the metric registries
and the OpenAPI document come from the real `chorus` package, with the real
`stack/config/chorus.yaml` copied into the fixture tree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from handbook.checks.commands import curl_call, parse_error, quiet
from handbook.checks.promql import query_problems
from handbook.problems import Problem
from handbook.project import Project
from handbook.runner import run_checks
from test_runbook_checks import FRONT, SECTIONS, make_tree


def stack_tree(tmp_path: Path, diagnose: str) -> Path:
    """The fixture tree with the real configuration and one task runbook whose Diagnose is `diagnose`."""
    config = (ROOT / "stack/config/chorus.yaml").read_text()
    body = SECTIONS.replace("Look.", diagnose)
    return make_tree(tmp_path, {"stack/config/chorus.yaml": config, "runbooks/task.md": FRONT + body})


def problems(root: Path, family: str) -> list[Problem]:
    return run_checks(Project(root), [family]).problems


def test_cmd001_chorusctl_must_parse(tmp_path: Path) -> None:
    diagnose = (
        "```bash\n"
        "chorusctl status\n"  # 21 fine
        "chorusctl frobnicate\n"  # 22 unknown command
        "chorusctl status --verbose\n"  # 23 unknown option
        "chorusctl drain\n"  # 24 missing argument
        'chorusctl drain "$NODE" --wait --timeout "$SECONDS"\n'  # 25 fine: variables
        "chorusctl --help | head -n 3\n"  # 26 fine, and nothing is printed
        "```"
    )
    found = problems(stack_tree(tmp_path, diagnose), "CMD001")
    assert [(p.line, p.code) for p in found] == [(22, "CMD001"), (23, "CMD001"), (24, "CMD001")]
    assert "invalid choice: 'frobnicate'" in found[0].message
    assert "unrecognized arguments: --verbose" in found[1].message
    assert "the following arguments are required: NODE" in found[2].message


def test_chorusctl_parse_errors_are_caught_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    from handbook import sources

    parser = quiet(sources.cli_parser("chorusctl"))
    assert parse_error(parser, ["no-such-command"]) is not None
    assert parse_error(parser, ["--help"]) is None
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_pq_queries_must_parse_and_use_exported_names(tmp_path: Path) -> None:
    diagnose = (
        "```promql\nsum by (node) (rate(chorus_fanout_frames_out_total[5m]))\n```\n\n"  # 21 fine
        "```promql\nsum(rate(chorus_fanout_frames_out_total[5m])\n```\n\n"  # 25 PQ001
        "```promql\nrate(chorus_fanout_frame_out_total[5m])\n```\n\n"  # 29 PQ002
        '```promql\nchorus_fanout_listeners{space="x"}\n```\n\n'  # 33 PQ003
        "```promql\nsum by (le) (rate(chorus_gateway_join_latency_seconds_bucket[5m]))\n```\n\n"  # 37 fine: le
        "```promql\nsum by (shard) (chorus_fanout_listeners)\n```"  # 41 PQ003 grouping
    )
    found = problems(stack_tree(tmp_path, diagnose), "PQ")
    assert [(p.line, p.code) for p in found] == [(25, "PQ001"), (29, "PQ002"), (33, "PQ003"), (41, "PQ003")]
    assert "did you mean chorus_fanout_frames_out_total?" in found[1].message


def test_pq_alert_expressions_as_live_values_are_checked_too() -> None:
    assert list(query_problems("up == 0", {"up": set()})) == []
    assert [c for _, c, _ in query_problems("nope_total > 1", {"up": set()})] == ["PQ002"]


def test_cmd006_cmd007_curl_paths_and_methods(tmp_path: Path) -> None:
    diagnose = (
        "```bash\n"
        "curl -s http://127.0.0.1:{@service.gateway.port.http}/v1/status\n"  # 21 fine
        'curl -s "http://127.0.0.1:8080/v1/spaces/$SPACE_ID" | jq .\n'  # 22 fine: a variable fills the id
        "curl -s -X POST http://127.0.0.1:8080/v1/nodes/fanout-1/drain\n"  # 23 fine
        "curl -s http://127.0.0.1:8080/v1/space\n"  # 24 unknown path
        "curl -s -X DELETE http://127.0.0.1:8080/v1/spaces/sp-1\n"  # 25 method not allowed
        "curl -sd '{}' http://127.0.0.1:8080/v1/status\n"  # 26 data makes it a POST: not allowed
        "curl -s http://127.0.0.1:9090/api/v1/query\n"  # 27 not the gateway: not checked
        "```"
    )
    found = problems(stack_tree(tmp_path, diagnose), "CMD")
    assert [(p.line, p.code) for p in found] == [(24, "CMD006"), (25, "CMD007"), (26, "CMD007")]


def test_curl_method_rules() -> None:
    assert curl_call(("-s", "http://h/x")).method == "GET"  # type: ignore[union-attr]
    assert curl_call(("-d", "a=1", "http://h/x")).method == "POST"  # type: ignore[union-attr]
    assert curl_call(("-G", "-d", "a=1", "http://h/x")).method == "GET"  # type: ignore[union-attr]
    assert curl_call(("-I", "http://h/x")).method == "HEAD"  # type: ignore[union-attr]
    assert curl_call(("-XPUT", "http://h/x")).method == "PUT"  # type: ignore[union-attr]
    assert curl_call(("--request=PATCH", "--url", "http://h/x")).url == "http://h/x"  # type: ignore[union-attr]
    assert curl_call(("-s",)) is None
