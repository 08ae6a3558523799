"""`handbook check`: exit 0 on the real tree, 1 on problems (naming file and line), 2 on bad use."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, FIXTURES, ROOT
from handbook import frontmatter
from handbook.cli import main


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "handbook"), *args], cwd=cwd, capture_output=True, text=True)


def test_real_tree_is_clean() -> None:
    result = run("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All clear" in result.stderr


def test_broken_front_matter_is_reported_with_file_and_line() -> None:
    result = run("--root", str(FIXTURES / "broken_front_matter"), "check", "--ignore", "MK")  # its mkdocs.yml is a sketch
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "docs/bad-yaml.md:3:9: FM001 front matter is not valid YAML" in result.stdout, result.stdout
    assert any(line.startswith("runbooks/unclosed.md:1:1: FM002 ") for line in lines), result.stdout
    assert any(line.startswith("docs/a-list.md:2:1: FM003 ") for line in lines), result.stdout
    assert "good.md" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert lines[-1].startswith("Found 3 problems in 3 file(s)")


@pytest.mark.parametrize("args", [["check", "--no-such-option"], ["no-such-command"], [], ["check", "--select", "ZZ9"]])
def test_bad_arguments_exit_2(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error" in result.stderr


def test_not_a_handbook_exits_2(tmp_path: Path) -> None:
    result = run("--root", str(tmp_path), "check")
    assert result.returncode == 2
    assert "mkdocs.yml" in result.stderr


def test_select_limits_to_one_code(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "broken_front_matter", tree)
    result = run("--root", str(tree), "check", "--select", "FM002")
    assert result.returncode == 1
    assert [line.split(": ")[1].split()[0] for line in result.stdout.splitlines()[:-1]] == ["FM002"]


def test_list_rules_names_every_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--list-rules"]) == 0
    out = capsys.readouterr().out
    for code in ("FM001", "FM002", "FM003"):
        assert code in out


def test_help_is_useful() -> None:
    assert "Exit codes" in run("--help").stdout
    help_text = run("check", "--help").stdout
    assert "path:line:col" in help_text and "--select" in help_text


def test_front_matter_parser_keeps_file_lines() -> None:
    parsed = frontmatter.parse("---\ntitle: x\n---\n# Body\n")
    assert parsed.data == {"title": "x"} and parsed.body_line == 4 and parsed.error is None
    assert frontmatter.parse("# no front matter\n").present is False


def test_theme_keys_of_any_page_are_checked_where_they_are_written(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "broken_front_matter", tree)
    (tree / "docs" / "theme.md").write_text(
        "---\ntitle: Theme keys\nsearch: fast\nhide: [nav]\ngoverns: {anything: [goes]}\n---\n\n# Theme keys\n",
        encoding="utf-8",
    )
    (tree / "docs" / "fine.md").write_text("---\nsearch: {exclude: true}\nhide: [toc]\n---\n\n# Fine\n", encoding="utf-8")
    result = run("--root", str(tree), "check", "--select", "FM004")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[:-1] == [
        "docs/theme.md:3:1: FM004 search: must be a mapping of keys to values (Material reads this key)",
        "docs/theme.md:4:8: FM004 hide.0: Input should be 'navigation', 'toc', 'footer', 'path', 'tags' or 'feedback'"
        " (Material reads this key)",
    ]
