"""Knowledge that stays: review dates, stale, affected, CODEOWNERS, risk - on git repositories built here.

The fixture repository holds a copy of the real `stack/` and three pages, committed by three
authors on back-dated days (`GIT_AUTHOR_DATE` / `GIT_COMMITTER_DATE`):

1. 2026-01-10, Alice: everything; `docs/cap.md` quotes `fanout.listener_cap`, `docs/burst.md`
   quotes `gateway.join_burst`, `docs/plain.md` quotes nothing and was last reviewed in 2025;
2. 2026-03-01, Bob: a gateway module of his own;
3. 2026-06-01, Carol: `fanout.listener_cap` 1000 -> 1200 in `stack/config/chorus.yaml`.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, mkdocs_env

BIN = Path(sys.executable).parent
BASE_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

CAP = """---
title: Listener cap
owner: media
last_reviewed: 2026-02-01
---

# Listener cap

Each node takes at most {@config.fanout.listener_cap} listeners.
"""
BURST = """---
title: Join burst
owner: control-plane
last_reviewed: 2026-02-01
---

# Join burst

The gateway admits bursts of {@config.gateway.join_burst} joins.
"""
PLAIN = """---
title: Plain
owner: control-plane
last_reviewed: 2025-01-01
review_interval: 90d
---

# Plain

Nothing here refers to the stack.
"""
BOB_MODULE = "".join(f"BOB_{n} = {n}\n" for n in range(40))


def git(repo: Path, *args: str, author: str = "Alice Example", day: str = "2026-01-10") -> str:
    """Run git in `repo` as `author`, committing on `day` (noon UTC)."""
    email = author.split()[0].lower() + "@example.invalid"
    env = {
        **BASE_ENV,
        "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": f"{day}T12:00:00+0000",
        "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": f"{day}T12:00:00+0000",
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def commit(repo: Path, files: dict[str, str], message: str, author: str, day: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A", author=author, day=day)
    git(repo, "commit", "-q", "-m", message, author=author, day=day)
    return git(repo, "rev-parse", "HEAD").strip()


def handbook(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "handbook"), "--root", str(root), *args], env=BASE_ENV, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The fixture repository and its commits."""
    repo = tmp_path_factory.mktemp("knowledge") / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(ROOT / "stack", repo / "stack", ignore=shutil.ignore_patterns("__pycache__"))
    first = commit(repo, {
        "mkdocs.yml": "site_name: fixture\n",
        ".gitignore": ".cache/\n__pycache__/\n",
        "docs/cap.md": CAP, "docs/burst.md": BURST, "docs/plain.md": PLAIN,
    }, "first", "Alice Example", "2026-01-10")
    second = commit(repo, {"stack/chorus/gateway/bob_module.py": BOB_MODULE}, "bob's module", "Bob Example", "2026-03-01")
    config = (repo / "stack/config/chorus.yaml").read_text()
    assert "  listener_cap: 1000\n" in config
    third = commit(repo, {"stack/config/chorus.yaml": config.replace("  listener_cap: 1000\n", "  listener_cap: 1200\n")},
                   "raise the cap", "Carol Example", "2026-06-01")
    return {"repo": repo, "first": first, "second": second, "third": third}


def test_affected_lists_exactly_the_pages_referring_to_the_changed_key(history: dict[str, object]) -> None:
    repo = history["repo"]
    result = handbook(repo, "affected", "--since", str(history["second"]))
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "docs/cap.md:9: {@config.fanout.listener_cap} - config key fanout.listener_cap changed: value 1000 -> 1200" in out
    assert "docs/burst.md" not in out and "docs/plain.md" not in out
    markdown = handbook(repo, "affected", "--since", str(history["second"]), "--format", "markdown")
    assert markdown.stdout.startswith("<!-- handbook:affected-pages -->")
    assert "| `docs/cap.md` | media | 9 |" in markdown.stdout
    nothing = handbook(repo, "affected", "--since", "HEAD")
    assert nothing.returncode == 0 and "Nothing in stack/" in nothing.stdout
    bad = handbook(repo, "affected", "--since", "no-such-branch")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "bad revision" in bad.stderr


def test_stale_groups_by_owner_soonest_first_with_calendar_and_change_reasons(history: dict[str, object]) -> None:
    result = handbook(history["repo"], "stale", "--as-of", "2026-06-15")
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert out.index("control-plane (1)") < out.index("media (1)"), "plain.md (due 2025-04-01) sorts before cap.md (changed 2026-06-01)"
    assert "docs/plain.md" in out and "review was due 2025-04-01" in out
    assert "docs/cap.md" in out and "changed after its review on 2026-02-01" in out
    assert "fanout.listener_cap changed: value 1000 -> 1200" in out
    assert "docs/burst.md" not in out, "burst.md is within its interval and nothing it quotes changed"
    early = handbook(history["repo"], "stale", "--as-of", "2026-02-02")
    assert "docs/burst.md" not in early.stdout and "docs/cap.md" in early.stdout, "a change makes a page due before its calendar does"


def test_codeowners_generated_and_the_check_fails_when_out_of_sync(history: dict[str, object], tmp_path: Path) -> None:
    repo = tmp_path / "owners"
    shutil.copytree(history["repo"], repo)
    assert handbook(repo, "codeowners", "--write").returncode == 0
    text = (repo / ".github/CODEOWNERS").read_text()
    assert "/stack/chorus/fanout/ @chorus-audio/media @priya-raman" in text
    assert "/docs/cap.md @chorus-audio/media" in text and "/docs/plain.md @chorus-audio/control-plane" in text
    clean = handbook(repo, "check", "--select", "CO")
    assert clean.returncode == 0, clean.stdout
    (repo / "docs/cap.md").write_text(CAP.replace("owner: media", "owner: control-plane"))
    drift = handbook(repo, "check", "--select", "CO")
    assert drift.returncode == 1
    assert ".github/CODEOWNERS:" in drift.stdout and "CO001" in drift.stdout
    catalog = (repo / "stack/catalog.yaml").read_text()
    (repo / "stack/catalog.yaml").write_text("\n".join(line for line in catalog.splitlines() if "github:" not in line) + "\n")
    missing = handbook(repo, "check", "--select", "CO002")
    assert missing.returncode == 1 and "has no `github:` handle" in missing.stdout


def test_risk_reports_bus_factor_islands_and_the_off_boarding_view(history: dict[str, object]) -> None:
    result = handbook(history["repo"], "risk", "--since", "2026-01-01")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "fanout  score" in out and "bus factor 1: Alice Example" in out
    assert "knowledge islands" in out and "no drills yet" in out
    gateway = out[out.index("gateway  score"):]
    assert "authors in window: code 2" in gateway.splitlines()[1], "Alice and Bob wrote gateway code in the window"
    scores = [float(line.split("score ")[1].split()[0]) for line in out.splitlines() if "  score " in line]
    assert scores == sorted(scores, reverse=True), "worst first"
    off = handbook(history["repo"], "risk", "--since", "2026-01-01", "--without", "alice example")
    assert "without alice example (off-boarding view)" in off.stdout
    assert "of its current lines lose their author" in off.stdout and "files losing their main author" in off.stdout
    fanout = off.stdout[off.stdout.index("fanout  score"):]
    assert "bus factor 0" in fanout.splitlines()[1], "nobody is left who wrote fan-out's lines"
    nobody = handbook(history["repo"], "risk", "--without", "Nobody Here")
    assert "nobody named 'Nobody Here'" in nobody.stdout


def test_shallow_clone_and_no_history_get_a_note_not_a_crash(history: dict[str, object], tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{history['repo']}", str(shallow))
    risk = handbook(shallow, "risk")
    assert risk.returncode == 0 and "note: shallow clone: only 1 commit(s)" in risk.stdout
    stale = handbook(shallow, "stale", "--as-of", "2026-06-15")
    assert stale.returncode == 1 and "docs/plain.md" in stale.stdout
    affected = handbook(shallow, "affected", "--since", "HEAD~2")
    assert affected.returncode == 2 and "shallow" in affected.stderr and len(affected.stderr.strip().splitlines()) == 1
    bare = tmp_path / "bare"
    shutil.copytree(history["repo"], bare, ignore=shutil.ignore_patterns(".git"))
    risk = handbook(bare, "risk")
    assert risk.returncode == 0 and "note: no git history here" in risk.stdout
    stale = handbook(bare, "stale", "--as-of", "2026-06-15")
    assert stale.returncode == 1 and "note: no git history" in stale.stdout and "docs/plain.md" in stale.stdout
    affected = handbook(bare, "affected", "--since", "HEAD")
    assert affected.returncode == 2 and "no git history" in affected.stderr


def test_review_checks_fire_on_broken_front_matter(tmp_path: Path) -> None:
    from handbook.project import Project
    from handbook.runner import run_checks

    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    (tmp_path / "stack").mkdir()
    shutil.copy(ROOT / "stack/catalog.yaml", tmp_path / "stack/catalog.yaml")
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    pages = {
        "no-owner.md": "---\ntitle: a\nlast_reviewed: 2026-01-01\n---\n# a\n",
        "bad-owner.md": "---\ntitle: b\nowner: nobody-team\nlast_reviewed: 2026-01-01\n---\n# b\n",
        "no-date.md": "---\ntitle: c\nowner: media\n---\n# c\n",
        "bad-date.md": "---\ntitle: d\nowner: media\nlast_reviewed: last tuesday\n---\n# d\n",
        "future.md": f"---\ntitle: e\nowner: media\nlast_reviewed: {future}\n---\n# e\n",
        "bad-interval.md": "---\ntitle: f\nowner: media\nlast_reviewed: 2026-01-01\nreview_interval: 3 months\n---\n# f\n",
        "good.md": "---\ntitle: g\nowner: media\nlast_reviewed: 2026-01-01\n---\n# g\n",
    }
    for name, text in pages.items():
        (tmp_path / "docs").mkdir(exist_ok=True)
        (tmp_path / "docs" / name).write_text(text)
    found = {(p.path.name, p.code, p.line) for p in run_checks(Project(tmp_path), ["RV"]).problems}
    assert found == {
        ("no-owner.md", "RV001", 4),
        ("bad-owner.md", "RV002", 3),
        ("no-date.md", "RV003", 4),
        ("bad-date.md", "RV003", 4),
        ("future.md", "RV004", 4),
        ("bad-interval.md", "RV005", 5),
    }


def test_section_defaults_live_in_one_place() -> None:
    from handbook.knowledge.review import default_interval, read_page

    assert default_interval("runbooks/x.md") == ("90d", "runbooks")
    assert default_interval("docs/decisions/0002-x.md") == ("365d", "docs/decisions")
    assert default_interval("docs/glossary.md") == ("180d", "docs")
    page = read_page("docs/start/x.md", "---\nowner: media\nlast_reviewed: 2026-01-01\n---\n# X\n")
    assert (page.interval, page.interval_from, page.next_due) == ("90d", "section default (docs/start)", dt.date(2026, 4, 1))


def test_every_real_page_has_an_owner_and_a_review_date(root: Path) -> None:
    from handbook.knowledge.review import page_reviews
    from handbook.project import Project

    pages = page_reviews(Project(root))
    assert len(pages) > 30
    assert [p.rel for p in pages if p.owner is None or p.last_reviewed is None] == []


def test_banner_on_an_overdue_page_of_a_built_site(history: dict[str, object], tmp_path: Path) -> None:
    site_root = tmp_path / "site-src"
    shutil.copytree(history["repo"], site_root, ignore=shutil.ignore_patterns(".cache"))
    (site_root / "mkdocs.yml").write_text(
        "site_name: fixture\nsite_url: http://127.0.0.1/\ntheme:\n  name: material\n  font: false\n"
        "plugins:\n  - search\n  - handbook\nmarkdown_extensions:\n  - admonition\n  - attr_list\n  - md_in_html\n"
        "validation:\n  links:\n    anchors: warn\n"
    )
    built = tmp_path / "built"
    result = subprocess.run([str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(built)], cwd=site_root,
                            env={**mkdocs_env(), **BASE_ENV}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    plain = (built / "plain" / "index.html").read_text()
    assert "handbook-review-banner" in plain and "Due for review" in plain
    assert "Its review was due on 2025-04-01" in plain
    cap = (built / "cap" / "index.html").read_text()
    assert "handbook-review-banner" in cap and "fanout.listener_cap changed: value 1000 -&gt; 1200" in cap
    burst = (built / "burst" / "index.html").read_text()
    if dt.date.today() <= dt.date(2026, 7, 31):
        assert "handbook-review-banner" not in burst
    assert "Owner: <strong>control-plane</strong>" in burst and "Last reviewed: <strong>2026-02-01</strong>" in burst
    assert "Next review due: <strong>2026-07-31</strong>" in burst
    risk = (built / "reference" / "knowledge-risk" / "index.html").read_text()
    assert "knowledge-risk.svg" in risk and (built / "reference" / "knowledge-risk.svg").read_text().startswith("<svg")


def test_review_workflow_posts_the_affected_pages_with_a_command_the_cli_accepts() -> None:
    import shlex

    import yaml

    from handbook.cli import build_parser
    from handbook.knowledge.report import MARKER

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "diagram-review.yml").read_text())
    steps = workflow["jobs"]["diagram-review"]["steps"]
    run = next(s["run"] for s in steps if "handbook affected" in s.get("run", ""))
    line = next(line for line in run.splitlines() if "handbook affected" in line)
    args = build_parser().parse_args(shlex.split(line.replace('"$BASE"', "BASE"))[1:])
    assert (args.since, args.format, str(args.out)) == ("BASE", "markdown", "build/affected.md")
    comment = next(s for s in steps if s.get("uses", "").startswith("actions/github-script") and "affected" in s["with"]["script"])
    assert MARKER in comment["with"]["script"] and "updateComment" in comment["with"]["script"]


def test_bus_factor_truck_factor_and_git_output_parsing() -> None:
    from collections import Counter

    from handbook.knowledge.history import Blame, parse_numstat, parse_porcelain
    from handbook.knowledge.risk import bus_factor, truck_factor

    assert bus_factor(Counter({"a": 60, "b": 30, "c": 10})) == 1
    assert bus_factor(Counter({"a": 40, "b": 35, "c": 25})) == 2
    assert bus_factor(Counter()) == 0
    assert truck_factor([Blame("x", Counter({"a": 10})), Blame("y", Counter({"a": 5, "b": 5})), Blame("z", Counter({"b": 10}))]) == 2
    assert truck_factor([Blame("x", Counter({"a": 10})), Blame("y", Counter({"a": 10})), Blame("z", Counter({"b": 10}))]) == 1
    sha = "a" * 40
    porcelain = (f"{sha} 1 1 2\nauthor Ada\nauthor-mail <a@x>\nsummary s\nfilename f\n\tline one\n"
                 f"{sha} 2 2\n\tline two\n{'b' * 40} 3 3 1\nauthor Bob\nfilename f\n\tline three\n")
    assert parse_porcelain(porcelain) == Counter({"Ada": 2, "Bob": 1})
    numstat = f"\x00{sha}\tAda\t2026-01-02\n\n3\t1\tdocs/a.md\n-\t-\timg.png\n\x00{'b' * 40}\tBob\t2026-01-03\n\n1\t0\tother/b.md\n"
    changes = parse_numstat(numstat)
    assert [(c.author, c.path, c.added, c.deleted) for c in changes] == [("Ada", "docs/a.md", 3, 1), ("Ada", "img.png", 0, 0), ("Bob", "other/b.md", 1, 0)]
    assert [c.path for c in parse_numstat(numstat, "docs/")] == ["a.md"]
