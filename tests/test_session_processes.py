"""Three headless nodes that simulate the shared world (`krapition node --world`), each its own
process on real loopback sockets, finding each other by discovery on 127.0.0.1: each spawns bodies,
all converge; a drag sent to node B's API moves node A's body on all three; node C killed with
SIGKILL leaves its bodies stale on A and B, which go on; C restarted catches up and takes them back."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from krapition_app.paths import AppPaths

pytestmark = pytest.mark.timeout(300)
LOOPBACK = "127.0.0.1"
PLACES = {"a": (-1.0, 0.0), "b": (0.0, -1.0), "c": (1.0, 1.0)}


def _scene(path: Path, name: str) -> Path:
    x, y = PLACES[name]
    bodies = [{"name": f"{name}-box-{i}", "shape": "box", "half_extents": [0.1, 0.1, 0.1], "material": "wood",
               "position": [x + 0.4 * i, y, 0.1]} for i in range(2)]
    path.write_text(json.dumps({"name": name, "bodies": bodies}), encoding="utf-8")
    return path


class NodeProcess:
    def __init__(self, tmp: Path, name: str, secret: Path) -> None:
        self.name = name
        self.data = tmp / name
        self.args = [sys.executable, "-m", "krapition_app", "node", "--world", "--name", name,
                     "--scene", str(_scene(tmp / f"{name}.json", name)), "--interface", LOOPBACK,
                     "--api-port", "0", "--data-dir", str(self.data), "--passphrase-file", str(secret)]
        self.env = dict(os.environ, NUMBA_CACHE_DIR=os.environ.get(
            "NUMBA_CACHE_DIR", str(AppPaths.default().cache / "numba")))
        self.proc: subprocess.Popen[str] | None = None
        self.ready: dict = {}

    def start(self) -> NodeProcess:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=self.env)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        assert line, f"node {self.name} exited before it was ready"
        self.ready = json.loads(line)
        assert self.ready["event"] == "ready" and self.ready["world"], self.ready
        return self

    @property
    def token(self) -> str:
        return (self.data / "api-token").read_text(encoding="utf-8").strip()

    def uri(self, body: str) -> str:
        return f"krapition://{self.ready['authority']}/physics/objects/{body}"

    def get(self, path: str) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{self.ready['api_port']}{path}", timeout=5) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def object(self, uri: str) -> dict | None:
        return self.get("/v1/objects/" + quote(uri, safe=""))

    def post_action(self, action: dict) -> int:
        request = urllib.request.Request(f"http://{LOOPBACK}:{self.ready['api_port']}/v1/actions",
                                         data=json.dumps(action).encode(), method="POST")
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def wait_for(predicate: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def _all_uris(nodes: list[NodeProcess]) -> set[str]:
    return {n.uri(f"{n.name}-box-{i}") for n in nodes for i in range(2)}


def _knows_all(node: NodeProcess, uris: set[str]) -> bool:
    listed = node.get("/v1/objects?pattern=" + quote("krapition://*/physics/objects/*"))
    return listed is not None and uris <= set(listed["uris"])


def _position(node: NodeProcess, uri: str) -> list[float] | None:
    found = node.object(uri)
    return None if found is None or found["body"] is None else found["body"]["position"]


def test_three_world_nodes_share_drag_lose_and_regain_a_node(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text(secrets.token_hex(8))  # only these three answer each other on loopback
    nodes = [NodeProcess(tmp_path, name, secret) for name in "abc"]
    a, b, c = nodes
    try:
        for node in nodes:
            node.start()
        uris = _all_uris(nodes)
        assert wait_for(lambda: all(_knows_all(n, uris) for n in nodes), 60), "the worlds did not converge"
        # a drag sent to B's API, of A's box: A (the owner) applies it; its motion reaches everyone
        box = a.uri("a-box-0")
        start = _position(a, box)
        assert start is not None
        assert b.post_action({"action": "grab", "target": box, "point": start}) == 202
        target = [start[0] + 0.8, start[1] + 1.5, 0.5]
        for _ in range(15):  # held for 3 s, at the input rate a user would not beat
            b.post_action({"action": "drag", "target": box, "point": target})
            time.sleep(0.2)
        b.post_action({"action": "release", "target": box})

        def moved_everywhere() -> bool:
            places = [_position(n, box) for n in nodes]
            return all(p is not None and abs(p[0] - target[0]) < 0.35 and abs(p[1] - target[1]) < 0.35
                       for p in places)
        assert wait_for(moved_everywhere, 30), [_position(n, box) for n in nodes]
        # C dies without a word: A and B keep going and mark C's bodies stale
        c.stop(signal.SIGKILL)
        c_box = c.uri("c-box-0")
        assert wait_for(lambda: all((n.object(c_box) or {}).get("stale") for n in (a, b)), 40)
        assert a.get("/health") is not None and b.get("/health") is not None
        # C comes back (same data folder, same port): it catches up and its bodies are live again
        c.start()
        assert wait_for(lambda: _knows_all(c, uris), 40), "C did not catch up"
        assert wait_for(lambda: not any((n.object(c_box) or {}).get("stale", True) for n in (a, b)), 40)
        assert _position(c, box) is not None and abs(_position(c, box)[0] - target[0]) < 0.35  # type: ignore[index]
    finally:
        for node in nodes:
            node.stop()
