"""Claims (CL): what prose says about a source of truth points at the right one.

Live values keep a number right; these rules keep the *claim around it* right:
the manifest a sentence names holds what it is cited for, a runbook's live
values belong to the services it is about, and no sentence does arithmetic on
live values that a reader would have to finish.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from handbook import facts as facts_mod
from handbook import sources
from handbook.checks.registry import check
from handbook.errors import HandbookError
from handbook.mdscan import MarkdownPage, ProseLine
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import runbooks

MANIFEST_PATH = re.compile(r"stack/deploy/kubernetes/(?P<file>[A-Za-z0-9_.-]+\.ya?ml)")
SPEC_FIELDS = ("maxReplicas", "minReplicas", "replicas", "minAvailable", "maxUnavailable", "scaleTargetRef")
"""Manifest fields a sentence may cite a file for (in backticks)."""
FIELD_SPAN = re.compile(r"`(?P<field>" + "|".join(SPEC_FIELDS) + r")`")
K8S_VALUE = re.compile(r"\{@k8s\.(?P<kind>[a-z]+)\.(?P<name>[a-z0-9-]+)")
ARITHMETIC = re.compile(r"\{@[^{}\n]+\}\s*(?:[+*/×]|-(?=\s)|\bx\b)\s*\{@[^{}\n]+\}")
SERVICE_SECTIONS = ("gateway", "fanout", "packager")
"""Configuration sections that belong to one service (the rest, e.g. `audio`, are shared)."""
ADDRESS_KEYS = ("host", "port")
"""Keys any runbook may quote for any service: where to reach it."""


@check(
    "claims",
    family="CL",
    rules={
        "CL001": "a sentence names a manifest for a field or object that manifest does not hold",
        "CL002": "a runbook quotes a configuration key of a service it is not about (a live value bound to the wrong key)",
        "CL003": "prose does arithmetic on live values ({@a} + {@b}): state the result as a fact, or phrase it without arithmetic",
    },
)
def claims(project: Project) -> Iterator[Problem]:
    """Check manifest citations and live-value arithmetic in every page, and config ownership in runbooks."""
    manifests: dict[str, tuple[set[str], set[str]]] | None = None
    for path in project.markdown_files:
        text = project.read_text(path)
        rel = path.relative_to(project.root)
        page = project.page(path)
        if "stack/deploy/kubernetes/" in text:
            manifests = manifests if manifests is not None else _manifests(project.root)
            yield from _manifest_citations(rel, page, manifests)
        if "{@" in text:
            for line in page.prose:
                if line.text.count("{@") < 2:
                    continue  # arithmetic needs two live values
                for match in ARITHMETIC.finditer(line.text):
                    if not line.in_code_span(match.start()):
                        yield Problem(rel, line.line, match.start() + 1, "CL003",
                                      f"arithmetic on live values '{match.group(0)}' renders as a sum the reader must finish: "
                                      "phrase it as 'at least A, plus up to B', or add a fact for the result")
    yield from _runbook_config_owners(project)


def _manifests(root: Path) -> dict[str, tuple[set[str], set[str]]]:
    """Each manifest file name to the spec fields it sets (of `SPEC_FIELDS`) and the `kind.name` of every object it defines."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    for obj in sources.manifests(root):
        name = Path(obj.path).name
        if name not in found:
            path = Path(obj.path) if Path(obj.path).is_file() else root / obj.path
            text = path.read_text(encoding="utf-8")
            found[name] = ({f for f in SPEC_FIELDS if re.search(rf"^\s*{f}:", text, re.MULTILINE)}, set())
        if obj.kind and obj.name:
            found[name][1].add(f"{obj.kind.lower()}.{obj.name}")
    return found


def _manifest_citations(rel: Path, page: MarkdownPage, manifests: dict[str, tuple[set[str], set[str]]]) -> Iterator[Problem]:
    """CL001: a paragraph citing `stack/deploy/kubernetes/F.yaml` for a field or a workload F lacks."""
    for paragraph in page.paragraphs:
        cited = [(line, m) for line in paragraph if "stack/deploy/kubernetes/" in line.text
                 for m in MANIFEST_PATH.finditer(line.text)]
        if not cited:
            continue
        fields = {m["field"] for line in paragraph for m in FIELD_SPAN.finditer(line.text)}
        objects = {f"{m['kind']}.{m['name']}" for line in paragraph for m in K8S_VALUE.finditer(line.text)}
        for line, match in cited:
            file = match["file"]
            if file not in manifests:
                yield Problem(rel, line.line, match.start() + 1, "CL001",
                              f"{match.group(0)} does not exist (manifests: {', '.join(sorted(manifests))})")
                continue
            sets, defined = manifests[file]
            for field in sorted(fields - sets):
                holders = [f for f, (held, _) in manifests.items() if field in held]
                yield Problem(rel, line.line, match.start() + 1, "CL001",
                              f"{match.group(0)} is cited for `{field}`, which it does not set"
                              + (f" ({', '.join(sorted(holders))} does)" if holders else ""))
            for obj in sorted(objects - defined):
                yield Problem(rel, line.line, match.start() + 1, "CL001",
                              f"{match.group(0)} is cited beside {{@k8s.{obj}}}, which it does not define")


def _runbook_config_owners(project: Project) -> Iterator[Problem]:
    """CL002: a sentence about one service quoting another service's setting, in a runbook not about it.

    `{@config.fanout.upstream_retry_max_s}` in "the packager retries ... at most N s apart" binds
    the packager's behaviour to a fan-out key. A runbook may quote any service's settings when it
    names that service (the gateway's node timeout in a fan-out runbook, said of the gateway)
    or when the key's own description says it governs the service the sentence is about (the
    gateway's node timeout decides when a fan-out node is stale); the rule fires only when none
    of that holds and the runbook's `services:` does not list the key's service either.
    """
    try:
        described = {key.key: key.description for key in sources.config_keys(project.root)}
    except HandbookError as exc:
        if not facts_mod.is_missing(exc):
            raise
        return  # without the keys' descriptions the rule cannot tell who a key governs; the missing file is reported once
    covering = {key: {svc for svc, words in SERVICE_WORDS.items() if words.search(text)} for key, text in described.items()}
    for rb in runbooks(project):
        if rb.meta is None or ("{@config." not in rb.page.text and "{@env." not in rb.page.text):
            continue
        about = set(rb.meta.services)
        for paragraph in rb.page.paragraphs:
            if not any("{@config." in line.text or "{@env." in line.text for line in paragraph):
                continue  # quotes no setting
            for sentence, all_refs in _sentences(paragraph):
                refs = [(ref, parts) for ref in all_refs
                        if len(parts := ref.name.split(".")) >= 3 and parts[0] in ("config", "env")]
                if not refs:
                    continue  # most sentences quote no setting: no need to find the services they name
                named = {service for service, words in SERVICE_WORDS.items() if words.search(sentence)}
                for ref, parts in refs:
                    section, key = parts[1], parts[2]
                    covers = covering.get(f"{section}.{key}", set())
                    if (section in SERVICE_SECTIONS and section not in about and key not in ADDRESS_KEYS
                            and named and section not in named and not named & covers):
                        yield Problem(rb.rel, ref.line, ref.col, "CL002",
                                      f"{{@{ref.name}}} is a {section} setting, quoted in a sentence about "
                                      f"{', '.join(sorted(named))}: bind the value to the key that service really uses")


SERVICE_WORDS = {
    "gateway": re.compile(r"\b(gateway|admission)\b", re.IGNORECASE),
    "fanout": re.compile(r"\b(fan-?out|nodes?|origins?|edges?)\b", re.IGNORECASE),
    "packager": re.compile(r"\bpackager\b", re.IGNORECASE),
}
"""Words that say which service a sentence is about."""


def _sentences(paragraph: list[ProseLine]) -> Iterator[tuple[str, list]]:
    """Each sentence of a paragraph with the live values in it (live values themselves removed)."""
    page_refs = []
    text_parts = []
    offset = 0
    for line in paragraph:
        for match in REF_NAME.finditer(line.text):
            page_refs.append((offset + match.start(), _Ref(match["name"], line.line, match.start() + 1)))
        text_parts.append(line.text)
        offset += len(line.text) + 1
    text = "\n".join(text_parts)
    start = 0
    for end in [m.end() for m in SENTENCE_END.finditer(text)] + [len(text)]:
        if end <= start:
            continue
        refs = [ref for at, ref in page_refs if start <= at < end]
        yield REF_NAME.sub(" ", text[start:end]), refs
        start = end


@dataclass(frozen=True)
class _Ref:
    name: str
    line: int
    col: int


REF_NAME = re.compile(r"(?<![$\\])\{@(?P<name>[^{}\s]+)\}")
SENTENCE_END = re.compile(r"[.!?;:](?=\s)")
