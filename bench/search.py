"""How fast the site's search is ready and answers, in Debian's Chromium, for the site and a bigger one.

Usage: .venv/bin/python bench/search.py [--site DIR] [--runs 5] [--synthetic 1000]
                                        [--ready-timeout 120] [--pagefind] [--quality]
       (pass --site site/ after `make build` to skip the build)

Builds the site (unless `--site` names a built one), serves it on 127.0.0.1, and for the real
site and for the site plus N synthetic runbooks prints: the index size (raw and gzipped), the
search-ready time (from navigation start until the engine can answer) split into the index
download and the rest, and the time to first result for a few queries once ready.

Every run is cold: a new Chromium with a new profile (no HTTP cache, no compiled-code cache, no
page of an earlier run still building its index next to this one). A run that is not ready
within `--ready-timeout` seconds is reported as such and the next run starts: the bench always
ends, after at most runs x timeout per site.

Material's search (lunr) builds its whole inverted index in a web worker on every cold page load,
from `search/search_index.json`: Material 9 has no prebuilt index (its `prebuild_index` option is
gone), so that build time grows with the index. `--pagefind` measures pagefind side by side on
the same pages (needs the `bench` extra: `pip install -e '.[bench]'`), which loads only the index chunks a query needs.
`--quality` counts, on the real site, how many of the search guarantees the browser tests check
(tests/search_cases.py) each engine keeps.

The synthetic runbooks are renamed copies of real ones under a new alert name: added to the
built search index for Material (the pages themselves are not built) and as pages for pagefind.
The machine and its load average (before, after each row) are printed with the table.
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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.remote.webdriver import WebDriver

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))

import browser_support as browser  # noqa: E402 - the tests' browser helpers, after the path is set
import search_cases  # noqa: E402

QUERIES = ("listener_cap", "DeadAir", "ChorusJoinShedding", "gateway")
PAGEFIND_EXCLUDED = ("details.mkdocstrings-source", ".headerlink")
"""What Material's index leaves out of a page (API source, the permalink sign), left out of pagefind's too."""
TOOLING_API = Path("reference/api/handbook")
"""Pages Material's index excludes (the handbook's own tooling API): removed before pagefind indexes."""

_INDEX_TIMES = """
const entry = performance.getEntriesByType("resource").find(e => /search_index\\.json/.test(e.name));
return {ready: window.__searchReady, downloaded: entry ? entry.responseEnd : null};
"""
_RECORD_READY = """
window.__searchReady = null;
new MutationObserver((changes, observer) => {
  const meta = document.querySelector(".md-search-result__meta");
  if (meta && meta.textContent.trim() && meta.textContent.trim() !== "Initializing search") {
    window.__searchReady = performance.now(); observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""
_PAGEFIND_READY = """
const done = arguments[arguments.length - 1];
import(new URL("pagefind/pagefind.js", document.baseURI).href).then(async pf => {
  await pf.init();
  window.__pagefind = pf;
  const files = performance.getEntriesByType("resource").filter(e => e.name.includes("/pagefind/"));
  done({ready: performance.now(), downloaded: Math.max(...files.map(e => e.responseEnd))});
}, error => done({error: String(error)}));
"""
_PAGEFIND_FETCHED = """
return performance.getEntriesByType("resource").filter(e => e.name.includes("/pagefind/")).reduce((n, e) => n + e.encodedBodySize, 0);
"""
_PAGEFIND_QUERY = """
const [query, keep, done] = arguments;
const start = performance.now();
window.__pagefind.search(query).then(async found => {
  const top = await Promise.all(found.results.slice(0, keep).map(r => r.data()));
  done({seconds: (performance.now() - start) / 1000,
        results: top.map(d => [d.url, ...(d.sub_results || []).map(s => s.url)])});
});
"""


@dataclass
class Row:
    """One site measured with one engine: what the table prints.

    Attributes:
        label: The row's name.
        entries: Index entries (Material: sections) or pages (pagefind).
        raw: Bytes of the whole index on disk.
        fetched: Bytes a reader's browser downloads up to the first answer: Material's whole index
            gzipped (as a server would send it); pagefind's files as fetched for the first query
            (they are compressed already).
        ready: Seconds from navigation start to ready, per run; `None` for a run that timed out.
        downloaded: Seconds from navigation start until the index (or pagefind's entry files) arrived, per ready run.
        cpu: CPU seconds of the browser's renderers (page and workers) until ready, per ready run.
        first: Seconds to the first result, per query, one per ready run.
        load: The load average (1 min) before and after the row.
    """

    label: str
    entries: int
    raw: int
    fetched: int
    ready: list[float | None] = field(default_factory=list)
    downloaded: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    first: dict[str, list[float]] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Run:
    """One cold page load.

    Attributes:
        ready: Seconds from navigation start until the engine can answer; `None` if not within the timeout.
        downloaded: Seconds from navigation start until its index files had arrived.
        first: Seconds to the first result, per query, typed one after another once ready.
        fetched: Bytes the engine downloaded up to the first query's answer (0: not measured in the page).
        cpu: CPU seconds the browser's renderers (page and workers) used until ready.
    """

    ready: float | None
    downloaded: float = 0.0
    first: dict[str, float] = field(default_factory=dict)
    fetched: int = 0
    cpu: float = 0.0


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
        text = rng.choice(originals).read_text(encoding="utf-8").replace("</h1>", f" ({alert})</h1>", 1)
        target = site / "runbooks" / f"synthetic-{number:04d}" / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def renderer_cpu_seconds(driver: WebDriver) -> float:
    """CPU seconds (user + system) the browser's renderer processes have used so far: the page and its workers.

    Read from `/proc` (Linux), so a figure that holds on a shared machine where wall time does not;
    0 where `/proc` is not there.
    """
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)], stats[int(entry.name)] = int(fields[1]), fields
    family = {driver.service.process.pid}
    grown = True
    while grown:
        grown = False
        for pid, parent in parents.items():
            if parent in family and pid not in family:
                family.add(pid)
                grown = True
    ticks = 0
    for pid in family:
        try:
            if b"--type=renderer" in Path(f"/proc/{pid}/cmdline").read_bytes():
                ticks += int(stats[pid][11]) + int(stats[pid][12])
        except (OSError, KeyError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def load_average() -> float:
    """The machine's 1-minute load average (the machine is shared: figures are read beside it)."""
    return os.getloadavg()[0]


def material_run(base: str, timeout_s: float, queries: tuple[str, ...]) -> Run:
    """One cold page load with Material's search: ready time, index download time, first results."""
    with browser.chromium() as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_READY})
        driver.get(base)
        try:
            browser.wait_search_ready(driver, timeout_s)
        except TimeoutException:
            return Run(None)
        cpu = renderer_cpu_seconds(driver)
        times = driver.execute_script(_INDEX_TIMES)
        first = {q: browser.search(driver, q, timeout_s).seconds for q in queries}
        return Run(float(times["ready"]) / 1000, float(times["downloaded"] or 0) / 1000, first, cpu=cpu)


def pagefind_run(base: str, timeout_s: float, queries: tuple[str, ...]) -> Run:
    """One cold page load with pagefind: ready (`init()` done) time, its files' download time, first results."""
    with browser.chromium() as driver:
        driver.set_script_timeout(timeout_s)
        driver.get(base)
        try:
            times = driver.execute_async_script(_PAGEFIND_READY)
        except TimeoutException:
            return Run(None)
        if "error" in times:
            raise RuntimeError(f"pagefind did not load: {times['error']}")
        cpu = renderer_cpu_seconds(driver)
        first: dict[str, float] = {}
        fetched = 0
        for query in queries:
            first[query] = float(driver.execute_async_script(_PAGEFIND_QUERY, query, 1)["seconds"])
            fetched = fetched or int(driver.execute_script(_PAGEFIND_FETCHED))
        return Run(float(times["ready"]) / 1000, float(times["downloaded"]) / 1000, first, fetched, cpu)


def measure(row: Row, site: Path, runs: int, timeout_s: float, run: Callable[[str, float, tuple[str, ...]], Run]) -> Row:
    """Fill a row with `runs` cold runs of one engine on one served site."""
    before = load_average()
    with browser.serve(site) as base:
        for number in range(1, runs + 1):
            result = run(base, timeout_s, QUERIES)
            row.ready.append(result.ready)
            shown = f"{result.ready:.2f} s, {result.cpu:.2f} CPU s" if result.ready is not None else f"not ready within {timeout_s:.0f} s"
            print(f"bench:   {row.label}, run {number}/{runs}: {shown} (load {load_average():.1f})", file=sys.stderr, flush=True)
            if result.ready is not None:
                row.downloaded.append(result.downloaded)
                row.cpu.append(result.cpu)
                row.fetched = result.fetched or row.fetched
                for query, seconds in result.first.items():
                    row.first.setdefault(query, []).append(seconds)
    row.load = (before, load_average())
    return row


def material_row(label: str, site: Path) -> Row:
    """A Material row's sizes: its index entries, the JSON on disk and gzipped."""
    raw = (site / "search" / "search_index.json").read_bytes()
    return Row(label, len(json.loads(raw)["docs"]), len(raw), len(gzip.compress(raw)))


def index_pagefind(site: Path) -> Row:
    """Index a built site (a copy: its tooling API pages are removed) with pagefind; the row's sizes."""
    shutil.rmtree(site / TOOLING_API, ignore_errors=True)
    command = [sys.executable, "-m", "pagefind", "--site", str(site), "--root-selector", "article", "--exclude-selectors", ", ".join(PAGEFIND_EXCLUDED)]
    subprocess.run(command, check=True, capture_output=True)
    files = [f for f in (site / "pagefind").rglob("*") if f.is_file()]
    entry = json.loads((site / "pagefind" / "pagefind-entry.json").read_text(encoding="utf-8"))
    pages = sum(language["page_count"] for language in entry["languages"].values())
    return Row("", pages, sum(f.stat().st_size for f in files), 0)


def print_header(queries: tuple[str, ...]) -> None:
    """The table's head."""
    firsts = "  ".join(f"1st '{q}'" for q in queries)
    print(f"{'site':<26} {'entries':>7} {'index':>8} {'fetched':>8} {'ready':>7} {'min':>6} {'max':>6} {'download':>8} {'cpu':>6}  {firsts}  load", flush=True)


def print_row(row: Row) -> None:
    """One line of the table (medians), printed as soon as its site is measured."""
    done = [r for r in row.ready if r is not None]
    load = f"{row.load[0]:.1f}-{row.load[1]:.1f}"
    sizes = f"{row.label:<26} {row.entries:>7} {row.raw / 1024:>6.0f}KB {row.fetched / 1024:>6.0f}KB"
    if not done:
        print(f"{sizes} did not become ready within the timeout in any of {len(row.ready)} runs  load {load}", flush=True)
        return
    firsts = "  ".join(f"{statistics.median(row.first[q]) * 1000:>{len(q) + 5}.0f}ms" for q in QUERIES)
    timed_out = len(row.ready) - len(done)
    note = f"  ({timed_out} of {len(row.ready)} runs not ready within the timeout)" if timed_out else ""
    print(
        f"{sizes} {statistics.median(done):>6.2f}s {min(done):>5.2f}s {max(done):>5.2f}s {statistics.median(row.downloaded):>7.2f}s {statistics.median(row.cpu):>5.2f}s  {firsts}  {load}{note}",
        flush=True,
    )


def material_quality(base: str, cases: list[search_cases.SearchCase], timeout_s: float) -> list[int | None]:
    """The rank of each case's target in Material's search, typed into the search box."""
    with browser.chromium() as driver:
        driver.get(base)
        return [browser.search(driver, case.query, timeout_s).rank(search_cases.url_suffix(case.target)) for case in cases]


def pagefind_quality(base: str, cases: list[search_cases.SearchCase], timeout_s: float) -> list[int | None]:
    """The rank of each case's target among pagefind's results (a page, or one of its sections)."""
    with browser.chromium() as driver:
        driver.set_script_timeout(timeout_s)
        driver.get(base)
        driver.execute_async_script(_PAGEFIND_READY)
        ranks: list[int | None] = []
        for case in cases:
            results = driver.execute_async_script(_PAGEFIND_QUERY, case.query, 5)["results"]
            suffix = search_cases.url_suffix(case.target)
            ranks.append(next((n for n, links in enumerate(results, start=1) if any(link.endswith(suffix) for link in links)), None))
        return ranks


def print_quality(engine: str, site: Path, rank_all: Callable[[str, list[search_cases.SearchCase], float], list[int | None]], timeout_s: float) -> None:
    """How many of each kind of search guarantee an engine keeps on a served site, and which it misses."""
    kinds = {
        "alert -> its runbook #1": search_cases.alert_cases(HERE),
        "service -> component #1": search_cases.service_cases(HERE),
        "config key -> top 3": search_cases.config_key_cases(HERE),
    }
    with browser.serve(site) as base:
        for kind, cases in kinds.items():
            ranks = rank_all(base, cases, timeout_s)
            misses = [f"{c.query} ({r})" for c, r in zip(cases, ranks) if r is None or r > c.within]
            print(f"{engine:<10} {kind:<26} {len(cases) - len(misses):>3} of {len(cases):<3} " + (f"missed: {', '.join(misses[:8])}" + (" ..." if len(misses) > 8 else "") if misses else ""), flush=True)


def pagefind_from_disk(site: Path, timeout_s: float) -> str:
    """Whether pagefind answers on a page opened from disk (`file://`), as the offline edition is: one line."""
    with browser.chromium() as driver:
        driver.set_script_timeout(timeout_s)
        driver.get((site / "index.html").as_uri())
        try:
            loaded = driver.execute_async_script(_PAGEFIND_READY)
        except TimeoutException:
            return f"no answer within {timeout_s:.0f} s"
        if "error" in loaded:
            return f"fails: {loaded['error'][:120]}"
        found = driver.execute_async_script(_PAGEFIND_QUERY, "DeadAir", 1)["results"]
        return f"works ({len(found)} result for DeadAir)"


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, help="a built site to measure (default: build one now)")
    parser.add_argument("--runs", type=int, default=5, help="cold page loads per site (default 5)")
    parser.add_argument("--synthetic", type=int, default=1000, help="synthetic runbooks for the bigger site (default 1000)")
    parser.add_argument("--ready-timeout", type=float, default=120.0, help="seconds one page load may take to get search ready (default 120)")
    parser.add_argument("--pagefind", action="store_true", help="measure pagefind side by side (needs the `bench` extra: `pip install -e '.[bench]'`)")
    parser.add_argument("--quality", action="store_true", help="also count the search guarantees each engine keeps on the real site")
    args = parser.parse_args()
    problem = browser.ensure_chromium()
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    if args.pagefind and subprocess.run([sys.executable, "-m", "pagefind", "--version"], capture_output=True).returncode != 0:
        print("bench: --pagefind needs pagefind: .venv/bin/pip install -c constraints.txt -e '.[bench]'", file=sys.stderr)
        return 2
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}, Chromium headless; load average {load_average():.1f}")
    print(f"each run cold (new browser and profile); medians of {args.runs} runs; ready = navigation start until the engine can answer; download = until its index files arrived; cpu = CPU seconds of the page and its workers until ready")
    print("entries: Material's index sections / pagefind's pages; fetched: what a reader downloads before the first answer (Material's JSON gzipped; pagefind's files fetched up to the first query's answer)\n")
    print_header(QUERIES)
    work = Path(tempfile.mkdtemp(prefix="handbook-bench-search-"))
    started = time.monotonic()
    try:
        real = args.site or build(work / "site")
        if args.site is None:
            print("bench: built the site", file=sys.stderr)
        big = work / "big"
        shutil.copytree(real, big)
        add_synthetic_runbooks(big, args.synthetic)
        for label, site in (("material, real site", real), (f"material, + {args.synthetic} runbooks", big)):
            print(f"bench: measuring {label}...", file=sys.stderr, flush=True)
            print_row(measure(material_row(label, site), site, args.runs, args.ready_timeout, material_run))
        pagefind_sites: dict[int, Path] = {}
        if args.pagefind:
            for count in (0, args.synthetic):
                copy = pagefind_sites[count] = work / f"pagefind-{count}"
                shutil.copytree(real, copy)
                add_synthetic_pages(copy, count)
                row = index_pagefind(copy)
                row.label = "pagefind, real site" if count == 0 else f"pagefind, + {count} runbooks"
                print(f"bench: measuring {row.label}...", file=sys.stderr, flush=True)
                print_row(measure(row, copy, args.runs, args.ready_timeout, pagefind_run))
        if args.quality:
            print("\nsearch guarantees kept on the real site (tests/search_cases.py; rank in brackets, None = not in the results shown)")
            print_quality("material", real, material_quality, args.ready_timeout)
            if args.pagefind:
                print_quality("pagefind", pagefind_sites[0], pagefind_quality, args.ready_timeout)
                print(f"pagefind   from file:// (the offline edition)  {pagefind_from_disk(pagefind_sites[0], args.ready_timeout)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nbench: done in {time.monotonic() - started:.0f} s, load average {load_average():.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
