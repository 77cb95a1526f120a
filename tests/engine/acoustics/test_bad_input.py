"""Bad input is rejected precisely, in the caller's thread, and nothing is queued."""

from __future__ import annotations

import numpy as np
import pytest
from acoustic_helpers import impact, one_body

from krapition_app.engine.acoustics import AcousticInputError, AudioEngine, BodyTable, ListenerPose, excite
from krapition_app.model.errors import KrapitionError, ModelValidationError, UnknownMaterialError


def test_negative_size_is_rejected() -> None:
    with pytest.raises(
        AcousticInputError, match=r"size: radius and half extents must be finite and > 0 \(rows 0\)"
    ):
        one_body(radius=-0.1)
    bodies = one_body()
    bodies.radius[0] = -1.0  # a table the physics filled in place
    with pytest.raises(AcousticInputError) as info:
        excite(impact(), bodies, 0.0)
    assert info.value.field == "size" and info.value.rows == (0,)


def test_nan_impulse_is_rejected() -> None:
    c = impact()
    c.normal_impulse[0] = float("nan")
    with pytest.raises(AcousticInputError) as info:
        excite(c, one_body(), 0.0)
    assert info.value.field == "ContactEvents.normal_impulse" and info.value.rows == (0,)
    assert isinstance(info.value, ModelValidationError) and isinstance(info.value, KrapitionError)


def test_unknown_material_is_rejected() -> None:
    with pytest.raises(UnknownMaterialError, match="unobtainium"):
        one_body(material="unobtainium")
    bodies = one_body()
    bodies.material[0] = 99
    with pytest.raises(UnknownMaterialError, match="index 99"):
        excite(impact(), bodies, 0.0)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("body_a", 7, "ContactEvents.body_a"),
        ("body_b", -2, "ContactEvents.body_b"),
        ("point", float("inf"), "ContactEvents.point"),
        ("normal_speed", -1.0, "ContactEvents.normal_speed"),
        ("kind", 9, "ContactEvents.kind"),
    ],
)
def test_bad_contacts_name_the_field(field: str, value: float, match: str) -> None:
    c = impact()
    getattr(c, field)[0] = value
    with pytest.raises(AcousticInputError, match=match):
        excite(c, one_body(), 0.0)


def test_bad_body_table_layout_and_shape() -> None:
    with pytest.raises(AcousticInputError, match=r"BodyTable\.position"):
        BodyTable(
            shape=np.zeros(1, np.uint8),
            radius=np.ones(1),
            half_extents=np.ones((1, 3)),
            material=np.zeros(1, np.int32),
            position=np.zeros((2, 3)),
            velocity=np.zeros((1, 3)),
            mass=np.zeros(1),
        )
    with pytest.raises(AcousticInputError, match="shape"):
        BodyTable.build(shape=["cone"], material=["wood"], position=[[0, 0, 0]], radius=[0.1])


def test_bad_settings_are_rejected() -> None:
    engine = AudioEngine()
    with pytest.raises(AcousticInputError, match="volume"):
        engine.set_volume(float("nan"))
    with pytest.raises(AcousticInputError, match="output_mode"):
        engine.set_output_mode("surround")
    with pytest.raises(AcousticInputError, match="listener"):
        ListenerPose(forward=(0.0, 0.0, 1.0), up=(0.0, 0.0, 1.0))


def test_rejected_batch_queues_nothing() -> None:
    engine = AudioEngine()
    c = impact()
    c.normal_impulse[0] = -1.0
    with pytest.raises(AcousticInputError):
        engine.submit(c, one_body())
    assert engine.stats()["rejected"] == 1
    assert not engine._inbox
