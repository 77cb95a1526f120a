"""Remote drags: the owner decides (first grab wins, quiet holders time out); the dragger rate-limits."""

import pytest

from krapition_app.engine.remote_drag import DragArbiter, DragSender, drag_key
from krapition_app.engine.world import Drag, Release
from krapition_app.model.events import UserAction

BALL = "krapition://10.0.0.1:7400/physics/objects/ball-1"
BOX = "krapition://10.0.0.1:7400/physics/objects/box-1"
ALICE, BOB = "a1" * 32, "b2" * 32


def grab(target=BALL, point=(0.0, 0.0, 1.0)):
    return UserAction(action="grab", target=target, point=point)


def test_first_grab_wins_and_the_other_is_refused():
    arb = DragArbiter()
    commands, refusal = arb.on_action(ALICE, grab(), "ball-1", now=0.0)
    assert refusal is None and commands == [Drag(drag_key(ALICE), "ball-1", (0.0, 0.0, 1.0), (0.0, 0.0, 1.0))]
    commands, refusal = arb.on_action(BOB, grab(), "ball-1", now=0.1)
    assert commands == [] and refusal is not None
    assert (refusal.author, refusal.target, refusal.holder) == (BOB, BALL, ALICE)
    # Bob's drags of Alice's body do nothing; Alice's move it
    move = UserAction(action="drag", target=BALL, point=(1.0, 0.0, 1.0))
    assert arb.on_action(BOB, move, "ball-1", 0.2)[0] == []
    commands, _ = arb.on_action(ALICE, move, "ball-1", 0.2)
    assert commands == [Drag(drag_key(ALICE), "ball-1", (0.0, 0.0, 1.0), (1.0, 0.0, 1.0))]
    # once Alice lets go, Bob may grab
    assert arb.on_action(ALICE, UserAction(action="release", target=BALL), "ball-1", 0.3)[0] == [
        Release(drag_key(ALICE))]
    assert arb.on_action(BOB, grab(), "ball-1", now=0.4)[1] is None and arb.holder(BALL) == BOB
    assert arb.refused == 1


def test_a_quiet_holder_times_out_and_keepalives_hold():
    arb = DragArbiter(hold_timeout=2.0)
    arb.on_action(ALICE, grab(), "ball-1", now=0.0)
    arb.on_action(ALICE, UserAction(action="drag", target=BALL), "ball-1", now=1.5)  # keep-alive
    assert arb.expire(3.0) == []
    assert arb.expire(3.6) == [Release(drag_key(ALICE))] and arb.holder(BALL) is None


def test_one_body_per_dragger_and_deleted_bodies_release():
    arb = DragArbiter()
    arb.on_action(ALICE, grab(BALL), "ball-1", now=0.0)
    commands, _ = arb.on_action(ALICE, grab(BOX), "box-1", now=0.1)
    assert commands[0] == Release(drag_key(ALICE)) and arb.holder(BALL) is None and arb.holder(BOX) == ALICE
    assert arb.forget_body(BOX) == [Release(drag_key(ALICE))] and arb.holder(BOX) is None
    # a grab of a body we no longer have, or without a point, is ignored
    assert arb.on_action(BOB, grab(BALL), None, now=0.2) == ([], None)


def test_bad_points_are_refused_precisely():
    with pytest.raises(ValueError, match="point"):
        UserAction(action="drag", target=BALL, point=(float("nan"), 0.0, 0.0))
    with pytest.raises(ValueError, match="finite"):
        DragSender().grab(BALL, (0.0, float("inf"), 0.0), now=0.0)


def test_the_sender_rate_limits_and_sends_the_newest_position():
    sender = DragSender(rate_hz=10.0)
    assert sender.grab(BALL, (0.0, 0.0, 1.0), now=0.0).action == "grab"
    assert sender.move((0.1, 0.0, 1.0), now=0.05) is None  # too soon
    assert sender.move((0.2, 0.0, 1.0), now=0.08) is None
    action = sender.flush(now=0.1)
    assert action is not None and action.point == (0.2, 0.0, 1.0)
    assert sender.flush(now=0.25) is None  # nothing new, and not yet time for a keep-alive
    keepalive = sender.flush(now=0.7)
    assert keepalive is not None and keepalive.point is None
    release = sender.release()
    assert release is not None and release.action == "release" and sender.dragging is None
    assert sender.move((0.0, 0.0, 0.0), now=1.0) is None and sender.release() is None
