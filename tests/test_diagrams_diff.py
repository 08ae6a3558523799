"""`handbook diagrams diff`: a fixture repository with two commits, and the errors a reviewer may hit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import BIN
from handbook.diagrams.diff import diff_graphs, pair_edges
from handbook.diagrams.model import Edge, Graph, Node
from handbook.diagrams.overlay import COLOURS, overlay_graph
from handbook.diagrams.report import write_report
from handbook.diagrams.review import run_review

PNG = b"\x89PNG\r\n\x1a\n"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

TEAMS = """teams:
  - name: media
    description: Owns everything in this fixture.
    oncall: fixture-primary
    chat: "#fixture"
    people:
      - name: Ada Example
        role: engineer
"""
CATALOG_1 = TEAMS + """services:
  - name: gateway
    purpose: Admits joins.
    team: media
    tier: 1
    depends_on: []
    ports: {http: 8080}
    workload: chorus-gateway
  - name: fanout
    purpose: Relays audio.
    team: media
    tier: 1
    depends_on: [gateway]
    ports: {ws: 8090}
    workload: chorus-fanout
"""
CATALOG_2 = CATALOG_1 + """  - name: packager
    purpose: Writes HLS.
    team: media
    tier: 2
    depends_on: []
    ports: {http: 8070}
    workload: chorus-packager
"""
CONTAINERS_1 = """from diagrams import Edge
from diagrams.generic.device import Mobile
from handbook.diagrams.kit import diagram, service

with diagram("containers"):
    apps = Mobile("apps", nodeid="apps")
    gateway, fanout = service("gateway"), service("fanout")
    fanout >> gateway
    apps >> Edge(label="join") >> gateway
    apps >> fanout
"""
CONTAINERS_2 = """from diagrams import Edge
from diagrams.generic.device import Mobile
from handbook.diagrams.kit import diagram, service

with diagram("containers"):
    apps = Mobile("apps", nodeid="apps")
    gateway, fanout = service("gateway"), service("fanout")
    service("packager")
    fanout >> gateway
    apps >> Edge(label="join (HTTP)") >> gateway
"""
OTHER = """from handbook.diagrams.kit import diagram, service

with diagram("other"):
    service("gateway", ports=False)
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True).stdout


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A handbook-shaped repository: commit 1, then a service added, an edge removed and a label changed."""
    root = tmp_path_factory.mktemp("review") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(
        root,
        {
            "mkdocs.yml": "site_name: fixture\n",
            ".gitignore": ".cache/\n",
            "stack/catalog.yaml": CATALOG_1,
            "diagrams/containers.py": CONTAINERS_1,
            "diagrams/other.py": OTHER,
        },
        "first",
    )
    commit(root, {"stack/catalog.yaml": CATALOG_2, "diagrams/containers.py": CONTAINERS_2}, "packager")
    return root


def handbook(repo: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "handbook"), *args], cwd=cwd or repo, env=GIT_ENV, capture_output=True, text=True
    )


def test_diff_reports_exactly_the_changes_and_writes_the_overlay(repo: Path, tmp_path: Path) -> None:
    review = run_review(repo, "HEAD~1", "HEAD", tmp_path / "out")
    summary, index = write_report(review)
    assert [d.name for d in review.changed] == ["containers"]
    assert [d.name for d in review.unchanged] == ["other"], "the catalog changed, so every diagram was compared"
    containers = review.changed[0]
    assert [c.describe() for c in containers.changes] == [
        'added node packager "packager / http :8070"',
        'relabelled edge apps -> gateway: "join" -> "join (HTTP)"',
        "removed edge apps -> fanout",
    ]
    for role in ("before", "after", "overlay"):
        assert (tmp_path / "out" / "containers" / f"{role}.png").read_bytes().startswith(PNG), role

    text = summary.read_text()
    assert "- added node packager" in text and "- removed edge apps -> fanout" in text
    assert "[overlay](containers/overlay.png)" in text
    assert "Re-rendered with no change in what they draw: `other`." in text
    assert len(text.splitlines()) < 30, "short enough for a pull-request comment"

    page = index.read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_overlay_colours_the_union_graph_on_one_layout(repo: Path, tmp_path: Path) -> None:
    review = run_review(repo, "HEAD~1", "HEAD", tmp_path / "out")
    item = review.changed[0]
    assert item.before and item.after and item.before.graph and item.after.graph
    source = overlay_graph(item.before.graph, item.after.graph).source
    lines = {line.strip().split(" ")[0] + (" " + line.strip().split(" ")[2] if "->" in line else ""): line for line in source.splitlines() if "[" in line}
    assert COLOURS["added"].line in lines["packager"]
    assert COLOURS["removed"].line in lines["apps fanout"] and "dashed" in lines["apps fanout"]
    assert COLOURS["relabelled"].line in lines["apps gateway"] and "(was: join)" in lines["apps gateway"]
    assert COLOURS["unchanged"].line in lines["fanout gateway"] and COLOURS["unchanged"].line in lines["gateway"]


def test_cli_exit_codes_and_one_line_errors(repo: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "cli")
    changed = handbook(repo, "diagrams", "diff", "HEAD~1", "HEAD", "--out", out)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.splitlines() == ["diagrams/containers.py: changed, 3 change(s)"]

    same = handbook(repo, "diagrams", "diff", "HEAD", "HEAD", "--out", out)
    assert same.returncode == 3
    head = git(repo, "rev-parse", "--short=7", "HEAD").strip()
    assert same.stderr.strip() == f"handbook: no diagram changed between HEAD ({head}) and HEAD ({head})"
    assert "No diagram changed" in (tmp_path / "cli" / "summary.md").read_text()

    bad = handbook(repo, "diagrams", "diff", "no-such-branch", "--out", out)
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        f"handbook: error: bad revision 'no-such-branch': no such commit in {repo.resolve()} (fetch it, or check the name)"
    ]

    elsewhere = tmp_path / "not-a-repo"
    elsewhere.mkdir()
    outside = handbook(repo, "--root", str(elsewhere), "diagrams", "diff", "HEAD", cwd=elsewhere)
    assert outside.returncode == 2
    assert len(outside.stderr.splitlines()) == 1 and "is not inside a git repository" in outside.stderr

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    refused = handbook(repo, "diagrams", "diff", "HEAD~1", "--out", str(busy))
    assert refused.returncode == 2 and "not empty" in refused.stderr
    assert (busy / "keep.txt").read_text() == "mine"
    assert len(git(repo, "worktree", "list").splitlines()) == 1, "temporary worktrees are removed"


def test_a_side_that_fails_to_render_exits_1(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    commit(clone, {"diagrams/other.py": OTHER.replace('service("gateway"', 'service("nope"')}, "break other")
    result = handbook(clone, "diagrams", "diff", "HEAD~1", "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "head: diagrams/other.py:4: service 'nope' is not in stack/catalog.yaml" in result.stdout
    assert "- head: `diagrams/other.py:4:" in (tmp_path / "out" / "summary.md").read_text()


def test_help_documents_the_exit_codes() -> None:
    text = subprocess.run([str(BIN / "handbook"), "diagrams", "diff", "--help"], capture_output=True, text=True).stdout
    for code in ("0 diagrams changed", "1 written", "2 the tool could not run", "3 no diagram changed"):
        assert code in " ".join(text.split()), code


def test_parallel_edges_relabel_instead_of_remove_and_add() -> None:
    before = [Edge("a", "b", "x"), Edge("a", "b", "y")]
    after = [Edge("a", "b", "y"), Edge("a", "b", "z")]
    pairing = pair_edges(before, after)
    assert [(o.label, n.label) for o, n in pairing.matched] == [("y", "y"), ("x", "z")]
    assert not pairing.added and not pairing.removed


def test_diff_of_a_new_diagram_adds_everything() -> None:
    graph = Graph("g", nodes=[Node("a", "A", cluster=("c",)), Node("b", "B")], edges=[Edge("a", "b")])
    assert [c.describe() for c in diff_graphs(None, graph)] == ['added node a "A"', 'added node b "B"', "added edge a -> b"]
    moved = Graph("g", nodes=[Node("a", "A"), Node("b", "B")], edges=[Edge("a", "b")])
    assert [c.describe() for c in diff_graphs(graph, moved)] == ['moved node a: cluster "c" -> "(none)"']


def test_review_workflow_runs_a_command_the_cli_accepts() -> None:
    import shlex

    import yaml

    from conftest import ROOT
    from handbook.cli import build_parser

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "diagram-review.yml").read_text())
    steps = workflow["jobs"]["diagram-review"]["steps"]
    run = next(s["run"] for s in steps if "handbook diagrams diff" in s.get("run", ""))
    line = next(line for line in run.splitlines() if "handbook diagrams diff" in line)
    args = build_parser().parse_args(shlex.split(line.replace('"$BASE"', "BASE").replace('"$HEAD"', "HEAD"))[1:])
    assert (args.base, args.head, str(args.out)) == ("BASE", "HEAD", "build/diagram-review")
    comment = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))
    assert "<!-- handbook:diagram-review -->" in comment["with"]["script"]
    assert "updateComment" in comment["with"]["script"] and "summary.md" in comment["with"]["script"]
    assert "pull_request" in workflow[True], "runs on pull requests (PyYAML reads `on:` as True)"
