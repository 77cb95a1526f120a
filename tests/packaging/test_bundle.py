"""Smoke test of the built bundle ``dist/krapition/`` (``make package-test``; not part of ``make test``).

- The bundled executable starts under Xvfb (pytest-xvfb's display), renders the default scene to its
  ``--screenshot`` and exits 0 on its own; kernels are cached in the user cache folder.
- Next to it a headless node from the source tree (``python -m krapition_app node``) on 127.0.0.1: the
  bundle's own node and the window find it by discovery on 127.0.0.1 and get its bodies.
- Reported, not asserted: start to first frame with a warm numba cache, and the bundle's size.

Every process gets a timeout and is ended by its own pid; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "dist" / "krapition"
EXE = BUNDLE / "krapition"
LOOPBACK = "127.0.0.1"
#: the `krapition` command of the source tree
SOURCE_KRAPITION = [sys.executable, "-m", "krapition_app"]

pytestmark = [pytest.mark.package, pytest.mark.gui, pytest.mark.timeout(1200)]

sys.path.insert(0, str(REPO / "packaging"))
import check_bundle  # noqa: E402 - packaging/check_bundle.py
from images import hue_pixels, owner_tinted  # noqa: E402

#: numbers one test hands to a later one (the red pixels of the default scene alone)
_seen: dict[str, int] = {}


class Proc:
    """A subprocess whose output lines are read as they come, each with the time it arrived."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.args = args
        self.started = time.monotonic()
        self.popen = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()
        self._readers = [threading.Thread(target=self._read, args=(stream, name), daemon=True)
                         for stream, name in ((self.popen.stdout, "out"), (self.popen.stderr, "err"))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, name: str) -> None:
        for line in stream:
            with self._lock:
                self.lines.append((time.monotonic() - self.started, name, line.rstrip("\n")))

    def wait_for(self, text: str, timeout: float) -> tuple[float, str]:
        """(seconds since start, line) of the first output line holding ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for t, _name, line in self.lines:
                    if text in line:
                        return t, line
            if self.popen.poll() is not None:
                time.sleep(0.2)  # let the readers drain
                with self._lock:
                    found = [(t, line) for t, _n, line in self.lines if text in line]
                if found:
                    return found[0]
                raise AssertionError(f"{self.args[:3]} exited {self.popen.returncode} before {text!r}:\n"
                                     + self.tail())
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} from {self.args[:3]} within {timeout} s:\n" + self.tail())

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            for reader in self._readers:
                reader.join(timeout=5)

    def stop(self, timeout: float = 30) -> int | None:
        """Ends this process (SIGTERM, then SIGKILL): only the pid this object started."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return self.popen.returncode

    def tail(self, n: int = 40) -> str:
        with self._lock:
            return "\n".join(f"{t:7.2f} {name} {line[:400]}" for t, name, line in self.lines[-n:])


def clean_env(home: Path) -> dict[str, str]:
    """The user's environment for the bundle: no Python or numba settings of the test run leak in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "NUMBA_", "VIRTUAL_ENV", "PYTEST", "QT_QPA_PLATFORM"))}
    env["KRAPITION_HOME"] = str(home)
    return env


def image_array(path: Path) -> np.ndarray:
    from PySide6 import QtGui

    image = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    assert not image.isNull(), f"{path} is not an image"
    raw = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return raw[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)


def red_pixels(rgb: np.ndarray) -> int:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((r > 110) & (r > 2 * g) & (r > 2 * b)).sum())


@pytest.fixture(scope="module")
def bundle() -> Path:
    assert EXE.is_file(), f"{EXE} is missing: build it with `make package`"
    return EXE


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One KRAPITION_HOME for the module, so the second start finds a warm numba cache."""
    return tmp_path_factory.mktemp("bundle-home")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle runs outside the source tree, so nothing can come from it by accident."""
    return tmp_path_factory.mktemp("bundle-cwd")


def test_bundle_is_complete(bundle: Path, package_report) -> None:
    assert check_bundle.check(BUNDLE) == []
    package_report("bundle_size_mib", round(check_bundle.bundle_size(BUNDLE) / 2**20, 1))


def test_version_and_subcommands(bundle: Path, home: Path, workdir: Path) -> None:
    env = clean_env(home)
    version = subprocess.run([str(bundle), "--version"], capture_output=True, text=True, timeout=120,
                             env=env, cwd=workdir, check=False)
    assert version.returncode == 0, version.stderr[-2000:]
    assert version.stdout.strip() == f"krapition {metadata.version('krapition')}"
    for command in (["bench", "--help"], ["render-audio", "--help"]):
        result = subprocess.run([str(bundle), *command], capture_output=True, text=True, timeout=120,
                                env=env, cwd=workdir, check=False)
        assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"


def test_window_starts_renders_and_exits_on_its_own(bundle: Path, home: Path, workdir: Path,
                                                    package_report) -> None:
    assert os.environ.get("DISPLAY"), "pytest-xvfb provides a display"
    env = clean_env(home)
    # first start: the kernels compile (the window shows progress meanwhile); stopped once warm
    cold = Proc([str(bundle), "--offline", "--quit-after", "900"], env=env, cwd=workdir)
    try:
        t_shown_cold, _ = cold.wait_for('"app started"', timeout=300)
        t_warm_cold, _ = cold.wait_for('"physics warmed up"', timeout=900)
    finally:
        cold.stop()
    package_report("cold_start_to_window_s", round(t_shown_cold, 2))
    package_report("cold_start_to_physics_ready_s", round(t_warm_cold, 2))
    cached = list((home / "cache" / "numba").rglob("*.nbi"))
    assert cached, "numba's cache is not in the user cache folder"
    assert not list(BUNDLE.rglob("*.nbi")), "numba's cache was written into the bundle"

    # second start, warm cache: window, screenshot, and a clean exit by itself
    shot = workdir / "warm.png"
    warm = Proc([str(bundle), "--offline", "--screenshot", str(shot), "--quit-after", "6"], env=env,
                cwd=workdir)
    try:
        t_shown, _ = warm.wait_for('"app started"', timeout=120)
        t_ready, _ = warm.wait_for('"physics warmed up"', timeout=120)
        rc = warm.wait(timeout=120)
    finally:
        warm.stop()
    package_report("warm_start_to_first_frame_s", round(t_shown, 2))
    package_report("warm_start_to_physics_ready_s", round(t_ready, 2))
    assert rc == 0, warm.tail()
    assert any('"screenshot written"' in line for _t, _n, line in warm.lines), warm.tail()
    assert not [line for _t, name, line in warm.lines if name == "err" and "Traceback" in line], warm.tail()
    rgb = image_array(shot)
    assert rgb.shape[0] > 300 and rgb.shape[1] > 400
    assert rgb.std() > 10
    assert red_pixels(rgb) > 30  # the red rubber ball of the default scene
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    assert ((b > 110) & (b > 1.5 * r) & (b > 1.2 * g)).sum() > 200  # the blue pyramid
    _seen["baseline_red_pixels"] = red_pixels(rgb)
    _seen["baseline_rgb"] = rgb
    assert (home / "logs" / "krapition.log").is_file(), "no log in the user log folder"


def test_runs_without_stdout_and_stderr(bundle: Path, home: Path, workdir: Path) -> None:
    """Started from a desktop a windowed app may have no stdout/stderr: it still starts, logs to the
    user log folder, writes its screenshot and exits 0."""
    shot = workdir / "no-stdio.png"
    result = subprocess.run(["sh", "-c", 'exec "$0" "$@" >&- 2>&-', str(bundle), "--offline", "--screenshot",
                             str(shot), "--quit-after", "3"], env=clean_env(home), cwd=workdir, timeout=300,
                            check=False)
    assert result.returncode == 0
    assert image_array(shot).std() > 10
    log = (home / "logs" / "krapition.log").read_text(encoding="utf-8")
    assert str(shot) in log


def _cache_files(home: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (home / "cache" / "numba").rglob("*.nb[ic]")}


def test_moved_bundle_keeps_the_kernel_cache(bundle: Path, home: Path, workdir: Path, tmp_path: Path,
                                            package_report) -> None:
    """The same bundle at another path (a hard-linked copy: cheap) reuses the kernels compiled above."""
    before = _cache_files(home)
    if not before:
        pytest.skip("no warm cache: the window test did not run")
    moved = tmp_path / "elsewhere" / "krapition"
    try:
        shutil.copytree(BUNDLE, moved, symlinks=True, copy_function=os.link)
    except OSError:  # another file system: a real copy
        shutil.rmtree(moved, ignore_errors=True)
        shutil.copytree(BUNDLE, moved, symlinks=True)
    run = Proc([str(moved / "krapition"), "--offline", "--quit-after", "4"], env=clean_env(home), cwd=workdir)
    try:
        t_ready, _ = run.wait_for('"physics warmed up"', timeout=300)
        rc = run.wait(timeout=120)
    finally:
        run.stop()
    package_report("moved_bundle_start_to_physics_ready_s", round(t_ready, 2))
    assert rc == 0, run.tail()
    after = _cache_files(home)
    rewritten = sorted(p.name for p, mtime in before.items() if after.get(p) != mtime)
    assert not rewritten, f"kernels compiled again after the move: {rewritten[:10]}"


# ---- next to a headless node from the source tree -------------------------------------------------

def _source_node_available() -> str | None:
    try:
        result = subprocess.run([*SOURCE_KRAPITION, "node", "--help"], capture_output=True, text=True,
                                timeout=120, cwd=REPO, check=False)
    except subprocess.TimeoutExpired:
        return "`krapition node --help` did not answer in 120 s"
    if result.returncode != 0:
        return "the headless node (`krapition node`) is not in the source tree yet"
    return None


def _api(port: int, path: str, *, token: str | None = None, body: bytes | None = None,
         method: str = "GET") -> object:
    request = urllib.request.Request(f"http://{LOOPBACK}:{port}{path}", data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _poll(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            last = fn()
            if last:
                return last
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout} s (last answer: {last!r})")


def _start_node(args: list[str], name: str, data: Path, env: dict[str, str], cwd: Path) -> tuple[Proc, dict]:
    proc = Proc([*args, "node", "--name", name, "--interface", LOOPBACK, "--port", "0", "--api-port", "0",
                 "--data-dir", str(data)], env=env, cwd=cwd)
    _t, line = proc.wait_for('"event": "ready"', timeout=120)
    return proc, json.loads(line)


BODIES = [{"name": f"packaged-ball-{i:02d}", "shape": "sphere", "radius": 0.18, "material": "rubber",
           "position": [-0.6 + 0.4 * (i % 4), -0.2, 0.2 + 0.4 * (i // 4)]} for i in range(8)]


@pytest.fixture(scope="module")
def source_node(tmp_path_factory: pytest.TempPathFactory):
    """A headless node from the source tree on 127.0.0.1 that owns a few bright red balls."""
    reason = _source_node_available()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("source-node")
    env = dict(os.environ, KRAPITION_HOME=str(root / "home"))
    proc, ready = _start_node(SOURCE_KRAPITION, "source-node", root / "data", env, REPO)
    try:
        token = (root / "data" / "api-token").read_text(encoding="utf-8").strip()
        for body in BODIES:
            uri = f"krapition://{ready['authority']}/physics/objects/{body['name']}"
            _api(ready["api_port"], f"/v1/objects/{uri}", token=token, body=json.dumps(body).encode(),
                 method="PUT")
        yield ready
    finally:
        rc = proc.stop()
        assert rc == 0, f"the source node exited {rc}:\n{proc.tail()}"


def test_bundle_node_and_source_node_discover_each_other(bundle: Path, source_node: dict, workdir: Path,
                                                          tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home")
    proc, ready = _start_node([str(bundle)], "bundle-node", tmp_path / "data", env, workdir)
    try:
        def names(port: int) -> set[str]:
            return {p["name"] for p in _api(port, "/v1/peers")}  # type: ignore[union-attr]

        _poll(lambda: "source-node" in names(ready["api_port"]), 60, "the bundle's node found no source-node")
        _poll(lambda: "bundle-node" in names(source_node["api_port"]), 60,
              "the source node found no bundle-node")
        wanted = {f"krapition://{source_node['authority']}/physics/objects/{b['name']}" for b in BODIES}

        def replicated() -> bool:
            listed = _api(ready["api_port"], "/v1/objects")
            return wanted <= set(listed["uris"])  # type: ignore[index]

        _poll(replicated, 60, "the source node's bodies did not reach the bundle's node")
    finally:
        rc = proc.stop()
    assert rc == 0, f"the bundle's node exited {rc} on SIGTERM:\n{proc.tail()}"


def test_bundle_window_shows_the_node_bodies(bundle: Path, source_node: dict, home: Path,
                                             workdir: Path, package_report) -> None:
    help_text = subprocess.run([str(bundle), "--help"], capture_output=True, text=True, timeout=120,
                               env=clean_env(home), cwd=workdir, check=False).stdout
    if "--interface" not in help_text:
        pytest.skip("the app window does not join a LAN session yet (no --interface option; issue 9)")
    shot = workdir / "joined.png"
    window = Proc([str(bundle), "--interface", LOOPBACK, "--screenshot", str(shot), "--quit-after", "12"],
                  env=clean_env(home), cwd=workdir)
    try:
        rc = window.wait(timeout=300)
    finally:
        window.stop()
    assert rc == 0, window.tail()
    rgb = image_array(shot)
    # the node's balls are rubber, drawn tinted towards the owning node's colour
    colour = owner_tinted("rubber", bytes.fromhex(source_node["public_key"]))
    alone = _seen.get("baseline_rgb")
    baseline = hue_pixels(alone, colour) if alone is not None else 0
    joined = hue_pixels(rgb, colour)
    package_report("node_colour_pixels_alone_vs_joined", [baseline, joined])
    assert joined > baseline + 200, "the node's balls are not in the window"
