"""Broken inputs get one `path:line` problem each: never a traceback, a hang, or silence.

Each test breaks one thing in a copy of the real tree and runs the check family that
must answer (the runner's HB codes mean the tree could not be checked: exit 2).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from chorus.yamllines import MAX_DEPTH, SourceError, load_yaml, load_yaml_all
from conftest import BIN, ROOT
from handbook.problems import Problem
from handbook.project import MAX_TEXT_BYTES, Project
from handbook.runner import MAX_PER_FILE, run_checks

RUNBOOK = "runbooks/fanout-near-cap.md"
CATALOG = "stack/catalog.yaml"
RULES = "stack/deploy/prometheus/alerts.yaml"
CONFIG = "stack/config/chorus.yaml"

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['x'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefg"], "abcdefgh")
)
"""A 330-byte alias bomb: nine levels of nine aliases, 387 million values once expanded."""

DEEP = "x: " + "[" * 5000 + "]" * 5000 + "\n"
"""5,000 nested levels."""


@pytest.fixture(scope="module")
def real_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the checks read of the real tree, copied once."""
    base = tmp_path_factory.mktemp("real")
    for name in ("mkdocs.yml", "docs", "runbooks", "diagrams", "includes"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, base / name)
    (base / "stack").mkdir()
    for name in ("catalog.yaml", "config", "deploy", "scenarios.yaml", "slo.yaml"):
        source = ROOT / "stack" / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, base / "stack" / name)
    return base


def broken(real_copy: Path, tmp_path: Path, rel: str, old: str | bytes, new: str | bytes) -> Path:
    """A copy of the tree with the one occurrence of `old` in `rel` replaced by `new`."""
    root = tmp_path / "tree"
    shutil.copytree(real_copy, root)
    path = root / rel
    if isinstance(old, bytes):
        data = path.read_bytes()
        assert data.count(old) >= 1, (rel, old)
        path.write_bytes(data.replace(old, new, 1))  # type: ignore[arg-type]
    else:
        text = path.read_text(encoding="utf-8")
        assert text.count(old) >= 1, (rel, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")  # type: ignore[arg-type]
    return root


def line_of(root: Path, rel: str, needle: str) -> int:
    """The 1-based line of the first `needle` in a file of the tree."""
    text = (root / rel).read_text(encoding="utf-8", errors="replace")
    return text[: text.index(needle)].count("\n") + 1


def problems(root: Path, *select: str) -> list[Problem]:
    """The problems the selected families report."""
    return run_checks(Project(root), list(select)).problems


def only(found: list[Problem], code: str) -> list[tuple[str, int]]:
    """`(path, line)` of each problem with `code`."""
    return [(p.path.as_posix(), p.line) for p in found if p.code == code]


# --- the loader itself ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (BOMB, "aliases are expanded", None),
        (DEEP, f"nested more than {MAX_DEPTH} levels", 1),
        ("x:\n" + "".join(" " * (i + 1) + "a:\n" for i in range(300)), f"nested more than {MAX_DEPTH} levels", None),
        ("a: &a [*a]\n", f"nested more than {MAX_DEPTH} levels", 1),
        ("a: 1\nb: 2\na: 3\n", "duplicate key", 3),
        ("day: 2026-02-30\n", "is not a valid timestamp", 1),
        ("groups: [", "YAML syntax error", 1),
    ],
    ids=["alias-bomb", "5000-levels", "deep-block", "recursive-alias", "duplicate-key", "bad-date", "unclosed"],
)
def test_the_loader_refuses_with_one_line(text: str, message: str, line: int | None) -> None:
    started = time.perf_counter()
    with pytest.raises(SourceError) as error:
        load_yaml("f.yaml", text=text)
    assert message in error.value.message
    if line is not None:
        assert error.value.line == line
    assert "\n" not in str(error.value)
    assert time.perf_counter() - started < 30  # a hang would take minutes; the bound is contention-proof


def test_the_loader_tolerates_a_bom_and_names_an_undecodable_byte(tmp_path: Path) -> None:
    assert load_yaml("f.yaml", text="\ufeffa: 1\n").data == {"a": 1}
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\nb: caf\xff\n")
    with pytest.raises(SourceError) as error:
        load_yaml(path)
    assert (error.value.line, error.value.column) == (2, 7) and "0xFF" in error.value.message


def test_the_loader_keeps_lines_of_every_document() -> None:
    docs = list(load_yaml_all("m.yaml", text="a: 1\n---\nb:\n  - c\n"))
    assert [d.data for d in docs] == [{"a": 1}, {"b": ["c"]}]
    assert docs[1].line_of(("b", 0)) == 4


def test_the_services_load_chorus_yaml_through_the_same_bounds(tmp_path: Path) -> None:
    from chorus.config import ConfigError, load_config

    path = tmp_path / "chorus.yaml"
    path.write_text(BOMB + (ROOT / CONFIG).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    assert "aliases are expanded" in str(error.value) and error.value.line is not None


# --- pages ------------------------------------------------------------------------------------------


def test_an_impossible_date_is_one_front_matter_problem(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RUNBOOK, "last_reviewed: 2026-11-26", "last_reviewed: 2026-02-30")
    found = problems(root, "FM")
    assert only(found, "FM001") == [(RUNBOOK, line_of(root, RUNBOOK, "last_reviewed"))]
    assert "2026-02-30" in found[0].message


def test_an_undecodable_byte_in_a_page_names_its_line_and_exits_2(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, "docs/index.md", b"\n", b"\ncaf\xff\n")
    report = run_checks(Project(root), ["FM", "RF"])
    assert only(report.problems, "HB001") == [("docs/index.md", 2)] and report.incomplete
    result = subprocess.run([str(BIN / "handbook"), "--root", str(root), "check", "--select", "FM"], capture_output=True, text=True)
    assert result.returncode == 2 and "docs/index.md:2:4: HB001 byte 0xFF is not UTF-8" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_bom_does_not_hide_the_front_matter(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RUNBOOK, b"---", b"\xef\xbb\xbf---")
    assert problems(root, "FM", "RB", "AL") == []


@pytest.mark.parametrize(
    ("old", "new", "code", "needle"),
    [
        ("severity: warning\n", "severity: warning\nseverity: critical\n", "FM001", "severity: critical"),
        ("review_interval: 90d\n", "review_interval: 90d\n" + BOMB, "FM001", None),
        ("review_interval: 90d\n", "review_interval: 90d\n" + DEEP, "FM001", "x: [[["),
        ("search:\n  boost: 3", "search: fast", "RB001", "search: fast"),
    ],
    ids=["duplicate-key", "alias-bomb", "5000-levels", "search-fast"],
)
def test_broken_front_matter_is_one_problem(real_copy: Path, tmp_path: Path, old: str, new: str, code: str, needle: str | None) -> None:
    root = broken(real_copy, tmp_path, RUNBOOK, old, new)
    found = [p for p in problems(root, "FM", "RB") if p.code in ("FM001", "RB001")]
    assert [p.code for p in found] == [code], found
    assert found[0].path.as_posix() == RUNBOOK
    if needle:
        assert found[0].line == line_of(root, RUNBOOK, needle)


def test_an_unclosed_live_value_is_found(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RUNBOOK, "## Impact\n", "## Impact\n\nThe cap is {@config.fanout.listener_cap per node.\n")
    assert only(problems(root, "RF"), "RF005") == [(RUNBOOK, line_of(root, RUNBOOK, "The cap is {@"))]


def test_a_live_value_in_a_title_is_blamed_on_its_page(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RUNBOOK, 'a fan-out node is near its listener cap"', 'node at {@config.fanout.listener_cap}"')
    assert only(problems(root, "RF"), "RF006") == [(RUNBOOK, 2)]


def test_mkdocs_without_the_handbook_plugin_is_not_all_clear(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, "mkdocs.yml", "  - handbook ", "  # - handbook ")
    assert only(problems(root, "MK"), "MK001") == [("mkdocs.yml", line_of(root, "mkdocs.yml", "plugins:"))]


# --- sources of truth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "old", "new", "message", "needle"),
    [
        (CATALOG, "services:\n  - name: gateway", "services:\n  - gateway\n  - name: gateway", "valid dictionary", "  - gateway"),
        (CATALOG, "services:\n", "services:\n  - name: gateway\n    purpose: twice\n    team: control-plane\n    tier: 1\n"
         "    depends_on: []\n    ports:\n      http: 9999\n    workload: chorus-gateway-2\n",
         "duplicate service name 'gateway'", "  - name: gateway\n    purpose: Control"),
        (CATALOG, "    depends_on: []\n    ports:\n      http: 8080", "    depends_on: [fanout]\n    ports:\n      http: 8080",
         "dependency cycle", "    depends_on: [gateway]"),
        (CATALOG, "teams:\n", BOMB + "teams:\n", "aliases are expanded", None),
        (RULES, "groups:\n", "groups:\n  - just a string\n", "rule group must be a mapping", "  - just a string"),
    ],
    ids=["service-is-a-string", "duplicate-service", "dependency-cycle", "catalog-alias-bomb", "group-is-a-string"],
)
def test_a_broken_source_is_one_line(real_copy: Path, tmp_path: Path, rel: str, old: str, new: str, message: str, needle: str | None) -> None:
    root = broken(real_copy, tmp_path, rel, old, new)
    report = run_checks(Project(root), ["AL", "AR", "RF"])
    lines = [p for p in report.problems if p.path.as_posix() == rel and message in p.message]
    assert len(lines) == 1 and "could not run" in lines[0].message, report.problems
    if rel == RULES:  # the rules file's own rule reports it; the checks it stopped are named on that line
        assert lines[0].code == "AR013" and not [p for p in report.problems if p.code == "HB001"]
    else:
        assert lines[0].code == "HB001"
    if needle:
        assert lines[0].line == line_of(root, rel, needle)
    assert report.incomplete


def test_a_chorus_yaml_alias_bomb_is_one_line(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, CONFIG, "gateway:", BOMB + "gateway:")
    hb = [p for p in problems(root, "DP") if p.code == "HB001"]
    assert len(hb) == 1 and hb[0].path.as_posix() == CONFIG and "aliases are expanded" in hb[0].message


def test_a_duplicate_alert_name_is_found(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RULES, "alert: ChorusPackagerEventLoopLag", "alert: ChorusHlsPlaylistStale")
    assert only(problems(root, "AR"), "AR010") == [(RULES, line_of(root, RULES, "alert: ChorusHlsPlaylistStale\n        expr: max by (job"))]


def test_invalid_promql_is_reported_at_the_rules_file_only(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RULES, "chorus_fanout_listener_cap) >= 0.9", "chorus_fanout_listener_cap >= 0.9")
    found = problems(root, "AR", "PQ", "RF")
    assert only(found, "AR001") == [(RULES, line_of(root, RULES, "expr: max by (node) (chorus_fanout_listeners /"))]
    assert only(found, "PQ001") == []
    assert all("does not parse" in p.message and RULES in p.message for p in found if p.code == "RF001")


def test_a_rule_without_for_is_blamed_on_the_rule(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RULES, ">= 0.9\n        for: 5m\n", ">= 0.9\n")
    found = problems(root, "AR", "RF")
    assert only(found, "AR008") == [(RULES, line_of(root, RULES, "alert: ChorusFanoutNearCap"))]
    unknown = [p for p in found if p.code == "RF001"]
    assert unknown and all("has no 'for:'" in p.message for p in unknown)


def test_a_broken_link_on_a_docs_page_is_found_at_its_line(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, "docs/index.md", "\n\n", "\n\nSee [the runbooks](start/no-such-page.md#nowhere).\n\n")
    found = problems(root, "RF")
    assert only(found, "RF003") == [("docs/index.md", line_of(root, "docs/index.md", "See [the runbooks]"))]


def test_a_removed_chorusctl_command_says_it_no_longer_exists(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RUNBOOK, "## Impact\n", "## Impact\n\n```bash\nchorusctl teleport --now\n```\n")
    found = [p for p in problems(root, "CMD") if p.code == "CMD001"]
    assert len(found) == 1 and "no longer exists" in found[0].message and found[0].line == line_of(root, RUNBOOK, "chorusctl teleport")


def test_problems_from_every_check_are_repo_relative_and_sorted(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RUNBOOK, "## Impact\n", "## Impact\n\nThe cap is {@config.fanout.listener_cap per node.\n")
    root_rules = root / RULES
    root_rules.write_text(root_rules.read_text().replace("for: 5m\n", "", 1))
    found = problems(root, "RF", "AR", "AL")
    assert all(not p.path.is_absolute() for p in found)
    assert found == sorted(found, key=lambda p: (p.path.as_posix(), p.line, p.col))


# --- pages that cannot be read ----------------------------------------------------------------------


def test_an_unreadable_page_is_reported_once_and_the_other_pages_are_still_checked(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, "docs/start/reviewing.md", b"\n", b"\ncaf\xff\n")
    other = root / "docs/start/runbooks.md"
    other.write_text(other.read_text(encoding="utf-8") + "\nSee [nowhere](no-such.md) and {@config.nope}.\n", encoding="utf-8")
    report = run_checks(Project(root), ["FM", "RF", "CL", "RV"])
    assert only(report.problems, "HB001") == [("docs/start/reviewing.md", 2)] and report.incomplete
    assert "every check skipped this file" in report.problems[0].message
    added = line_of(root, "docs/start/runbooks.md", "See [nowhere]")
    assert only(report.problems, "RF003") == [("docs/start/runbooks.md", added)]
    assert only(report.problems, "RF001") == [("docs/start/runbooks.md", added)]


def test_alerts_written_as_a_string_is_one_line_that_shows_the_list(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RUNBOOK, 'alerts: ["ChorusFanoutNearCap"]', "alerts: ChorusFanoutNearCap")
    found = problems(root, "RB", "AL")
    assert [(p.path.as_posix(), p.line, p.code) for p in found] == [(RUNBOOK, 3, "RB001")], found  # no AL001: it exists
    assert found[0].message == 'alerts: must be a list: write ["ChorusFanoutNearCap"]'


def test_an_unknown_nested_key_lists_the_keys_allowed_there(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RUNBOOK, "  boost: 3\n", "  boost: 3\n  colour: red\n")
    found = [p for p in problems(root, "RB") if p.code == "RB001"]
    assert [p.message for p in found] == ["search.colour: unknown key (allowed: boost, exclude)"]


def test_a_useless_silencer_is_reported_only_while_every_fact_is_known(real_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    shutil.copytree(real_copy, root)
    page = root / "docs/start/runbooks.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nNothing typed here <!-- literal: a reason -->.\n", encoding="utf-8")
    line = line_of(root, "docs/start/runbooks.md", "Nothing typed here")
    assert only(problems(root, "HV"), "HV002") == [("docs/start/runbooks.md", line)]
    (root / CONFIG).unlink()  # the configuration's values are unknown: the silencer may be silencing one of them
    assert only(problems(root, "HV"), "HV002") == []


def test_an_unreadable_runbook_still_exists_for_the_checks_that_name_it(real_copy: Path, tmp_path: Path) -> None:
    # join-shedding answers ChorusJoinShedding and is named by two decision records and an incident's action item:
    # none of them may tell the author to create the runbook they are fixing.
    root = broken(real_copy, tmp_path, "runbooks/join-shedding.md", b"## Impact\n", b"## Impact\ncaf\xff\n")
    report = run_checks(Project(root), ["AL", "AD", "IN"])
    about = [(p.path.as_posix(), p.code) for p in report.problems if "join-shedding" in p.message
             or "ChorusJoinShedding" in p.message or p.path.name == "join-shedding.md"]
    assert about == [("runbooks/join-shedding.md", "HB001")], report.problems


def test_every_kind_of_unreadable_file_is_one_line_at_its_relative_path(real_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    shutil.copytree(real_copy, root)
    (root / "runbooks/dangling.md").symlink_to("nowhere.md")
    (root / "docs/loop-a.md").symlink_to("loop-b.md")
    (root / "docs/loop-b.md").symlink_to("loop-a.md")
    (root / "docs/folder.md").mkdir()  # a directory is not a page: nothing to say about it
    (root / "docs/folder.md/inside.txt").write_text("not a page\n")
    (Path(str(root / "docs")) / "caf\udcff.md").write_text("# Cafe\n")  # the name's byte 0xFF is not UTF-8
    (root / "docs/dir\udcfa").mkdir()  # a folder too: its pages would print paths that cannot be encoded
    shutil.copy(root / "docs/index.md", root / "docs/dir\udcfa/index.md")
    (root / "docs/huge.md").write_text("# Huge\n" + "The cap is {@config.nope} listeners.\n" * (MAX_TEXT_BYTES // 30))
    outside = tmp_path / "secret.txt"
    outside.write_text("---\ntitle: not for the site\n---\n")
    (root / "docs/outside.md").symlink_to(outside)  # the site would publish a file from outside the tree
    (root / "docs/inside.md").symlink_to("index.md")  # a link within the tree is a page like any other
    nul = root / RUNBOOK
    nul.write_bytes(nul.read_bytes().replace(b"## Impact\n", b"## Impact\nzero\x00byte\n", 1))
    started = time.perf_counter()
    report = run_checks(Project(root), jobs=1)
    took = time.perf_counter() - started
    assert [p for p in report.problems if p.code == "HB002"] == []
    hb = {p.path.as_posix(): p for p in report.problems if p.code == "HB001"}
    assert sorted(hb) == sorted(["runbooks/dangling.md", "docs/loop-a.md", "docs/loop-b.md", "docs/caf\\xff.md",
                                 "docs/dir\\xfa", "docs/huge.md", "docs/outside.md", RUNBOOK]), report.problems
    assert "outside the tree" in hb["docs/outside.md"].message
    assert all(p.format(root).isprintable() for p in report.problems)
    assert "symbolic link to a missing file" in hb["runbooks/dangling.md"].message
    assert "loops" in hb["docs/loop-a.md"].message
    assert "not UTF-8" in hb["docs/caf\\xff.md"].message and "rename it" in hb["docs/caf\\xff.md"].message
    assert "larger than 1 MiB" in hb["docs/huge.md"].message
    assert "NUL byte" in hb[RUNBOOK].message and hb[RUNBOOK].line == line_of(root, RUNBOOK, "zero")
    assert all("\n" not in p.message and not p.path.is_absolute() for p in report.problems)
    assert not any(p.path.as_posix() == "docs/huge.md" for p in report.problems if p.code != "HB001")
    assert took < 60, "a huge page is refused, not scanned"


def test_one_check_reports_at_most_so_many_problems_per_file(real_copy: Path, tmp_path: Path) -> None:
    many = "".join(f"Unknown {{@config.nope_{n}}}.\n\n" for n in range(MAX_PER_FILE + 7))
    root = broken(real_copy, tmp_path, RUNBOOK, "## Impact\n", "## Impact\n\n" + many)
    found = [p for p in problems(root, "RF") if p.code == "RF001"]
    assert len(found) == MAX_PER_FILE + 1
    assert "and 7 more" in found[-1].message


def test_a_runbook_whose_alerts_is_a_string_is_not_read_letter_by_letter(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, "runbooks/dead-air.md", 'alerts: ["ChorusDeadAir"]', "alerts: ChorusDeadAir")
    found = problems(root, "RB", "DR")
    assert only(found, "RB001") == [("runbooks/dead-air.md", 3)]
    assert only(found, "DR006") == []


# --- sources of truth that fail ---------------------------------------------------------------------


def test_a_broken_source_names_every_check_it_stopped(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, CATALOG, "services:\n  - name: gateway", "services:\n  - gateway\n  - name: gateway")
    hb = [p for p in problems(root, "AL", "RF", "CMP") if p.code == "HB001"]
    assert len(hb) == 1
    assert "(checks " in hb[0].message and all(name in hb[0].message for name in ("live-values", "component-narratives"))


def test_a_missing_source_is_reported_once_not_at_every_reference(real_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    shutil.copytree(real_copy, root)
    (root / CONFIG).unlink()
    found = problems(root, "RF", "AD", "CL", "DP")
    hb = [p for p in found if p.code == "HB001"]
    assert len(hb) == 1 and hb[0].path.as_posix() == CONFIG and "missing" in hb[0].message
    unknown = [p for p in found if p.code == "RF001"]
    assert unknown and len(unknown) <= 3 and all("are unavailable" in p.message for p in unknown)  # config, env, scenario
    assert len([p for p in found if p.code == "RF004"]) <= 2  # the config and HTTP reference pages
    assert len([p for p in found if p.code == "AD003"]) == 1
    assert [p for p in found if p.code == "CL002"] == []
    assert len([p for p in found if p.code != "AD002"]) < 10, found  # AD002: this copy holds no stack/chorus code


def test_a_mkdocs_syntax_error_is_one_line_at_its_mark(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, "mkdocs.yml", "\nsite_url:", "\n  bad: [unclosed\nsite_url:")
    hb = [p for p in problems(root, "MK", "AL") if p.code == "HB001"]
    assert len(hb) == 1 and hb[0].path.as_posix() == "mkdocs.yml"
    assert (hb[0].line, hb[0].col) == (line_of(root, "mkdocs.yml", "  bad: [unclosed"), 6)
    assert "\n" not in hb[0].message and "YAML syntax error" in hb[0].message


def test_an_unknown_ignore_is_refused_like_an_unknown_select(real_copy: Path) -> None:
    with pytest.raises(ValueError, match="--ignore 'ZZ' matches no check"):
        run_checks(Project(real_copy), ignore=["ZZ"])
    with pytest.raises(ValueError, match="not a rule code: --ignore HV skips the whole family of HV001"):
        run_checks(Project(real_copy), ignore=["HV001"])
    result = subprocess.run([str(BIN / "handbook"), "--root", str(real_copy), "check", "--ignore", "ZZ"], capture_output=True, text=True)
    assert result.returncode == 2 and "--ignore 'ZZ'" in result.stderr and "Traceback" not in result.stderr


def test_a_message_quoting_a_multi_line_error_prints_on_one_line() -> None:
    problem = Problem(Path("mkdocs.yml"), 2, 6, "HB001", "YAML syntax error: while parsing\n  in \"<unicode string>\", line 2\nexpected ','")
    assert problem.format() == "mkdocs.yml:2:6: HB001 YAML syntax error: while parsing in \"<unicode string>\", line 2 expected ','"


def test_drill_lists_the_runbooks_it_can_read_and_names_the_one_it_cannot(real_copy: Path, tmp_path: Path) -> None:
    root = broken(real_copy, tmp_path, RUNBOOK, b"## Impact\n", b"## Impact\ncaf\xff\n")
    listed = subprocess.run([str(BIN / "handbook"), "--root", str(root), "drill", "--list"], capture_output=True, text=True)
    assert listed.returncode == 0 and "dead-air" in listed.stdout and "fanout-near-cap" not in listed.stdout
    assert f"{RUNBOOK}:{line_of(root, RUNBOOK, 'caf')}:4: byte 0xFF is not UTF-8" in listed.stderr and "Traceback" not in listed.stderr
    named = subprocess.run([str(BIN / "handbook"), "--root", str(root), "drill", "fanout-near-cap"], capture_output=True, text=True)
    assert named.returncode == 2 and "byte 0xFF is not UTF-8" in named.stderr and "Traceback" not in named.stderr
