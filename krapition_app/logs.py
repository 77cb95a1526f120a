"""Structured logs: JSON lines with levels, to a rotating file in the user log folder.

Lines go to stderr as well only when there is a stderr (a windowed frozen app has none).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

LOG_FILE = "krapition.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_MAX_BYTES = 5 * 1024 * 1024
_BACKUPS = 5


def configure_logging(log_dir: Path, level: str | int = "INFO") -> Path:
    """Sends the ``krapition_app`` loggers to ``log_dir/krapition.log``; returns the file's path.

    Idempotent: calling it again replaces the handlers it installed before.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE
    formatter = JsonFormatter(
        _FORMAT,
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(
            path, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
        )
    ]
    if sys.stderr is not None:
        handlers.append(logging.StreamHandler(sys.stderr))
    root = logging.getLogger("krapition_app")
    for old in [h for h in root.handlers if getattr(h, "_krapition", False)]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._krapition = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return path
