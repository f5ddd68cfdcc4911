"""What starting TorchServe takes: the models to load, free loopback ports, and its command line."""
from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from foodclf.serve.errors import ServeError
from foodclf.serve.properties import DEFAULT_LOG_CONFIG

# Ports free_port has handed out in this process. A port is free only until someone binds it, and
# servers started side by side (several replicas, each with five ports) bind theirs seconds later:
# without this, the kernel may hand the same port to two of them and one fails to start.
_HANDED_OUT: set[int] = set()
_HANDED_OUT_LOCK = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now, never the same twice in a process."""
    with _HANDED_OUT_LOCK:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port


def parse_models(specs: list[str]) -> dict[str, str]:
    """``["food=food.mar", "vgg16.mar"]`` -> ``{"food": "food.mar", "vgg16": "vgg16.mar"}``."""
    models = {}
    for spec in specs:
        name, _, mar = spec.rpartition("=")
        if not mar.endswith(".mar"):
            raise ServeError(f"model '{spec}': expected NAME=FILE.mar (or FILE.mar)")
        models[name or Path(mar).stem] = mar
    return models


def check_models(model_store: Path, models: Mapping[str, str]) -> None:
    """Every archive is in the model store, or a ServeError says which one is missing."""
    if not model_store.is_dir():
        raise ServeError(f"{model_store}: model store not found; write archives with foodclf archive")
    for name, mar in models.items():
        if not (model_store / mar).is_file():
            raise ServeError(f"{model_store / mar}: archive for model '{name}' not found; "
                             "write it with foodclf archive RUN_DIR --name NAME")


def torchserve_command(config: str | os.PathLike, model_store: str | os.PathLike,
                       models: Mapping[str, str] | None = None, foreground: bool = True,
                       log_config: str | os.PathLike | None = DEFAULT_LOG_CONFIG) -> list[str]:
    """The ``torchserve`` command line, run by this interpreter so the workers import foodclf.
    ``log_config``: the frontend's log4j2.xml (None: TorchServe's default, which logs every request)."""
    command = [sys.executable, "-m", "ts.model_server", "--start", "--ncs",
               "--ts-config", str(config), "--model-store", str(model_store)]
    if log_config is not None:
        command += ["--log-config", str(log_config)]
    if foreground:
        command.append("--foreground")
    if models:
        command += ["--models", *(f"{name}={mar}" for name, mar in models.items())]
    return command


def stop_command() -> list[str]:
    """``torchserve --stop``: stops the server whose pid file is in this temp dir."""
    return [sys.executable, "-m", "ts.model_server", "--stop"]
