"""The Prometheus alert rules: they parse, query only what Chorus exports, and carry owners and runbooks."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path

import httpx
import promql_parser
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chorus.catalog import load_catalog
from chorus.config import ChorusConfig, load_config
from chorus.deploy.promql import analyse
from chorus.deploy.rules import REQUIRED_ANNOTATIONS, REQUIRED_LABELS, SEVERITIES, runbook_url
from conftest import ROOT
from deploy_support import ALERTS_FILE, copy_tree, line_of, mutate, rule_problems, running_services, series, site_url
from handbook import sources

REQUIRED_ALERTS = {
    "ChorusJoinShedding", "ChorusReconnectStorm", "ChorusFanoutNearCap", "ChorusSlowListenerDrops",
    "ChorusDeadAir", "ChorusHlsPlaylistStale", "ChorusGatewayEventLoopLag", "ChorusFanoutEventLoopLag",
    "ChorusPackagerEventLoopLag", "ChorusTokenVerificationFailures", "ChorusGatewayDown", "ChorusFanoutDown",
    "ChorusPackagerDown", "ChorusEdgeLostOrigin",
}
"""The conditions the issue asks alerts for (service down is one alert per service)."""


def test_promql_parser_is_the_pinned_version() -> None:
    assert importlib.metadata.version("promql-parser") == "0.11.0"


def test_real_rules_are_clean() -> None:
    assert rule_problems(ROOT) == []


def test_the_handbook_loader_sees_every_required_alert_fully_labelled() -> None:
    rules = sources.alert_rules(ROOT)
    assert REQUIRED_ALERTS <= {r.name for r in rules}
    catalog = load_catalog(ROOT / sources.CATALOG)
    owners = {s.name: s.team for s in catalog.services}
    base = site_url(ROOT)
    for rule in rules:
        promql_parser.parse(rule.expr)
        assert set(REQUIRED_LABELS) <= set(rule.labels) and rule.severity in SEVERITIES, rule.name
        assert owners[rule.labels["service"]] == rule.labels["team"], rule.name
        assert all(rule.annotations.get(a, "").strip() for a in REQUIRED_ANNOTATIONS), rule.name
        assert rule.annotations["runbook_url"].startswith(base + "runbooks/"), rule.name
        assert rule.annotations["runbook_url"] == runbook_url(base, rule.annotations["runbook_url"][len(base) + 9 : -1])


def test_every_metric_and_label_in_the_rules_is_exported() -> None:
    exported = series()
    for rule in sources.alert_rules(ROOT):
        analysis = analyse(rule.expr, exported)
        for selector in analysis.selectors:
            assert selector.name in exported, (rule.name, selector.name)
            assert {label for label, _, _ in selector.matchers} <= exported[selector.name], (rule.name, selector)


# Thresholds that are a configuration value in disguise: change the value and the alert must follow.
TIED: dict[str, tuple[Callable[[ChorusConfig], float], str]] = {
    "ChorusReconnectStorm": (lambda c: c.gateway.join_rate_per_s / 2, "half of gateway.join_rate_per_s"),
    "ChorusFanoutNearCap": (lambda c: 1 - c.fanout.headroom, "1 - fanout.headroom"),
    "ChorusHlsPlaylistStale": (lambda c: 3 * c.packager.segment_s, "3 x packager.segment_s"),
}


@pytest.mark.parametrize("name", sorted(TIED))
def test_thresholds_follow_the_configuration(name: str) -> None:
    config = load_config(ROOT / sources.CONFIG, env={})
    rule = next(r for r in sources.alert_rules(ROOT) if r.name == name)
    expected, formula = TIED[name]
    assert analyse(rule.expr).thresholds[0] == pytest.approx(expected(config)), f"{name}: threshold must be {formula}"


def test_edge_alert_waits_longer_than_the_edge_retries() -> None:
    config = load_config(ROOT / sources.CONFIG, env={})
    rule = next(r for r in sources.alert_rules(ROOT) if r.name == "ChorusEdgeLostOrigin")
    assert promql_parser.parse_duration(rule.for_).total_seconds() >= 4 * config.fanout.upstream_retry_max_s


def test_the_registries_are_what_the_running_services_serve() -> None:
    """Every series a live gateway and fan-out node expose is among the registries' names and labels."""
    exported = series()
    with running_services(["fanout"]) as urls:
        for name, url in urls.items():
            text = httpx.get(url + "/metrics", timeout=5).text
            names = set()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    names.add(sample.name)
                    assert sample.name in exported, (name, sample.name)
                    assert set(sample.labels) <= exported[sample.name], (name, sample)
            assert any(n.startswith(f"chorus_{name}_") for n in names), name


# (text, replacement, code, text starting the line the finding points at)
BROKEN = [
    ("expr: max by (node) (chorus_fanout_listeners / chorus_fanout_listener_cap) >= 0.9",
     "expr: max by (node) (chorus_fanout_listeners / chorus_fanout_listener_cap >= 0.9", "AR001",
     "expr: max by (node) (chorus_fanout_listeners /"),
    ("(chorus_fanout_listeners / chorus_fanout_listener_cap)", "(chorus_fanout_listeners / chorus_fanout_listeners_cap)", "AR002",
     "expr: max by (node) (chorus_fanout_listeners /"),
    ("expr: absent(up{job=\"chorus-gateway\"} == 1)", "expr: absent(up{job=\"chorus-gateway\", node=\"x\"} == 1)", "AR003",
     "expr: absent(up{job=\"chorus-gateway\", node"),
    ("min by (node) (chorus_fanout_upstream_connected{", "min by (space) (chorus_fanout_upstream_connected{", "AR003",
     "expr: min by (space) (chorus_fanout_upstream_connected"),
    ("          severity: warning\n          service: fanout\n          team: media\n        annotations:\n          summary: \"Fan-out node {{ $labels.pod }} ({{ $labels.job }}) is not",
     "          severity: page\n          service: fanout\n          team: media\n        annotations:\n          summary: \"Fan-out node {{ $labels.pod }} ({{ $labels.job }}) is not",
     "AR004", "          severity: page"),
    ("    rules:\n      - alert: ChorusGatewayDown\n        expr: absent(up{job=\"chorus-gateway\"} == 1)\n        for: 1m\n        labels:\n"
     "          severity: critical\n          service: gateway\n          team: control-plane",
     "    rules:\n      - alert: ChorusGatewayDown\n        expr: absent(up{job=\"chorus-gateway\"} == 1)\n        for: 1m\n        labels:\n"
     "          severity: critical\n          service: gateway\n          team: media", "AR005", "          team: media\n        annotations:\n          summary: The gateway"),
    ("          summary: The HLS packager is down or not scraped; HLS listeners hear nothing.\n", "", "AR006",
     "        annotations:\n          description: >-\n            No chorus-packager"),
    ("runbook_url: http://127.0.0.1:8000/runbooks/dead-air/", "runbook_url: https://wiki.example/dead-air", "AR007",
     "          runbook_url: https://wiki.example/dead-air"),
    ("expr: sum(rate(chorus_gateway_reconnects_total[1m])) > 100\n        for: 2m", "expr: sum(rate(chorus_gateway_reconnects_total[1m])) > 100\n        for: two minutes",
     "AR008", "        for: two minutes"),
    ("up{job=~\"chorus-fanout|chorus-fanout-edge\"} == 0", "up{job=\"fanout\"} == 0", "AR009", "expr: up{job=\"fanout\"} == 0"),
    ("alert: ChorusPackagerEventLoopLag", "alert: ChorusHlsPlaylistStale", "AR010", "alert: ChorusHlsPlaylistStale\n        expr: max by (job"),
    ("summary: \"Fan-out node {{ $labels.node }} is near its listener cap.\"", "summary: \"Fan-out node {{ $labels.pod }} is near its listener cap.\"",
     "AR011", "          summary: \"Fan-out node {{ $labels.pod }} is near its"),
    ("sum(rate(chorus_gateway_reconnects_total[1m])) > 100", "sum(rate(chorus_gateway_reconnects_total[1m])) > 150", "AR012",
     "          description: >-\n            More than 100 reconnects"),
    ("      - alert: ChorusEdgeLostOrigin\n", "      - alert: ChorusEdgeLostOrigin\n        severity: critical\n", "AR013",
     "        severity: critical\n        expr: min by (node)"),
    ("is near its listener cap.", "is at its listener cap.", "AR014", "          summary: \"Fan-out node {{ $labels.node }} is at its"),
]


@pytest.mark.parametrize(("old", "new", "code", "anchor"), BROKEN, ids=[f"{c[2]}-{i}" for i, c in enumerate(BROKEN)])
def test_each_rule_check_fires_on_a_broken_copy(tmp_path: Path, old: str, new: str, code: str, anchor: str) -> None:
    tree = copy_tree(tmp_path)
    mutate(tree, ALERTS_FILE, old, new)
    where = f"{ALERTS_FILE}:{line_of(tree, ALERTS_FILE, anchor)}: {code} "
    problems = rule_problems(tree)
    assert [p for p in problems if p.startswith(where)], "\n".join(problems)
    assert all(p.startswith(where) for p in problems if f": {code} " in p), "\n".join(problems)


def test_runbook_urls_follow_the_site_url(tmp_path: Path) -> None:
    """Moving the handbook (site_url) makes every runbook_url wrong, each named by line."""
    tree = copy_tree(tmp_path)
    mutate(tree, "mkdocs.yml", "site_url: http://127.0.0.1:8000/", "site_url: https://handbook.chorus.example/")
    problems = rule_problems(tree)
    assert len(problems) == len(sources.alert_rules(ROOT))
    assert all(": AR007 " in p and "https://handbook.chorus.example/runbooks/" in p for p in problems)
