"""The bundle smoke test's report: numbers it measures but never asserts, printed at the end of the run
and written to build/package-report.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

REPORT = Path(__file__).resolve().parents[2] / "build" / "package-report.json"
_reported: dict[str, object] = {}


@pytest.fixture(scope="session")
def package_report() -> Callable[[str, object], None]:
    def add(key: str, value: object) -> None:
        _reported[key] = value
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps(_reported, indent=2) + "\n", encoding="utf-8")

    return add


def pytest_terminal_summary(terminalreporter) -> None:
    if _reported:
        terminalreporter.section("bundle report (measured, not asserted)")
        for key, value in _reported.items():
            terminalreporter.write_line(f"{key}: {value}")
        terminalreporter.write_line(f"(also in {REPORT})")
