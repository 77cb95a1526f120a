"""Fixtures of the acoustics tests: a private JACK dummy server for the real-time tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from krapition_app.engine.acoustics.jack_dummy import jack_dummy_server

# the helper modules beside this file (lamb_sphere, acoustic_helpers) import by name
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def jack_server() -> Iterator[str]:
    with jack_dummy_server() as name:
        if name is None:
            pytest.skip("jackd (jackd2) is not installed or its dummy server did not start")
        yield name
