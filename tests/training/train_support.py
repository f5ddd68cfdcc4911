"""Helpers of the training tests: kill a training run mid-way, as a crash or a pre-emption would."""
import os
import signal
import subprocess
import time

from foodclf.training.history import read_history


def kill_after_rows(command: list[str], history_file, rows: int, timeout: float = 300, **popen) -> None:
    """Start ``command`` and SIGKILL it, with every process it started (DDP ranks), as soon as
    its history has ``rows`` rows. It runs in a session of its own, so its process group is its
    own: the kill reaches the ranks Lightning launched and nothing else."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True, **popen)
    deadline = time.monotonic() + timeout
    try:
        while len(read_history(history_file)) < rows:
            assert process.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "training did not reach the epoch in time"
            time.sleep(0.005)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:  # the whole group had already ended
            pass
        process.wait()
