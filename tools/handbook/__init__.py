"""The Chorus Handbook's own tooling: checks, build plugin and reports.

The handbook binds its pages to the Chorus stack in `stack/`; this package holds
the code that does the binding, exposed as the `handbook` command and as the
`handbook` MkDocs plugin.

Start-up: with `PYTHONDONTWRITEBYTECODE=1` (common on CI and set on the team's machines)
every run recompiled every module it imports, about half of a `handbook check` on the
real tree. In a checkout, compiled bytecode goes to `.cache/pycache/` instead (git ignores
`.cache/`, so the tree stays free of `__pycache__`, which is what the variable asks for);
`HANDBOOK_NO_PYCACHE=1` turns this off.
"""

import os as _os
import sys as _sys
from pathlib import Path as _Path

__version__ = "0.1.0"


def _cache_bytecode_outside_the_tree() -> None:
    """Send bytecode to `<checkout>/.cache/pycache` when the environment forbids writing it beside the code."""
    checkout = _Path(__file__).resolve().parents[2]
    if (not _sys.dont_write_bytecode or _sys.pycache_prefix is not None or _os.environ.get("HANDBOOK_NO_PYCACHE")
            or not (checkout / "mkdocs.yml").is_file()):
        return
    _sys.pycache_prefix = str(checkout / ".cache" / "pycache")
    _sys.dont_write_bytecode = False


_cache_bytecode_outside_the_tree()
