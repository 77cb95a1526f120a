import pytest

from krapition_app.engine.clock import SimulationClock


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_runs_pauses_slows_and_steps():
    real = FakeTime()
    clock = SimulationClock(real)
    real.now += 1.0
    assert clock() == pytest.approx(1.0)
    clock.pause()
    real.now += 5.0
    assert clock() == pytest.approx(1.0)
    clock.advance(1 / 240)
    assert clock() == pytest.approx(1.0 + 1 / 240)
    clock.resume()
    clock.set_rate(0.25)
    real.now += 2.0
    assert clock() == pytest.approx(1.5 + 1 / 240)
    assert clock.rate == 0.25 and not clock.paused


@pytest.mark.parametrize("rate", [0.0, -1.0, 5.0, float("nan")])
def test_bad_rates_are_refused(rate):
    with pytest.raises(ValueError, match="rate"):
        SimulationClock(FakeTime()).set_rate(rate)


def test_cannot_go_back():
    with pytest.raises(ValueError):
        SimulationClock(FakeTime()).advance(-0.1)
