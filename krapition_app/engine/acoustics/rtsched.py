"""Real-time scheduling for the audio threads, where the operating system allows it.

A thread under ``SCHED_FIFO`` runs as soon as it wakes, ahead of every normal process, so a busy
machine no longer delays the synthesis thread by milliseconds. Like a JACK client (or a client that
asks rtkit), the engine asks for a low priority: JACK's own threads run at 70 and above, rtkit grants
clients up to 20. Linux grants it to root, to a process with CAP_SYS_NICE, or up to the soft limit
RLIMIT_RTPRIO (``ulimit -r``; e.g. ``@audio - rtprio 95`` in /etc/security/limits.d). Elsewhere the
request fails quietly and the thread keeps normal scheduling; the result is one line for the status.
"""

from __future__ import annotations

import os
import threading

#: SCHED_FIFO priority of the synthesis thread (1..99; low, under JACK's and the audio server's threads)
SYNTH_PRIORITY = 10


def _rtprio_limit() -> int | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    limit = getattr(resource, "RLIMIT_RTPRIO", None)
    if limit is None:
        return None
    soft = resource.getrlimit(limit)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def realtime_policy(tid: int) -> str | None:
    """``'SCHED_FIFO priority N'`` (or RR) if thread ``tid`` already runs real-time, else None."""
    if not hasattr(os, "sched_getscheduler"):
        return None
    try:
        policy = os.sched_getscheduler(tid)
        priority = os.sched_getparam(tid).sched_priority
    except OSError:
        return None
    names = {getattr(os, "SCHED_FIFO", -1): "SCHED_FIFO", getattr(os, "SCHED_RR", -1): "SCHED_RR"}
    return f"{names[policy]} priority {priority}" if policy in names else None


def promote(tid: int, priority: int = SYNTH_PRIORITY) -> str:
    """Ask for SCHED_FIFO at ``priority`` for the thread with native id ``tid`` (a thread already under a
    real-time policy is left as it is). Never raises: returns what the thread got, as a status line."""
    if not (hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_FIFO")):
        return "normal scheduling (no real-time scheduling on this platform)"
    already = realtime_policy(tid)
    if already is not None:
        return already
    limit = _rtprio_limit()
    tries = [priority]
    if limit is not None and 0 < limit < priority:
        tries.append(limit)  # an unprivileged user may have a lower rtprio limit than we ask for
    reason = ""
    for prio in tries:
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(prio))
        except OSError as exc:  # PermissionError without CAP_SYS_NICE or an rtprio limit
            reason = exc.strerror or type(exc).__name__
            continue
        return f"SCHED_FIFO priority {prio}"
    return f"normal scheduling (real-time priority not permitted: {reason})"


def realtime_permitted(priority: int) -> bool:
    """Whether this process may run a thread under SCHED_FIFO at ``priority`` (tried on a new thread)."""
    if not (hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_FIFO")):
        return False
    granted: list[bool] = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0: this (throwaway) thread
        except OSError:
            granted.append(False)
        else:
            granted.append(True)

    thread = threading.Thread(target=probe, name="krapition-rt-probe", daemon=True)
    thread.start()
    thread.join()
    return bool(granted and granted[0])
