"""foodclf.serve.launch and the serve command: the models, the ports and TorchServe's command line."""
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from foodclf.serve.errors import ServeError
from foodclf.serve.launch import check_models, free_port, parse_models, stop_command, torchserve_command
from foodclf.serve.properties import DEFAULT_LOG_CONFIG

REPO = Path(__file__).resolve().parents[2]


def test_parse_models():
    assert parse_models(["food=a.mar", "vgg16.mar"]) == {"food": "a.mar", "vgg16": "vgg16.mar"}
    with pytest.raises(ServeError, match="NAME=FILE.mar"):
        parse_models(["food"])


def test_check_models_names_the_missing_store_or_archive(tmp_path):
    with pytest.raises(ServeError, match=f"{tmp_path / 'store'}: model store not found"):
        check_models(tmp_path / "store", {"food": "food.mar"})
    (tmp_path / "food.mar").write_bytes(b"")
    check_models(tmp_path, {"food": "food.mar"})
    with pytest.raises(ServeError, match="vgg16.mar: archive for model 'vgg' not found"):
        check_models(tmp_path, {"food": "food.mar", "vgg": "vgg16.mar"})


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))  # raises if somebody listens there


def test_free_port_never_hands_out_a_port_twice_even_when_nobody_bound_it():
    """Servers started side by side bind their ports seconds after asking: two of them must never
    be given the same one (a replica then failed with "Address already in use")."""
    with ThreadPoolExecutor(4) as pool:
        ports = list(pool.map(lambda _: free_port(), range(400)))
    assert len(set(ports)) == len(ports)


def test_the_command_runs_this_interpreter_with_foodclfs_log_config_unless_told_otherwise():
    command = torchserve_command("c.properties", "store", {"food": "food.mar"})
    assert command[:3] == [sys.executable, "-m", "ts.model_server"]  # the workers import this foodclf
    assert command[command.index("--log-config") + 1] == str(DEFAULT_LOG_CONFIG)
    assert command[command.index("--models") + 1:] == ["food=food.mar"] and "--foreground" in command
    assert "--log-config" not in torchserve_command("c.properties", "store", log_config=None)
    assert stop_command()[-1] == "--stop"


def test_serve_script_prints_one_line_for_a_missing_archive(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "serve.py"), "--models", "food=food.mar",
                             "--model-store", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "food.mar" in result.stderr
