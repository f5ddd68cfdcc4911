"""``foodclf loadtest``: its exit codes, run as a user runs it (a child process, real locust)."""
import subprocess
import sys

import pytest

from foodclf.commands.loadtest import parse_args


def loadtest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foodclf", "loadtest", *args], capture_output=True, text=True,
                          timeout=120)


def test_nothing_listening_exits_3_with_one_line_naming_the_url(closed_url, photo, tmp_path):
    done = loadtest("--url", closed_url, "--image", str(photo), "--duration", "1s", "--users", "1", "--delay", "0.1",
                    "--timeout", "2", "--out", str(tmp_path))
    assert done.returncode == 3
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"no request to {closed_url} succeeded (connection " in errors[0]
    assert "Availability:                    0.00 %" in done.stdout   # the summary is still printed
    assert (tmp_path / "loadtest.json").is_file()                      # and the record of what failed written


def test_answers_exit_0(ok_server, photo):
    done = loadtest("--url", ok_server.url, "--image", str(photo), "--duration", "1s", "--users", "1",
                    "--delay", "0", "--timeout", "5")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Failed transactions:                0" in done.stdout and "error:" not in done.stderr


def test_bad_input_exits_2(photo):
    done = loadtest("--url", "127.0.0.1:8080/predictions/food", "--image", str(photo))
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: URL")


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "exit codes:" in text
    assert "  3  no request succeeded" in text and "  2  bad input" in text and "  0  at least one" in text


def test_availability_below_the_minimum_exits_4_naming_both_figures(half_busy_server, photo):
    args = ["--url", half_busy_server.url, "--image", str(photo), "--duration", "1s", "--users", "1",
            "--delay", "0", "--timeout", "5"]
    assert loadtest(*args).returncode == 0  # failures alone are reported, not fatal
    done = loadtest(*args, "--min-availability", "0.9")
    assert done.returncode == 4, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "below --min-availability 90.00%" in errors[0] and "http_503" in errors[0]
