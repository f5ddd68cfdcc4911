"""foodclf.loadtest.memory: which processes are a replica, and its memory (Σ PSS), on real processes.

A small tree stands in for a TorchServe holding two models: a parent (the frontend) with two
children (one worker each); each child writes 30 MB of its own so its memory is real.
"""
import subprocess
import sys
import time

import psutil
import pytest

from foodclf.errors import FoodclfError
from foodclf.loadtest.memory import Replica, replica_memory, torchserve_replica

CHILD = "import time; data = b'x' * (30 * 2**20); time.sleep(120)"
PARENT = ("import subprocess, sys, time\n"
          f"kids = [subprocess.Popen([sys.executable, '-c', {CHILD!r}]) for _ in range(2)]\n"
          "print(*[k.pid for k in kids], flush=True)\n"
          "time.sleep(120)\n")


@pytest.fixture
def tree():
    """(parent, worker of model a, worker of model b), killed afterwards by their PIDs."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    a, b = (int(pid) for pid in parent.stdout.readline().split())
    try:
        _wait_until_written([a, b])
        yield parent.pid, a, b
    finally:
        for pid in (a, b):
            try:
                psutil.Process(pid).kill()
            except psutil.NoSuchProcess:
                pass
        parent.kill()
        parent.wait()


def _wait_until_written(pids, mb=30):
    """Until each child holds its 30 MB (bounded by the processes' start, not by a clock)."""
    while any(psutil.Process(pid).memory_info().rss < mb * 2**20 for pid in pids):
        time.sleep(0.05)


def direct_pss_mb(pids) -> float:
    """The independent reading: psutil's own figure, summed by hand."""
    return sum(psutil.Process(pid).memory_full_info().pss for pid in pids) / 2**20


def test_a_model_of_a_shared_server_is_the_frontend_and_its_own_workers(tree):
    parent, a, b = tree
    reading = replica_memory(Replica(frontend=parent, workers=lambda: [a]))
    assert {(p.pid, p.role) for p in reading.processes} == {(parent, "frontend"), (a, "worker")}   # b is not ours
    assert {p.pid for p in replica_memory(Replica.tree([parent])).processes} == {parent, a, b}


def test_replica_pss_is_the_sum_of_its_processes_pss(tree):
    parent, a, _ = tree
    reading = replica_memory(Replica(frontend=parent, workers=lambda: [a]))
    direct = direct_pss_mb([parent, a])
    assert reading.pss_mb == pytest.approx(direct, rel=0.2)
    assert reading.pss_mb == pytest.approx(sum(p.pss_mb for p in reading.processes))
    assert reading.uss_mb <= reading.pss_mb <= reading.rss_mb
    worker = next(p for p in reading.processes if p.pid == a)
    assert worker.uss_mb > 30          # its 30 MB are its own


def test_workers_that_cannot_be_listed_now_are_the_last_known(tree):
    parent, a, _ = tree
    answers = [[a]]

    def workers():
        if not answers:
            raise OSError("the management API did not answer")
        return answers.pop()
    replica = Replica(frontend=parent, workers=workers)
    assert replica.worker_pids() == [a]
    assert replica.worker_pids() == [a]   # no answer this time: the last known workers


def test_a_server_that_is_not_running_has_no_replica():
    class Stopped:
        pid = None
    with pytest.raises(FoodclfError, match="not running"):
        torchserve_replica(Stopped(), "food")
