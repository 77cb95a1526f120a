"""`krapition --interface 127.0.0.1`: the real app in its own process finds a headless node on loopback
by itself (zeroconf on 127.0.0.1) and its world holds the node's bodies."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from app_processes import app_env

pytestmark = [pytest.mark.gui, pytest.mark.timeout(240)]
LOOPBACK = "127.0.0.1"
BODIES = [{"name": f"far-ball-{i}", "shape": "sphere", "radius": 0.15, "material": "rubber",
           "position": [-0.5 + 0.5 * i, 1.2, 0.15]} for i in range(3)]


def _put(port: int, token: str, uri: str, body: dict) -> None:
    request = urllib.request.Request(f"http://{LOOPBACK}:{port}/v1/objects/{uri}", method="PUT",
                                     data=json.dumps(body).encode())
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def test_app_shows_the_bodies_of_a_headless_node(tmp_path: Path) -> None:
    assert os.environ.get("DISPLAY"), "pytest-xvfb provides a display"
    secret = tmp_path / "passphrase"
    secret.write_text(secrets.token_hex(8))  # only these two answer each other on loopback
    data = tmp_path / "node"
    node = subprocess.Popen(
        [sys.executable, "-m", "krapition_app", "node", "--name", "far-node", "--interface", LOOPBACK,
         "--port", "0", "--api-port", "0", "--data-dir", str(data), "--passphrase-file", str(secret)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=app_env(tmp_path / "node-home"))
    app = None
    try:
        ready = json.loads(node.stdout.readline())  # type: ignore[union-attr]
        assert ready["event"] == "ready"
        token = (data / "api-token").read_text(encoding="utf-8").strip()
        for body in BODIES:
            uri = f"krapition://{ready['authority']}/physics/objects/{body['name']}"
            _put(ready["api_port"], token, uri, body)

        app = subprocess.Popen(
            [sys.executable, "-m", "krapition_app", "--interface", LOOPBACK, "--passphrase-file", str(secret),
             "--quit-after", "25"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=app_env(tmp_path / "app-home"))
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(app.stderr), daemon=True)  # type: ignore[union-attr, arg-type]
        reader.start()
        rc = app.wait(timeout=180)
        reader.join(10)
        worlds = [json.loads(line) for line in lines if '"session world"' in line]
        assert rc == 0, "".join(lines[-40:])
        assert any(w["remote_bodies"] == len(BODIES) for w in worlds), "".join(lines[-40:])
        assert not [line for line in lines if "Traceback" in line], "".join(lines[-40:])
    finally:
        for proc in (app, node):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
