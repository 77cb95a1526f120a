import json
import logging
import sys

from krapition_app.logs import configure_logging


def test_json_lines_with_levels_and_extra_fields(tmp_path):
    path = configure_logging(tmp_path / "logs", "DEBUG")
    log = logging.getLogger("krapition_app.test")
    log.debug("quiet", extra={"peer": "n1"})
    log.warning("loud")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["level"], r["message"]) for r in records] == [("DEBUG", "quiet"), ("WARNING", "loud")]
    assert records[0]["peer"] == "n1"
    assert records[0]["logger"] == "krapition_app.test"
    assert "time" in records[0]


def test_no_stderr_handler_when_there_is_no_stderr(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)  # a windowed frozen app
    path = configure_logging(tmp_path, "INFO")
    ours = [h for h in logging.getLogger("krapition_app").handlers if getattr(h, "_krapition", False)]
    assert [type(h).__name__ for h in ours] == ["RotatingFileHandler"]
    logging.getLogger("krapition_app.x").info("still logged")
    assert "still logged" in path.read_text()


def test_configuring_twice_does_not_duplicate_lines(tmp_path):
    configure_logging(tmp_path, "INFO")
    path = configure_logging(tmp_path, "INFO")
    logging.getLogger("krapition_app.y").info("once")
    assert path.read_text().count("once") == 1
