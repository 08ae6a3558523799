"""Built-in checks. Each module registers its checks when imported."""

from __future__ import annotations

import importlib
import pkgutil


def load_builtin() -> None:
    """Import every module of this package so its checks register themselves."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "registry":
            importlib.import_module(f"{__name__}.{module.name}")
