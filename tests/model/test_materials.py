import math

import pytest

from krapition_app.model.errors import KrapitionError, ModelValidationError, UnknownMaterialError
from krapition_app.model.materials import (
    MATERIAL_NAMES,
    MATERIALS,
    Material,
    get_material,
    material_index,
    pair_friction,
    pair_restitution,
)


def test_the_catalogue_has_the_six_families():
    assert {"metal", "wood", "glass", "rubber", "stone", "plastic"} <= set(MATERIAL_NAMES)


def test_indices_are_stable_positions():
    for i, name in enumerate(MATERIAL_NAMES):
        assert material_index(name) == i


def test_unknown_material_is_a_precise_error():
    with pytest.raises(UnknownMaterialError, match="unknown material 'unobtainium'; known materials: metal"):
        get_material("unobtainium")
    assert issubclass(UnknownMaterialError, KrapitionError)


def test_values_order_the_way_physics_says():
    m = MATERIALS
    # the wave speed sqrt(E/rho) sets the modal frequency scale: glass and steel ring highest
    assert m["glass"].wave_speed > m["wood"].wave_speed > m["plastic"].wave_speed > m["rubber"].wave_speed
    assert m["metal"].modal_frequency_scale == pytest.approx(1.0)
    assert m["metal"].wave_speed == pytest.approx(5048, rel=0.01)  # textbook bar speed of steel
    # damping: rubber dies at once, steel rings on
    assert m["rubber"].loss_factor > m["wood"].loss_factor > m["glass"].loss_factor > m["metal"].loss_factor
    assert m["metal"].density > m["stone"].density > m["glass"].density > m["wood"].density
    assert m["rubber"].restitution > m["wood"].restitution
    assert m["rubber"].dynamic_friction > m["plastic"].dynamic_friction


def test_pair_rules_are_symmetric_and_self_consistent():
    for a in MATERIALS.values():
        assert pair_restitution(a, a) == pytest.approx(a.restitution)
        assert pair_friction(a, a) == pytest.approx(a.dynamic_friction)
        for b in MATERIALS.values():
            assert pair_restitution(a, b) == pair_restitution(b, a)
            assert pair_friction(a, b) == pair_friction(b, a)
            assert (
                min(a.restitution, b.restitution)
                <= pair_restitution(a, b)
                <= max(a.restitution, b.restitution)
            )


def test_materials_validate_their_values():
    good = MATERIALS["wood"]
    fields = {f: getattr(good, f) for f in good.__slots__}
    with pytest.raises(ModelValidationError, match="restitution"):
        Material(**{**fields, "restitution": 1.5})
    with pytest.raises(ModelValidationError, match="dynamic_friction"):
        Material(**{**fields, "dynamic_friction": good.static_friction + 1})
    assert all(math.isfinite(v) for v in (good.density, good.youngs_modulus))
