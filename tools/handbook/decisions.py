"""Decision records (MADR): what each governs, whether it still resolves, and the index.

A record is `docs/decisions/NNNN-slug.md` with front matter:

```yaml
title: "ADR-0004: Admission sheds with Retry-After instead of queueing"
status: accepted            # proposed | accepted | superseded | deprecated | rejected
date: 2026-11-27
superseded_by: 0011         # only when status is superseded
governs:
  code: [chorus.gateway.admission.Admission]     # dotted modules, classes, functions, methods
  config: [gateway.join_rate_per_s]              # configuration keys
  runbooks: [join-shedding]                      # runbook file stems
  alerts: [ChorusJoinShedding]                   # alert rule names
```

The plugin renders `<!-- handbook:governs -->` in a record as links to what it
governs (the API reference, the configuration reference, the runbooks, the
alert catalogue) and `<!-- handbook:decision-index -->` as the index table,
both from the front matter. `handbook check` (AD) reports, with `path:line`, a
governed name that no longer exists and a link in a record that no longer
resolves - so a record cannot silently point at code that was renamed away.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handbook import anchors
from handbook.reference import markdown as md
from handbook.mdscan import MarkdownPage

DECISIONS_DIR = Path("docs/decisions")
RECORD_NAME = re.compile(r"^(?P<number>\d{4})-[a-z0-9-]+\.md$")
STATUSES = ("proposed", "accepted", "superseded", "deprecated", "rejected")
GOVERNS_KINDS = ("code", "config", "runbooks", "alerts")
GOVERNS_MARKER = "<!-- handbook:governs -->"
INDEX_MARKER = "<!-- handbook:decision-index -->"
CODE_ROOTS = {"chorus": Path("stack/chorus"), "handbook": Path("tools/handbook")}


@dataclass
class Record:
    """One decision record, read from its file.

    Attributes:
        rel: The file, relative to the project root.
        number: Its four-digit number, e.g. `0004`.
        page: The scanned page (front matter positions give `path:line` for problems).
    """

    rel: Path
    number: str
    page: MarkdownPage

    @property
    def meta(self) -> dict[str, Any]:
        """The front matter as written."""
        return self.page.front_matter.data

    @property
    def title(self) -> str:
        """The record's title (its file name when it has none)."""
        return str(self.meta.get("title") or self.rel.stem)

    @property
    def status(self) -> str:
        """Its status, lower-case."""
        return str(self.meta.get("status") or "").strip().lower()

    @property
    def docs_uri(self) -> str:
        """Where it is on the site, docs-relative: `decisions/0004-....md`."""
        return f"decisions/{self.rel.name}"

    def governs(self) -> dict[str, list[str]]:
        """What it governs, by kind (`code`, `config`, `runbooks`, `alerts`), each a list of names."""
        raw = self.meta.get("governs") or {}
        if not isinstance(raw, dict):
            return {}
        return {kind: [str(v) for v in raw.get(kind) or [] if v is not None] for kind in GOVERNS_KINDS}


def records(project: Any) -> list[Record]:
    """Every decision record of a `Project`, read once and cached on it, in number order.

    Args:
        project: The project.

    Returns:
        The records (files named `NNNN-slug.md` in `docs/decisions/`).
    """
    cache = project.__dict__
    if "_decisions" not in cache:
        found = []
        for path in project.pages_in(DECISIONS_DIR):
            match = RECORD_NAME.match(path.name)
            if match:
                found.append(Record(path.relative_to(project.root), match["number"], project.page(path)))
        cache["_decisions"] = found
    return cache["_decisions"]


def code_object(root: Path, dotted: str) -> tuple[Path, int] | None:
    """Where a dotted Python name is defined: a module, or a class/function/method/assignment in one.

    Args:
        root: The project root.
        dotted: E.g. `chorus.gateway.admission.Admission.decide`.

    Returns:
        The file (relative to the root) and the line, or `None` when it does not exist.
    """
    parts = dotted.split(".")
    if parts[0] not in CODE_ROOTS:
        return None
    for cut in range(len(parts), 0, -1):
        base = CODE_ROOTS[parts[0]].joinpath(*parts[1:cut])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if (root / candidate).is_file() and (cut > 1 or candidate.name == "__init__.py"):
                rest = parts[cut:]
                if not rest:
                    return candidate, 1
                line = _definitions(root, candidate).get(".".join(rest))
                return (candidate, line) if line else None
    return None


def _definitions(root: Path, module: Path) -> dict[str, int]:
    """Every class, function, method and assignment a module defines (`Class.method` to its line).

    Parsed once per content: cached in `.cache/handbook/code-objects.json` by the file's text,
    so an unchanged module is not parsed again on the next run.
    """
    from handbook.resultcache import ResultCache

    text = (root / module).read_text(encoding="utf-8")
    cache = _CODE_OBJECTS.get(root)
    if cache is None:
        cache = _CODE_OBJECTS[root] = ResultCache(root, "code-objects")
    found = cache.get(text)
    if found is None:
        found = {}
        _collect(ast.parse(text), (), found)
        cache.put(text, found)
        cache.used.update(cache.entries)  # saved before the run ends: keep what later lookups will hit
        cache.save()
    return found


_CODE_OBJECTS: dict[Path, Any] = {}
"""One code-objects cache per project root for this process."""


def _collect(tree: ast.AST, prefix: tuple[str, ...], found: dict[str, int]) -> None:
    """Record the names defined in a module or class body, the first definition of each winning."""
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            found.setdefault(".".join((*prefix, node.name)), node.lineno)
            _collect(node, (*prefix, node.name), found)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found.setdefault(".".join((*prefix, target.id)), node.lineno)


def api_link(dotted: str) -> str:
    """The docs-relative API reference page of a dotted name (its module's page, anchored at the object)."""
    parts = dotted.split(".")
    return f"reference/api/{'/'.join(parts[:-1]) or parts[0]}.md#{dotted}" if len(parts) > 1 else f"reference/api/{dotted}/index.md"


def governs_markdown(record: Record, page_uri: str, module_pages: set[str]) -> str:
    """What a record governs, as a Markdown list of links (the `<!-- handbook:governs -->` marker).

    Args:
        record: The record.
        page_uri: Its docs-relative path.
        module_pages: The docs-relative API pages that exist (`reference/api/chorus/gateway/admission.md`...).

    Returns:
        The Markdown.
    """
    governs = record.governs()
    lines = []
    for dotted in governs["code"]:
        lines.append(f"- code: [`{dotted}`]({md.link(page_uri, _module_page(dotted, module_pages))})")
    for key in governs["config"]:
        lines.append(f"- configuration: [`{key}`]({md.link(page_uri, anchors.config_key(key))})")
    for name in governs["runbooks"]:
        lines.append(f"- runbook: [{name}]({md.link(page_uri, anchors.runbook(name))})")
    for name in governs["alerts"]:
        lines.append(f"- alert: [`{name}`]({md.link(page_uri, anchors.alert(name))})")
    return "\n".join(lines) if lines else "*This record governs no code, configuration or runbook.*"


def _module_page(dotted: str, module_pages: set[str]) -> str:
    """The API page of the longest module prefix of `dotted` that has a page."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        for page in (f"reference/api/{'/'.join(parts[:cut])}.md", f"reference/api/{'/'.join(parts[:cut])}/index.md"):
            if page in module_pages:
                return page
    return "reference/api/index.md"


def index_markdown(found: list[Record], page_uri: str) -> str:
    """The index of records: number, title, status, date, what supersedes it (the index marker).

    Args:
        found: Every record.
        page_uri: The docs-relative path of the index page.

    Returns:
        A Markdown table.
    """
    rows = ["| record | status | date | governs |", "|---|---|---|---|"]
    by_number = {r.number: r for r in found}
    for record in found:
        status = record.status or "?"
        later = str(record.meta.get("superseded_by") or "").zfill(4)
        if status == "superseded" and later in by_number:
            status += f" by [ADR-{later}]({md.link(page_uri, by_number[later].docs_uri)})"
        counts = [f"{len(v)} {k}" for k, v in record.governs().items() if v]
        rows.append(f"| [{record.title}]({md.link(page_uri, record.docs_uri)}) | {status} | {record.meta.get('date', '')} | {', '.join(counts) or '-'} |")
    return "\n".join(rows)
