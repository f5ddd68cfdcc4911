"""What the serving tests share: the processes a TorchServe left behind, if any."""
from pathlib import Path

import psutil


def alive(pids) -> list[int]:
    """The PIDs still running (a zombie is dead but not yet reaped by its parent)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running


def processes_using(path: Path) -> list[psutil.Process]:
    """Processes whose command line mentions ``path``: a server's launcher, frontend and workers."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(path) in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found
