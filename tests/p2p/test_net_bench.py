"""The network benchmark runs end to end on a tiny load and reports every key the issue names."""

from __future__ import annotations

import argparse

from krapition_app.bench import available
from krapition_app.bench import net as bench_net


def test_small_run_reports_the_keys() -> None:
    assert available()["net"] is bench_net
    parser = argparse.ArgumentParser()
    bench_net.add_arguments(parser)
    args = parser.parse_args(["--json", "--messages", "300", "--pings", "20", "--rounds", "1"])
    result = bench_net.run(args)
    assert "error" not in result, result
    for key in ("handshake_ms", "rtt_ms_median", "rtt_ms_p99", "msgs_per_s", "mb_per_s", "plain_mb_per_s",
                "ratio_vs_plain"):
        assert isinstance(result[key], int | float) and result[key] > 0, key
    assert result["discovery"] is True and set(result["goals"]) == {"handshake_le_2s", "ratio_ge_0.5",
                                                                    "rtt_p99_le_5ms"}
