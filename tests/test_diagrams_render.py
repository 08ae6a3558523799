"""Diagrams render from their sources, bound to the catalog (and the manifests when present), and are cached."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, FIXTURES, ROOT, mkdocs_env
from handbook.diagrams.render import diagram_sources, render_all
from handbook.diagrams.workloads import workloads

PNG = b"\x89PNG\r\n\x1a\n"
EXPECTED = {"system-context", "containers", "media-path", "join-flow", "deployment"}


def small_tree(tmp_path: Path, diagrams: list[str] | None = None) -> Path:
    """A copy of the handbook's diagram inputs: mkdocs.yml, the catalog and some diagram sources."""
    tree = tmp_path / "tree"
    (tree / "diagrams").mkdir(parents=True)
    (tree / "stack").mkdir()
    shutil.copy(ROOT / "mkdocs.yml", tree)
    shutil.copy(ROOT / "stack" / "catalog.yaml", tree / "stack")
    for name in diagrams or sorted(EXPECTED):
        shutil.copy(ROOT / "diagrams" / f"{name}.py", tree / "diagrams")
    return tree


def test_every_diagram_of_the_handbook_renders(tmp_path: Path) -> None:
    run = render_all(ROOT, cache_dir=tmp_path / "cache")
    assert {r.name for r in run.results} == EXPECTED
    assert [str(r.error) for r in run.failed] == []
    for result in run.results:
        assert result.image is not None and result.image.read_bytes().startswith(PNG), result.name
        assert result.graph is not None and result.graph.nodes, result.name
    containers = run.by_name()["containers"].graph
    assert containers is not None
    assert set(containers.services()) == {"gateway", "fanout", "packager"}


def test_icons_are_inside_the_png_not_linked(tmp_path: Path) -> None:
    run = render_all(ROOT, sources=[Path("diagrams/containers.py")], cache_dir=tmp_path)
    image = run.results[0].image
    assert image is not None
    assert b"site-packages" not in image.read_bytes()
    assert len(image.read_bytes()) > 20_000, "icons are embedded as pixels"


def test_service_nodes_take_labels_from_the_catalog(tmp_path: Path) -> None:
    run = render_all(ROOT, sources=[Path("diagrams/containers.py")], cache_dir=tmp_path)
    graph = run.results[0].graph
    assert graph is not None
    fanout = graph.services()["fanout"]
    assert fanout.label.splitlines()[:2] == ["fanout", "ws :8090"]


def test_second_render_renders_nothing_and_inputs_invalidate(tmp_path: Path) -> None:
    tree = small_tree(tmp_path, ["containers", "media-path"])
    cache = tmp_path / "cache"
    first = render_all(tree, cache_dir=cache)
    assert first.rendered == 2 and not first.failed
    second = render_all(tree, cache_dir=cache)
    assert second.rendered == 0
    assert second.summary() == "diagrams: nothing to render, all 2 from the cache"
    assert [r.image for r in second.results] == [r.image for r in first.results]

    source = tree / "diagrams" / "media-path.py"
    source.write_text(source.read_text() + "\n# touched\n")
    assert render_all(tree, cache_dir=cache).rendered == 1, "only the edited source re-renders"

    catalog = tree / "stack" / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("ws: 8090", "ws: 8091"))
    third = render_all(tree, cache_dir=cache)
    assert third.rendered == 2, "a catalog change re-renders every diagram"
    assert "ws :8091" in third.by_name()["containers"].graph.services()["fanout"].label  # type: ignore[union-attr]


def test_a_failing_source_does_not_stop_the_others(tmp_path: Path) -> None:
    tree = small_tree(tmp_path, ["containers"])
    (tree / "diagrams" / "broken.py").write_text("import nothing_here_at_all\n")
    run = render_all(tree, cache_dir=tmp_path / "cache")
    assert [r.name for r in run.failed] == ["broken"]
    assert str(run.failed[0].error) == (
        "diagrams/broken.py:1: diagram source raised ModuleNotFoundError: "
        "No module named 'nothing_here_at_all'; fix the source"
    )
    assert run.by_name()["containers"].image is not None
    again = render_all(tree, cache_dir=tmp_path / "cache")
    assert [(r.name, r.cached, r.error is None) for r in again.results] == [
        ("broken", True, False),
        ("containers", True, True),
    ], "a failure is cached by content like a drawing: the unchanged broken source is not run again"
    assert str(again.failed[0].error) == str(run.failed[0].error)


def test_the_diagrams_folder_cannot_shadow_the_diagrams_package(tmp_path: Path) -> None:
    tree = small_tree(tmp_path, ["containers"])
    (tree / "diagrams" / "__init__.py").write_text("raise RuntimeError('the diagrams/ folder was imported')\n")
    (tree / "diagrams" / "diagrams.py").write_text("raise RuntimeError('diagrams/diagrams.py was imported')\n")
    run = render_all(tree, sources=[Path("diagrams/containers.py")], cache_dir=tmp_path / "cache")
    assert not run.failed, run.failed[0].error if run.failed else ""


def test_arrows_written_backwards_point_the_way_they_are_drawn(tmp_path: Path) -> None:
    tree = small_tree(tmp_path, [])
    (tree / "diagrams" / "arrows.py").write_text(
        "from diagrams import Edge\n"
        "from handbook.diagrams.kit import diagram, service\n"
        "with diagram('arrows'):\n"
        "    g, f = service('gateway'), service('fanout')\n"
        "    g << Edge(label='reports') << f\n"
        "    g - f\n"
        "    g >> Edge(style='invis') >> f\n"
    )
    graph = render_all(tree, cache_dir=tmp_path / "cache").results[0].graph
    assert graph is not None
    assert [(e.tail, e.head, e.label, e.directed, e.line) for e in graph.edges] == [
        ("fanout", "gateway", "reports", True, 5),
        ("gateway", "fanout", "", False, 6),
    ]


def test_diagram_sources_skip_helpers(tmp_path: Path) -> None:
    tree = small_tree(tmp_path, ["containers"])
    (tree / "diagrams" / "_shared.py").write_text("X = 1\n")
    assert diagram_sources(tree) == [Path("diagrams/containers.py")]


def test_deployment_reads_autoscaler_and_budgets_from_manifests(tmp_path: Path) -> None:
    tree = small_tree(tmp_path, ["deployment"])
    shutil.copytree(FIXTURES / "deployment_manifests" / "stack" / "deploy", tree / "stack" / "deploy")
    found = {w.service: w for w in workloads(tree) if not w.role}
    edge = next(w for w in workloads(tree) if w.role == "edge")
    assert (edge.service, edge.name, edge.declared) == ("fanout", "chorus-fanout-edge", False)  # not in these manifests
    fanout = found["fanout"]
    assert (fanout.kind, fanout.namespace, fanout.replicas) == ("Deployment", "chorus", 3)
    assert fanout.autoscaler is not None and fanout.autoscaler.summary() == (
        "3–40 replicas · cpu 60% · chorus_fanout_listeners avg 8000"
    )
    assert fanout.budget is not None and fanout.budget.rule == "maxUnavailable 1"
    assert fanout.routes == ("chorus-fanout :8090",)
    assert found["gateway"].autoscaler is None and found["gateway"].budget.rule == "minAvailable 1"  # type: ignore[union-attr]
    assert not found["packager"].declared

    graph = render_all(tree, cache_dir=tmp_path / "cache").results[0].graph
    assert graph is not None
    ids = {n.id for n in graph.nodes}
    assert {"hpa.chorus-fanout", "pdb.chorus-fanout", "pdb.chorus-gateway", "svc.chorus-fanout"} <= ids
    assert ("hpa.chorus-fanout", "fanout") in {e.key for e in graph.edges}
    assert graph.node("fanout").cluster == ("namespace chorus", "fanout")  # type: ignore[union-attr]


def test_deployment_without_manifests_draws_catalog_workloads(tmp_path: Path) -> None:
    tree = small_tree(tmp_path, ["deployment"])
    graph = render_all(tree, cache_dir=tmp_path / "cache").results[0].graph
    assert graph is not None
    assert "no manifests yet" in graph.title
    assert "workload\nchorus-fanout" in graph.services()["fanout"].label
    assert not [n for n in graph.nodes if n.id.startswith(("hpa.", "pdb."))]


@pytest.mark.parametrize("page", ["architecture/index.html", "architecture/media-path/index.html"])
def test_pages_embed_diagrams_that_open_full_size(built_site: Path, page: str) -> None:
    html = (built_site / page).read_text(encoding="utf-8")
    assert 'class="glightbox"' in html
    assert "diagrams/" in html and ".png" in html


def test_site_publishes_every_diagram(built_site: Path) -> None:
    published = {p.stem for p in (built_site / "diagrams").glob("*.png")}
    assert published == EXPECTED
    assert (built_site / "assets" / "javascripts" / "glightbox.min.js").is_file(), "lightbox ships with the site"


def test_warm_build_renders_nothing_and_says_so(built_site: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=mkdocs_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "handbook: diagrams: nothing to render, all 5 from the cache" in result.stderr


def test_build_reports_a_failing_diagram_by_line_and_renders_the_rest(tmp_path: Path) -> None:
    tree = small_tree(tmp_path)
    shutil.copytree(ROOT / "docs", tree / "docs")
    shutil.copytree(ROOT / "runbooks", tree / "runbooks")
    # The pages quote the whole stack (config, rules, scenarios, SLOs) and the glossary.
    shutil.copytree(ROOT / "stack", tree / "stack", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "includes", tree / "includes")
    broken = tree / "diagrams" / "media-path.py"
    broken.write_text(broken.read_text().replace('service("packager"', 'service("hls-packager"'))
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--no-strict", "--site-dir", str(tmp_path / "site")],
        cwd=tree,
        env=mkdocs_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    line = next(n for n, text in enumerate(broken.read_text().splitlines(), 1) if "hls-packager" in text)
    assert f"ERROR   -  diagrams/media-path.py:{line}: service 'hls-packager' is not in stack/catalog.yaml" in result.stderr
    assert "Traceback" not in result.stderr
    published = {p.name: p.stat().st_size for p in (tmp_path / "site" / "diagrams").glob("*.png")}
    assert set(published) == {f"{name}.png" for name in EXPECTED}, "the failed one is replaced by a notice"
    assert "diagrams: rendered 4, 0 from the cache; 1 failed" in result.stderr

    strict = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "strict")],
        cwd=tree,
        env=mkdocs_env(),
        capture_output=True,
        text=True,
    )
    assert strict.returncode == 1, "a failing diagram fails the strict build"


def test_render_command_prints_failures_and_exits_1(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "broken_diagrams", tree)
    result = subprocess.run(
        [str(BIN / "handbook"), "--root", str(tree), "diagrams", "render", "--out", str(tmp_path / "png")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "diagrams/raises.py:8: diagram source raised KeyError: 'listener_cap'; fix the source" in result.stdout.splitlines()
    assert (tmp_path / "png" / "fine.png").read_bytes().startswith(PNG)
