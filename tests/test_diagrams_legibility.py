"""Every diagram is legible where it is shown: labels of at least 11 px in the content column, from numbers."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from handbook.checks.diagrams import diagram_problems
from handbook.diagrams import legibility
from handbook.diagrams.embed import size_diagram_images
from handbook.diagrams.render import render_all
from handbook.project import Project

CROWDED = '''"""Too wide on purpose: twelve services in a row."""

from handbook.diagrams.kit import diagram, service

with diagram("crowded"):
    nodes = [service("gateway", role=f"step {n}", note="a label of some length") for n in range(12)]
    for left, right in zip(nodes, nodes[1:]):
        left >> right
'''


def test_every_diagram_of_the_handbook_shows_labels_of_at_least_11_px(tmp_path: Path) -> None:
    run = render_all(ROOT, cache_dir=tmp_path / "cache")
    assert not run.failed
    for result in run.results:
        assert result.graph is not None and result.image is not None
        assert result.graph.dpi == 192 and result.graph.font_pt >= 15, result.name
        shown = legibility.measure(result.image, result.graph.font_pt, result.graph.dpi)
        assert abs(shown.display[0] * 2 - shown.pixels[0]) <= 1, "published at half its pixels (2x)"
        assert shown.label_px >= legibility.MIN_LABEL_PX, f"{result.name}: {shown}"


def test_label_height_follows_font_and_width(tmp_path: Path) -> None:
    run = render_all(ROOT, sources=[Path("diagrams/system-context.py")], cache_dir=tmp_path)
    image = run.results[0].image
    assert image is not None
    width, _ = legibility.png_size(image)
    narrow = legibility.measure(image, 16, 192, content_width=width // 4)
    assert narrow.shown[0] == width // 4 and narrow.label_px == pytest.approx(16 * 96 / 72 / 2, abs=0.1)
    wide = legibility.measure(image, 16, 192, content_width=width)
    assert wide.shown == wide.display and wide.label_px == pytest.approx(21.3, abs=0.1), "never enlarged past 1x"
    with pytest.raises(ValueError):
        legibility.png_size(ROOT / "mkdocs.yml")


def test_a_crowded_diagram_is_reported_with_its_line(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "diagrams").mkdir(parents=True)
    (tree / "stack").mkdir()
    shutil.copy(ROOT / "mkdocs.yml", tree)
    shutil.copy(ROOT / "stack" / "catalog.yaml", tree / "stack")
    shutil.copy(ROOT / "diagrams" / "containers.py", tree / "diagrams")
    (tree / "diagrams" / "crowded.py").write_text(CROWDED, encoding="utf-8")
    problems = [p for p in diagram_problems(Project(tree), render_all(tree, cache_dir=tmp_path / "c")) if p.code == "DG009"]
    assert [(p.path.name, p.line) for p in problems] == [("crowded.py", 5)]
    assert re.fullmatch(
        r"labels of 17 pt show at [0-9.]+ px on a page \(the diagram is \d+ px wide, the content column 688 px\), "
        r"under 11 px: split it into smaller views, lay it out top to bottom \(direction='TB'\) or shorten its labels",
        problems[0].message,
    ), problems[0].message


def test_diagram_images_get_size_class_and_name() -> None:
    html = '<a class="glightbox" href="../diagrams/join-flow.png"><img alt="Join flow" src="../diagrams/join-flow.png" /></a>'
    marked = size_diagram_images(html, {"join-flow": (640, 700)})
    assert marked == (
        '<a class="glightbox" href="../diagrams/join-flow.png"><img alt="Join flow" src="../diagrams/join-flow.png" '
        'class="handbook-diagram" data-diagram="join-flow" width="640" height="700" /></a>'
    )
    assert size_diagram_images(marked, {"join-flow": (1, 1)}) == marked, "marked once"
    other = '<img alt="logo" src="../assets/logo.png" />'
    assert size_diagram_images(other, {"join-flow": (640, 700)}) == other


def test_pages_show_diagrams_at_their_display_size(built_site: Path) -> None:
    html = (built_site / "architecture" / "index.html").read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*class="handbook-diagram"[^>]*>', html)
    names = {re.search(r'data-diagram="([^"]+)"', tag)[1] for tag in images}  # type: ignore[index]
    assert names == {"system-context", "containers"}
    for tag in images:
        width = int(re.search(r'width="(\d+)"', tag)[1])  # type: ignore[index]
        assert 300 < width < 2000 and 'height="' in tag
