"""A witness for machine stalls: did the whole machine stop, or was it our audio path?

An underrun says the callback found no block; it does not say why. :class:`StallProbe` runs a
separate process (its own interpreter, so no GIL in common with the engine) that sleeps one
millisecond at a time under ``SCHED_FIFO`` above every audio thread (:data:`PROBE_PRIORITY`) and
reports each wake-up that came later than ``threshold_s``. Such a thread is late only when the
machine did not run it: a virtual machine's CPUs paused by the host, a long stretch in the kernel.
When that happens, JACK's dummy driver stops too and, once running again, plays the missed cycles
back to back, faster than any render guard covers.

The soak test and ``krapition bench audio`` use it to tell those underruns from the engine's own.
Times are ``time.monotonic()`` (CLOCK_MONOTONIC, the same in both processes). Not available in a
frozen bundle (it starts ``python -m``); :attr:`StallProbe.scheduling` says what it got.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from typing import NamedTuple

#: above JACK's threads (70) and the engine's (10, 11): it sleeps all but microseconds a millisecond
PROBE_PRIORITY = 80
PERIOD_S = 0.001
THRESHOLD_S = 0.002


class Stall(NamedTuple):
    #: ``time.monotonic()`` when the late wake-up came
    at: float
    #: how much later than asked, in seconds
    late_s: float


class StallProbe:
    """Start, run beside the thing measured, stop; then :meth:`stalls` and :meth:`near`."""

    def __init__(self, period_s: float = PERIOD_S, threshold_s: float = THRESHOLD_S,
                 priority: int = PROBE_PRIORITY) -> None:
        if not 0 < period_s <= 0.1 or threshold_s <= 0:
            raise ValueError("period_s must be in (0, 0.1] and threshold_s positive")
        self.period_s, self.threshold_s, self.priority = period_s, threshold_s, priority
        #: what the probe process got ("SCHED_FIFO priority 80", "normal scheduling: ...") once started
        self.scheduling = ""
        self._stalls: list[Stall] = []
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> bool:
        """Starts the probe process; False (and :attr:`scheduling` says why) where it cannot run."""
        if getattr(sys, "frozen", False):
            self.scheduling = "not available in a frozen bundle"
            return False
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, "--period", repr(self.period_s), "--threshold",
             repr(self.threshold_s), "--priority", str(self.priority)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, name="krapition-stall-probe", daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            self.scheduling = "the probe process did not start"
            return False
        return True

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(5)

    def __enter__(self) -> StallProbe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stalls(self, since: float = float("-inf"), until: float = float("inf")) -> list[Stall]:
        """The late wake-ups reported so far, between ``since`` and ``until`` (monotonic seconds)."""
        return [s for s in list(self._stalls) if since <= s.at <= until]

    def near(self, t: float, before_s: float, after_s: float = 0.0, min_late_s: float = 0.0) -> list[Stall]:
        """Stalls of at least ``min_late_s`` that ended between ``before_s`` before ``t`` and
        ``after_s`` after it."""
        return [s for s in self.stalls(t - before_s, t + after_s) if s.late_s >= min_late_s]

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("#"):
                self.scheduling = line[1:].strip()
                self._ready.set()
                continue
            with contextlib.suppress(ValueError):
                at, late = line.split()
                self._stalls.append(Stall(float(at), float(late)))
        self._ready.set()


def _promote(priority: int) -> str:
    if not (hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_FIFO")):
        return "normal scheduling (no real-time scheduling on this platform)"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as exc:
        return f"normal scheduling ({exc.strerror or exc})"
    return f"SCHED_FIFO priority {priority}"


def main(argv: list[str] | None = None) -> None:
    """The probe process: one line per late wake-up, ``<monotonic s> <late s>``, on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", type=float, default=PERIOD_S)
    parser.add_argument("--threshold", type=float, default=THRESHOLD_S)
    parser.add_argument("--priority", type=int, default=PROBE_PRIORITY)
    args = parser.parse_args(argv)
    print("#", _promote(args.priority), flush=True)
    period, threshold = args.period, args.threshold
    clock, sleep, write = time.monotonic, time.sleep, sys.stdout.write
    try:
        while True:
            before = clock()
            sleep(period)
            now = clock()
            late = now - before - period
            if late > threshold:
                write(f"{now:.6f} {late:.6f}\n")
                sys.stdout.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        pass


if __name__ == "__main__":
    main()
