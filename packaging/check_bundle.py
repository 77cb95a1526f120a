"""Checks a built Krapition bundle (``dist/krapition/``) and prints its size; exits 1 on anything missing.

Run by ``packaging/pyinstaller.spec`` right after it collects the bundle (so a plain ``pyinstaller``
run fails loudly too) and again by ``make package``::

    python packaging/check_bundle.py [dist/krapition] [--run]

``--run`` also starts the bundled executable (``--version``, ``--help``) to prove it imports.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE = ROOT / "dist" / "krapition"
BUILD_ID_FILE = "krapition-build-id"

#: files (relative to the bundle's contents folder) that must be there; each is a glob
REQUIRED = {
    "assets/default-scene.json": "the default scene (krapition_app.paths.asset)",
    "assets/krapition.png": "the app icon",
    BUILD_ID_FILE: "the build id (the numba cache stamp)",
    "krapition-*.dist-info/METADATA": "krapition's metadata (the version shown in the app)",
    "krapition_app/p2p/openapi.json": "the REST API's OpenAPI document",
    "libpython3*.so*": "the Python runtime",
    "llvmlite/binding/libllvmlite.so": "llvmlite's LLVM (numba's compiler)",
    "numba/_dispatcher*.so": "numba's dispatcher extension",
    "numba/core/runtime/_nrt_python*.so": "numba's runtime",
    "numpy/_core/_multiarray_umath*.so": "numpy",
    "PySide6/QtCore.abi3.so": "Qt: QtCore",
    "PySide6/QtGui.abi3.so": "Qt: QtGui",
    "PySide6/QtWidgets.abi3.so": "Qt: QtWidgets",
    "PySide6/QtOpenGL.abi3.so": "Qt: QtOpenGL",
    "PySide6/QtOpenGLWidgets.abi3.so": "Qt: QtOpenGLWidgets",
    "PySide6/Qt/plugins/platforms/libqxcb.so": "Qt's X11 platform plugin",
    "PySide6/Qt/plugins/platforms/libqoffscreen.so": "Qt's offscreen platform plugin",
    "PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so": "OpenGL on X11 (GLX)",
    "shiboken6/Shiboken.abi3.so": "shiboken6",
    "zeroconf/_cache*.so": "zeroconf (cythonised)",
    "zeroconf/_services/browser*.so": "zeroconf's browser (cythonised)",
    "nacl/_sodium.abi3.so": "PyNaCl's libsodium binding",
    "msgspec/_core*.so": "msgspec",
    "_cffi_backend*.so": "cffi (sounddevice, PyNaCl)",
    "libportaudio.so*": "PortAudio, as found on the build machine (see README: needs libportaudio2)",
    "pyqtgraph/colors/maps/*.csv": "pyqtgraph's package data",
}

#: copied beside the executable by the spec
TOP_LEVEL = ["krapition.desktop", "install-desktop-entry.sh"]

#: modules that must be inside the bundle's PYZ archive (checked with PyInstaller's archive reader)
REQUIRED_MODULES = [
    "krapition_app.cli", "krapition_app.app", "krapition_app.ui.main_window", "krapition_app.ui.viewport",
    "krapition_app.engine.physics.simulation", "krapition_app.engine.acoustics", "krapition_app.p2p.node",
    "krapition_app.p2p.api", "krapition_app.bench.physics", "krapition_numba_cache",
    "numba", "numba.cloudpickle.cloudpickle_fast", "llvmlite.binding",
    "OpenGL.GL", "OpenGL.platform.glx", "OpenGL.platform.egl", "OpenGL.arrays.numpymodule",
    "pyqtgraph.opengl", "pyqtgraph.opengl.shaders", "sounddevice", "zeroconf.asyncio",
    "zeroconf._services.info", "nacl.signing", "nacl.public", "msgspec.msgpack", "aiohttp.web",
    "prometheus_client", "sqlite_utils", "platformdirs", "pythonjsonlogger.json", "psutil",
]

#: must not be there: keeps the size down (the Qt modules the app does not use, test and bench tools)
FORBIDDEN = [
    "PySide6/QtNetwork.abi3.so", "PySide6/QtQml.abi3.so", "PySide6/QtQuick.abi3.so",
    "PySide6/QtSql.abi3.so", "PySide6/QtTest.abi3.so", "PySide6/QtPdf.abi3.so", "PySide6/QtDBus.abi3.so",
    "scipy", "matplotlib", "pyroomacoustics", "pybullet*", "rapier3d", "pytest", "hypothesis", "tkinter",
]


def contents_dir(bundle: Path) -> Path:
    internal = bundle / "_internal"
    return internal if internal.is_dir() else bundle


def bundle_size(bundle: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(bundle):
        for name in files:
            path = Path(dirpath, name)
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def pyz_modules(bundle: Path) -> set[str]:
    from PyInstaller.archive.readers import CArchiveReader, ZlibArchiveReader

    exe = bundle / "krapition"
    archive = CArchiveReader(str(exe))
    names: set[str] = set()
    for name in archive.toc:
        if name.endswith(".pyz") or name == "PYZ-00.pyz" or name.startswith("PYZ"):
            pyz = archive.open_embedded_archive(name)
            if isinstance(pyz, ZlibArchiveReader):
                names.update(pyz.toc)
    return names


def _extension_module(inside: Path, module: str) -> bool:
    """A compiled module (zeroconf is cythonised) lies beside the archive as a shared library."""
    path = inside.joinpath(*module.split("."))
    return any(path.parent.glob(path.name + ".*.so")) or any(path.glob("__init__.*.so"))


def check(bundle: Path) -> list[str]:
    problems: list[str] = []
    exe = bundle / "krapition"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        return [f"{exe}: the executable is missing"]
    inside = contents_dir(bundle)
    problems += [f"missing {name} beside the executable" for name in TOP_LEVEL
                 if not (bundle / name).is_file()]
    for pattern, why in REQUIRED.items():
        if not list(inside.glob(pattern)):
            problems.append(f"missing {pattern} ({why})")
    for pattern in FORBIDDEN:
        found = list(inside.glob(pattern))
        if found:
            problems.append(f"should not be bundled: {found[0].relative_to(inside)}")
    try:
        modules = pyz_modules(bundle)
    except Exception as exc:  # an unreadable archive is a broken bundle
        problems.append(f"cannot read the executable's archive: {exc!r}")
    else:
        problems += [f"module not bundled: {m}" for m in REQUIRED_MODULES
                     if m not in modules and not _extension_module(inside, m)]
    return problems


def run_checks(bundle: Path) -> list[str]:
    problems = []
    exe = str((bundle / "krapition").resolve())
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for args in (["--version"], ["--help"]):
        try:
            result = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, env=env,
                                    check=False, cwd=bundle.parent)
        except subprocess.TimeoutExpired:
            problems.append(f"krapition {' '.join(args)} did not finish in 120 s")
            continue
        if result.returncode != 0:
            problems.append(f"krapition {' '.join(args)} exited {result.returncode}: {result.stderr[-1500:]}")
        elif args == ["--version"]:
            print(f"bundle says: {result.stdout.strip()}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Checks a built Krapition bundle.")
    parser.add_argument("bundle", nargs="?", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--run", action="store_true", help="also run the bundled executable")
    args = parser.parse_args(argv)
    problems = check(args.bundle)
    if args.run and not problems:
        problems += run_checks(args.bundle)
    for problem in problems:
        print(f"bundle check: {problem}", file=sys.stderr)
    size = bundle_size(args.bundle)
    status = "FAILED" if problems else "ok"
    print(f"bundle {args.bundle}: {status}, {size / 2**20:.1f} MiB")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
