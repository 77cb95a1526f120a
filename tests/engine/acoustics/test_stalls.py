"""The stall probe sees a stopped machine, and the soak's judge tells the machine's underruns from
the engine's own."""

from __future__ import annotations

import os
import signal
import time

import pytest
from test_realtime import _judge, _machine_stalls

from krapition_app.engine.acoustics.stalls import Stall, StallProbe


class _Probe:
    """A probe that saw the given stalls (the judge reads only :meth:`StallProbe.near`)."""

    def __init__(self, stalls: list[Stall]) -> None:
        self._stalls = stalls

    near = StallProbe.near
    stalls = StallProbe.stalls


def test_each_cpus_probe_reports_the_time_it_was_stopped() -> None:
    with StallProbe() as probe:
        assert probe.running and probe.scheduling and len(probe._procs) == len(probe.cpus)
        time.sleep(0.2)
        quiet = probe.stalls()
        first = probe._procs[0]
        os.kill(first.pid, signal.SIGSTOP)  # as a host pausing that CPU
        stopped = time.monotonic()
        time.sleep(0.05)
        os.kill(first.pid, signal.SIGCONT)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not probe.near(stopped, 0.0, 1.0, min_late_s=0.03):
            time.sleep(0.01)
    found = probe.near(stopped, 0.0, 1.0, min_late_s=0.03)
    assert len(found) == 1 and 0.03 <= found[0].late_s < 1.0, (found, quiet)
    assert found[0].cpu == probe.cpus[0]
    assert not probe.running


def test_the_probe_refuses_a_period_it_cannot_keep() -> None:
    with pytest.raises(ValueError):
        StallProbe(period_s=0)
    with pytest.raises(ValueError):
        StallProbe(threshold_s=-1)


def _result(events: list[tuple[float, int, int]]) -> dict:
    return {"underruns": sum(e[1] for e in events), "events": events}


def test_an_underrun_without_a_stall_fails_the_soak() -> None:
    probe = _Probe([Stall(99.0, 0.010)])  # a stall, but 1 s before: not this underrun's
    result = _result([(100.0, 1, 0)])
    assert _machine_stalls(result, probe) == ([], [(100.0, 1, 0, [])])
    with pytest.raises(AssertionError, match="without a machine stall"):
        _judge(result, probe)


def test_underruns_that_each_came_with_a_stall_or_a_jack_xrun_are_the_machines() -> None:
    probe = _Probe([Stall(99.9, 0.006), Stall(150.0, 0.002), Stall(199.95, 0.004)])
    # JACK's xrun of 250.0 is flagged a step after the underrun it came with
    result = _result([(100.0, 1, 0), (150.0, 0, 1), (170.0, 1, 1), (200.0, 2, 0), (250.0, 1, 0),
                      (250.02, 0, 1)])
    machine, own = _machine_stalls(result, probe)
    assert own == [] and [m[0] for m in machine] == [100.0, 170.0, 200.0, 250.0]
    with pytest.raises(pytest.xfail.Exception, match="the machine stalled: 4 underrun events"):
        _judge(result, probe)
    # an xrun long after is not this underrun's
    assert _machine_stalls(_result([(300.0, 1, 0), (301.0, 0, 1)]), probe)[1] == [(300.0, 1, 0, [])]
    # a late wake-up under the threshold is no excuse
    small = _result([(150.05, 1, 0)])
    assert _machine_stalls(small, probe)[1] == [(150.05, 1, 0, [])]
    _judge(_result([]), probe)  # no underruns: passes
