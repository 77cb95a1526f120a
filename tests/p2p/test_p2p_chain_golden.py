"""The golden files pin the signed event format and the verifier's verdict on each of them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from krapition_app.p2p import errors
from krapition_app.p2p.chain import ChainState, VerifyLimits, event_id, verify
from krapition_app.p2p.testing import golden_cases

FOLDER = Path(__file__).resolve().parents[1] / "data" / "chain"
MANIFEST = json.loads((FOLDER / "manifest.json").read_text())
CASES = {case["name"]: case for case in MANIFEST["cases"]}


def test_files_match_the_deterministic_generator() -> None:
    generated = {case.name: case.raw for case in golden_cases()}
    assert set(generated) == set(CASES)
    for name, raw in generated.items():
        assert (FOLDER / f"{name}.bin").read_bytes() == raw, (
            f"{name}.bin changed: the event format changed (regenerate with tests/data/make_chain_golden.py)"
        )


def test_manifest_matches_the_generator() -> None:
    spec = importlib.util.spec_from_file_location("make_chain_golden", FOLDER.parent / "make_chain_golden.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--check"]) == 0


def _feed(state: ChainState, name: str) -> tuple[ChainState, Exception | None]:
    case = CASES[name]
    raw = (FOLDER / case["file"]).read_bytes()
    limits = VerifyLimits(max_event_size=case["max_event_size"]) if case["max_event_size"] else VerifyLimits()
    try:
        state, event = verify(state, raw, now_ns=MANIFEST["now_ns"], limits=limits)
    except errors.EquivocationError as exc:
        return exc.state, exc
    except errors.InvalidEventError as exc:
        return state, exc
    assert event.raw == raw and event.id == event_id(raw)
    return state, None


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdict(name: str) -> None:
    state = ChainState()
    for before in CASES[name]["before"]:
        state, _ = _feed(state, before)
    state_before = state
    new_state, error = _feed(state, name)
    expected = CASES[name]["error"]
    if expected is None:
        assert error is None
    else:
        assert type(error).__name__ == expected
        assert isinstance(error, getattr(errors, expected))
        if not isinstance(error, errors.EquivocationError):
            assert new_state is state_before
