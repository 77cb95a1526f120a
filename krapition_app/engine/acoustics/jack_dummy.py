"""A private JACK server on the dummy driver: a real-time output device without a sound card.

For tests and ``krapition bench audio``. The server gets a unique name, is waited for, and is stopped
by the pid this module started (never by name).

It runs in JACK's synchronous mode (``-S``): the server waits for its clients' cycle and plays their
buffers in that same cycle, so the playback latency JACK reports (the callback's outputBufferDacTime)
is one period, 5.3 ms at 256 frames. jackd2's default asynchronous mode plays them one cycle later
and reports two periods.

Where this process may use real-time scheduling, the server runs real-time (``-R -P 70``, as a JACK
server for a sound card does; its client threads then run real-time too): a dummy driver under
normal scheduling misses cycles whenever the machine is busy, a clock no sound card has, and the
engine's underruns could not be judged then. Elsewhere it runs with ``--no-realtime``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from types import ModuleType

from .devices import rescan
from .rtsched import realtime_permitted

READY_TIMEOUT_S = 10.0
#: the server's SCHED_FIFO priority when it runs real-time (above the engine's threads, as with a sound card)
JACK_PRIORITY = 70


@contextlib.contextmanager
def jack_dummy_server(
    rate: int = 48_000, period: int = 256, sync: bool = True, realtime: bool | None = None
) -> Iterator[str | None]:
    """Start ``jackd -n NAME [-S] -d dummy``; yield NAME (None where jackd is missing), then stop it by pid.

    ``realtime``: run the server real-time (None: where permitted, see the module's note).

    Sets JACK_DEFAULT_SERVER and JACK_NO_AUDIO_RESERVATION for this process and rescans PortAudio so
    its JACK host API finds the server.
    """
    jackd = shutil.which("jackd")
    if jackd is None:
        yield None
        return
    name = f"krapition-test-{uuid.uuid4().hex[:8]}"
    if realtime is None:
        realtime = realtime_permitted(JACK_PRIORITY)
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_DEFAULT_SERVER=name)
    proc = subprocess.Popen(
        jackd_command(jackd, name, rate, period, sync, realtime),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # a full pipe would stall jackd
    )
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_AUDIO_RESERVATION"] = "1"
    try:
        if not _wait_ready(name, proc):
            yield None
            return
        rescan()
        yield name
    finally:
        sd = _sounddevice()
        if sd is not None:
            sd._terminate()  # let go of the server while it is still alive
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if sd is not None:
            sd._initialize()


def jackd_command(
    jackd: str, name: str, rate: int = 48_000, period: int = 256, sync: bool = True, realtime: bool = False
) -> list[str]:
    """The server's command line (the bench reports it beside its figures)."""
    sync_flag = ["-S"] if sync else []
    rt = ["-R", "-P", str(JACK_PRIORITY)] if realtime else ["--no-realtime"]
    return [jackd, "-n", name, *rt, *sync_flag, "-d", "dummy", "-r", str(rate), "-p", str(period)]


def _sounddevice() -> ModuleType | None:
    try:
        import sounddevice
    except (OSError, ImportError):
        return None
    return sounddevice


def _wait_ready(name: str, proc: subprocess.Popen[bytes]) -> bool:
    """True once the server's shared-memory files exist (jack_lsp would need jack-tools)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if any(name in entry for entry in os.listdir("/dev/shm")):
            time.sleep(0.3)
            return True
        time.sleep(0.05)
    return False
