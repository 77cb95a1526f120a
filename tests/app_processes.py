"""The environment for app and node processes the tests start."""

from __future__ import annotations

import os
from pathlib import Path

from krapition_app.paths import AppPaths


def app_env(home: Path) -> dict[str, str]:
    """The app's folders in ``home``; the kernels compiled already (the user cache) reused; no sound:
    the audio tests' JACK server (named in this process's environment) is not the app's, and an app
    whose JACK stream fails to open can abort at exit (PortAudio asserts in Pa_Terminate)."""
    return dict(os.environ, KRAPITION_HOME=str(home), JACK_DEFAULT_SERVER="krapition-tests-no-jack",
                JACK_NO_START_SERVER="1",
                NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", str(AppPaths.default().cache / "numba")))
