"""`krapition --screenshot PATH --quit-after S`: the real app in its own process, under Xvfb."""

import os
import subprocess
import sys

import pytest
from images import rgb_array
from PySide6 import QtGui

pytestmark = pytest.mark.gui


def test_screenshot_then_quit(tmp_path):
    assert os.environ.get("DISPLAY"), "pytest-xvfb provides a display"
    out = tmp_path / "out.png"
    result = subprocess.run(
        [sys.executable, "-m", "krapition_app", "--offline", "--screenshot", str(out), "--quit-after", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rgb = rgb_array(QtGui.QImage(str(out)))
    assert rgb.shape[0] > 300 and rgb.shape[1] > 400
    assert rgb.std() > 10
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    assert ((r > 110) & (r > 2 * g) & (r > 2 * b)).sum() > 30  # the red rubber ball is in view
    assert ((b > 110) & (b > 1.5 * r) & (b > 1.2 * g)).sum() > 200  # so is the plastic pyramid
    assert '"screenshot written"' in result.stderr
