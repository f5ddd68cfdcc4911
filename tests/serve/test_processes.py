"""foodclf.serve.processes: a whole process group stops, even one that ignores SIGTERM."""
import os
import subprocess
import time

import psutil
import pytest

from foodclf.serve.processes import kill, process_name, stop_group


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                members.append(process)
        except (psutil.Error, ProcessLookupError):
            pass
    return members


def wait_until_started(pgid: int, members: int) -> None:
    deadline = time.monotonic() + 10
    while len(group_members(pgid)) < members:
        assert time.monotonic() < deadline, "the test's shell did not start its sleeps"
        time.sleep(0.01)


@pytest.mark.parametrize("script", ["sleep 60 & sleep 60",                  # a launcher and a child
                                    "trap '' TERM; sleep 60 & sleep 60"])  # both ignore SIGTERM
def test_stop_group_leaves_nothing_of_the_group(script):
    process = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    try:
        wait_until_started(process.pid, members=2)  # else SIGTERM may beat the trap
        stop_group(process, timeout=1)
        assert process.returncode is not None and not group_members(process.pid)
    finally:
        kill(process.pid)


def test_kill_and_process_name_of_a_finished_process():
    process = subprocess.Popen(["true"])
    handle = psutil.Process(process.pid)
    process.wait()
    kill(process.pid)  # gone already: nothing to do, no error
    assert process_name(handle) == ""
