"""The printable handbook (`make print`): one self-contained HTML of the architecture and every runbook, and a PDF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

import browser_support as browser
from handbook import printbook
from handbook.project import Project
from handbook.runbook import runbooks


@pytest.fixture(scope="module")
def book(offline_site: Path) -> str:
    """The print edition's HTML, made from the offline edition."""
    return printbook.build_html(offline_site, "http://127.0.0.1:8000/")


def test_book_is_self_contained(book: str) -> None:
    tree = LexborHTMLParser(book)
    assert tree.css("link") == [] and tree.css("script") == []
    sources = [img.attributes.get("src") or "" for img in tree.css("img")]
    assert sources and all(src.startswith("data:image/") for src in sources)


def test_book_holds_every_runbook_and_the_architecture(book: str, root: Path) -> None:
    ids = set(re.findall(r'<section class="chapter" id="([^"]+)"', book))
    expected = {f"runbooks-{rb.name}" for rb in runbooks(Project(root))} | {"runbooks-index", "architecture-index"}
    expected |= {f"architecture-{p.stem}" for p in (root / "docs" / "architecture").glob("*.md") if p.name != "SUMMARY.md"}
    assert expected <= ids, sorted(expected - ids)


def test_links_inside_the_book_land_and_show_their_target(book: str) -> None:
    tree = LexborHTMLParser(book)
    ids = {node.attributes["id"] for node in tree.css("[id]")}
    internal = [a.attributes["href"] for a in tree.css('a[href^="#"]') if a.attributes["href"] != "#"]
    assert internal
    assert [h for h in internal if h[1:] not in ids] == []
    assert tree.css("a[data-print-target]"), "no link shows where it goes"
    outside = [a.attributes["href"] for a in tree.css("a[href]") if not a.attributes["href"].startswith(("#", "http://", "https://", "mailto:"))]
    assert outside == [], "a relative link would not resolve from a single file"


def test_pdf_is_printed_by_chromium(book: str, tmp_path: Path) -> None:
    problem = browser.ensure_chromium()
    if problem:
        pytest.fail(f"Chromium is needed to print: {problem}")
    html = tmp_path / "handbook.html"
    html.write_text(book, encoding="utf-8")
    pdf = tmp_path / "handbook.pdf"
    printbook.print_pdf(html, pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) > 20


def test_a_folder_that_is_not_the_offline_edition_is_refused(tmp_path: Path) -> None:
    with pytest.raises(printbook.PrintError, match="make offline"):
        printbook.build_html(tmp_path, "http://127.0.0.1:8000/")
    assert printbook.main([str(tmp_path), "--out", str(tmp_path / "out"), "--no-pdf"]) == 2
