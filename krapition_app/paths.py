"""Where Krapition keeps its files: platform folders (platformdirs) and the bundled assets.

``KRAPITION_HOME`` moves every folder under one root (tests and portable installs use it).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "krapition"


@dataclass(frozen=True, slots=True)
class AppPaths:
    data: Path
    config: Path
    cache: Path
    logs: Path

    @classmethod
    def default(cls) -> AppPaths:
        home = os.environ.get("KRAPITION_HOME")
        if home:
            root = Path(home)
            return cls(root / "data", root / "config", root / "cache", root / "logs")
        return cls(
            data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            logs=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        )


def assets_dir() -> Path:
    """The ``assets/`` folder: inside a frozen bundle, or at the top of the source tree."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "assets"
    return Path(__file__).resolve().parent.parent / "assets"


def asset(name: str) -> Path:
    path = assets_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"missing asset {name!r} (looked in {path.parent})")
    return path
