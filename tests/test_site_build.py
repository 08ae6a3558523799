"""The site builds strictly and requests nothing outside its own host."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import yaml

from conftest import ROOT

# Outbound links a reader may click but the page never loads by itself: Material's footer
# "Made with Material for MkDocs" credit. They are the only external references tolerated.
TOLERATED_OUTBOUND_LINKS = {"https://squidfunk.github.io/mkdocs-material/"}

ATTR_URL = re.compile(r"""\b(src|href|srcset|poster|data|action)\s*=\s*["']([^"']+)["']""", re.I)
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""", re.I)
CSS_IMPORT = re.compile(r"""@import\s+["']([^"']+)["']""", re.I)
ANCHOR_TAG = re.compile(r"""<a\s[^>]*href=["']([^"']+)["']""", re.I)


def own_hosts() -> set[str]:
    """The hosts the site may name: its own `site_url` host and loopback."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    return {urlparse(config["site_url"]).netloc, "127.0.0.1:8000", "localhost:8000"}


def external(url: str) -> bool:
    """Whether `url` points at a host other than the site's own."""
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    parsed = urlparse(url)
    if parsed.scheme in ("", "data", "blob", "mailto", "tel", "javascript"):
        return False
    return parsed.netloc not in own_hosts()


def external_references(site: Path) -> list[str]:
    """Every reference in the built HTML, CSS and JS that would load from another host."""
    found: list[str] = []
    for path in sorted(site.rglob("*")):
        if path.suffix not in {".html", ".css", ".js"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        clickable = set(ANCHOR_TAG.findall(text)) if path.suffix == ".html" else set()
        urls: list[str] = []
        if path.suffix == ".html":
            for attr, value in ATTR_URL.findall(text):
                if attr.lower() == "href" and value in clickable and value in TOLERATED_OUTBOUND_LINKS:
                    continue
                urls.extend(v.split()[0] for v in value.split(",")) if attr.lower() == "srcset" else urls.append(value)
        if path.suffix in {".html", ".css"}:
            urls += CSS_URL.findall(text) + CSS_IMPORT.findall(text)
        for url in urls:
            if external(url):
                found.append(f"{path.relative_to(site)}: {url}")
    return found


def test_site_builds_strict(built_site: Path) -> None:
    assert (built_site / "index.html").is_file()
    assert (built_site / "runbooks" / "index.html").is_file(), "runbooks/ is published under /runbooks/"


def test_every_nav_section_is_built(built_site: Path) -> None:
    for section in ("start", "architecture", "components", "runbooks", "reference", "decisions", "incidents"):
        assert (built_site / section / "index.html").is_file(), section


def test_site_requests_nothing_outside_its_own_host(built_site: Path) -> None:
    assert external_references(built_site) == []


def test_offline_scan_catches_an_external_reference(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(
        '<link href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="//cdn.example.com/x.js"></script>'
        '<a href="https://squidfunk.github.io/mkdocs-material/">Made with Material</a>'
        '<style>body{background:url("https://example.com/bg.png")}</style>'
    )
    found = external_references(tmp_path)
    assert found == [
        "index.html: https://fonts.googleapis.com/css?family=Roboto",
        "index.html: //cdn.example.com/x.js",
        'index.html: https://example.com/bg.png',
    ]


def test_no_web_fonts_and_no_privacy_plugin() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    assert config["theme"]["font"] == "false"
    assert "navigation.prune" in config["theme"]["features"]
    plugins = [p if isinstance(p, str) else next(iter(p)) for p in config["plugins"]]
    assert "privacy" not in plugins
