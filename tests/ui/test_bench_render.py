"""`krapition bench render` runs and reports every key (figures are for the benchmark, not tests)."""

import argparse

import pytest

from krapition_app.bench import render

pytestmark = pytest.mark.gui


def test_render_benchmark_reports_all_approaches(qapp):
    result = render.run(argparse.Namespace(bodies=60, seconds=0.3, skip_meshitem=False, json=True))
    assert result["bodies"] == 60
    for key in ("fps", "meshitem_fps", "scatter_fps"):
        assert result[key] > 0
    assert result["ratio_vs_meshitem"] == pytest.approx(result["fps"] / result["meshitem_fps"], rel=0.06)
    assert "renderer" in result
