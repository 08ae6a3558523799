"""A real browser on the built site: Debian's Chromium driven by Selenium, the site served on loopback.

Nothing here downloads a browser: `tools/bootstrap/chromium.sh` installs Debian's `chromium` and
`chromium-driver` when they are missing, and Selenium is pointed at them. Every wait is on the
page (the search worker answering, an element appearing), never a fixed sleep.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from chorus_support import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BOOTSTRAP = ROOT / "tools" / "bootstrap" / "chromium.sh"
ARTEFACTS = ROOT / ".cache" / "browser"
"""Screenshots of the pages the tests looked at, for a person to look at too."""
WIDTH, HEIGHT = 1400, 1000
"""The window the tests read the site in: a laptop screen."""
SEARCH_TIMEOUT_S = 60.0
"""How long the search worker may take to answer on a loaded machine."""
QUIET_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the tests may run as root (CI does)
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--hide-scrollbars",
)
"""Chromium without anything that talks to the network on its own: what is left is the page's."""


def ensure_chromium() -> str | None:
    """Install Debian's Chromium and its driver when missing.

    Returns:
        `None` when both are there, else one line saying why they could not be installed.
    """
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    result = subprocess.run(["bash", str(BOOTSTRAP)], capture_output=True, text=True)
    if result.returncode != 0 or not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        lines = (result.stderr or result.stdout).strip().splitlines()
        return lines[-1] if lines else "tools/bootstrap/chromium.sh failed"
    return None


@contextmanager
def chromium(width: int = WIDTH, height: int = HEIGHT) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile and its network log on; quit and removed afterwards.

    Args:
        width: The window's width in CSS pixels.
        height: The window's height in CSS pixels.

    Yields:
        The driver.
    """
    profile = tempfile.mkdtemp(prefix="handbook-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in QUIET_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        driver.set_window_size(width, height)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Say nothing: the tests look at what the browser asked for, not at a log."""


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve a built site on 127.0.0.1 at a free port, in a thread, for as long as the block runs.

    Args:
        folder: The built site.

    Yields:
        The base URL, e.g. `http://127.0.0.1:41234/`.
    """
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def requested_urls(driver: WebDriver) -> list[str]:
    """Every URL the browser asked for since the last call (Chrome's performance log, CDP Network events)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def foreign_requests(urls: list[str], base: str) -> list[str]:
    """The URLs that went to any host but the site's own (inline `data:`/`blob:` and `about:` are local).

    Args:
        urls: What the browser asked for.
        base: The site's base URL (`http://127.0.0.1:PORT/` or `file:///...`).

    Returns:
        The foreign ones, in order.
    """
    own = urlsplit(base)
    foreign = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about", "chrome", "chrome-extension"):
            continue
        if parts.scheme == own.scheme and parts.netloc == own.netloc:
            continue
        foreign.append(url)
    return foreign


def screenshot(driver: WebDriver, name: str) -> Path:
    """Save what the browser shows as `.cache/browser/NAME.png` (a test artefact) and return the path."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


_META = ".md-search-result__meta"
_READY_JS = f"""
const meta = document.querySelector("{_META}");
return meta ? meta.textContent.trim() : "";
"""
SEARCH_JS = f"""
const [query, done] = arguments;
const input = document.querySelector("input.md-search__input");
const meta = document.querySelector("{_META}");
const type = text => {{ input.value = text; input.dispatchEvent(new KeyboardEvent("keyup", {{bubbles: true}})); }};
const until = test => new Promise(resolve => {{
  if (test()) return resolve();
  const watch = new MutationObserver(() => {{ if (test()) {{ watch.disconnect(); resolve(); }} }});
  watch.observe(meta, {{subtree: true, childList: true, characterData: true}});
}});
const answered = () => /matching/.test(meta.textContent);
input.focus();
type("");
until(() => !answered()).then(() => {{
  const start = performance.now();
  type(query);
  return until(answered).then(() => done({{
    seconds: (performance.now() - start) / 1000,
    meta: meta.textContent.trim(),
    results: Array.from(document.querySelectorAll(".md-search-result__item")).map(
      item => Array.from(item.querySelectorAll("a[href]")).map(a => a.href)),
  }}));
}});
"""
"""Type a query the way a reader does and resolve once the worker's answer is shown.

The box is emptied first and the answer awaited only after the placeholder is back, so the
answer read is this query's, not the previous one's. Resolves with the time from typing to
the answer, the line above the results and each result's links.
"""


@dataclass(frozen=True)
class SearchResults:
    """What Material's search showed for one query.

    Attributes:
        query: What was typed.
        meta: The line above the results, e.g. `3 matching documents`.
        results: One list per result (a page), its first link the page or section, then the
            sections shown nested under it.
        seconds: From typing the query to the answer shown.
    """

    query: str
    meta: str
    results: list[list[str]]
    seconds: float

    def rank(self, fragment: str) -> int | None:
        """The 1-based rank of the first result linking to a URL that ends with `fragment`, or `None`.

        The highlight query Material adds to result links (`?h=...`) is ignored.
        """
        for position, links in enumerate(self.results, start=1):
            if any(_without_query(link).endswith(fragment) for link in links):
                return position
        return None


def _without_query(url: str) -> str:
    """The URL without its query string, fragment kept."""
    parts = urlsplit(url)
    return parts._replace(query="").geturl()


def wait_search_ready(driver: WebDriver, timeout_s: float = SEARCH_TIMEOUT_S) -> None:
    """Open the search box and wait until the worker has loaded the index (no more "Initializing search").

    Opened from disk (`file://`), Material loads the index only once the search box is opened.
    """
    driver.execute_script('document.querySelector("input.md-search__input").focus();')
    WebDriverWait(driver, timeout_s, poll_frequency=0.05).until(lambda d: d.execute_script(_READY_JS) not in ("", "Initializing search"))


def close_search(driver: WebDriver) -> None:
    """Close the search overlay, as Escape does, so the page underneath can be clicked."""
    driver.execute_script(
        'const t = document.getElementById("__search"); t.checked = false; t.dispatchEvent(new Event("change"));'
    )
    WebDriverWait(driver, 10).until(lambda d: not d.execute_script('return document.getElementById("__search").checked'))


def search(driver: WebDriver, query: str, timeout_s: float = SEARCH_TIMEOUT_S) -> SearchResults:
    """Type a query into the search box and read the results once the worker has answered.

    The wait is in the page, on the worker's answer (`SEARCH_JS`), not a sleep.

    Args:
        driver: A browser on a page of the site.
        query: What a reader types.
        timeout_s: How long the worker may take to be ready and to answer.

    Returns:
        The results as shown.
    """
    wait_search_ready(driver, timeout_s)
    driver.set_script_timeout(timeout_s)
    answer = driver.execute_async_script(SEARCH_JS, query)
    return SearchResults(query, answer["meta"], answer["results"], float(answer["seconds"]))
