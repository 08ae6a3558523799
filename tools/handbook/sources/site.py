"""`mkdocs.yml`: what the handbook's URLs are built from, and which plugins the site loads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from handbook.errors import HandbookError

MKDOCS = Path("mkdocs.yml")


@dataclass(frozen=True)
class SiteSettings:
    """What the handbook's URLs are built from, as `mkdocs.yml` sets it.

    Attributes:
        site_url: The site's base URL, ending in `/` (alert `runbook_url`s start with it).
        use_directory_urls: Whether `runbooks/x.md` is served at `runbooks/x/` (else `runbooks/x.html`).
    """

    site_url: str
    use_directory_urls: bool
    plugins: tuple[str, ...] = ()
    plugins_line: int = 1

    def page_url(self, docs_path: str) -> str:
        """The absolute URL of a page, e.g. `runbooks/x.md` -> `http://host/runbooks/x/`."""
        stem = docs_path[: -len(".md")] if docs_path.endswith(".md") else docs_path
        if stem == "index" or stem.endswith("/index"):
            return self.site_url + stem[: -len("index")]
        return self.site_url + (stem + "/" if self.use_directory_urls else stem + ".html")


def site_settings(root: Path) -> SiteSettings:
    """The URL settings of the site in `mkdocs.yml` (read without resolving its Python tags).

    Args:
        root: The project root.

    Returns:
        The settings; `site_url` defaults to `/` when unset.

    Raises:
        HandbookError: `mkdocs.yml` cannot be read, is not valid UTF-8 or YAML, or is not a mapping (one line, at its line and column).
    """
    import yaml
    from chorus.yamllines import SourceError, decode, syntax_error

    text = ""
    try:
        text = decode(MKDOCS, (root / MKDOCS).read_bytes())
        data = yaml.load(text, Loader=yaml.BaseLoader) or {}
    except yaml.YAMLError as exc:
        error = syntax_error(MKDOCS, exc, text=text)
        raise HandbookError(error.message, path=MKDOCS, line=error.line, col=error.column) from None
    except SourceError as exc:
        raise HandbookError(exc.message, path=MKDOCS, line=exc.line, col=exc.column) from None
    except OSError as exc:
        raise HandbookError(f"cannot be read ({exc.strerror or type(exc).__name__}): make it a readable file", path=MKDOCS) from None
    if not isinstance(data, dict):
        raise HandbookError("the site configuration is not a mapping of settings (site_name: ..., nav: ...): fix it", path=MKDOCS, line=1)
    url = str(data.get("site_url") or "/")
    plugins = data.get("plugins") or []
    names = tuple(str(next(iter(p))) if isinstance(p, dict) and p else str(p) for p in plugins) if isinstance(plugins, list) else ()
    line = next((n for n, row in enumerate(text.splitlines(), start=1) if row.startswith("plugins:")), 1)
    return SiteSettings(url if url.endswith("/") else url + "/", str(data.get("use_directory_urls", "true")).lower() != "false",
                        names, line)
