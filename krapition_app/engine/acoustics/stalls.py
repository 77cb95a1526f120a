"""A witness for machine stalls: did the whole machine stop, or was it our audio path?

An underrun says the callback found no block; it does not say why. :class:`StallProbe` runs one
process per CPU (its own interpreter, so no GIL in common with the engine; pinned to that CPU) that
sleeps one millisecond at a time under ``SCHED_FIFO`` above every audio thread
(:data:`PROBE_PRIORITY`) and reports each wake-up that came later than ``threshold_s``. Such a
thread is late only when its CPU did not run it: a virtual machine's CPU paused by the host (one
CPU or all of them), a long stretch in the kernel.
When that happens, JACK's dummy driver stops too and, once running again, plays the missed cycles
back to back: a stall longer than the ring's lead (``EngineConfig.ahead_s``) runs it dry.

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
    #: the CPU whose probe saw it (-1: not pinned)
    cpu: int = -1


class StallProbe:
    """Start, run beside the thing measured, stop; then :meth:`stalls` and :meth:`near`."""

    def __init__(self, period_s: float = PERIOD_S, threshold_s: float = THRESHOLD_S,
                 priority: int = PROBE_PRIORITY, cpus: list[int] | None = None) -> None:
        if not 0 < period_s <= 0.1 or threshold_s <= 0:
            raise ValueError("period_s must be in (0, 0.1] and threshold_s positive")
        self.period_s, self.threshold_s, self.priority = period_s, threshold_s, priority
        #: the CPUs probed, one process each (default: every CPU this process may use)
        self.cpus = sorted(_usable_cpus() if cpus is None else cpus)
        #: what the probe processes got ("SCHED_FIFO priority 80", "normal scheduling: ...") once started
        self.scheduling = ""
        self._stalls: list[Stall] = []
        self._procs: list[subprocess.Popen[str]] = []
        self._readers: list[threading.Thread] = []
        self._ready: list[threading.Event] = []

    @property
    def running(self) -> bool:
        return bool(self._procs) and all(p.poll() is None for p in self._procs)

    def start(self, timeout_s: float = 10.0) -> bool:
        """Starts the probe processes; False (and :attr:`scheduling` says why) where they cannot run."""
        if getattr(sys, "frozen", False):
            self.scheduling = "not available in a frozen bundle"
            return False
        for cpu in self.cpus:
            proc = subprocess.Popen(
                [sys.executable, "-m", __name__, "--period", repr(self.period_s), "--threshold",
                 repr(self.threshold_s), "--priority", str(self.priority), "--cpu", str(cpu)],
                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, bufsize=1,
            )
            ready = threading.Event()
            reader = threading.Thread(target=self._read, args=(proc, cpu, ready),
                                      name=f"krapition-stall-probe-{cpu}", daemon=True)
            self._procs.append(proc)
            self._ready.append(ready)
            self._readers.append(reader)
            reader.start()
        deadline = time.monotonic() + timeout_s
        if not all(r.wait(max(deadline - time.monotonic(), 0.0)) for r in self._ready) or not self.running:
            self.stop()
            self.scheduling = "the probe processes did not start"
            return False
        return True

    def stop(self) -> None:
        procs, self._procs = self._procs, []
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for reader in self._readers:
            reader.join(5)
        self._readers, self._ready = [], []

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

    def _read(self, proc: subprocess.Popen[str], cpu: int, ready: threading.Event) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("#"):
                self.scheduling = line[1:].strip()
                ready.set()
                continue
            with contextlib.suppress(ValueError):
                at, late = line.split()
                self._stalls.append(Stall(float(at), float(late), cpu))
        ready.set()


def _usable_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return [-1]


def _pin(cpu: int) -> None:
    if cpu >= 0 and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})


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
    parser.add_argument("--cpu", type=int, default=-1, help="pin to this CPU (-1: not pinned)")
    args = parser.parse_args(argv)
    _pin(args.cpu)
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
