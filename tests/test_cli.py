import json
import subprocess
import sys

import pytest

from krapition_app import __version__
from krapition_app.cli import build_parser, main


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krapition_app", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"krapition {__version__}"
    assert __version__ != "0.0.0+unknown"  # the installed metadata is found


def test_bad_arguments_are_refused_with_a_message(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--quit-after", "soon"])
    assert info.value.code == 2
    assert "'soon' is not a number of seconds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--quit-after", "-1"])


def test_bench_lists_its_benchmarks():
    result = run_cli("bench", "--help")
    assert result.returncode == 0
    assert "NAME" in result.stdout


def test_a_broken_start_scene_exits_2_with_the_reason(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text('{"bodies": [{"name": "a", "shape": "sphere"}]}')
    assert main(["--scene", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "broken.json" in err and "a sphere needs 'radius'" in err


def test_logs_go_to_the_log_folder_as_json(tmp_path, krapition_home):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    main(["--scene", str(broken)])
    lines = (krapition_home / "logs" / "krapition.log").read_text().splitlines()
    record = json.loads(lines[-1])
    assert record["level"] == "ERROR"
    assert record["message"] == "cannot open the start scene"
    assert "broken.json" in record["reason"]
