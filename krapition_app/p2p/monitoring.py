"""The seed's MonitoringSystem: metrics sampled every second, alert rules, Prometheus text.

:class:`Monitor` keeps its own prometheus-client registry (one per node, so many nodes share a
process in tests). :meth:`Monitor.sample` runs every second on the node's loop: it reads the
counters of the node (events, peers, RTT, bytes, rejected events by reason), the step time and audio
underruns the app reports, CPU and memory (psutil) and the free disk of the data folder, keeps the
recent samples, and checks the alert rules. An alert is logged, counted in ``/metrics`` and handed
to the node's ``on_alert`` callback (the UI shows it).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class AlertRules:
    step_budget_ms: float = 1000.0 / 60.0
    #: new audio underruns within one sample that raise an alert
    underruns_per_s: int = 1
    #: new rejected events within one sample that raise an alert
    rejected_per_s: int = 1
    #: free fraction of the data folder's disk under which an alert is raised
    disk_free_min: float = 0.05
    #: a peer whose wall clock is further than this ahead or behind ours (s) raises an alert once: its
    #: events are refused beyond 5 s ahead, and timestamps (hand-overs) are read through the offset
    clock_skew_s: float = 2.0


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    message: str
    time: float
    value: float = 0.0


@dataclass
class Sample:
    time: float
    events_per_s: float
    peers: int
    rtt_ms_median: float | None
    bytes_in: int
    bytes_out: int
    rejected: int
    step_ms: float
    cpu_percent: float
    memory_bytes: int
    disk_free_fraction: float
    extra: dict[str, Any] = field(default_factory=dict)


class Monitor:
    def __init__(self, node, rules: AlertRules | None = None, *, history: int = 600) -> None:  # type: ignore[no-untyped-def]
        self.node = node
        self.rules = rules or AlertRules()
        self.samples: deque[Sample] = deque(maxlen=history)
        self.alerts: deque[Alert] = deque(maxlen=200)
        self.alert_counts: dict[str, int] = {}
        self.step_ms = 0.0
        self.audio_underruns = 0
        self._last_events = 0
        self._last_rejected = 0
        self._last_underruns = 0
        self._last_time = time.monotonic()
        self._process = psutil.Process()
        self._process.cpu_percent(None)
        self._dead_seen: set[str] = set()
        self._skewed: set[str] = set()
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.g_events_per_s = Gauge("krapition_events_per_second", "events stored per second", registry=r)
        self.c_events = Counter("krapition_events", "events stored (own and peers')", registry=r)
        self.g_peers = Gauge("krapition_peers", "connected peers", registry=r)
        self.g_rtt = Gauge("krapition_peer_rtt_seconds", "median heartbeat round-trip time", ["peer"],
                           registry=r)
        self.g_clock = Gauge("krapition_peer_clock_offset_seconds",
                             "how far the peer's wall clock is ahead of ours", ["peer"], registry=r)
        self.g_bytes_in = Gauge("krapition_event_bytes_in", "event bytes received", registry=r)
        self.g_bytes_out = Gauge("krapition_event_bytes_out", "event bytes sent", registry=r)
        self.g_rejected = Gauge("krapition_rejected_events", "received events rejected, by reason",
                                ["reason"], registry=r)
        self.g_step = Gauge("krapition_step_seconds", "last simulation step time", registry=r)
        self.g_cpu = Gauge("krapition_cpu_percent", "CPU use of this process", registry=r)
        self.g_mem = Gauge("krapition_memory_bytes", "resident memory of this process", registry=r)
        self.g_disk = Gauge("krapition_disk_free_ratio", "free fraction of the data folder's disk",
                            registry=r)
        self.g_chain = Gauge("krapition_chain_next_seq", "next sequence number of our chain", registry=r)
        self.c_alerts = Counter("krapition_alerts", "alerts raised, by rule", ["rule"], registry=r)
        self.g_underruns = Gauge("krapition_audio_underruns", "audio underruns reported by the app",
                                 registry=r)

    # ---- inputs from the app ------------------------------------------------------------------

    def report_step(self, ms: float) -> None:
        self.step_ms = float(ms)

    def report_underruns(self, total: int) -> None:
        self.audio_underruns = int(total)

    def peer_dead(self, node_id: str, name: str = "") -> None:
        self.raise_alert("peer_dead", f"peer {name or node_id[:12]} stopped answering", 1.0)

    # ---- sampling -----------------------------------------------------------------------------

    def sample(self) -> Sample:
        node = self.node
        now = time.monotonic()
        dt = max(1e-3, now - self._last_time)
        self._last_time = now
        stats = node.replicator.stats if node.replicator is not None else None
        events_total = node.events_stored
        events_per_s = (events_total - self._last_events) / dt
        self.c_events.inc(max(0, events_total - self._last_events))
        self._last_events = events_total
        rejected = dict(stats.rejected) if stats else {}
        if stats:  # a forged snapshot is a rejected (unsigned) claim about a signed chain
            rejected.update({f"snapshot-{code}": n for code, n in stats.snapshots_rejected.items()})
        rejected_total = sum(rejected.values()) + sum(node.refused.values())
        peers = node.transport.snapshot() if node.transport is not None else ()
        rtts = [p.rtt_ms_median for p in peers if p.rtt_ms_median is not None]
        rtt_median = sorted(rtts)[len(rtts) // 2] if rtts else None
        try:
            usage = shutil.disk_usage(node.data_dir)
            disk_free = usage.free / usage.total if usage.total else 1.0
        except OSError:
            disk_free = 1.0
        try:
            cpu = self._process.cpu_percent(None)
            mem = self._process.memory_info().rss
        except psutil.Error:
            cpu, mem = 0.0, 0
        sample = Sample(time=time.time(), events_per_s=round(events_per_s, 3), peers=len(peers),
                        rtt_ms_median=rtt_median, bytes_in=stats.bytes_in if stats else 0,
                        bytes_out=stats.bytes_out if stats else 0, rejected=rejected_total,
                        step_ms=self.step_ms, cpu_percent=cpu, memory_bytes=mem,
                        disk_free_fraction=round(disk_free, 4))
        self.samples.append(sample)
        self.g_events_per_s.set(events_per_s)
        self.g_peers.set(len(peers))
        self.g_rtt.clear()
        self.g_clock.clear()
        for p in peers:
            if p.rtt_ms_median is not None:
                self.g_rtt.labels(peer=p.node_id).set(p.rtt_ms_median / 1000.0)
            if p.clock_offset_ms is not None:
                self.g_clock.labels(peer=p.node_id).set(p.clock_offset_ms / 1000.0)
        self.g_bytes_in.set(sample.bytes_in)
        self.g_bytes_out.set(sample.bytes_out)
        for reason, count in {**rejected, **{f"refused-{k}": v for k, v in node.refused.items()}}.items():
            self.g_rejected.labels(reason=reason).set(count)
        self.g_step.set(self.step_ms / 1000.0)
        self.g_cpu.set(cpu)
        self.g_mem.set(mem)
        self.g_disk.set(disk_free)
        self.g_underruns.set(self.audio_underruns)
        if node.ledger is not None:
            self.g_chain.set(node.ledger.next_seq)
        self._check(sample, rejected_total)
        self._check_clocks(peers)
        return sample

    def _check_clocks(self, peers: Any) -> None:
        """One alert per peer when its clock drifts past the rule (again only after it came back)."""
        limit_ms = self.rules.clock_skew_s * 1000.0
        for p in peers:
            offset = p.clock_offset_ms
            if offset is None:
                continue
            if abs(offset) <= limit_ms:
                self._skewed.discard(p.node_id)
            elif p.node_id not in self._skewed:
                self._skewed.add(p.node_id)
                way = "ahead of" if offset > 0 else "behind"
                self.raise_alert("peer_clock_skew", f"the clock of peer {p.name or p.node_id[:12]} is "
                                 f"{abs(offset) / 1000.0:.1f} s {way} ours", offset / 1000.0)

    def _check(self, sample: Sample, rejected_total: int) -> None:
        rules = self.rules
        if self.step_ms > rules.step_budget_ms:
            self.raise_alert("step_over_budget", f"simulation step took {self.step_ms:.1f} ms "
                             f"(budget {rules.step_budget_ms:.1f} ms)", self.step_ms)
        new_underruns = self.audio_underruns - self._last_underruns
        self._last_underruns = self.audio_underruns
        if new_underruns >= rules.underruns_per_s:
            self.raise_alert("audio_underruns", f"{new_underruns} audio underruns", new_underruns)
        new_rejected = rejected_total - self._last_rejected
        self._last_rejected = rejected_total
        if new_rejected >= rules.rejected_per_s:
            self.raise_alert("rejected_events", f"{new_rejected} events rejected", new_rejected)
        if sample.disk_free_fraction < rules.disk_free_min:
            self.raise_alert("disk_nearly_full", f"only {sample.disk_free_fraction:.1%} of the disk is free",
                             sample.disk_free_fraction)

    def raise_alert(self, rule: str, message: str, value: float = 0.0) -> Alert:
        alert = Alert(rule, message, time.time(), float(value))
        self.alerts.append(alert)
        self.alert_counts[rule] = self.alert_counts.get(rule, 0) + 1
        self.c_alerts.labels(rule=rule).inc()
        log.warning("alert %s: %s", rule, message, extra={"alert": rule})
        callback = getattr(self.node, "on_alert", None)
        if callback is not None:
            try:
                callback(alert)
            except Exception:
                log.exception("on_alert failed")
        return alert

    # ---- outputs ------------------------------------------------------------------------------

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)

    def recent(self, n: int = 300) -> list[dict[str, Any]]:
        return [asdict(s) for s in list(self.samples)[-n:]]

    def recent_alerts(self) -> list[dict[str, Any]]:
        return [asdict(a) for a in self.alerts]
