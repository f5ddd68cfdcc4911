"""Stopping a TorchServe process tree: the launcher leads its own process group (the Java
frontend and the Python workers are in it), and a worker that left the group is killed by PID."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import time

import psutil

log = logging.getLogger(__name__)


def process_name(process: psutil.Process) -> str:
    """The process's name, or "" once it has exited."""
    try:
        return process.name()
    except psutil.Error:
        return ""


def stop_group(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM the process group (TorchServe shuts its workers down), SIGKILL what lingers."""
    pgid = process.pid  # start_new_session: the launcher leads its own group
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()  # reap the launcher, or its zombie keeps the group "alive"
        if not _group_alive(pgid):
            break
        time.sleep(0.2)
    else:
        log.warning("TorchServe did not stop within %.0f s of SIGTERM; killing it", timeout)
        _signal_group(pgid, signal.SIGKILL)
    process.wait()


def kill(pid: int) -> None:
    """SIGKILL ``pid`` if it still runs."""
    try:
        psutil.Process(pid).kill()
    except psutil.Error:
        pass


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
