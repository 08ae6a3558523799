"""What a reader of a runbook page sees of its drill: the status box, warnings on destructive steps.

The MkDocs plugin calls `annotate` on every runbook's Markdown before rendering:
the invisible `<!-- drill: ... -->` markers become a red warning above a
destructive command and a short note above a production-only one, and a box
under the title says when the drill last passed (from `.cache/drills/results.json`).
"""

from __future__ import annotations

from pathlib import Path

from handbook.drill import results
from handbook.drill.spec import MARKER, looks_destructive, read_plan
from handbook.mdscan import MarkdownPage

TITLES = {"success": "Drilled", "warning": "Drill", "failure": "Drill failing", "note": "Drill", "info": "Drill"}


def annotate(markdown: str, source: str, name: str, root: Path) -> str:
    """The runbook's Markdown with its drill made visible.

    Args:
        markdown: The page body (front matter already removed by MkDocs).
        source: The whole file, front matter included (the plan is read from it).
        name: The runbook's file stem.
        root: The handbook checkout (where the results live).

    Returns:
        The body with the status box first and each marker replaced by what a reader should see.
    """
    plan = read_plan(MarkdownPage(source))
    spec = plan.spec
    by_line = {step.marker.line: step for step in plan.steps}
    # Markers keep their order through rendering: the k-th in the page is the k-th in the file.
    marker_lines = [n for n, text in enumerate(source.split("\n"), start=1) if MARKER.match(text)]
    seen = 0
    out: list[str] = []
    for line in markdown.split("\n"):
        if not MARKER.match(line):
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        step = by_line.get(marker_lines[seen]) if seen < len(marker_lines) else None
        seen += 1
        if step is None:
            continue
        word = looks_destructive(step.block) or "change"
        if step.destructive:
            out.append(f'{indent}!!! danger "Destructive step (`{word}`)"')
            out.append(f"{indent}    It changes the running system. Run it only when the steps above point here. "
                       + ("Drills run it only with `--allow-destructive`." if step.runs else ""))
            out.append("")
        if "production" in step.marker.flags:
            out.append(f"{indent}*Production only, not drilled locally: {step.marker.reason}*")
            out.append(f"{indent}{{: .drill-production }}")
            out.append("")
        elif "skip" in step.marker.flags:
            out.append(f"{indent}*Not run by the drill: {step.marker.reason}*")
            out.append(f"{indent}{{: .drill-production }}")
            out.append("")
    kind, text = results.status_line(results.load(root).get(name), spec.not_drillable if spec else None,
                                     spec is not None)
    box = [f'!!! {kind} "{TITLES[kind]}"', f"    {text}", ""]
    return "\n".join(box + out)

