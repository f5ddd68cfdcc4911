"""The foodclf command: one subcommand per stage, each with its own --help, and clear errors."""
import subprocess
import sys

import pytest

from foodclf.cli import COMMANDS, main


def test_python_m_foodclf_lists_every_stage():
    result = subprocess.run([sys.executable, "-m", "foodclf", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert listed == ["sample", "train", "evaluate", "export", "archive", "serve", "loadtest", "simulate",
                      "compare", "demo"]


def test_an_unknown_command_exits_2_naming_the_choices(capsys):
    assert main(["tarin"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'tarin'" in err and "train" in err


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_has_its_own_help(name, capsys):
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: foodclf {name}")


def test_a_user_error_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing-run"), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "missing-run" in err[0]
