"""The generated reference in the real built site, and a build that fails on an unreadable source."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, ROOT, mkdocs_env
from handbook import anchors, reference, sources
from handbook.checks.registry import all_rules
from handbook.reference import api, cli, http
from handbook.reference.snapshot import Snapshot


def built(site: Path, uri: str) -> str:
    """The HTML MkDocs built for a docs-relative page path (directory URLs)."""
    stem = uri.removesuffix(".md")
    is_index = stem == "index" or stem.endswith("/index")
    path = site / (stem.removesuffix("index") if is_index else stem + "/") / "index.html"
    return path.read_text(encoding="utf-8")


def anchor_ids(html: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', html))


def test_every_module_has_an_api_page_with_signatures_crossrefs_and_source(built_site: Path) -> None:
    modules = api.modules(ROOT)
    assert {"handbook.cli", "handbook.checks.registry", "handbook.sources"} <= {m.name for m in modules}
    for module in modules:
        html = built(built_site, module.uri)
        assert f'id="{module.name}' in html or "doc-contents" in html, module.name
    html = built(built_site, "reference/api/handbook/checks/registry.md")
    assert 'id="handbook.checks.registry.all_rules"' in html
    assert "-&gt;" in html, "signatures carry their return annotations"
    assert re.search(r'href="[./]*project/#handbook\.project\.Project"', html), "Project in a signature links to its entry"
    assert "Source code in" in html and "tools/handbook/checks/registry.py" in html
    index = built(built_site, "reference/api/index.md")
    for module in modules:
        assert module.name in index


def test_rules_page_carries_every_registered_rule(built_site: Path) -> None:
    ids = anchor_ids(built(built_site, anchors.RULES_PAGE))
    for rule in all_rules():
        assert anchors.rule(rule.code).partition("#")[2] in ids, rule.code


def test_cli_page_carries_every_handbook_command(built_site: Path) -> None:
    ids = anchor_ids(built(built_site, anchors.CLI_PAGE))
    for words, _parser, _help in cli.walk(sources.cli_parser("handbook")):
        assert anchors.cli_command("handbook", *words).partition("#")[2] in ids, words


def test_component_pages_exist_for_every_catalog_service(built_site: Path) -> None:
    for service in Snapshot(ROOT).services:
        html = built(built_site, anchors.component(service.name))
        text = re.sub(r"<[^>]+>", "", html)  # glossary terms are wrapped in <abbr> tooltips
        assert "at a glance" in text
        assert service.purpose.split(" - ")[0] in text


def test_generated_pages_are_not_committed() -> None:
    tracked = subprocess.run(["git", "ls-files", "docs"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    hand_written = {"components/index.md", *(anchors.component(s.name) for s in Snapshot(ROOT).services)}
    generated = set(reference.generate(ROOT)) - hand_written
    assert not generated & {t.removeprefix("docs/") for t in tracked}


def minimal_project(tmp_path: Path) -> Path:
    """A handbook with only the plugin, an index page and the real YAML sources of truth."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/index.md").write_text("# Fixture\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: fixture\nstrict: true\nplugins:\n  - handbook\n")
    for rel in (sources.CATALOG, sources.CONFIG):
        if (ROOT / rel).is_file():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, tmp_path / rel)
    return tmp_path


@pytest.mark.parametrize(
    ("rel", "text", "expected"),
    [
        (sources.ALERTS_DIR / "alerts.yaml", "groups:\n  - name: x\n    rules: [\n", "stack/deploy/prometheus/alerts.yaml:3: YAML syntax error"),
        (sources.ALERTS_DIR / "alerts.yaml", "- just a list\n", "stack/deploy/prometheus/alerts.yaml:1: not a Prometheus rules file"),
        (sources.CONFIG, "fanout:\n  listener_cap: [1\n", "stack/config/chorus.yaml:2: YAML syntax error"),
    ],
)
def test_unreadable_source_fails_the_build_in_one_line(tmp_path: Path, rel: Path, text: str, expected: str) -> None:
    root = minimal_project(tmp_path)
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--site-dir", str(tmp_path / "site")],
        cwd=root,
        env=mkdocs_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if expected in line]
    assert len(errors) == 1, output
    assert re.match(r"ERROR\s+-\s+handbook: " + re.escape(expected), errors[0]), output


def test_serving_rebuild_reads_the_stack_code_afresh() -> None:
    import sys

    import chorus  # noqa: F401  (imported so there is something to forget)

    from handbook.plugin import HandbookPlugin

    saved = {n: m for n, m in sys.modules.items() if n == "chorus" or n.startswith("chorus.")}
    plugin = HandbookPlugin()
    plugin.on_startup(command="build", dirty=False)
    plugin.on_pre_build(config=None)  # type: ignore[arg-type]
    assert "chorus" in sys.modules, "a one-off build keeps its imports"
    plugin.on_startup(command="serve", dirty=False)
    plugin.on_pre_build(config=None)  # type: ignore[arg-type]
    forgotten = not [name for name in sys.modules if name == "chorus" or name.startswith("chorus.")]
    sys.modules.update(saved)  # the rest of the session keeps the modules it already holds
    assert forgotten


# --- every generated page against its real source of truth ---------------------------------------


def code_html(text: str) -> str:
    """How a value appears inside `<code>` in the built HTML."""
    import html

    return f"<code>{html.escape(text, quote=False)}</code>"


def test_config_page_carries_every_real_key_and_value(built_site: Path) -> None:
    from handbook.reference import markdown as md

    keys = sources.config_keys(ROOT)
    page = built(built_site, anchors.CONFIG_PAGE)
    ids = anchor_ids(page)
    assert keys, "the schema has keys"
    for key in keys:
        assert anchors.config_key(key.key).partition("#")[2] in ids, key.key
        assert code_html(key.env) in page
        if key.line is not None:
            assert f"{code_html(md.value(key.value))} (line {key.line})" in page, key.key
    for section in {k.section for k in keys if k.section}:
        assert anchors.config_key(section).partition("#")[2] in ids


def test_metrics_page_carries_every_real_metric(built_site: Path) -> None:
    found = sources.metrics()
    page = built(built_site, anchors.METRICS_PAGE)
    ids = anchor_ids(page)
    assert found
    for metric in found:
        assert anchors.metric(metric.name).partition("#")[2] in ids, metric.name
        for series in metric.series:
            assert anchors.slug(series) in ids, series


def test_http_page_carries_every_real_operation(built_site: Path) -> None:
    doc = sources.openapi(ROOT)
    page = built(built_site, anchors.HTTP_PAGE)
    ids = anchor_ids(page)
    retry_after = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in http.METHODS:
                assert anchors.http_operation(method, path).partition("#")[2] in ids, (method, path)
                retry_after += "Retry-After" in (op.get("responses", {}).get("503", {}).get("headers") or {})
    assert retry_after >= 1, "the gateway documents at least one 503 with Retry-After"
    assert page.count(code_html("Retry-After")) >= retry_after


def test_cli_page_carries_every_chorusctl_command(built_site: Path) -> None:
    ids = anchor_ids(built(built_site, anchors.CLI_PAGE))
    commands = list(cli.walk(sources.cli_parser("chorusctl")))
    assert len(commands) > 1
    for words, _parser, _help in commands:
        assert anchors.cli_command("chorusctl", *words).partition("#")[2] in ids, words


def test_alert_page_carries_every_real_alert(built_site: Path) -> None:
    rules = sources.alert_rules(ROOT)
    page = built(built_site, anchors.ALERTS_PAGE)
    if not rules:
        assert "No alert rules yet" in page
    for rule in rules:
        assert anchors.alert(rule.name).partition("#")[2] in anchor_ids(page), rule.name


def test_deployment_page_carries_every_real_object(built_site: Path) -> None:
    objects = sources.manifests(ROOT)
    page = built(built_site, anchors.DEPLOYMENT_PAGE)
    if not objects:
        assert "No manifests yet" in page
    for obj in objects:
        assert anchors.workload(obj.kind, obj.name).partition("#")[2] in anchor_ids(page), (obj.kind, obj.name)


def test_component_pages_list_each_services_real_metrics(built_site: Path) -> None:
    found = sources.metrics()
    for service in Snapshot(ROOT).services:
        page = built(built_site, anchors.component(service.name))
        for metric in (m for m in found if service.name in m.services):
            assert f'#{anchors.slug(metric.name)}"' in page, (service.name, metric.name)
