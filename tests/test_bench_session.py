"""``krapition bench session`` runs end to end on a tiny load and reports every key the issue names."""

from __future__ import annotations

import argparse
import math

import pytest

from krapition_app.bench import available
from krapition_app.bench import session as bench_session

pytestmark = pytest.mark.timeout(300)


def test_a_small_run_reports_the_keys_with_sane_values() -> None:
    assert available()["session"] is bench_session
    parser = argparse.ArgumentParser()
    bench_session.add_arguments(parser)
    args = parser.parse_args(["--json", "--nodes", "3", "--bodies", "30", "--seconds", "2", "--settle", "2",
                              "--rest-seconds", "0.5", "--late-join", "40"])
    result = bench_session.run(args)
    for key in ("kbit_per_s_per_node", "naive_kbit_per_s_per_node", "compression_ratio",
                "error_mm_moving_median", "error_mm_moving_p99", "error_mm_rest_p99", "display_delay_ms_p95",
                "cpu_fraction_per_node", "wire_kbit_per_s_sent_per_node", "realtime_factor"):
        value = result[key]
        assert isinstance(value, int | float) and math.isfinite(value) and value >= 0, (key, value)
    assert result["nodes"] == 3 and result["bodies"] == 30 and len(result["kbit_per_s_per_node_each"]) == 3
    assert result["kbit_per_s_per_node"] > 0 and result["naive_kbit_per_s_per_node"] > 0
    assert result["error_mm_moving_median"] <= result["error_mm_moving_p99"]
    assert result["error_samples"]["moving"] > 0 and result["error_samples"]["rest"] > 0
    assert result["display_delay_ms_p95"] > 0 and result["cpu_fraction_per_node"] > 0
    assert result["decode_errors"] == 0
    assert set(result["met"]) == {"kbit_per_s_per_node", "error_mm_rest_p99", "display_delay_ms_p95",
                                  "late_join_s"}
    # fresh nodes joining a world of 40 bodies (owner in its own process) get all of them in place:
    # from the whole chain, and from a checkpoint's snapshot plus the tail
    assert result["late_join_bodies"] == 40 and result["late_join_in_sync"] is True
    full, cut = result["late_join_full_chain_s"], result["late_join_from_checkpoint_s"]
    assert full > 0 and cut > 0 and result["late_join_s"] == max(full, cut)
