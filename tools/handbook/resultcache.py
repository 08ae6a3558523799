"""Results of per-file checks, cached by the file's content, so an unchanged file is not re-analysed.

Like a linter's cache: the key is a digest of the file's bytes plus the version of
the check that produced the result, the value is the problems found, stored as
JSON in `.cache/handbook/NAME.json` (git-ignored). A cache that cannot be read is
ignored and rebuilt; one that cannot be written costs only speed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from handbook import __version__

CACHE_DIR = Path(".cache") / "handbook"


class ResultCache:
    """One check's cached results for one project.

    Args:
        root: The project root.
        name: The check's name (one file per check).
        salt: Anything that changes the results for the same input (e.g. the check's own source).
    """

    def __init__(self, root: Path, name: str, salt: str = "") -> None:
        self.path = root / CACHE_DIR / f"{name}.json"
        self.salt = f"{__version__}:{salt}"
        self.changed = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries: dict[str, Any] = data["entries"] if data.get("salt") == self.salt else {}
        except (OSError, ValueError, KeyError, TypeError):
            self.entries = {}
        self.used: set[str] = set()

    @staticmethod
    def key(text: str) -> str:
        """The cache key of a file's content."""
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def get(self, text: str) -> Any:
        """The cached result for this content, or `None`."""
        key = self.key(text)
        self.used.add(key)
        return self.entries.get(key)

    def put(self, text: str, value: Any) -> None:
        """Remember the result for this content."""
        key = self.key(text)
        self.used.add(key)
        self.entries[key] = value
        self.changed = True

    def save(self) -> None:
        """Write the entries used in this run (stale ones are dropped) atomically, if anything changed."""
        if not self.changed and set(self.entries) == self.used:
            return
        keep = {k: v for k, v in self.entries.items() if k in self.used}
        write_json(self.path, {"salt": self.salt, "entries": keep})


def write_json(path: Path, data: Any) -> None:
    """Write a cache file atomically (a reader sees the old file or the new one, never half).

    A cache that cannot be written costs only speed, so an `OSError` is swallowed.

    Args:
        path: The file; its folder is created when missing.
        data: What to write, as JSON.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(temporary, path)
    except OSError:
        pass
