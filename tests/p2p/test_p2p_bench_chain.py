"""The chain benchmark runs end to end on a tiny load and reports every key the issue names."""

from __future__ import annotations

import argparse

from krapition_app.bench import available
from krapition_app.bench import chain as bench_chain


def test_small_run_reports_the_keys() -> None:
    assert available()["chain"] is bench_chain
    parser = argparse.ArgumentParser()
    bench_chain.add_arguments(parser)
    args = parser.parse_args(["--json", "--events", "300", "--verify-events", "120", "--batch", "64",
                              "--raw", "50"])
    result = bench_chain.run(args)
    for key in ("append_per_s", "verify_store_per_s", "raw_sign_per_s", "raw_verify_per_s", "replay_100k_s",
                "bytes_per_event"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["replay_matches_store"] is True
    assert result["verified_events"] == 121 and result["replayed_events"] == 301
