"""The window in a LAN session (issue 9, first slice): next to a node that owns bodies, on loopback."""

from __future__ import annotations

import secrets

import pytest

from krapition_app.model.scene import BodySpec
from krapition_app.p2p.node import Node, NodeConfig
from krapition_app.session import Session, local_name

pytestmark = [pytest.mark.gui, pytest.mark.timeout(180)]


def loopback(tmp, name: str, passphrase: str, *, discover: bool = True) -> NodeConfig:
    return NodeConfig(data_dir=tmp / name, name=name, interface="127.0.0.1",
                      discovery_interfaces=("127.0.0.1",), passphrase=passphrase, discover=discover,
                      compact_every_s=0)


@pytest.fixture
def source_node(tmp_path):
    """A node without a world that owns three balls (as a headless ``krapition node`` would)."""
    passphrase = secrets.token_hex(8)
    node = Node(loopback(tmp_path, "source", passphrase))
    node.start()
    for i in range(3):
        ball = BodySpec(name=f"ball-{i}", shape="sphere", radius=0.1, material="rubber",
                        position=(0.3 * i, 1.0, 0.1), static=True)
        node.submit(node.set_body, ball).result(10)
    try:
        yield node, passphrase
    finally:
        node.stop()


@pytest.fixture
def session(tmp_path, source_node):
    _node, passphrase = source_node
    # no discovery here: the window finds the source only by Session > Connect to Address
    s = Session(Node(loopback(tmp_path, "window", passphrase, discover=False)))
    s.start()
    try:
        yield s
    finally:
        s.stop()


def test_window_shows_the_bodies_and_the_peer_of_a_node_nearby(make_window, qtbot, source_node, session):
    node, _ = source_node
    window = make_window()
    window.attach_session(session)
    qtbot.waitUntil(lambda: window.controller.world is not None, timeout=120_000)
    assert not session.peers()
    # the window's node dials the source by address (Session menu)
    with qtbot.waitSignal(window.connectFinished, timeout=20_000) as finished:
        window.connect_to_address(f"127.0.0.1:{node.port}")
    assert finished.args == [f"127.0.0.1:{node.port}", ""]
    wanted = {local_name(f"ball-{i}", node.public_key) for i in range(3)}

    def remote_bodies() -> set[str]:
        world = window.controller.world
        return wanted & set(world.snapshot().names) if world is not None else set()

    qtbot.waitUntil(lambda: remote_bodies() == wanted, timeout=20_000)
    own = [n for n in window.controller.world.snapshot().names if "~" not in n]
    assert own, "the window's own scene is still there"
    assert window.peers_dock.isVisible()

    def peers_shown() -> bool:
        rows = window.peers_dock.model.rows()
        return any(r.authority == node.authority and r.state == "alive" and r.owned_bodies == 3 for r in rows)

    qtbot.waitUntil(peers_shown, timeout=10_000)
    assert window.peers_label.text() == "peers: 1"
    assert window.events_dock.model.rowCount() > 0  # the session's events are listed
    # the inspector names the remote owner
    name = sorted(wanted)[0]
    window.controller.interaction.selected = name
    window.inspector_dock.show()
    window._update_inspector()
    assert window.inspector_dock.owner.text() == node.authority
    assert window.inspector_dock.uri.text() == node.uri_for("ball-0") and not window.inspector_dock.editable


def test_session_menu_is_in_the_registry(make_window, dialogs):
    window = make_window(physics=False)
    titles = [a.text() for a in window.menu_by_title("S&ession").actions() if not a.isSeparator()]
    assert titles == ["&Connect to Address…", "&Join Session…", "&Leave Session", "&Hand-over Strategy",
                      "Show &Peers", "Show &Event Stream"]
    assert window.leave_session() is None  # offline: nothing to leave
    assert window.join_session(ask=False) is None  # no node factory in this window
    window.connect_to_address("nowhere")  # offline window: told, not crashed
    assert dialogs and dialogs[-1][1] == "Offline"
    window.show_peers()
    assert window.peers_dock.isVisible() and window.peers_label.text() == "offline"


def test_leave_then_join_again_with_a_passphrase(make_window, qtbot, tmp_path, source_node):
    node, passphrase = source_node
    made: list[Session] = []

    def make_session(secret):
        # discovery on loopback only; the source node is found by mDNS once the passphrases match
        s = Session(Node(loopback(tmp_path, f"window-{len(made)}", secret or "wrong")))
        s.start()
        made.append(s)
        return s

    window = make_window()
    window.make_session = make_session
    try:
        qtbot.waitUntil(lambda: window.controller.world is not None, timeout=120_000)
        with qtbot.waitSignal(window.sessionStarted, timeout=30_000):
            window.join_session("wrong", ask=False)
        first = made[0]
        assert window.session is first
        leaving = window.leave_session()
        assert window.session is None and window.peers_label.text() == "offline"
        leaving.join(15)
        with qtbot.waitSignal(window.sessionStarted, timeout=30_000):
            window.join_session(passphrase, ask=False)
        assert window.session is made[1]
        wanted = {local_name(f"ball-{i}", node.public_key) for i in range(3)}
        qtbot.waitUntil(lambda: wanted <= set(window.controller.world.snapshot().names), timeout=30_000)
    finally:
        for s in made:
            s.stop()
