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
        _wait_for_group_to_die(pgid, timeout=5.0)
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
    """Whether the group has a process, zombies included (TorchServe's exited workers are
    reaped by PID 1 within moments here)."""
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _wait_for_group_to_die(pgid: int, timeout: float) -> None:
    """SIGKILL is delivered asynchronously: wait until the kernel has ended every member. Zombies
    count as ended: an orphan's zombie waits for PID 1, which in a container may never reap it."""
    deadline = time.monotonic() + timeout
    while _live_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _live_members(pgid: int) -> list[int]:
    members = []
    for member in psutil.process_iter():
        try:
            if os.getpgid(member.pid) == pgid and member.status() != psutil.STATUS_ZOMBIE:
                members.append(member.pid)
        except (psutil.Error, ProcessLookupError):
            pass
    return members
