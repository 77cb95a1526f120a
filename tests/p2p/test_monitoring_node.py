"""Monitoring: samples, alert rules (peer dead, step over budget, underruns, rejected, disk) and the
diagnostics zip."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from p2p.node_helpers import memory_config, run, start_mesh, stop_all, wait_for

from krapition_app.p2p.diagnostics import collect
from krapition_app.p2p.memory import MemoryNetwork
from krapition_app.p2p.monitoring import AlertRules
from krapition_app.p2p.node import Node
from krapition_app.p2p.testing import ball


def test_alert_rules_raise_log_and_count(tmp_path: Path) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        alerts: list[object] = []
        node = Node(memory_config(net, tmp_path, "a", 0, alert_rules=AlertRules(step_budget_ms=5.0,
                                                                                 disk_free_min=2.0)))
        node.on_alert = alerts.append
        await node.start_async()
        try:
            monitor = node.monitor
            assert monitor is not None
            node.set_body(ball("ball-1"))
            first = monitor.sample()
            assert first.peers == 0 and first.memory_bytes > 0
            monitor.report_step(12.0)
            monitor.report_underruns(3)
            node.replicator.stats.rejected["BadSignatureError"] += 2  # type: ignore[union-attr]
            monitor.sample()
            rules = {a.rule for a in monitor.alerts}  # type: ignore[attr-defined]
            assert {"step_over_budget", "audio_underruns", "rejected_events", "disk_nearly_full"} <= rules
            assert len(alerts) == len(monitor.alerts)
            text = monitor.prometheus_text().decode()
            assert 'krapition_alerts_total{rule="step_over_budget"}' in text
            assert 'krapition_rejected_events{reason="BadSignatureError"} 2.0' in text
            monitor.peer_dead("x" * 32)
            assert monitor.alert_counts["peer_dead"] == 1
            # a peer's clock 3.5 s ahead: one alert, not one a second; again once it drifted back and off
            from types import SimpleNamespace

            for offset in (3500.0, 3600.0, 100.0, -2500.0):
                monitor._check_clocks([SimpleNamespace(node_id="p" * 32, name="pc", clock_offset_ms=offset)])
            assert monitor.alert_counts["peer_clock_skew"] == 2
            assert "2.5 s behind" in monitor.alerts[-1].message
        finally:
            await node.stop_async()

    run(main())


def test_diagnostics_zip_holds_logs_and_metrics(tmp_path: Path) -> None:
    async def main() -> None:
        _, nodes = await start_mesh(tmp_path, ["a", "b"])
        a = nodes[0]
        try:
            (a.data_dir / "logs").mkdir(exist_ok=True)
            (a.data_dir / "logs" / "krapition.log").write_text('{"message": "hello"}\n')
            a.set_body(ball("ball-1"))
            assert await wait_for(lambda: len(nodes[1].list_uris()) == 1, 2.0)
            a.monitor.sample()  # type: ignore[union-attr]
            zf = zipfile.ZipFile(io.BytesIO(collect(a)))
            names = set(zf.namelist())
            assert {"status.json", "peers.json", "heads.json", "metrics.prom", "samples.json", "alerts.json",
                    "replication.json", "recent_events.json", "logs/krapition.log"} <= names
            assert json.loads(zf.read("status.json"))["node_id"] == a.node_id
            assert len(json.loads(zf.read("peers.json"))) == 1
        finally:
            await stop_all(nodes)

    run(main())
