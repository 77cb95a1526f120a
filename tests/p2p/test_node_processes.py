"""Three ``krapition node`` processes on 127.0.0.1: replication, routing through the REST API,
SIGKILL and restart, restore from peers after losing the data folder, clean SIGTERM."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

from p2p.node_procs import NodeProcess, ball, free_port, poll


def test_three_node_processes(tmp_path: Path) -> None:
    pa, pb, pc = free_port(), free_port(), free_port()
    a = NodeProcess("a", tmp_path / "a", pa)
    b = NodeProcess("b", tmp_path / "b", pb, [pa])
    c = NodeProcess("c", tmp_path / "c", pc, [pa, pb])
    nodes = [a, b, c]
    try:
        assert poll(lambda: all(n.request("GET", "/v1/status")[1]["peers"] == 2 for n in nodes), 10.0)
        # objects created on each appear on all within 2 s
        for n in nodes:
            assert n.put(n.uri(f"ball-{n.name}"), ball(f"ball-{n.name}")) == 200
        t0 = time.monotonic()
        assert poll(lambda: all(len(n.uris()) == 3 for n in nodes), 2.0)
        assert time.monotonic() - t0 < 2.0
        # a PUT on B of A's URI changes it on A, then everywhere
        uri = a.uri("ball-a")
        assert b.put(uri, ball("ball-a", x=7.0)) == 202
        assert a.get(uri)[1]["body"]["position"][0] == 7.0
        assert poll(lambda: all(n.get(uri)[1]["body"]["position"][0] == 7.0 for n in nodes), 2.0)

        # SIGKILL B while A writes; restart it: it converges, nothing lost, no reused sequence
        stop = threading.Event()
        written: list[str] = []

        def writer() -> None:
            i = 0
            while not stop.is_set() and i < 400:
                name = f"w-{i}"
                if a.put(a.uri(name), ball(name)) == 200:
                    written.append(name)
                i += 1

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.3)
        b_heads_before = b.heads()
        b.kill()
        time.sleep(0.3)
        b.start()
        time.sleep(0.3)
        stop.set()
        thread.join(30)
        assert written
        assert poll(lambda: a.heads() == b.heads() == c.heads(), 10.0), (a.heads(), b.heads())
        b_author = b.info["public_key"]
        assert b.heads()[b_author] > b_heads_before[b_author]  # continued its chain after the kill
        for n in nodes:
            assert not n.rejected(), n.rejected()  # nobody saw a reused sequence or a bad event
        assert set(a.uri(w) for w in written) <= set(b.uris())

        # restore: C loses its data folder except its key; it rebuilds its objects from peers
        assert c.put(c.uri("ball-c2"), ball("ball-c2")) == 200
        assert poll(lambda: a.heads() == c.heads(), 5.0)
        owned_before = c.request("GET", "/v1/status")[1]["owned_objects"]
        assert c.terminate() == 0
        key = (c.data_dir / "identity.key").read_bytes()
        shutil.rmtree(c.data_dir)
        c.data_dir.mkdir()
        (c.data_dir / "identity.key").write_bytes(key)
        (c.data_dir / "identity.key").chmod(0o600)
        c.start()
        assert c.request("GET", "/v1/status")[1]["owned_objects"] == owned_before
        assert c.get(c.uri("ball-c2"))[0] == 200
        assert c.put(c.uri("ball-c3"), ball("ball-c3")) == 200
        assert poll(lambda: a.heads() == b.heads() == c.heads(), 5.0)
        for n in nodes:
            assert not n.rejected(), n.rejected()
        # diagnostics of a running node, through its API
        out = tmp_path / "diag.zip"
        done = subprocess.run([sys.executable, "-m", "krapition_app", "diagnostics", str(out), "--data-dir",
                               str(a.data_dir)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "metrics.prom" in zipfile.ZipFile(out).namelist()
        # --all-peers: each peer's own bundle, asked for over the protocol, under peers/<name>/
        out = tmp_path / "diag-all.zip"
        done = subprocess.run([sys.executable, "-m", "krapition_app", "diagnostics", str(out), "--data-dir",
                               str(a.data_dir), "--all-peers"], capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["missing"] == [] and json.loads(done.stdout)["peers"] == 2
        names = set(zipfile.ZipFile(out).namelist())
        assert {"metrics.prom", "manifest.json", "peers/b/status.json", "peers/c/metrics.prom"} <= names
        status_b = json.loads(zipfile.ZipFile(out).read("peers/b/status.json"))
        assert status_b["node_id"] == b.info["node_id"]
    finally:
        codes = [n.terminate() for n in nodes]
        for n in nodes:
            n.kill()
    assert codes == [0, 0, 0]
