"""Built-in checks. Each module registers its checks when imported.

A module that fails to import is recorded (the runner reports it as HB003) and
does not stop the other modules from registering theirs.
"""

from __future__ import annotations

import importlib
import pkgutil

_LOADED = False


def load_builtin() -> None:
    """Import every module of this package once so its checks register themselves."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from handbook.checks.registry import record_broken_module

    for module in pkgutil.iter_modules(__path__):
        if module.name == "registry":
            continue
        name = f"{__name__}.{module.name}"
        try:
            importlib.import_module(name)
        except Exception as exc:  # a broken check module must not disable the others
            record_broken_module(name, exc)
