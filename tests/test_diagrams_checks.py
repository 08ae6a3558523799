"""The DG checks: each rule fires on a broken fixture with its exact code and line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, FIXTURES

EXPECTED = [
    "diagrams/containers.py:5:1: DG003 the containers diagram does not draw catalog service 'packager' "
    "(stack/catalog.yaml:25): add service('packager')",
    "diagrams/containers.py:5:1: DG005 the containers diagram misses the dependency fanout -> gateway "
    "(stack/catalog.yaml:22): draw service('fanout') >> service('gateway')",
    "diagrams/containers.py:8:1: DG004 edge gateway -> fanout is not a dependency in stack/catalog.yaml "
    "(gateway.depends_on does not list 'fanout'): remove the edge, turn it round, or add the dependency to the catalog",
    "diagrams/draws-nothing.py:1:1: DG007 a diagram source must draw exactly one diagram (`with diagram(...)`), "
    "this one drew 0",
    "diagrams/raises.py:8:1: DG006 diagram source raised KeyError: 'listener_cap'; fix the source",
    "diagrams/syntax-error.py:3:1: DG006 diagram source has a syntax error: expected ':'",
    "diagrams/unbound.py:8:1: DG002 node 'fanout / ws :8090' is labelled as catalog service 'fanout' but not drawn "
    "with service('fanout'): use the helper so the node stays bound to the catalog",
    "diagrams/unknown-service.py:7:1: DG001 service 'relay' is not in stack/catalog.yaml (known: gateway, fanout, "
    "packager); add it to the catalog or fix the name",
]


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    tree = tmp_path_factory.mktemp("broken") / "tree"
    shutil.copytree(FIXTURES / "broken_diagrams", tree)
    return subprocess.run(
        [str(BIN / "handbook"), "--root", str(tree), "check", "--select", "DG"], capture_output=True, text=True
    )


def test_every_rule_fires_once_with_file_and_line(broken_run: subprocess.CompletedProcess[str]) -> None:
    assert broken_run.returncode == 1, broken_run.stderr
    lines = broken_run.stdout.splitlines()
    assert lines[:-1] == EXPECTED
    assert lines[-1] == "Found 8 problems in 6 file(s) (1 check run)."
    assert "Traceback" not in broken_run.stdout + broken_run.stderr


@pytest.mark.parametrize("code", [f"DG00{n}" for n in range(1, 8)])
def test_each_code_is_covered(broken_run: subprocess.CompletedProcess[str], code: str) -> None:
    assert f": {code} " in broken_run.stdout


def test_a_good_diagram_next_to_broken_ones_still_renders(broken_run: subprocess.CompletedProcess[str]) -> None:
    assert "fine.py" not in broken_run.stdout


def test_a_reversed_dependency_is_both_extra_and_missing(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "broken_diagrams", tree, ignore=shutil.ignore_patterns("*.py"))
    (tree / "diagrams" / "containers.py").write_text(
        "from handbook.diagrams.kit import diagram, service\n"
        "with diagram('containers'):\n"
        "    g, f, p = service('gateway'), service('fanout'), service('packager')\n"
        "    p >> g\n"
        "    p >> f\n"
        "    g >> f\n"
    )
    result = subprocess.run([str(BIN / "handbook"), "--root", str(tree), "check", "--select", "DG"], capture_output=True, text=True)
    codes = [line.split(": ")[1].split()[0] for line in result.stdout.splitlines()[:-1]]
    lines = [line.split(":")[1] for line in result.stdout.splitlines()[:-1]]
    assert list(zip(codes, lines)) == [("DG005", "2"), ("DG004", "6")]


def test_real_diagrams_agree_with_the_catalog() -> None:
    result = subprocess.run([str(BIN / "handbook"), "check", "--select", "DG"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
