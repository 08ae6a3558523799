"""The site as a reader meets it, in a real browser: Debian's Chromium on the built site on 127.0.0.1.

Search finds what an on-call engineer types (every alert, config key and service), pages make no
request to any other host, tabs open their index pages, tables sort and read, diagrams are legible,
and the offline edition works opened straight from disk. Screenshots of the pages looked at are kept
under `.cache/browser/` for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

import browser_support as browser
from handbook import anchors
from handbook.reference.snapshot import Snapshot
from search_cases import SearchCase, alert_cases, alert_runbooks, config_key_cases, service_cases, url_suffix

MIN_LABEL_PX = 11.0
"""The smallest diagram label a reader can read at the content width, in CSS pixels."""


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    """One headless Chromium for the module (installed from Debian when missing)."""
    problem = browser.ensure_chromium()
    if problem:
        pytest.fail(f"Chromium is needed for the browser tests: {problem}")
    with browser.chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def site_url(built_site: Path) -> Iterator[str]:
    """The built site, served on 127.0.0.1 at a free port."""
    with browser.serve(built_site) as base:
        yield base


def page_url(base: str, docs_path: str) -> str:
    """The served URL of a docs-relative page (directory URLs), fragment kept."""
    page, _, fragment = docs_path.partition("#")
    page = page.removesuffix(".md")
    page = page.removesuffix("index") if page.endswith("index") else page + "/"
    return base + page + (f"#{fragment}" if fragment else "")


def open_page(driver: WebDriver, url: str) -> None:
    """Load a page and wait until Material has rendered it (the search box is there)."""
    driver.get(url)
    WebDriverWait(driver, browser.SEARCH_TIMEOUT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input.md-search__input"))


# --- no outside requests -------------------------------------------------------------------------

OFFLINE_PAGES = {
    "home": "index.md",
    "architecture": "architecture/media-path.md",
    "runbook": "runbooks/dead-air.md",
    "config-reference": anchors.CONFIG_PAGE,
    "api": "reference/api/chorus/fanout/node.md",
}


@pytest.mark.parametrize("name", list(OFFLINE_PAGES))
def test_page_makes_no_request_to_another_host(chromium: WebDriver, site_url: str, name: str) -> None:
    browser.requested_urls(chromium)  # forget what earlier tests asked for
    open_page(chromium, page_url(site_url, OFFLINE_PAGES[name]))
    browser.wait_search_ready(chromium)  # the search index and worker have loaded too
    browser.screenshot(chromium, f"page-{name}")
    urls = browser.requested_urls(chromium)
    assert any(u.startswith(site_url) for u in urls), "the performance log recorded no request at all"
    assert browser.foreign_requests(urls, site_url) == []


def test_foreign_request_detection_sees_another_host() -> None:
    """The check above can fail: a request to any other host or port is reported."""
    urls = ["http://127.0.0.1:5000/", "https://fonts.googleapis.com/css", "http://127.0.0.1:5001/x", "data:image/png;base64,AA"]
    assert browser.foreign_requests(urls, "http://127.0.0.1:5000/") == urls[1:3]


# --- search --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def searching(chromium: WebDriver, site_url: str) -> WebDriver:
    """The browser on the home page with the search index loaded (instant navigation keeps it)."""
    open_page(chromium, site_url)
    browser.wait_search_ready(chromium)
    return chromium


def misses(driver: WebDriver, cases: list[SearchCase]) -> list[str]:
    """Each case whose target is not within its allowed rank, with what came first instead."""
    found = []
    for case in cases:
        shown = browser.search(driver, case.query)
        rank = shown.rank(url_suffix(case.target))
        if rank is None or rank > case.within:
            found.append(f"{case.query}: rank {rank} (allowed {case.within}), first {shown.results[:1]}")
    return found


@pytest.mark.timeout(900)  # one search per name, on a loaded machine
def test_every_alert_finds_its_runbook_first(searching: WebDriver, root: Path) -> None:
    rules = {rule.name for rule in Snapshot(root).get("alerts")}
    assert rules and rules <= set(alert_runbooks(root)), f"alerts without a runbook: {sorted(rules - set(alert_runbooks(root)))}"
    missed = misses(searching, alert_cases(root))
    browser.screenshot(searching, "search-alert")
    assert missed == []


@pytest.mark.timeout(900)  # one search per name, on a loaded machine
def test_every_config_key_finds_its_entry_in_the_top_three(searching: WebDriver, root: Path) -> None:
    cases = config_key_cases(root)
    assert cases
    missed = misses(searching, cases)
    browser.screenshot(searching, "search-config-key")
    assert missed == [], f"{len(missed)} of {len(cases)} keys not in the top 3"


@pytest.mark.timeout(900)  # one search per name, on a loaded machine
def test_every_service_finds_its_component_page_first(searching: WebDriver, root: Path) -> None:
    cases = service_cases(root)
    assert cases
    missed = misses(searching, cases)
    browser.screenshot(searching, "search-service")
    assert missed == []


@pytest.mark.parametrize("query", ["DeadAir", "fanout.listener_cap", "join_rate_per_s"])
def test_split_words_are_found(searching: WebDriver, query: str) -> None:
    """camelCase, dotted and underscored names are found (Material splits on spaces and `-` only by default)."""
    shown = browser.search(searching, query)
    assert shown.results, f"{query!r}: {shown.meta}"


def test_handbook_tooling_api_is_not_in_the_readers_search(searching: WebDriver) -> None:
    shown = browser.search(searching, "HandbookPlugin")
    assert not any("/reference/api/handbook/" in link for links in shown.results for link in links)


# --- navigation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("tab", "index"), [("Runbooks", "runbooks/"), ("Components", "components/")])
def test_tab_opens_its_index_page(chromium: WebDriver, site_url: str, tab: str, index: str) -> None:
    open_page(chromium, site_url)
    link = chromium.find_element(By.XPATH, f"//a[contains(@class, 'md-tabs__link') and normalize-space()='{tab}']")
    assert link.get_attribute("href") == site_url + index


def test_runbooks_table_sorts_severity_by_rank(chromium: WebDriver, site_url: str) -> None:
    open_page(chromium, site_url + "runbooks/")
    header = chromium.find_element(By.XPATH, "//div[contains(@class,'sortable')]//th[normalize-space()='Severity']")
    column = len(header.find_elements(By.XPATH, "preceding-sibling::th")) + 1
    cells = f"//div[contains(@class,'sortable')]//tbody/tr/td[{column}]"
    ranks = {"critical": 0, "warning": 1, "info": 2}
    for order in (sorted, lambda xs: sorted(xs, reverse=True)):
        header.click()
        shown = [ranks[c.text.strip()] for c in chromium.find_elements(By.XPATH, cells)]
        assert len(set(shown)) > 1 and shown == order(shown)
    browser.screenshot(chromium, "runbooks-index-sorted")


def test_config_keys_are_not_broken_mid_word(chromium: WebDriver, site_url: str) -> None:
    open_page(chromium, page_url(site_url, anchors.CONFIG_PAGE))
    broken = chromium.execute_script(
        """return Array.from(document.querySelectorAll('.md-typeset table td:first-child code'))
             .filter(c => c.getClientRects().length > 1).map(c => c.textContent);"""
    )
    assert broken == []


@pytest.mark.parametrize("page", ["reference/api/chorus/fanout/node.md", anchors.CLI_PAGE, "runbooks/drain-fanout-node.md"])
def test_long_lines_wrap_or_scroll_visibly(chromium: WebDriver, site_url: str, page: str) -> None:
    """At 1400 px nothing is cut off: a line too long for its block wraps, or the block scrolls with a visible bar."""
    open_page(chromium, page_url(site_url, page))
    browser.screenshot(chromium, "long-lines-" + re.sub(r"[^a-z0-9]+", "-", page.removesuffix(".md")))
    hidden = chromium.execute_script(
        """return Array.from(document.querySelectorAll('.md-content pre > code, .md-content .doc-signature'))
             .filter(e => e.scrollWidth > e.clientWidth + 1)
             .filter(e => { const s = getComputedStyle(e);
                            return !(['auto', 'scroll'].includes(s.overflowX) && s.scrollbarWidth !== 'none'
                                     && e.offsetHeight - e.clientHeight > 0); })
             .map(e => e.textContent.slice(0, 60));"""
    )
    assert hidden == []


# --- diagrams ------------------------------------------------------------------------------------

_LABEL_HEIGHTS_JS = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.querySelectorAll('.md-content img[src*="diagrams/"], .md-content svg[class*="diagram"]'));
Promise.all(images.map(async el => {
  const name = el.dataset.diagram || (el.getAttribute('src') || el.getAttribute('class') || '').split('/').pop();
  const width = el.getBoundingClientRect().width;
  let svg = el.tagName.toLowerCase() === 'svg' ? el : null;
  if (!svg && el.dataset.labelPx) {  // a PNG at 2x: its smallest label at its width attribute, scaled as shown
    const natural = parseFloat(el.getAttribute('width'));
    return {name, width, label: parseFloat(el.dataset.labelPx) * (natural > 0 ? width / natural : 1), why: ''};
  }
  if (!svg) {
    if (!/\\.svg($|\\?)/.test(el.src)) return {name, width, label: null, why: 'raster image: labels cannot be measured'};
    const text = await (await fetch(el.src)).text();
    svg = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
  }
  const box = (svg.getAttribute('viewBox') || '').split(/[\\s,]+/).map(Number);
  const scale = box.length === 4 && box[2] > 0 ? width / box[2] : 1;
  const sizes = Array.from(svg.querySelectorAll('text')).map(t =>
    parseFloat(t.getAttribute('font-size') || (t.closest('[font-size]') || svg).getAttribute('font-size') || '14'));
  if (!sizes.length) return {name, width, label: null, why: 'no text labels'};
  return {name, width, label: Math.min(...sizes) * scale, why: ''};
})).then(done, e => done([{name: 'error', label: null, why: String(e)}]));
"""

DIAGRAM_PAGES = ["architecture/index.md", "architecture/media-path.md", "architecture/join-flow.md", "architecture/deployment.md", "components/index.md", "runbooks/dead-air.md", "runbooks/join-shedding.md"]


@pytest.mark.parametrize("page", DIAGRAM_PAGES)
def test_diagram_labels_are_legible_at_content_width(chromium: WebDriver, site_url: str, page: str) -> None:
    open_page(chromium, page_url(site_url, page))
    chromium.set_script_timeout(browser.SEARCH_TIMEOUT_S)
    measured = chromium.execute_async_script(_LABEL_HEIGHTS_JS)
    browser.screenshot(chromium, "diagrams-" + re.sub(r"[^a-z0-9]+", "-", page.removesuffix(".md")))
    assert measured, f"{page}: no diagram found"
    small = [m for m in measured if m["label"] is None or m["label"] < MIN_LABEL_PX]
    assert small == [], f"{page}: labels below {MIN_LABEL_PX} px: {small}"


# --- the offline edition, from disk -------------------------------------------------------------


def test_offline_edition_works_from_disk(chromium: WebDriver, offline_site: Path) -> None:
    base = offline_site.as_uri() + "/"
    browser.requested_urls(chromium)
    open_page(chromium, base + "index.html")
    # search: the worker runs from file:// through the shipped shim, on the inlined index
    shown = browser.search(chromium, "DeadAir")
    assert shown.rank("runbooks/dead-air.html") == 1, shown
    browser.screenshot(chromium, "offline-search")
    browser.close_search(chromium)
    # navigation: a tab opens a page, not a directory listing
    chromium.find_element(By.XPATH, "//a[contains(@class, 'md-tabs__link') and normalize-space()='Runbooks']").click()
    WebDriverWait(chromium, 30).until(lambda d: d.current_url.endswith("runbooks/index.html"))
    assert chromium.find_elements(By.CSS_SELECTOR, ".sortable table")
    # anchors: a link to a config key lands on its entry
    open_page(chromium, base + "reference/config.html#fanout.listener_cap")
    assert chromium.execute_script("return document.getElementById('fanout.listener_cap') !== null")
    # diagrams: every image on an architecture page loaded
    open_page(chromium, base + "architecture/index.html")
    broken = chromium.execute_script("return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    assert broken == []
    browser.screenshot(chromium, "offline-architecture")
    assert browser.foreign_requests(browser.requested_urls(chromium), base) == []
