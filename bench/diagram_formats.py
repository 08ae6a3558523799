"""PNG at 2x or SVG with icons inlined: size on the wire and label height in the content column, per diagram.

For each diagram source, records its Graphviz graph (as the render sandbox does)
and renders it three ways: PNG at 96 dpi (1x), PNG at 192 dpi (2x, what the site
publishes) and SVG whose icon references (paths on the build machine) are
replaced by `data:` URIs. Prints bytes, display size and the smallest label's
height at Material's content width (`handbook.diagrams.legibility`).

Usage: `.venv/bin/python bench/diagram_formats.py`. Runs the sources unsandboxed:
only on a trusted tree.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DUMP = """
import json, runpy, sys
import diagrams
target = sys.argv[2]
def dump(self, *args):
    json.dump({"dot": self.dot.source}, open(target, "w"))
    diagrams.setdiagram(None)
diagrams.Diagram.__exit__ = dump
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
HREF = re.compile(r'xlink:href="([^"]+[.]png)"')
SIZE = re.compile(r'<svg width="([0-9.]+)pt" height="([0-9.]+)pt"')


def dot_source(source: Path, folder: Path) -> str:
    """The Graphviz source a diagram draws."""
    out = folder / "dot.json"
    env = {**os.environ, "HANDBOOK_ROOT": str(ROOT)}
    subprocess.run([sys.executable, "-P", "-c", DUMP, str(source), str(out)], cwd=folder, env=env, check=True)
    return str(json.loads(out.read_text())["dot"])


def render(dot: str, fmt: str, dpi: int | None = None) -> bytes:
    """Run `dot` on a source."""
    if dpi is not None:
        dot = re.sub(r"dpi=\d+", f"dpi={dpi}", dot, count=1)
    return subprocess.run(["dot", f"-T{fmt}"], input=dot.encode(), capture_output=True, check=True).stdout


def inline_icons(svg: str) -> str:
    """Replace icon paths on this machine by `data:` URIs."""

    def data_uri(match: re.Match[str]) -> str:
        encoded = base64.b64encode(Path(match[1]).read_bytes()).decode("ascii")
        return f'xlink:href="data:image/png;base64,{encoded}"'

    return HREF.sub(data_uri, svg)


def main() -> None:
    """Print the table."""
    sys.path.insert(0, str(ROOT / "tools"))
    from handbook.diagrams import legibility
    from handbook.diagrams.sandbox import smallest_font

    print(f"content column {legibility.CONTENT_WIDTH_PX} px; label = smallest font at that width\n")
    print("| diagram | PNG 1x bytes | PNG 2x bytes | SVG+data: bytes | display px | label px | SVG paths left |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for source in sorted((ROOT / "diagrams").glob("[!_]*.py")):
        with tempfile.TemporaryDirectory() as folder:
            dot = dot_source(source, Path(folder))
            one, two = render(dot, "png", 96), render(dot, "png", 192)
            svg = inline_icons(render(dot, "svg", 72).decode())  # 72 dpi: SVG sizes in points, unscaled
            png = Path(folder) / "two.png"
            png.write_bytes(two)
            shown = legibility.measure(png, smallest_font(dot), 192)
            width, height = (float(v) for v in SIZE.search(svg).groups())  # type: ignore[union-attr]
            svg_css = (round(width * 96 / 72), round(height * 96 / 72))
            assert abs(svg_css[0] - shown.display[0]) <= 2, (svg_css, shown.display)
            left = len(re.findall(r'xlink:href="/', svg))
            print(
                f"| {source.stem} | {len(one):,} | {len(two):,} | {len(svg.encode()):,} | "
                f"{shown.display[0]}x{shown.display[1]} | {shown.label_px} | {left} |"
            )


if __name__ == "__main__":
    main()
