"""How fast the site's search is ready and answers, in Debian's Chromium, for the site and a bigger one.

Usage: .venv/bin/python bench/search.py [--site DIR] [--runs 5] [--synthetic 1000]
       (pass --site site/ after `make build` to skip the build)

Builds the site (unless `--site` names a built one), serves it on 127.0.0.1, and for the real
site and for the site plus N synthetic runbooks prints: the index size (raw and gzipped), the
search-ready time (page load until the worker has indexed everything, cache cleared each run:
median, min, max of `--runs`) and the time to first result for a few queries once ready.

The synthetic runbooks are added to the built site's search index (each a copy of a real
runbook's sections under a new name and alert), so the worker loads and searches an index of
that size; the pages themselves are not built. The machine is printed with the table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))

import browser_support as browser  # noqa: E402 - the tests' browser helpers, after the path is set

READY_TIMEOUT_S = 600.0
"""How long one page load may take to get search ready before the bench gives up on that site."""
QUERIES = ("listener_cap", "DeadAir", "ChorusJoinShedding", "gateway")

_RECORD_READY = """
window.__searchReady = null;
new MutationObserver((changes, observer) => {
  const meta = document.querySelector(".md-search-result__meta");
  if (meta && meta.textContent.trim() && meta.textContent.trim() !== "Initializing search") {
    window.__searchReady = performance.now(); observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""
def build(into: Path) -> Path:
    """Build the site with `mkdocs build --strict` into a folder."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(into)], cwd=HERE, env=env, check=True, capture_output=True)
    return into


def add_synthetic_runbooks(site: Path, count: int) -> None:
    """Grow the built site's search index by `count` runbooks, each a renamed copy of a real one."""
    index_file = site / "search" / "search_index.json"
    index: dict[str, Any] = json.loads(index_file.read_text(encoding="utf-8"))
    books: dict[str, list[dict[str, Any]]] = {}
    for doc in index["docs"]:
        page = doc["location"].split("#")[0]
        if page.startswith("runbooks/") and page != "runbooks/":
            books.setdefault(page, []).append(doc)
    rng = random.Random(13)
    originals = sorted(books)
    for number in range(count):
        source = books[rng.choice(originals)]
        name = f"synthetic-{number:04d}"
        alert = f"ChorusSynthetic{number:04d}Fired"
        for doc in source:
            fragment = doc["location"].partition("#")[2]
            copy = {**doc, "location": f"runbooks/{name}/" + (f"#{fragment}" if fragment else "")}
            if not fragment:
                copy["title"] = f"{alert}: {doc['title']}"
            copy["text"] = f"{alert} {doc['text']}"
            index["docs"].append(copy)
    index_file.write_text(json.dumps(index), encoding="utf-8")


def add_synthetic_pages(site: Path, count: int) -> None:
    """Add `count` runbook pages to a built site, each a renamed copy of a real one (for pagefind)."""
    originals = sorted(p for p in (site / "runbooks").glob("*/index.html"))
    rng = random.Random(13)
    for number in range(count):
        alert = f"ChorusSynthetic{number:04d}Fired"
        text = rng.choice(originals).read_text(encoding="utf-8").replace("<h1", f"<h1 data-alert='{alert}'", 1)
        text = text.replace("</h1>", f" ({alert})</h1>", 1)
        target = site / "runbooks" / f"synthetic-{number:04d}" / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


_PAGEFIND_READY = """
const done = arguments[arguments.length - 1];
const start = performance.now();
import(new URL("pagefind/pagefind.js", document.baseURI).href).then(async pf => {
  await pf.init();
  window.__pagefind = pf;
  done((performance.now() - start) / 1000);
});
"""
_PAGEFIND_QUERY = """
const [query, done] = arguments;
const start = performance.now();
window.__pagefind.search(query).then(async found => {
  if (found.results.length) await found.results[0].data();
  done((performance.now() - start) / 1000);
});
"""


def measure_pagefind(site: Path, runs: int) -> dict[str, Any]:
    """The same figures for pagefind (`python -m pagefind`): its files, init time and first result."""
    subprocess.run([sys.executable, "-m", "pagefind", "--site", str(site)], check=True, capture_output=True)
    files = [f for f in (site / "pagefind").rglob("*") if f.is_file()]
    ready: list[float] = []
    first: dict[str, float] = {}
    with browser.serve(site) as base, browser.chromium() as driver:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        driver.set_script_timeout(READY_TIMEOUT_S)
        for _ in range(runs):
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            driver.get("about:blank")
            driver.get(base)
            ready.append(float(driver.execute_async_script(_PAGEFIND_READY)))
        for query in QUERIES:
            first[query] = float(driver.execute_async_script(_PAGEFIND_QUERY, query))
    entry = (site / "pagefind" / "pagefind-entry.json").read_bytes()
    return {"docs": len(list(site.rglob("index.html"))), "raw": sum(f.stat().st_size for f in files), "gzip": len(entry), "ready": ready, "first": first}


def measure(site: Path, runs: int) -> dict[str, Any]:
    """Index size, search-ready times (cold, `runs` times) and time to first result per query."""
    raw = (site / "search" / "search_index.json").read_bytes()
    ready: list[float] = []
    first: dict[str, float] = {}
    with browser.serve(site) as base, browser.chromium() as driver:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_READY})
        driver.set_script_timeout(READY_TIMEOUT_S)
        for _ in range(runs):
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            driver.get("about:blank")
            driver.get(base)
            browser.wait_search_ready(driver, READY_TIMEOUT_S)
            ready.append(float(driver.execute_script("return window.__searchReady")) / 1000)
        for query in QUERIES:
            first[query] = browser.search(driver, query, READY_TIMEOUT_S).seconds
    return {"docs": len(json.loads(raw)["docs"]), "raw": len(raw), "gzip": len(gzip.compress(raw)), "ready": ready, "first": first}


def print_row(label: str, m: dict[str, Any]) -> None:
    """One line of the table, printed as soon as its site is measured."""
    firsts = "  ".join(f"{m['first'][q] * 1000:>{len(q) + 7}.0f}ms" for q in QUERIES)
    print(
        f"{label:<20} {m['docs']:>8} {m['raw'] / 1024:>7.0f}KB {m['gzip'] / 1024:>6.0f}KB "
        f"{statistics.median(m['ready']):>11.2f}s {min(m['ready']):>5.2f}s {max(m['ready']):>5.2f}s  {firsts}",
        flush=True,
    )


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, help="a built site to measure (default: build one now)")
    parser.add_argument("--runs", type=int, default=5, help="cold page loads per site (default 5)")
    parser.add_argument("--synthetic", type=int, default=1000, help="synthetic runbooks for the bigger site (default 1000)")
    parser.add_argument("--pagefind", action="store_true", help="measure pagefind side by side (needs `pip install pagefind[extended]`)")
    args = parser.parse_args()
    problem = browser.ensure_chromium()
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}, Chromium headless")
    print(f"search-ready: page load until the worker has indexed everything, browser cache cleared, {args.runs} runs")
    print("pagefind rows: 'sections' counts pages, 'index' is all its files, 'gzip' its entry file; ready = pagefind.init()\n")
    print(f"{'site':<20} {'sections':>8} {'index':>9} {'gzip':>8} {'ready median':>12} {'min':>6} {'max':>6}  " + "  ".join(f"1st '{q}'" for q in QUERIES), flush=True)
    work = Path(tempfile.mkdtemp(prefix="handbook-bench-search-"))
    try:
        real = args.site or build(work / "site")
        if args.site is None:
            print("bench: built the site", file=sys.stderr)
        big = work / "big"
        shutil.copytree(real, big)
        add_synthetic_runbooks(big, args.synthetic)
        for label, site in (("real site", real), (f"+ {args.synthetic} runbooks", big)):
            print(f"bench: measuring {label}...", file=sys.stderr)
            print_row(label, measure(site, args.runs))
        if args.pagefind:
            for label, count in (("pagefind, real", 0), (f"pagefind, + {args.synthetic}", args.synthetic)):
                copy = work / f"pagefind-{count}"
                shutil.copytree(real, copy)
                add_synthetic_pages(copy, count)
                print(f"bench: measuring {label}...", file=sys.stderr)
                print_row(label, measure_pagefind(copy, args.runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
