"""Two app windows on loopback (each its own process, discovery on 127.0.0.1) find each other by
themselves, and each window shows the other's bodies, drawn in the other node's colour."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from app_processes import app_env
from images import hue_of, hue_pixels, owner_tinted, rgb_array
from PySide6 import QtGui

from krapition_app.p2p.identity import KEY_FILE_NAME, Identity
from krapition_app.store.database import DB_FILE_NAME, Store

pytestmark = [pytest.mark.gui, pytest.mark.timeout(300)]
LOOPBACK = "127.0.0.1"
#: grey: our own untinted bodies have too little colour to count as anyone's hue
MATERIAL = "metal"


#: hues the window draws by itself: the ground grid's bluish grey (viewport.py), thousands of pixels
SCENE_HUES = (hue_of((120 / 255, 125 / 255, 140 / 255)),)


def _identity(taken: list[float]) -> Identity:
    """A key whose node colour is saturated and far in hue from the keys already taken and from the
    scene's own colours, so the pixel count below cannot mistake one node's bodies for the other's,
    or the grid for either."""
    for _ in range(10_000):
        identity = Identity.generate()
        colour = owner_tinted(MATERIAL, identity.public_key)
        hue = hue_of(colour)
        if max(colour) - min(colour) > 0.2 and all(abs((hue - h + 180.0) % 360.0 - 180.0) > 60.0
                                                    for h in taken) and all(
                abs((hue - h + 180.0) % 360.0 - 180.0) > 40.0 for h in SCENE_HUES):
            taken.append(hue)
            return identity
    raise AssertionError("no node colour far enough from the others")


def _home(root: Path, identity: Identity) -> Path:
    """An installation that has run before with this key (a key without its store would make the
    node restore its chain from peers first)."""
    data = root / "data" / "node"
    data.mkdir(parents=True)
    fd = os.open(data / KEY_FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(identity.signing_key))
    Store.open(data / DB_FILE_NAME).close()
    return root


def _scene(path: Path, name: str, xs: list[float]) -> Path:
    bodies = [{"name": f"{name}-{i}", "shape": "sphere", "radius": 0.15, "material": MATERIAL,
               "position": [x, 0.6, 0.15]} for i, x in enumerate(xs)]
    path.write_text(json.dumps({"name": name, "bodies": bodies}), encoding="utf-8")
    return path


def test_two_windows_show_each_others_bodies(tmp_path: Path) -> None:
    assert os.environ.get("DISPLAY"), "pytest-xvfb provides a display"
    secret = tmp_path / "passphrase"
    secret.write_text(secrets.token_hex(8))  # only these two answer each other on loopback
    hues: list[float] = []
    apps = {
        "left": (_identity(hues), [-1.1, -0.75, -0.4]),
        "right": (_identity(hues), [0.4, 0.75, 1.1]),
    }
    procs: dict[str, subprocess.Popen[str]] = {}
    logs: dict[str, list[str]] = {}
    try:
        for name, (identity, xs) in apps.items():
            home = _home(tmp_path / f"{name}-home", identity)
            scene = _scene(tmp_path / f"{name}.json", name, xs)
            proc = subprocess.Popen(
                [sys.executable, "-m", "krapition_app", "--scene", str(scene), "--interface", LOOPBACK,
                 "--passphrase-file", str(secret), "--screenshot", str(tmp_path / f"{name}.png"),
                 "--quit-after", "30"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=app_env(home))
            procs[name] = proc
            logs[name] = []
            threading.Thread(target=lambda p=proc, out=logs[name]: out.extend(p.stderr), daemon=True).start()
        for name, proc in procs.items():
            assert proc.wait(timeout=240) == 0, "".join(logs[name][-40:])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
    for name, other in (("left", "right"), ("right", "left")):
        lines = logs[name]
        assert not [line for line in lines if "Traceback" in line], "".join(lines[-40:])
        worlds = [json.loads(line) for line in lines if '"session world"' in line]
        assert any(w["remote_bodies"] == 3 for w in worlds), "".join(lines[-40:])
        rgb = rgb_array(QtGui.QImage(str(tmp_path / f"{name}.png")))
        # lit metal keeps little colour: a low chroma floor (our own grey balls stay below it)
        theirs = hue_pixels(rgb, owner_tinted(MATERIAL, apps[other][0].public_key), min_chroma=0.06)
        mine = hue_pixels(rgb, owner_tinted(MATERIAL, apps[name][0].public_key), min_chroma=0.06)
        # the other's three balls are on screen in its colour; nobody tints our own bodies
        assert theirs > 300, f"{name} does not show {other}'s bodies ({theirs} pixels)"
        assert mine < theirs / 10, f"{name} tints its own bodies ({mine} vs {theirs} pixels)"
