"""PyInstaller runtime hook: runs in the frozen Krapition app before ``krapition_app`` is imported.

- A windowed app started from a desktop (or on Windows/macOS) may have no stdout/stderr: give it
  ``os.devnull`` so argparse, warnings and faulthandler never write to None (logs go to the user log
  folder through ``krapition_app.logs`` anyway).
- numba caches kernels through the bundle's own locator (``krapition_numba_cache``); it is named in an
  environment variable that numba reads when it is first imported, so importing numba stays lazy
  (the headless node never imports it). ``krapition_app.cli`` sets ``NUMBA_CACHE_DIR``.
"""

import os
import sys

if sys.stdout is None:
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
if sys.stderr is None:
    sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115

os.environ.setdefault("NUMBA_CACHE_LOCATOR_CLASSES", "krapition_numba_cache.BundleCacheLocator")
