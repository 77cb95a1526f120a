import json

import pytest
from hypothesis import given, settings
from strategies import bodies, scenes

from krapition_app.model.errors import EncodingError, SceneFormatError
from krapition_app.model.scene import (
    BodySpec,
    Scene,
    body_from_json,
    body_to_json,
    load_scene,
    save_scene,
    scene_from_json,
    scene_to_json,
)
from krapition_app.paths import asset

BALL = {
    "name": "ball-001",
    "shape": "sphere",
    "radius": 0.1,
    "material": "rubber",
    "position": [0, 0, 1],
    "orientation": [1, 0, 0, 0],
    "velocity": [0, 0, 0],
    "angular_velocity": [0, 0, 0],
}


def test_one_body_object_as_the_rest_api_sees_it():
    body = body_from_json(json.dumps(BALL))
    assert body.radius == 0.1 and body.position == (0.0, 0.0, 1.0) and body.material == "rubber"
    again = json.loads(body_to_json(body))
    assert "half_extents" not in again
    assert body_from_json(json.dumps(again)) == body


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"colour": "red"}, "unknown field `colour`"),
        ({"radius": "big"}, "`$.radius`"),
        ({"position": [0, 0]}, "`$.position`"),
        ({"orientation": [1, 0, 0]}, "`$.orientation`"),
        ({"velocity": "fast"}, "`$.velocity`"),
        ({"shape": "cone"}, "`$.shape`"),
        ({"material": "cheese"}, "unknown material 'cheese'"),
        ({"radius": -1}, "radius must be between"),
        ({"radius": None}, "a sphere needs 'radius'"),
        ({"half_extents": [1, 1, 1]}, "a sphere has 'radius', not 'half_extents'"),
        ({"orientation": [2, 0, 0, 0]}, "unit quaternion"),
        ({"name": "has space"}, "name 'has space'"),
        ({"name": 5}, "`$.name`"),
    ],
)
def test_bad_bodies_name_the_key(change, expected):
    with pytest.raises(EncodingError) as info:
        body_from_json(json.dumps({**BALL, **change}))
    assert expected in str(info.value)


def test_missing_required_key_is_named():
    data = dict(BALL)
    del data["shape"]
    with pytest.raises(EncodingError, match="missing required field `shape`"):
        body_from_json(json.dumps(data))


def test_box_needs_half_extents():
    box = BodySpec(name="b", shape="box", half_extents=(0.1, 0.2, 0.3))
    assert box.bounding_radius == pytest.approx((0.01 + 0.04 + 0.09) ** 0.5)
    with pytest.raises(ValueError, match="a box needs 'half_extents'"):
        BodySpec(name="b", shape="box", radius=0.1)


def test_default_scene_is_a_valid_playground():
    scene = load_scene(asset("default-scene.json"))
    assert len(scene.bodies) >= 20
    assert {b.shape for b in scene.bodies} == {"sphere", "box"}
    assert {b.material for b in scene.bodies} >= {"metal", "wood", "glass", "rubber", "stone", "plastic"}
    # everything starts at rest, above or on the ground
    for body in scene.bodies:
        assert body.velocity == (0.0, 0.0, 0.0)
        assert body.position[2] - (body.radius or body.half_extents[2]) >= -1e-9


def test_scene_rules():
    a = BodySpec(name="a", shape="sphere", radius=0.1)
    with pytest.raises(ValueError, match="two bodies are named 'a'"):
        Scene(bodies=(a, a))
    with pytest.raises(SceneFormatError, match="names unknown body 'ghost'"):
        scene_from_json(
            json.dumps({"bodies": [BALL], "constraints": [{"kind": "hinge", "name": "h", "body_a": "ghost"}]})
        )
    with pytest.raises(SceneFormatError, match="to itself"):
        scene_from_json(
            json.dumps(
                {
                    "bodies": [BALL],
                    "constraints": [
                        {"kind": "ball-socket", "name": "j", "body_a": "ball-001", "body_b": "ball-001"}
                    ],
                }
            )
        )
    with pytest.raises(SceneFormatError, match="both 'lower_limit' and 'upper_limit'"):
        scene_from_json(
            json.dumps(
                {
                    "bodies": [BALL],
                    "constraints": [{"kind": "hinge", "name": "h", "body_a": "ball-001", "lower_limit": 0.1}],
                }
            )
        )


def test_broken_files_give_a_clear_message_naming_the_file(tmp_path):
    truncated = tmp_path / "truncated.json"
    truncated.write_text(asset("default-scene.json").read_text()[:200])
    with pytest.raises(SceneFormatError, match=r"truncated\.json: malformed JSON"):
        load_scene(truncated)
    with pytest.raises(SceneFormatError, match="cannot read scene file"):
        load_scene(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"bodies": [{**BALL, "mass": 3}]}))
    with pytest.raises(SceneFormatError, match=r"wrong\.json.*unknown field `mass`.*\$\.bodies\[0\]"):
        load_scene(wrong)


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "scene.json"
    first = Scene(name="first")
    save_scene(first, path)
    import krapition_app.model.scene as scene_module

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(scene_module.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_scene(Scene(name="second"), path)
    assert load_scene(path) == first
    assert [p.name for p in tmp_path.iterdir()] == ["scene.json"]  # no temporary file left behind


@settings(max_examples=50)
@given(scenes())
def test_scene_file_round_trip(scene):
    assert scene_from_json(scene_to_json(scene)) == scene


@given(bodies())
def test_body_round_trip(body):
    assert body_from_json(body_to_json(body)) == body
