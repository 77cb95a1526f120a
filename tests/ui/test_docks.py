"""Docks fed by fake sources, as the app's node and world will feed them."""

from dataclasses import dataclass

import pytest

from krapition_app.model import events as ev
from krapition_app.model.events import EventType
from krapition_app.ui.events_dock import ALL_TYPES, EventsDock
from krapition_app.ui.metrics_dock import MetricsDock
from krapition_app.ui.peers_dock import PeerRow, PeersDock

pytestmark = pytest.mark.gui
URI = "krapition://alice.local:8080/physics/objects/ball-{}"


@dataclass
class FakeEvent:
    author: bytes
    seq: int
    timestamp_ns: int
    uri: str
    payload: object

    @property
    def type(self) -> EventType:
        return self.payload.event_type


def fake_events(n: int, start: int = 0) -> list[FakeEvent]:
    out = []
    for i in range(start, start + n):
        payload = ev.ObjectDeleted(reason=f"gone {i}") if i % 3 == 0 else ev.SystemStop(reason=f"stop {i}")
        out.append(FakeEvent(b"\xab" * 32, i, 1_700_000_000_000_000_000 + i, URI.format(i), payload))
    return out


def test_event_stream_lists_filters_and_searches(qtbot):
    dock = EventsDock()
    qtbot.addWidget(dock)
    dock.append(fake_events(30))
    assert dock.model.rowCount() == 30
    first = [dock.model.index(0, c).data() for c in range(6)]
    assert first[1] == "ObjectDeleted" and first[2] == 0 and first[3] == "ab" * 6
    assert first[4] == URI.format(0) and "gone 0" in first[5]
    dock.type_box.setCurrentText("ObjectDeleted")
    assert dock.proxy.rowCount() == 10
    dock.search.setText("GONE 1")  # case-insensitive, any column: 12, 15, 18
    assert dock.proxy.rowCount() == 3
    assert dock.count_label.text() == "3 / 30"
    dock.type_box.setCurrentText(ALL_TYPES)
    dock.search.setText("")
    assert dock.proxy.rowCount() == 30
    assert {dock.type_box.itemText(i) for i in range(1, dock.type_box.count())} == {
        t.value for t in EventType
    }


def test_event_stream_is_bounded_like_the_chain(qtbot):
    dock = EventsDock()
    qtbot.addWidget(dock)
    dock.model._rows = type(dock.model._rows)(maxlen=50)
    dock.append(fake_events(40))
    dock.append(fake_events(25, start=40))
    assert dock.model.rowCount() == 50
    assert dock.model.index(0, 2).data() == 15  # the oldest fifteen scrolled away
    assert dock.model.index(49, 2).data() == 64


def test_metrics_plot_only_what_was_measured(qtbot):
    dock = MetricsDock()
    qtbot.addWidget(dock)
    dock.show()
    for t in range(5):
        dock.record(float(t), {"frame_ms": 10.0 + t, "cpu_percent": 50.0})
    assert set(dock.plots) == {"frame_ms", "cpu_percent"}
    _, y = dock.curves["frame_ms"].getData()
    assert list(y) == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert "14" in dock.plots["frame_ms"].titleLabel.text
    dock.record(5.0, {"rtt_ms": 1.5})  # a source that starts later gets its plot then
    assert "rtt_ms" in dock.plots
    _, y = dock.curves["frame_ms"].getData()
    assert len(y) == 6 and y[-1] != y[-1]  # a gap (NaN), not a made-up value


def test_peers_dock_shows_the_session(qtbot):
    dock = PeersDock()
    qtbot.addWidget(dock)
    assert "alone" in dock.summary.text()
    dock.set_peers(
        [
            PeerRow("me", "a.local:8080", "ab:cd", "self", None, 12, "#80b0ff"),
            PeerRow("bob", "b.local:8080", "12:34", "alive", 1.5, 7, "#f08040"),
            PeerRow("carol", "c.local:8080", "56:78", "dead", None, 3, "#40f080"),
        ]
    )
    assert dock.summary.text() == "2 peer(s), 1 alive"
    assert dock.model.index(1, 5).data() == "1.5 ms"
    assert dock.model.index(2, 4).data() == "dead"
    assert dock.model.index(1, 6).data() == 7


def test_dock_layout_survives_a_restart(make_window):
    first = make_window()
    assert not first.metrics_dock.isVisible()  # hidden until asked for
    toggle = first.metrics_dock.toggleViewAction()
    assert toggle in first.menu_by_title("&View").actions()
    toggle.trigger()
    assert first.metrics_dock.isVisible()
    first.close()
    second = make_window()
    assert second.metrics_dock.isVisible()
