"""A served replica's memory: the one definition that every measurement and prediction uses.

    replica = torchserve_replica(server, "food")    # the frontend and this model's workers
    reading = replica_memory(replica)                # ReplicaMemory: .pss_mb, .rss_mb, .uss_mb, .processes

A replica's memory is the sum of PSS (proportional set size) over its processes. PSS counts a
page shared by k processes as 1/k in each, so summed over a process tree every page counts once,
as a container's working set counts it; RSS counts a shared page in every process that maps it
(every process that imports torch maps the same libtorch pages) and USS counts only
pages no other process maps. Σ USS <= Σ PSS <= Σ RSS; RSS and USS are recorded beside PSS.

Which processes are the replica (docs/loadtest.md, "A replica's memory"):
- ``Replica.tree(pids)``: the given processes and all their descendants: a TorchServe that
  serves one model (a Kubernetes replica: one .mar per pod), or whoever listens on a port.
- ``torchserve_replica(server, model)``: a TorchServe that holds several models (the demo's).
  The replica is the whole frontend plus that model's workers (and their children), found
  through TorchServe's management API at every reading (a worker that restarts changes PID);
  the other models' workers are left out. The frontend counts whole, not 1/models: the
  figure predicts a one-model pod, which has a frontend of its own.

PSS depends on who else maps the same pages: libtorch's pages are split among every process
that maps them on the machine (other models' workers, the load test's own Python), so a worker
reads lower beside others than alone in a pod, by at most its RSS - USS.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from foodclf.errors import FoodclfError

log = logging.getLogger(__name__)

MB = 2**20  # the "MB" of every memory figure in foodclf (MiB, as ps and Kubernetes' Mi count)
FRONTEND, WORKER, PROCESS = "frontend", "worker", "process"   # a process's role in its replica


@dataclass(frozen=True)
class ProcessMemory:
    """One process's memory at one moment, in MB."""
    pid: int
    role: str          # frontend | worker | process (a process of a tree whose roles are unknown)
    name: str
    pss_mb: float
    rss_mb: float
    uss_mb: float


@dataclass(frozen=True)
class ReplicaMemory:
    """A replica's processes read at one moment; its memory is ``pss_mb``."""
    processes: tuple[ProcessMemory, ...]

    @property
    def pss_mb(self) -> float:
        """The replica's memory: Σ PSS over its processes."""
        return sum(p.pss_mb for p in self.processes)

    @property
    def rss_mb(self) -> float:
        return sum(p.rss_mb for p in self.processes)

    @property
    def uss_mb(self) -> float:
        return sum(p.uss_mb for p in self.processes)


class Replica:
    """The processes that make up one served replica, listed again at every reading."""

    def __init__(self, roots: Iterable[int] = (), frontend: int | None = None,
                 workers: Callable[[], Iterable[int]] | None = None):
        self.roots = sorted({int(p) for p in roots})   # counted with all their descendants
        self.frontend = frontend                        # counted alone (its other children are not ours)
        self._workers = workers                         # this model's workers, asked for at every reading
        self._last_workers: list[int] = []

    @classmethod
    def tree(cls, pids: Iterable[int]) -> Replica:
        """The processes ``pids`` and all their descendants."""
        return cls(roots=pids)

    @property
    def empty(self) -> bool:
        """No process named: nothing to sample (a remote server)."""
        return not self.roots and self.frontend is None and self._workers is None

    def worker_pids(self) -> list[int]:
        """This model's workers now; the last known ones when TorchServe cannot say (busy, stopping)."""
        if self._workers is not None:
            try:
                self._last_workers = sorted({int(p) for p in self._workers()})
            except (OSError, ValueError, KeyError, IndexError) as e:
                log.debug("worker PIDs unavailable (%s); keeping %s", e, self._last_workers)
        return self._last_workers

    def processes(self) -> list[tuple[psutil.Process, str]]:
        """(process, role) of every live process of the replica, each once."""
        found: dict[int, tuple[psutil.Process, str]] = {}
        if self.frontend is not None:
            _add(found, [self.frontend], FRONTEND, with_children=False)
        _add(found, self.worker_pids(), WORKER, with_children=True)
        _add(found, self.roots, PROCESS, with_children=True)
        return list(found.values())


def torchserve_replica(server: Any, model: str) -> Replica:
    """One model of a running ``foodclf.serve.server.TorchServe`` as a replica: its frontend
    (whole) and the model's workers with their children, the other models' workers left out."""
    if server.pid is None:
        raise FoodclfError(f"TorchServe is not running: no frontend to measure {model!r} in; start it first")
    return Replica(frontend=server.pid, workers=lambda: server.worker_pids(model))


def read_process(process: psutil.Process, role: str) -> ProcessMemory:
    """PSS, RSS and USS of one process (psutil's memory_full_info: /proc/PID/smaps_rollup);
    raises psutil.Error when it is gone or not ours to read."""
    info = process.memory_full_info()
    return ProcessMemory(process.pid, role, _name(process), info.pss / MB, info.rss / MB, info.uss / MB)


def replica_memory(replica: Replica) -> ReplicaMemory:
    """The replica's processes read now; processes that exit meanwhile are left out."""
    readings = []
    for process, role in replica.processes():
        try:
            readings.append(read_process(process, role))
        except psutil.Error:
            continue
    return ReplicaMemory(tuple(readings))


def _add(found: dict, pids: Sequence[int], role: str, with_children: bool) -> None:
    for pid in pids:
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)] if with_children else [root]
        except psutil.Error:
            continue  # gone: it contributes nothing
        for process in family:
            found.setdefault(process.pid, (process, role))


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return "?"
