"""The broad phase finds exactly the overlapping pairs that matter, in the dense and the hashed grid."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from krapition_app.engine.physics.broadphase import find_pairs


def _brute_force(lo: np.ndarray, hi: np.ndarray, static: np.ndarray,
                 sleeping: np.ndarray) -> set[tuple[int, int]]:
    awake = ~static & ~sleeping
    found = set()
    for i in range(len(lo)):
        j = np.arange(i + 1, len(lo))
        hit = np.all(lo[i] <= hi[j], axis=1) & np.all(lo[j] <= hi[i], axis=1) & (awake[i] | awake[j])
        found.update((i, int(k)) for k in j[hit])
    return found


def _pairs(lo: np.ndarray, hi: np.ndarray, static: np.ndarray, sleeping: np.ndarray) -> list[tuple[int, int]]:
    size = 4
    while True:
        a = np.zeros(size, dtype=np.int64)
        b = np.zeros(size, dtype=np.int64)
        count = find_pairs(lo, hi, static, sleeping, a, b)
        if count < size:
            return list(zip(a[:count].tolist(), b[:count].tolist(), strict=True))
        size = 2 * count + 1


@st.composite
def _scenes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 60))
    # spread 0.5: a dense grid; spread 50: bodies too thin on the ground for one, so a hashed grid
    spread = draw(st.sampled_from([0.5, 50.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    centre = rng.uniform(-spread, spread, (n, 3))
    half = rng.uniform(0.01, 0.1, (n, 3))
    if draw(st.booleans()):  # one large body (a wall): the brute-force list
        half[0] = (spread, 0.05, spread)
    static = rng.random(n) < 0.2
    sleeping = ~static & (rng.random(n) < 0.2)
    return centre - half, centre + half, static, sleeping


@settings(max_examples=60, deadline=None)
@given(_scenes())
def test_pairs_are_exactly_the_overlapping_pairs_with_an_awake_body(
        scene: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
    lo, hi, static, sleeping = scene
    pairs = _pairs(lo, hi, static, sleeping)
    assert all(a < b for a, b in pairs)
    assert len(pairs) == len(set(pairs)), "a pair was reported twice"
    assert set(pairs) == _brute_force(lo, hi, static, sleeping)


def test_a_full_pile_gives_the_same_pairs_in_the_same_order_twice() -> None:
    rng = np.random.default_rng(7)
    centre = rng.uniform(-1.0, 1.0, (3000, 3))
    lo, hi = centre - 0.05, centre + 0.05
    static = np.zeros(3000, dtype=np.bool_)
    sleeping = np.zeros(3000, dtype=np.bool_)
    first = _pairs(lo, hi, static, sleeping)
    assert first == _pairs(lo.copy(), hi.copy(), static, sleeping)
    assert set(first) == _brute_force(lo, hi, static, sleeping)
