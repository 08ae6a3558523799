"""How fast the site's search is ready and answers, in Debian's Chromium, for the site and a bigger one.

Usage: .venv/bin/python bench/search.py [--site DIR] [--runs 5] [--synthetic 1000]

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


def measure(site: Path, runs: int) -> dict[str, Any]:
    """Index size, search-ready times (cold, `runs` times) and time to first result per query."""
    raw = (site / "search" / "search_index.json").read_bytes()
    ready: list[float] = []
    first: dict[str, float] = {}
    with browser.serve(site) as base, browser.chromium() as driver:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_READY})
        driver.set_script_timeout(browser.SEARCH_TIMEOUT_S)
        for _ in range(runs):
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            driver.get("about:blank")
            driver.get(base)
            browser.wait_search_ready(driver)
            ready.append(float(driver.execute_script("return window.__searchReady")) / 1000)
        for query in QUERIES:
            first[query] = browser.search(driver, query).seconds
    return {"docs": len(json.loads(raw)["docs"]), "raw": len(raw), "gzip": len(gzip.compress(raw)), "ready": ready, "first": first}


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, help="a built site to measure (default: build one now)")
    parser.add_argument("--runs", type=int, default=5, help="cold page loads per site (default 5)")
    parser.add_argument("--synthetic", type=int, default=1000, help="synthetic runbooks for the bigger site (default 1000)")
    args = parser.parse_args()
    problem = browser.ensure_chromium()
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="handbook-bench-search-"))
    try:
        real = args.site or build(work / "site")
        if args.site is None:
            print("bench: built the site", file=sys.stderr)
        big = work / "big"
        shutil.copytree(real, big)
        add_synthetic_runbooks(big, args.synthetic)
        rows = []
        for label, site in (("real site", real), (f"+ {args.synthetic} runbooks", big)):
            print(f"bench: measuring {label}...", file=sys.stderr)
            rows.append((label, measure(site, args.runs)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}, Chromium headless")
    print(f"search-ready: page load until the worker has indexed everything, browser cache cleared, {args.runs} runs\n")
    head = f"{'site':<20} {'sections':>8} {'index':>9} {'gzip':>8} {'ready median':>12} {'min':>6} {'max':>6}  " + "  ".join(f"1st '{q}'" for q in QUERIES)
    print(head)
    for label, m in rows:
        firsts = "  ".join(f"{m['first'][q] * 1000:>{len(q) + 7}.0f}ms" for q in QUERIES)
        print(
            f"{label:<20} {m['docs']:>8} {m['raw'] / 1024:>7.0f}KB {m['gzip'] / 1024:>6.0f}KB "
            f"{statistics.median(m['ready']):>11.2f}s {min(m['ready']):>5.2f}s {max(m['ready']):>5.2f}s  {firsts}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
