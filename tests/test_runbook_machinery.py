"""Live values, the runbook scaffold, the generated index, and the plugin that renders them."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, FIXTURES, ROOT, mkdocs_env
from handbook import facts as facts_mod
from handbook import livevalues, runbook_index, scaffold, sources
from handbook.facts import duration_seconds
from handbook.promql import threshold as alert_threshold
from handbook.project import Project
from handbook.runbook import runbooks
from handbook.runner import run_checks
from handbook.shellcmd import split

BASE = FIXTURES / "runbooks_tree"


@pytest.fixture(scope="module")
def fixture_facts() -> facts_mod.Facts:
    """The facts of the fixture tree."""
    return facts_mod.build(BASE)


def copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(BASE, root)
    return root


# --- facts ---------------------------------------------------------------------------------------


def test_facts_come_from_the_sources(fixture_facts: facts_mod.Facts) -> None:
    get = fixture_facts.get
    assert get("alert.ChorusFanoutNearCap.threshold").value == 0.9  # type: ignore[union-attr]
    assert get("alert.ChorusFanoutNearCap.for").text == "5m"  # type: ignore[union-attr]
    assert get("alert.ChorusGatewayDown.severity").text == "critical"  # type: ignore[union-attr]
    assert get("k8s.deployment.chorus-fanout.replicas").value == 12  # type: ignore[union-attr]
    assert get("k8s.horizontalpodautoscaler.chorus-fanout.max_replicas").value == 40  # type: ignore[union-attr]
    assert get("k8s.deployment.chorus-fanout.container.fanout.port.ws").value == 8090  # type: ignore[union-attr]
    assert get("service.fanout.port.ws").source == "stack/catalog.yaml:44"  # type: ignore[union-attr]
    assert get("alert.ChorusFanoutNearCap").anchor == "reference/alerts.md#chorusfanoutnearcap"  # type: ignore[union-attr]
    assert get("k8s.deployment.chorus-fanout").anchor == "reference/deployment.md#deployment-chorus-fanout"  # type: ignore[union-attr]


def test_alert_threshold_and_durations() -> None:
    assert alert_threshold("sum(rate(x[5m])) / sum(rate(y[5m])) > 0.05") == 0.05
    assert alert_threshold("0.9 < max(x)") == 0.9
    assert alert_threshold("up == 0 and on() vector(1)") == 0
    assert alert_threshold("absent(up)") is None
    assert duration_seconds("1h30m") == 5400 and duration_seconds("250ms") == 0.25 and duration_seconds("5 m") is None


def test_unknown_fact_suggests_within_its_kind(fixture_facts: facts_mod.Facts) -> None:
    assert fixture_facts.suggest("service.fanout.prot.ws") == "service.fanout.port.ws"
    assert "did you mean team.media.oncall?" == fixture_facts.why_missing("team.media.oncal")


# --- live values ---------------------------------------------------------------------------------


def test_render_links_in_prose_and_bare_values_in_code(fixture_facts: facts_mod.Facts) -> None:
    text = (
        "Above {@alert.ChorusFanoutNearCap.threshold} on `{@service.fanout.workload}`, "
        "see {@k8s.deployment.chorus-fanout}.\n\n```bash\nkubectl -n {@k8s.namespace.chorus} get pods\n```\n"
    )
    rendered, errors = livevalues.render(text, fixture_facts, "runbooks/x.md", lambda page: True)
    assert errors == []
    assert rendered.startswith('Above [0.9](../reference/alerts.md#chorusfanoutnearcap "alert.ChorusFanoutNearCap.threshold") on `chorus-fanout`, ')
    assert '[`chorus-fanout`](../reference/deployment.md#deployment-chorus-fanout "k8s.deployment.chorus-fanout")' in rendered
    assert "kubectl -n chorus get pods" in rendered


def test_render_without_the_reference_page_shows_the_value_unlinked(fixture_facts: facts_mod.Facts) -> None:
    rendered, _ = livevalues.render("{@service.fanout.port.ws}", fixture_facts, "runbooks/x.md", lambda page: False)
    assert rendered == "8090"


def test_render_reports_unknown_at_file_position_and_leaves_it(fixture_facts: facts_mod.Facts) -> None:
    rendered, errors = livevalues.render("a\n  b {@service.fanout.port.wss} \\{@kept}", fixture_facts, "x.md", lambda p: True, first_line=10)
    assert [(e.line, e.col, e.code) for e in errors] == [(11, 5, "RF001")]
    assert "did you mean service.fanout.port.ws?" in errors[0].message
    assert rendered == "a\n  b {@service.fanout.port.wss} {@kept}"


def test_syntax_ignores_what_it_must_not_collide_with(fixture_facts: facts_mod.Facts) -> None:
    others = (
        'summary: "{{ $labels.node }} {% if x %}{# c #}"\n'
        'rate(chorus_joins_total{result="shed"}[5m]) @ 1609746000\n'
        'echo ${X} $(date) ${@} {a,b} [[ -n "$X" ]] { true; }\n'
        "[link](page.md){#id .class} {: .x} {key=value}\n"
    )
    rendered, errors = livevalues.render(others, fixture_facts, "x.md", lambda p: True)
    assert errors == [] and rendered == others


# --- commands ------------------------------------------------------------------------------------


def test_split_commands() -> None:
    assert split('FOO=1 chorusctl status --x "a b" | grep y && echo $(chorusctl z) 2>&1') == [
        ["chorusctl", "status", "--x", "a b"],
        ["grep", "y"],
        ["echo", "$"],
        ["chorusctl", "z"],
    ]
    assert split("watch -n 5 kubectl -n chorus get pods > /tmp/out") == [["kubectl", "-n", "chorus", "get", "pods"]]


# --- scaffold ------------------------------------------------------------------------------------


def test_new_runbook_for_an_alert_is_bound_to_it(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    (root / "runbooks/fanout-near-cap.md").unlink()
    result = subprocess.run([str(BIN / "handbook"), "--root", str(root), "new", "runbook", "fanout-near-cap", "--alert", "ChorusFanoutNearCap"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = (root / "runbooks/fanout-near-cap.md").read_text()
    assert 'title: "ChorusFanoutNearCap: Fan-out node … is near its listener cap"' in text
    assert 'alerts: ["ChorusFanoutNearCap"]' in text and "severity: warning" in text and "owner: media" in text
    assert f"last_reviewed: {dt.date.today().isoformat()}" in text
    assert "```promql\n{@alert.ChorusFanoutNearCap.expr}\n```" in text
    assert (
        "{@alert.ChorusFanoutNearCap} fires when this query has held for {@alert.ChorusFanoutNearCap.for} "
        "(threshold {@alert.ChorusFanoutNearCap.threshold}, severity {@alert.ChorusFanoutNearCap.severity}):"
    ) in text
    assert ".description}" not in text  # this rule has no description: nothing to quote
    assert "kubectl -n {@k8s.deployment.chorus-fanout.namespace} get deployment/{@service.fanout.workload} -o wide" in text
    assert "Page {@team.media.oncall} and post in {@team.media.chat}" in text
    report = run_checks(Project(root), ignore=["DP", "AR", "MK"])  # the fixture (stack, mkdocs.yml) is a sketch
    bound = [p for p in report.problems if "cannot be checked" not in p.message]  # metrics: until the stack has them
    assert {p.code for p in bound} == {"RB006"}, [p.format() for p in report.problems]


def test_description_fact_is_the_rules_text_whitespace_collapsed(fixture_facts: facts_mod.Facts) -> None:
    fact = fixture_facts.get("alert.ChorusGatewayDown.description")
    assert fact is not None and fact.anchor is None and fact.drift == ""
    assert fact.text == (
        "No chorus-gateway target has answered a scrape (up == 0) for 1m; "
        "nobody can join, and listeners above 0.9 of a node's cap are not moved."
    )
    assert fixture_facts.get("alert.ChorusFanoutNearCap.description") is None


def test_pasting_the_description_is_what_hv_catches(tmp_path: Path) -> None:
    """The old scaffold pasted the description as prose; that is HV001 at the pasted line, the live value is not."""
    root = copy_tree(tmp_path)
    (root / "runbooks/gateway-down.md").unlink()
    path = scaffold.new_runbook(root, "gateway-down", "ChorusGatewayDown")
    text = path.read_text()
    line = text.splitlines().index("> {@alert.ChorusGatewayDown.description}") + 1
    assert [p.format() for p in run_checks(Project(root), ["HV"]).problems] == []
    pasted = facts_mod.build(root).get("alert.ChorusGatewayDown.description").text  # type: ignore[union-attr]
    path.write_text(text.replace("{@alert.ChorusGatewayDown.description}", pasted))
    problems = run_checks(Project(root), ["HV"]).problems
    assert [(p.line, p.col, p.code) for p in problems] == [(line, 6, "HV001"), (line, 64, "HV001"), (line, 105, "HV001")]
    assert [p.message.split("'")[1] for p in problems] == ["chorus-gateway", "1m", "0.9"]


def _copy_real_tree(tmp_path: Path) -> Path:
    """A copy of the real handbook (sources, pages, runbooks, tools) without caches, builds or tests."""
    root = tmp_path / "real"
    root.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", ".cache", "site")
    for name in ("mkdocs.yml", "pyproject.toml", ".github", "docs", "runbooks", "stack", "diagrams", "tools"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=skip)
        elif source.exists():
            shutil.copy2(source, root / name)
    return root


def test_scaffold_of_every_real_alert_only_leaves_its_todos(tmp_path: Path) -> None:
    """Each alert's runbook, replaced by a fresh scaffold of that alert, fails `handbook check` with RB006 only.

    A runbook answering several alerts is scaffolded once per alert (in rounds), keeping its
    full `alerts:` list so the alert checks still see every alert answered once.
    """
    root = _copy_real_tree(tmp_path)
    rules = {rule.name: rule for rule in sources.alert_rules(root)}
    assert len(rules) >= 10
    answering = {book.path: list(book.meta.alerts) for book in runbooks(Project(root)) if book.meta and book.meta.alerts}
    scaffolded: set[str] = set()
    for round_ in range(max(len(alerts) for alerts in answering.values())):
        written = []
        for path, alerts in answering.items():
            if round_ and round_ >= len(alerts):
                continue
            alert = alerts[min(round_, len(alerts) - 1)]
            path.unlink()
            scaffold.new_runbook(root, path.stem, alert)
            text = path.read_text()
            path.write_text(text.replace(f'alerts: ["{alert}"]', "alerts: " + json.dumps(alerts), 1))
            scaffolded.add(alert)
            written.append(path)
        # CO001 too: a scaffold of one alert of a multi-alert runbook takes that alert's team as
        # owner (event-loop-lag: control-plane instead of media), and CODEOWNERS must then follow.
        # RF004 too, for links from other pages into a scaffolded runbook's sections, which the
        # scaffold replaced with the template's (e.g. a component page's "#rehearse-it-locally").
        scaffolded_names = {path.name for path in answering}
        problems = [p for p in run_checks(Project(root)).problems if p.code != "CO001"
                    and not (p.code == "RF004" and any(f"runbooks/{n}" in p.message for n in scaffolded_names))]
        assert [p.format() for p in problems if p.code != "RB006"] == []
        assert {root / p.path for p in problems} == set(answering)
    assert scaffolded == set(rules)


def test_new_task_runbook_and_never_overwrite(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    path = scaffold.new_runbook(root, "drain-node")
    assert path.read_text().startswith('---\ntitle: "Drain node"\nalerts: []\n')
    before = path.read_text()
    result = subprocess.run([str(BIN / "handbook"), "--root", str(root), "new", "runbook", "drain-node"], capture_output=True, text=True)
    assert result.returncode == 2 and "already exists; not overwritten" in result.stderr
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [(["Bad_Name"], "must be kebab-case"), (["x", "--alert", "ChorusGatewayDwn"], "did you mean ChorusGatewayDown?")],
)
def test_new_runbook_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    root = copy_tree(tmp_path)
    result = subprocess.run([str(BIN / "handbook"), "--root", str(root), "new", "runbook", *args], capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


# --- index ---------------------------------------------------------------------------------------


def test_index_table_orders_by_severity_and_links(tmp_path: Path) -> None:
    books = runbooks(Project(BASE))
    table = runbook_index.table(books, {"ChorusFanoutNearCap": "media", "ChorusGatewayDown": "control-plane"}, "runbooks/index.md", lambda p: True)
    rows = [line for line in table.splitlines() if line.startswith("| [")]
    assert rows[0].startswith("| [`ChorusGatewayDown`](../reference/alerts.md#chorusgatewaydown) | [ChorusGatewayDown: the gateway is down](gateway-down.md) | <span data-sort=\"0\">critical</span> | `control-plane` |")
    assert rows[1].startswith("| [`ChorusFanoutNearCap`]")


def test_index_owner_of_an_alert_row_is_the_alerts_team_label() -> None:
    # The real event-loop runbook (owner media) also answers the gateway's alert, which pages control-plane.
    books = runbooks(Project(ROOT))
    teams = {"ChorusGatewayEventLoopLag": "control-plane", "ChorusFanoutEventLoopLag": "media"}
    table = runbook_index.table(books, teams, "runbooks/index.md", lambda p: True)
    row = next(line for line in table.splitlines() if line.startswith("| [`ChorusGatewayEventLoopLag`]"))
    assert row.split(" | ")[3] == "`control-plane`", row
    row = next(line for line in table.splitlines() if line.startswith("| [`ChorusFanoutEventLoopLag`]"))
    assert row.split(" | ")[3] == "`media`", row
    assert table.startswith('<div class="sortable" markdown>')


# --- the plugin ----------------------------------------------------------------------------------


def _site_tree(tmp_path: Path, page: str) -> Path:
    root = copy_tree(tmp_path)
    (root / "mkdocs.yml").write_text("site_name: fixture\nsite_url: https://handbook.example/\nplugins:\n  - handbook\n")
    (root / "docs/page.md").write_text(page)
    return root


def _build(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(root / "site")], cwd=root, env=mkdocs_env(), capture_output=True, text=True)


def test_build_renders_live_values_and_the_index(tmp_path: Path) -> None:
    root = _site_tree(tmp_path, "---\ntitle: Page\n---\n\n# Page\n\nReplicas: {@k8s.deployment.chorus-fanout.replicas}.\n")
    result = _build(root)
    assert result.returncode == 0, result.stderr
    html = (root / "site/page/index.html").read_text()
    # The generated deployment reference is part of the build, so the value links to its entry.
    assert 'Replicas: <a href="../reference/deployment/#deployment-chorus-fanout" title="k8s.deployment.chorus-fanout.replicas">12</a>.' in html
    rb = (root / "site/runbooks/fanout-near-cap/index.html").read_text()
    assert 'fires when a node has been above <a href="../../reference/alerts/#chorusfanoutnearcap"' in rb
    assert "$ kubectl -n chorus get deployment/chorus-fanout\n" in rb
    index = (root / "site/runbooks/index.html").read_text()
    assert 'class="sortable"' in index and "ChorusGatewayDown: the gateway is down" in index


def test_build_fails_strict_on_an_unknown_live_value_naming_file_line_col(tmp_path: Path) -> None:
    root = _site_tree(tmp_path, "---\ntitle: Page\n---\n\n# Page\n\nCap: {@k8s.deployment.chorus-fanout.replica}.\n")
    result = _build(root)
    assert result.returncode != 0
    assert "docs/page.md:7:6: RF001 unknown live value {@k8s.deployment.chorus-fanout.replica}: did you mean k8s.deployment.chorus-fanout.replicas?" in result.stderr
