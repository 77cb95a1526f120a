"""Diagnostics: one zip of this node's recent logs and metrics, for a bug report.

:func:`collect` runs on the node's loop (``GET /v1/diagnostics``); ``krapition diagnostics OUT.zip
--data-dir DIR`` asks a running node for it through its REST API (the token and port are read from
the data folder). The zip holds ``status.json``, ``peers.json``, ``heads.json``, ``metrics.prom``,
``samples.json`` (the recent one-second samples), ``alerts.json``, ``replication.json``,
``recent_events.json`` and the tail of every log file of the node (``logs/``).
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

#: bytes of each log file put into the zip (its newest part)
LOG_TAIL = 2 * 1024 * 1024
API_PORT_FILE = "api-port"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def collect(node: Any) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("status.json", _json(node.status()))
        zf.writestr("peers.json", _json([asdict(p) for p in node.peers()]))
        zf.writestr("heads.json", _json(node.replicator.head_table()))
        stats = node.replicator.stats
        zf.writestr("replication.json", _json({**asdict(stats), "rejected": dict(stats.rejected),
                                               "refused": dict(node.refused)}))
        zf.writestr("metrics.prom", node.monitor.prometheus_text())
        zf.writestr("samples.json", _json(node.monitor.recent()))
        zf.writestr("alerts.json", _json(node.monitor.recent_alerts()))
        zf.writestr("recent_events.json", _json([
            {"author": e.author.hex(), "seq": e.seq, "type": str(e.type), "uri": e.uri,
             "timestamp_ns": e.timestamp_ns} for e in list(node.recent_events)[-500:]]))
        log_dir = Path(node.data_dir) / "logs"
        if log_dir.is_dir():
            for path in sorted(log_dir.iterdir()):
                if path.is_file():
                    with path.open("rb") as f:
                        size = path.stat().st_size
                        f.seek(max(0, size - LOG_TAIL))
                        zf.writestr(f"logs/{path.name}", f.read())
        zf.writestr("collected.json", _json({"time": time.time(), "node_id": node.node_id}))
    return buffer.getvalue()


def fetch(data_dir: Path, out: Path, *, api_port: int | None = None, timeout: float = 30.0) -> Path:
    """Asks the node running on ``data_dir`` for its diagnostics zip and writes it to ``out``."""
    from .api import TOKEN_FILE

    data_dir = Path(data_dir)
    token = (data_dir / TOKEN_FILE).read_text(encoding="ascii").strip()
    if api_port is None:
        api_port = int((data_dir / API_PORT_FILE).read_text(encoding="ascii").strip())
    request = urllib.request.Request(f"http://127.0.0.1:{api_port}/v1/diagnostics",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = response.read()
    out.write_bytes(data)
    return out
