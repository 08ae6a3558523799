"""The printable handbook: the architecture pages and every runbook in one self-contained HTML, and a PDF.

For a laptop with no network or a binder before a big event. Made from the offline edition
(`make offline`: one `.html` file per page), so it prints exactly what the site says today:

    python -m handbook.printbook site-offline --out print

writes `print/handbook.html` (styles inlined, images inlined as `data:` URIs, links between the
printed pages turned into links within the book, other links pointing at the online site) and
`print/handbook.pdf`, printed by Debian's Chromium in headless mode. Exit 0 done, 2 could not run.
"""

from __future__ import annotations

import argparse
import base64
import html
import mimetypes
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

CHROMIUM = "/usr/bin/chromium"
SECTIONS = (("architecture", "Architecture"), ("runbooks", "Runbooks"))
"""The parts of the book, in order: each folder's index first, then its pages in navigation order."""
QUIET_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-pdf-header-footer",
)


class PrintError(Exception):
    """The book could not be made; the message says what to do."""


@dataclass(frozen=True)
class Chapter:
    """One page of the site in the book.

    Attributes:
        path: Its file in the offline edition, site-relative (`runbooks/dead-air.html`).
        key: Its prefix for ids in the book (`runbooks-dead-air`).
        title: Its title.
        body: Its article, as HTML.
    """

    path: str
    key: str
    title: str
    body: Node


def chapter_key(path: str) -> str:
    """The id prefix of a page in the book, e.g. `runbooks/dead-air.html` -> `runbooks-dead-air`."""
    return re.sub(r"[^a-z0-9]+", "-", path.removesuffix(".html").lower()).strip("-")


def page_order(site: Path, folder: str) -> list[str]:
    """A folder's pages in the order its navigation lists them (index first).

    Args:
        site: The offline edition.
        folder: The folder, e.g. `runbooks`.

    Returns:
        Site-relative paths of its `.html` pages.
    """
    index = f"{folder}/index.html"
    tree = HTMLParser((site / index).read_text(encoding="utf-8"))
    found = [index]
    for link in tree.css("nav.md-nav--primary a.md-nav__link[href]"):
        target = posixpath.normpath(posixpath.join(folder, link.attributes.get("href") or ""))
        if target.startswith(f"{folder}/") and target.endswith(".html") and target not in found and (site / target).is_file():
            found.append(target)
    return found


def read_chapter(site: Path, path: str) -> Chapter:
    """One page's article, its title and its id prefix.

    Raises:
        PrintError: The page has no article (not a page of the handbook's theme).
    """
    tree = HTMLParser((site / path).read_text(encoding="utf-8"))
    article = tree.css_first("article.md-content__inner")
    if article is None:
        raise PrintError(f"{site / path}: no <article> found: build the offline edition with `make offline` first")
    heading = article.css_first("h1")
    title = heading.text(strip=True).rstrip("¶") if heading else path
    return Chapter(path, chapter_key(path), title, article)


def _data_uri(file: Path) -> str:
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(file.read_bytes()).decode('ascii')}"


def _rewrite(chapter: Chapter, site: Path, titles: dict[str, str], online: str) -> str:
    """A chapter's article with ids prefixed, links and images made to work inside one file."""
    body = chapter.body
    for node in body.css("a.headerlink, .md-source-file, .md-content__button"):
        node.decompose()
    for node in body.css("[id]"):
        node.attrs["id"] = f"{chapter.key}--{node.attributes['id']}"
    here = posixpath.dirname(chapter.path)
    for image in body.css("img[src]"):
        src = image.attributes.get("src") or ""
        if urlsplit(src).scheme:
            continue
        file = site / posixpath.normpath(posixpath.join(here, src))
        if not file.is_file():
            raise PrintError(f"{site / chapter.path}: image {src} not found in the built site")
        image.attrs["src"] = _data_uri(file)
    for link in body.css("a[href]"):
        href = link.attributes.get("href") or ""
        if "glightbox" in (link.attributes.get("class") or ""):
            link.attrs["href"] = "#"  # the enlarged image is the same image: nothing to follow on paper
            continue
        parts = urlsplit(href)
        if parts.scheme or href.startswith("mailto:"):
            continue
        target = posixpath.normpath(posixpath.join(here, parts.path)) if parts.path else chapter.path
        key = chapter_key(target)
        if target in titles:
            link.attrs["href"] = f"#{key}--{parts.fragment}" if parts.fragment else f"#{key}"
            if target != chapter.path and not link.text(strip=True).startswith(titles[target]):
                link.attrs["data-print-target"] = titles[target]
        else:
            page = target.removesuffix("index.html").removesuffix(".html")
            page = page if not page or page.endswith("/") else page + "/"
            link.attrs["href"] = online + page + (f"#{parts.fragment}" if parts.fragment else "")
    return f'<section class="chapter" id="{chapter.key}">{body.html}</section>'


def _styles(site: Path) -> str:
    """The theme's and the handbook's style sheets, inlined (in the order the site loads them)."""
    index = HTMLParser((site / "index.html").read_text(encoding="utf-8"))
    sheets = []
    for link in index.css('link[rel="stylesheet"][href]'):
        href = link.attributes.get("href") or ""
        file = site / href
        if not urlsplit(href).scheme and file.is_file():
            sheets.append(f"/* {href} */\n{file.read_text(encoding='utf-8')}")
    return "\n".join(sheets)


BOOK_CSS = """
@page { size: A4; margin: 16mm 14mm; }
body { margin: 0 auto; max-width: 60rem; padding: 1rem; }
.chapter { break-before: page; }
.book-cover h1 { font-size: 2.4em; margin-bottom: 0.2em; }
.book-toc li { margin: 0.15em 0; }
"""


def build_html(site: Path, online: str) -> str:
    """The whole book as one self-contained HTML document.

    Args:
        site: The offline edition (`make offline`).
        online: The site's address, for links to pages the book leaves out.

    Returns:
        The document.

    Raises:
        PrintError: The folder is not an offline edition of the handbook.
    """
    if not (site / "index.html").is_file():
        raise PrintError(f"{site}: no index.html: build the offline edition with `make offline` first")
    chapters = [read_chapter(site, path) for folder, _ in SECTIONS for path in page_order(site, folder)]
    titles = {c.path: c.title for c in chapters}
    toc = []
    for folder, name in SECTIONS:
        items = "".join(f'<li><a href="#{c.key}">{html.escape(c.title)}</a></li>' for c in chapters if c.path.startswith(f"{folder}/"))
        toc.append(f"<h2>{name}</h2><ol>{items}</ol>")
    body = "\n".join(_rewrite(c, site, titles, online) for c in chapters)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>The Chorus Handbook (print edition)</title>"
        f"<style>{_styles(site)}\n{BOOK_CSS}</style></head>"
        '<body><div class="md-typeset">'
        '<section class="book-cover"><h1>The Chorus Handbook</h1>'
        "<p>The architecture pages and every runbook, printed from the site as it was built. "
        "Values shown are the values in the stack at build time; the site is the current edition.</p>"
        f'<nav class="book-toc">{"".join(toc)}</nav></section>'
        f"{body}</div></body></html>\n"
    )


def print_pdf(book: Path, pdf: Path, chromium: str = CHROMIUM) -> None:
    """Print the book to PDF with Chromium in headless mode (fresh profile, no network).

    Raises:
        PrintError: Chromium is missing or did not write the PDF.
    """
    if not Path(chromium).exists():
        raise PrintError(f"{chromium} not found: run tools/bootstrap/chromium.sh (installs Debian's chromium)")
    profile = tempfile.mkdtemp(prefix="handbook-print-")
    try:
        result = subprocess.run(
            [chromium, *QUIET_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={pdf}", book.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if not pdf.is_file() or pdf.stat().st_size == 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PrintError(f"chromium did not write {pdf} (exit {result.returncode}): {last}")


def main(argv: list[str] | None = None) -> int:
    """Make the print edition: `python -m handbook.printbook SITE --out DIR [--no-pdf]`.

    Returns:
        0 done, 2 could not run (the message names what to do).
    """
    parser = argparse.ArgumentParser(
        prog="python -m handbook.printbook",
        description="Make the printable handbook (architecture + every runbook) from the offline edition.",
        epilog="Exit codes: 0 done, 2 could not run.",
    )
    parser.add_argument("site", type=Path, help="the offline edition, built by `make offline`")
    parser.add_argument("--out", type=Path, default=Path("print"), help="where to write handbook.html and handbook.pdf (default: print/)")
    parser.add_argument("--online", default="http://127.0.0.1:8000/", help="the site's address, for links to pages the book leaves out")
    parser.add_argument("--no-pdf", action="store_true", help="write the HTML only")
    args = parser.parse_args(argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        book = args.out / "handbook.html"
        book.write_text(build_html(args.site, args.online.rstrip("/") + "/"), encoding="utf-8")
        print(f"printbook: wrote {book} ({book.stat().st_size // 1024} KiB)", file=sys.stderr)
        if not args.no_pdf:
            pdf = args.out / "handbook.pdf"
            print_pdf(book, pdf)
            print(f"printbook: wrote {pdf} ({pdf.stat().st_size // 1024} KiB)", file=sys.stderr)
    except (PrintError, OSError) as exc:
        print(f"printbook: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
