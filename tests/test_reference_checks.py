"""The DOC and CMP check families, and the rules page that lists every registered rule."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import markdown
import pytest

from conftest import BIN, FIXTURES, ROOT
from handbook import anchors
from handbook.checks import registry
from handbook.problems import Problem
from handbook.project import Project
from handbook.reference import rules
from handbook.runner import run_checks


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "handbook"), *args], cwd=ROOT, capture_output=True, text=True)


def test_undocumented_public_objects_are_reported_with_path_and_line() -> None:
    result = run("--root", str(FIXTURES / "undocumented"), "check", "--select", "DOC")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[:-1] == [
        "stack/chorus/fanout/__init__.py:1:1: DOC001 public module has no docstring: say in one line what it holds",
        "stack/chorus/fanout/broken.py:3:10: DOC005 Python file does not parse: invalid syntax",
        "stack/chorus/gateway.py:9:5: DOC004 public method Admission.admit has no docstring",
        "stack/chorus/gateway.py:27:5: DOC002 public class Admission.Token has no docstring",
        "stack/chorus/gateway.py:31:1: DOC002 public class Bucket has no docstring",
        "stack/chorus/gateway.py:35:1: DOC003 public function shed has no docstring",
        "tools/handbook/__init__.py:4:1: DOC003 public function run has no docstring",
    ]


def test_real_tree_is_fully_documented() -> None:
    report = run_checks(Project(ROOT), ["DOC"])
    assert [p.format(ROOT) for p in report.problems] == []


CATALOG = """\
teams:
  - name: media
    description: Owns the audio path.
    oncall: media-primary
    chat: "#media"
    people:
      - name: Priya Raman
        role: tech lead
services:
  - name: fanout
    purpose: Relays audio.
    team: media
    tier: 1
    ports:
      ws: 8090
    workload: chorus-fanout
  - name: packager
    purpose: Packages HLS.
    team: media
    tier: 2
    ports:
      http: 8070
    workload: chorus-packager
"""
GOOD = "# Fan-out\n\n## What it does\n\nx\n\n## How it fails\n\ny\n\n## What to look at first\n\nz\n"


def test_component_narratives_match_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack/catalog.yaml").write_text(CATALOG)
    folder = tmp_path / "docs/components"
    folder.mkdir(parents=True)
    (folder / "index.md").write_text("# Components\n")
    (folder / "fanout.md").write_text(GOOD.replace("## How it fails", "## How it breaks"))
    (folder / "relay.md").write_text(GOOD)
    report = run_checks(Project(tmp_path), ["CMP"])
    assert [p.format(tmp_path) for p in report.problems] == [
        "docs/components/fanout.md:1:1: CMP003 narrative has no '## How it fails' section",
        "docs/components/relay.md:1:1: CMP002 'relay' is not a service in stack/catalog.yaml: rename the file or add the service",
        "stack/catalog.yaml:17:1: CMP001 service 'packager' has no narrative: write docs/components/packager.md "
        "(What it does, How it fails, What to look at first)",
    ]
    (folder / "fanout.md").write_text(GOOD)
    (folder / "packager.md").write_text(GOOD)
    (folder / "relay.md").unlink()
    assert run_checks(Project(tmp_path), ["CMP"]).problems == []


def test_real_tree_has_a_narrative_per_service() -> None:
    report = run_checks(Project(ROOT), ["CMP"])
    assert [p.format(ROOT) for p in report.problems] == []


@pytest.fixture()
def extra_family() -> Iterator[str]:
    """A check family registered the way other families register, removed afterwards."""

    @registry.check("zz-fixture", family="ZZ", rules={"ZZ001": "a fixture rule", "ZZ002": "another fixture rule"})
    def fixture_check(project: Project) -> Iterator[Problem]:
        """A check that only exists in this test."""
        return iter(())

    yield "ZZ"
    del registry._CHECKS["zz-fixture"]


def ids(page: str) -> str:
    return markdown.markdown(page, extensions=["tables", "attr_list", "toc"])


def test_rules_page_lists_every_registered_rule_at_its_anchor() -> None:
    page = ids(rules.render())
    for rule in registry.all_rules():
        assert f'id="{anchors.rule(rule.code).partition("#")[2]}"' in page, rule.code
    assert 'id="zz001"' not in page


def test_rules_page_picks_up_a_new_family(extra_family: str) -> None:
    page = ids(rules.render())
    assert 'id="zz001"' in page and 'id="zz002"' in page and 'id="family-zz"' in page
    assert "A check that only exists in this test." in page
