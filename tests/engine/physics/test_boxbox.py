"""Box-box contacts against brute force: the normal is (nearly) the best separating axis of the 15,
no point is deeper than the boxes overlap along it, each point's two surface points lie on the two
boxes, and a pair is found exactly when the boxes are within the margin."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from krapition_app.engine.physics.boxbox import EDGE_FEATURE, WORK_ROWS, box_box
from krapition_app.engine.physics.vecmath import quat_to_matrix

# the narrow phase prefers a face axis unless an edge axis separates more by this (see boxbox)
AXIS_TOLERANCE = 0.0015


def _contacts(pos: np.ndarray, rot: np.ndarray, half: np.ndarray, margin: float):
    out_p = np.zeros((8, 3))
    out_n = np.zeros((8, 3))
    out_sep = np.zeros(8)
    out_feat = np.zeros(8, dtype=np.int64)
    count = box_box(pos, rot, half, 0, 1, margin, out_p, out_n, out_sep, out_feat, np.zeros((WORK_ROWS, 3)),
                    np.zeros(20, dtype=np.int64))
    return out_p[:count], out_n[:count], out_sep[:count], out_feat[:count]


def _separation_along(pos: np.ndarray, rot: np.ndarray, half: np.ndarray, axis: np.ndarray) -> float:
    """Gap between the boxes' projections on the unit axis (negative: they overlap), a to b."""
    reach = sum(half[i] @ np.abs(axis @ rot[i]) for i in (0, 1))
    return float((pos[1] - pos[0]) @ axis) - reach


def _best_separation(pos: np.ndarray, rot: np.ndarray, half: np.ndarray) -> float:
    axes = [rot[0][:, i] for i in range(3)] + [rot[1][:, j] for j in range(3)]
    for i in range(3):
        for j in range(3):
            cross = np.cross(rot[0][:, i], rot[1][:, j])
            if np.linalg.norm(cross) > 1e-5:
                axes.append(cross / np.linalg.norm(cross))
    return max(max(_separation_along(pos, rot, half, ax), _separation_along(pos, rot, half, -ax))
               for ax in axes)


def _inside(point: np.ndarray, centre: np.ndarray, rot: np.ndarray, half: np.ndarray, slack: float) -> bool:
    return bool(np.all(np.abs((point - centre) @ rot) <= half + slack))


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    half = rng.uniform(0.02, 0.3, size=(2, 3))
    rot = np.zeros((2, 3, 3))
    for i in range(2):
        if draw(st.booleans()):  # exactly aligned boxes: the parallel-axis cases
            q = np.array([1.0, 0.0, 0.0, 0.0])
        else:
            q = rng.normal(size=4)
            q /= np.linalg.norm(q)
        quat_to_matrix(q, rot[i])
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    distance = rng.uniform(0.0, 1.1) * (np.linalg.norm(half[0]) + np.linalg.norm(half[1]))
    pos = np.array([rng.uniform(-1, 1, 3), np.zeros(3)])
    pos[1] = pos[0] + distance * direction
    margin = draw(st.sampled_from([0.0, 0.005, 0.02]))
    return pos, rot, half, margin


@settings(max_examples=400, deadline=None)
@given(_pairs())
def test_box_box_contacts_agree_with_brute_force(
        pair: tuple[np.ndarray, np.ndarray, np.ndarray, float]) -> None:
    pos, rot, half, margin = pair
    points, normals, seps, features = _contacts(pos, rot, half, margin)
    best = _best_separation(pos, rot, half)
    if best > margin + 1e-9:
        assert len(points) == 0, "boxes separated by more than the margin gave contacts"
        return
    if best < -1e-6:
        assert len(points) >= 1, "overlapping boxes gave no contact"
    if len(points) == 0:
        return
    assert len(points) <= 4
    n = normals[0]
    assert np.allclose(normals, n, atol=0.0)  # one normal for the whole manifold
    assert abs(np.linalg.norm(n) - 1.0) < 1e-12
    along = _separation_along(pos, rot, half, n)
    assert along >= best - AXIS_TOLERANCE, "the normal is not (nearly) the best separating axis"
    assert np.all(seps >= along - 1e-9), "a point deeper than the boxes overlap along the normal"
    assert np.all(seps <= margin + 1e-12)
    edge = features >= EDGE_FEATURE
    assert not edge.any() or len(points) == 1
    # midway points: half the separation back along n is on a, half forward is on b
    slack = 1e-9 if not edge.any() else 1e-9 + abs(seps[0])
    for p, s in zip(points, seps, strict=True):
        assert _inside(p - 0.5 * s * n, pos[0], rot[0], half[0], slack)
        assert _inside(p + 0.5 * s * n, pos[1], rot[1], half[1], slack)


def test_a_box_resting_on_a_box_gets_its_four_corners() -> None:
    pos = np.array([[0.0, 0.0, 0.0], [0.02, -0.01, 0.199]])  # 1 mm overlap, offset within the face
    rot = np.stack([np.eye(3), np.eye(3)])
    half = np.full((2, 3), 0.1)
    points, normals, seps, _ = _contacts(pos, rot, half, 0.01)
    assert len(points) == 4
    assert np.allclose(normals, [0.0, 0.0, 1.0])
    assert np.allclose(seps, -0.001)
    # the upper box's bottom corners, clipped to the lower box's top face, at mid-depth
    expected = {(0.1, 0.09), (-0.08, 0.09), (-0.08, -0.1), (0.1, -0.1)}
    assert {(round(x, 9), round(y, 9)) for x, y in points[:, :2]} == expected
    assert np.allclose(points[:, 2], 0.0995)
