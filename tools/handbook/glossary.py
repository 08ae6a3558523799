"""The glossary: the domain's words, defined once, shown as tooltips and on one page.

`includes/glossary.yaml` holds every term with its other spellings, a one-line
definition and the page that explains it. The plugin appends the terms to every
page as Markdown abbreviations (`*[term]: definition`), which the `abbr`
extension turns into `<abbr title=...>` and Material's `content.tooltips` shows
on hover - the auto-appended glossary file of Material's docs, generated from one
source so the tooltip and the glossary page cannot disagree. Abbreviations never
touch code blocks or inline code, so commands and live values in code stay as
they are. The glossary page (`<!-- handbook:glossary -->`) lists every term,
linked to where it is explained; `handbook check` resolves those links (GL).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from handbook import yamlio
from handbook.reference import markdown as md
from handbook.errors import HandbookError

GLOSSARY = Path("includes/glossary.yaml")
MARKER = "<!-- handbook:glossary -->"
FIELDS = {"term", "forms", "definition", "explained"}


@dataclass(frozen=True)
class Term:
    """One glossary entry.

    Attributes:
        term: The word as usually written, e.g. `rejoin ticket`.
        forms: Other spellings that get the same tooltip, e.g. `rejoin tickets`.
        definition: One or two plain sentences (no Markdown: it is a tooltip).
        explained: The docs-relative page (and `#anchor`) that explains it.
        line: The line of the entry in the glossary file.
    """

    term: str
    forms: tuple[str, ...]
    definition: str
    explained: str
    line: int

    @property
    def anchor(self) -> str:
        """The entry's id on the glossary page, e.g. `rejoin-ticket`."""
        return "term-" + "-".join(self.term.lower().split())


@dataclass(frozen=True)
class EntryError:
    """A malformed glossary entry.

    Attributes:
        line: The entry's line.
        message: What is wrong.
    """

    line: int
    message: str


def load(root: Path) -> tuple[list[Term], list[EntryError]]:
    """Read the glossary; a missing file is an empty glossary.

    Args:
        root: The project root.

    Returns:
        The valid terms, in file order, and what is wrong with the others.

    Raises:
        HandbookError: The file is not valid YAML (names file and line).
    """
    path = root / GLOSSARY
    if not path.is_file():
        return [], []
    doc = yamlio.load(GLOSSARY, text=path.read_text(encoding="utf-8"))
    entries = (doc.data or {}).get("terms") if isinstance(doc.data, dict) else None
    if not isinstance(entries, list):
        raise HandbookError("expected a top-level 'terms:' list", path=GLOSSARY, line=1)
    terms: list[Term] = []
    errors: list[EntryError] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        line = doc.line_of("terms", index)
        if not isinstance(entry, dict):
            errors.append(EntryError(line, "an entry is a mapping with term, definition, explained (and forms)"))
            continue
        unknown = sorted(set(entry) - FIELDS)
        missing = sorted(f for f in FIELDS - {"forms"} if not str(entry.get(f) or "").strip())
        forms = entry.get("forms") or []
        if unknown or missing or not isinstance(forms, list):
            what = (f"unknown key(s) {', '.join(unknown)}; " if unknown else "") + (f"missing {', '.join(missing)}; " if missing else "")
            errors.append(EntryError(line, (what or "forms must be a list; ") + "an entry has term, definition, explained and optional forms"))
            continue
        term = Term(str(entry["term"]).strip(), tuple(str(f).strip() for f in forms), " ".join(str(entry["definition"]).split()),
                    str(entry["explained"]).strip(), line)
        for word in (term.term, *term.forms):
            if word in seen:
                errors.append(EntryError(line, f"'{word}' is already defined on line {seen[word]}: a word has one definition"))
            seen.setdefault(word, line)
        terms.append(term)
    return terms, errors


def abbreviations(terms: list[Term]) -> str:
    """The Markdown abbreviation definitions of every term and form, to append to a page.

    Args:
        terms: The glossary.

    Returns:
        One `*[word]: definition` line per word (empty when there are no terms).
    """
    lines = [f"*[{word}]: {term.definition}" for term in terms for word in (term.term, *term.forms)]
    return "\n".join(lines)


def page(terms: list[Term], page_uri: str) -> str:
    """The glossary as Markdown: one entry per term, each linking to where it is explained.

    Args:
        terms: The glossary.
        page_uri: The docs-relative path of the page it goes on, for relative links.

    Returns:
        The Markdown.
    """
    parts = []
    for term in sorted(terms, key=lambda t: t.term.lower()):
        link = md.link(page_uri, term.explained)
        also = f" *Also: {', '.join(term.forms)}.*" if term.forms else ""
        parts.append(f"{term.term} {{: #{term.anchor} }}\n:   {term.definition}{also} [Explained here]({link}).\n")
    return "\n".join(parts) if parts else "*The glossary is empty.*"
