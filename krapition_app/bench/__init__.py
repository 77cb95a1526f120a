"""Benchmarks: ``krapition bench NAME``. Each prints JSON and compares against a named peer.

A benchmark is a module here with ``DESCRIPTION: str``, ``add_arguments(parser)`` and
``run(args) -> dict``; the CLI finds them by name, so adding one needs no other change.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def available() -> dict[str, ModuleType]:
    """name -> module of every benchmark in this package."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "run") and hasattr(module, "add_arguments"):
            found[info.name] = module
    return found
