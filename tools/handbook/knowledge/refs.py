"""What a page refers to in the stack: every subject, with where and how it is referred to.

The handbook already reads pages for its checks; this module reuses those readers rather than
parsing again:

- live values `{@NAME}` (`handbook.livevalues.references`) -> the fact's subject;
- PromQL blocks (`handbook.promql.metric_names`) -> metrics;
- commands in shell and console blocks (`handbook.shellcmd.commands`) -> `chorusctl` commands,
  and Kubernetes objects a `kubectl` command names;
- links to reference entries (`handbook.anchors`) and to component pages -> their subject;
- names in inline code: a config key, an alert, a metric, a workload, a module, a command;
- `::: chorus.x` (mkdocstrings) and `stack/chorus/x.py` paths -> modules;
- a runbook's `alerts:` and `services:`, a page's `services:`, and a component narrative
  (`docs/components/NAME.md`) -> those alerts, catalog entries, and the service's modules.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from handbook import promql
from handbook.facts import Facts
from handbook.knowledge.subjects import StackSubjects, subject_of_fact
from handbook.livevalues import references as live_references
from handbook.mdscan import MarkdownPage
from handbook.shellcmd import CONSOLE_LANGS, SHELL_LANGS, commands, substitute

CODE_SPAN = re.compile(r"`+([^`\n]+?)`+")
MODULE_PATH = re.compile(r"\bstack/(chorus(?:/[A-Za-z_][A-Za-z0-9_]*)*)(?:\.py|/)?")
AUTODOC = re.compile(r"^:::\s+(chorus(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*$")


@dataclass(frozen=True)
class Ref:
    """One reference from a page to a stack subject.

    Attributes:
        subject: The subject key, e.g. `config:fanout.listener_cap`; for modules, a dotted
            prefix (`module:chorus.fanout` covers every module under it).
        line: 1-based line in the file.
        how: How it is referred to, e.g. `{@config.fanout.listener_cap}`, `promql`, `` `chorusctl drain` ``.
    """

    subject: str
    line: int
    how: str


class Index:
    """Names a page may use, mapped to the subjects of both sides of a comparison.

    Args:
        sides: The subjects of each tree compared (now, and the older revision).
    """

    def __init__(self, *sides: StackSubjects) -> None:
        self.keys: set[str] = set()
        self.series: dict[str, str] = {}
        for side in sides:
            self.keys |= set(side.snapshot)
            self.series.update(side.series)
        self.by_name: dict[str, list[str]] = {}
        for key in sorted(self.keys):
            kind, _, ident = key.partition(":")
            if kind in ("config", "alert", "metric", "cli") or (kind == "module" and "." in ident):
                self._name(ident, key)  # `chorus` alone is a word in prose, not a reference to every module
            elif kind == "k8s":
                self._name(ident.split("/", 1)[1], key)
                self._name(ident, key)
        for series, key in self.series.items():
            self._name(series, key)
        self.commands = {tuple(k.removeprefix("cli:").split()) for k in self.keys if k.startswith("cli:")}

    def _name(self, name: str, key: str) -> None:
        keys = self.by_name.setdefault(name, [])
        if key not in keys:
            keys.append(key)

    def metric(self, name: str) -> str:
        """The metric subject a series name belongs to."""
        return self.series.get(name, f"metric:{name}")

    def command(self, words: list[str]) -> str | None:
        """The longest known `chorusctl` command the words start with, as a subject key."""
        path: tuple[str, ...] = ("chorusctl",)
        best = None
        for word in words:
            if word.startswith("-"):
                break
            path = (*path, word)
            if path in self.commands:
                best = path
            else:
                break
        return "cli:" + " ".join(best) if best else None

    def names(self, text: str) -> list[str]:
        """The subjects an inline code span names exactly (a workload name is also its Service's)."""
        text = text.strip()
        if text.startswith("chorusctl "):
            command = self.command(text.split()[1:])
            return [command] if command else []
        return self.by_name.get(text, [])


ENTRY_PAGES = {
    "reference/config.md": "config",
    "reference/metrics.md": "metric",
    "reference/alerts.md": "alert",
    "reference/deployment.md": "k8s",
    "reference/cli.md": "cli",
}


def _anchor_subject(index: Index, page: str, fragment: str) -> str | None:
    """The subject a link to a reference entry names (anchors are slugs, so match them back)."""
    kind = ENTRY_PAGES.get(page)
    if kind is None or not fragment:
        return None
    for key in index.keys:
        k, _, ident = key.partition(":")
        if k != kind:
            continue
        slug = re.sub(r"[^a-z0-9_.-]+", "-", ident.replace("/", "-").replace(" ", "-").lower()).strip("-")
        if slug == fragment:
            return key
    return None


def page_refs(rel: str, text: str | MarkdownPage, index: Index, facts: Facts) -> list[Ref]:
    """Every reference a page makes to a stack subject.

    Args:
        rel: The page's project-relative path (`runbooks/x.md`, `docs/components/fanout.md`).
        text: The page's text, or the page already scanned.
        index: The names of the subjects compared.
        facts: Today's facts (live values in commands and queries are rendered before reading them).

    Returns:
        The references, in file order (a subject may be referred to several times).
    """
    page = text if isinstance(text, MarkdownPage) else MarkdownPage(text)
    found: list[Ref] = list(_front_matter_refs(rel, page))
    for ref in live_references(page):
        key = subject_of_fact(ref.name)
        if key is not None:
            if key.startswith("metric:"):
                key = index.metric(key.removeprefix("metric:"))
            found.append(Ref(key, ref.line, "{@" + ref.name + "}"))
    for block in page.code_blocks:
        if block.lang == "promql" and block.lines:
            try:
                names = promql.metric_names(substitute(block.text, facts))
            except ValueError:
                names = set()
            for name in sorted(names):
                found.append(Ref(index.metric(name), block.lines[0].line, f"promql `{name}`"))
        if block.lang in SHELL_LANGS | CONSOLE_LANGS:
            for cmd in commands(block, facts):
                found.extend(_command_refs(cmd.program, list(cmd.args), cmd.line, index))
        for code_line in block.lines:
            match = AUTODOC.match(code_line.text.strip())
            if match:
                found.append(Ref(f"module:{match[1]}", code_line.line, f"::: {match[1]}"))
    for pl in page.prose:
        match = AUTODOC.match(pl.text.strip())
        if match:
            found.append(Ref(f"module:{match[1]}", pl.line, f"::: {match[1]}"))
        for span in CODE_SPAN.finditer(pl.text):
            for key in index.names(span[1]):
                found.append(Ref(key, pl.line, f"`{span[1].strip()}`"))
        for path in MODULE_PATH.finditer(pl.text):
            found.append(Ref("module:" + path[1].replace("/", "."), pl.line, path[0]))
    for link in page.links:
        target, _, fragment = link.target.partition("#")
        if "://" in target or not target.endswith(".md"):
            continue
        docs_page = posixpath.normpath(posixpath.join(posixpath.dirname(rel.removeprefix("docs/")), target))
        key = _anchor_subject(index, docs_page, fragment)
        if key is None and docs_page.startswith("components/"):
            name = posixpath.basename(docs_page)[: -len(".md")]
            key = f"service:{name}" if f"service:{name}" in index.keys else None
        if key is not None:
            found.append(Ref(key, link.line, f"link to {link.target}"))
    return sorted(found, key=lambda r: r.line)


def _command_refs(program: str, args: list[str], line: int, index: Index) -> Iterator[Ref]:
    if program == "chorusctl":
        key = index.command(args)
        if key is not None:
            yield Ref(key, line, f"`{key.removeprefix('cli:')}`")
    elif program == "kubectl":
        for word in args:
            if word.startswith("-"):
                continue
            for key in index.by_name.get(word.split("/", 1)[-1], []):
                if key.startswith("k8s:"):
                    yield Ref(key, line, f"`kubectl ... {word}`")


def _front_matter_refs(rel: str, page: MarkdownPage) -> Iterator[Ref]:
    block = page.front_matter
    data = block.data if isinstance(block.data, dict) else {}
    for field, kind in (("alerts", "alert"), ("services", "service")):
        values = data.get(field)
        for index, value in enumerate(values if isinstance(values, list) else []):
            yield Ref(f"{kind}:{value}", block.position(field, index)[0], f"front matter {field}: {value}")
    parts = rel.split("/")
    if len(parts) == 3 and parts[:2] == ["docs", "components"] and parts[2] != "index.md":
        name = parts[2][: -len(".md")]
        yield Ref(f"service:{name}", 1, "the component page of service " + name)
        yield Ref(f"module:chorus.{name}", 1, "the component page of service " + name)


def refers_to(ref: Ref, key: str) -> bool:
    """Whether a reference covers a subject (a module reference covers the modules under it)."""
    if ref.subject == key:
        return True
    return ref.subject.startswith("module:") and key.startswith(ref.subject + ".")
