"""The server side of a load test: CPU cores and memory of a replica's processes, sampled with psutil.

Which processes are the replica and what its memory is: foodclf.loadtest.memory (Σ PSS over
its processes; RSS and USS beside it). Given PIDs are sampled with all their descendants (the
TorchServe frontend spawns its Python workers); a ``Replica`` of one model in a shared server
(``torchserve_replica``) with its frontend and that model's workers only. CPU cores used =
Δ(user + system CPU seconds) / Δ(wall seconds), summed over the processes seen in two
consecutive samples (a worker that restarts counts from its second sample). Without PIDs,
whoever listens on a loopback URL's port is sampled; a remote URL's server cannot be, and its
figures are None.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterable, Sequence
from typing import NamedTuple
from urllib.parse import urlsplit

import numpy as np
import psutil

from foodclf.contracts.loadtest import ProcessUsage, ServerUsage
from foodclf.loadtest.memory import Replica, ReplicaMemory, read_process


class Sample(NamedTuple):
    at: float           # wall time (time.time()) the sample was taken; it covers the interval before it
    cpu_cores: float
    pss_mb: float       # the replica's memory (foodclf.loadtest.memory)
    rss_mb: float
    uss_mb: float


class ServerSampler:
    """Samples CPU cores used and the memory of a replica's processes, in a thread.

        with ServerSampler([frontend_pid], interval_s=1.0) as sampler:   # or a Replica
            ...                                  # the load
        sampler.samples, sampler.usage()
    """

    def __init__(self, replica: Replica | Iterable[int], interval_s: float = 1.0):
        self.replica = replica if isinstance(replica, Replica) else Replica.tree(replica)
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.seen_pids: set[int] = set()
        self.peak: ReplicaMemory | None = None   # the reading with the largest PSS
        self._last: tuple[float, dict[int, float]] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="server-sampler", daemon=True)

    def __enter__(self) -> ServerSampler:
        self.sample()  # the baseline for the first CPU delta
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        now = time.time()
        cpu: dict[int, float] = {}
        readings = []
        for proc, role in self.replica.processes():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    readings.append(read_process(proc, role))
                    cpu[proc.pid] = times.user + times.system
            except psutil.Error:
                continue  # exited between the listing and the reading
        self.seen_pids.update(cpu)
        memory = ReplicaMemory(tuple(readings))
        if self._last is not None and cpu:
            then, last_cpu = self._last
            used = sum(cpu[pid] - last_cpu[pid] for pid in cpu if pid in last_cpu)
            if now > then:
                self.samples.append(Sample(now, max(0.0, used / (now - then)),
                                           memory.pss_mb, memory.rss_mb, memory.uss_mb))
                if self.peak is None or memory.pss_mb > self.peak.pss_mb:
                    self.peak = memory
        self._last = (now, cpu)

    def usage(self) -> ServerUsage:
        """Means and peaks over the whole run; None everywhere without samples."""
        if not self.samples:
            return not_sampled()
        cores = [s.cpu_cores for s in self.samples]
        pss = [s.pss_mb for s in self.samples]
        peak = self.peak.processes if self.peak else ()
        return ServerUsage(cpu_cores_mean=_r6(np.mean(cores)), cpu_cores_max=_r6(max(cores)),
                           pss_mb_mean=_r6(np.mean(pss)), pss_mb_peak=_r6(max(pss)),
                           rss_mb_peak=_r6(max(s.rss_mb for s in self.samples)),
                           uss_mb_peak=_r6(max(s.uss_mb for s in self.samples)),
                           samples=len(self.samples), pids=sorted(self.seen_pids),
                           peak_processes=[ProcessUsage(p.pid, p.role, p.name, _r6(p.pss_mb), _r6(p.rss_mb),
                                                        _r6(p.uss_mb)) for p in peak])


def not_sampled() -> ServerUsage:
    return ServerUsage(cpu_cores_mean=None, cpu_cores_max=None, pss_mb_mean=None, pss_mb_peak=None,
                       rss_mb_peak=None, uss_mb_peak=None, samples=0, pids=[], peak_processes=[])


def server_means(samples: Sequence[Sample], lo: float, hi: float) -> dict:
    """Mean CPU cores, mean and largest PSS of the samples taken in (lo, hi]: each sample covers
    the interval before it. A window shorter than the sampling interval gets the first sample after it."""
    inside = [s for s in samples if lo < s.at <= hi]
    if not inside:
        inside = [s for s in samples if s.at > hi][:1]
    if not inside:
        return {"cpu_cores": None, "pss_mb": None, "pss_mb_peak": None}
    return {"cpu_cores": _r6(np.mean([s.cpu_cores for s in inside])),
            "pss_mb": _r6(np.mean([s.pss_mb for s in inside])), "pss_mb_peak": _r6(max(s.pss_mb for s in inside))}


def listening_pids(port: int) -> list[int]:
    """PIDs listening on a local TCP port (empty if none, or if the OS will not tell us)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return []
    return sorted({c.pid for c in conns if c.status == psutil.CONN_LISTEN and c.laddr
                   and c.laddr.port == port and c.pid})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_pids_for(url: str, server_pids: Iterable[int] | None) -> list[int]:
    """The given PIDs, or whoever listens on a loopback URL's port; none for a remote URL."""
    if server_pids:
        return sorted(set(int(p) for p in server_pids))
    parts = urlsplit(url)
    if not is_loopback(parts.hostname or ""):
        return []
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return listening_pids(port)


def _r6(x: float) -> float:
    return round(float(x), 6)
