"""The server side of a load test: CPU cores and memory of its processes, sampled with psutil.

The TorchServe frontend (Java) spawns its Python workers, so the given PIDs are sampled with
all their descendants: CPU cores used = Δ(user + system CPU seconds) / Δ(wall seconds), summed
over the processes seen in two consecutive samples (a worker that restarts counts from its second
sample); memory = the sum of their RSS (shared pages counted once per process, as ``ps`` would).
Without PIDs, whoever listens on a loopback URL's port is sampled; a remote URL's server cannot
be, and its figures are None.
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

from foodclf.contracts.loadtest import ServerUsage


class Sample(NamedTuple):
    at: float           # wall time (time.time()) the sample was taken; it covers the interval before it
    cpu_cores: float
    rss_mb: float


class ServerSampler:
    """Samples CPU cores used and summed RSS of some processes and their descendants, in a thread.

        with ServerSampler([frontend_pid], interval_s=1.0) as sampler:
            ...                                  # the load
        sampler.samples, sampler.usage()
    """

    def __init__(self, pids: Iterable[int], interval_s: float = 1.0):
        self.root_pids = sorted(set(int(p) for p in pids))
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.seen_pids: set[int] = set()
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

    def processes(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for pid in self.root_pids:
            try:
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)]:
                    found[proc.pid] = proc
            except psutil.Error:
                continue  # the server is gone: it contributes nothing
        return list(found.values())

    def sample(self) -> None:
        now = time.time()
        cpu: dict[int, float] = {}
        rss = 0
        for proc in self.processes():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu[proc.pid] = times.user + times.system
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue  # exited between the listing and the reading
        self.seen_pids.update(cpu)
        if self._last is not None and cpu:
            then, last_cpu = self._last
            used = sum(cpu[pid] - last_cpu[pid] for pid in cpu if pid in last_cpu)
            if now > then:
                self.samples.append(Sample(now, max(0.0, used / (now - then)), rss / 2**20))
        self._last = (now, cpu)

    def usage(self) -> ServerUsage:
        """Means and maxima over the whole run; None everywhere without samples."""
        if not self.samples:
            return not_sampled()
        cores = [s.cpu_cores for s in self.samples]
        rss = [s.rss_mb for s in self.samples]
        return ServerUsage(cpu_cores_mean=_r6(np.mean(cores)), cpu_cores_max=_r6(max(cores)),
                           rss_mb_mean=_r6(np.mean(rss)), rss_mb_max=_r6(max(rss)),
                           samples=len(self.samples), pids=sorted(self.seen_pids))


def not_sampled() -> ServerUsage:
    return ServerUsage(cpu_cores_mean=None, cpu_cores_max=None, rss_mb_mean=None, rss_mb_max=None,
                       samples=0, pids=[])


def server_means(samples: Sequence[Sample], lo: float, hi: float) -> dict:
    """Mean CPU cores and RSS of the samples taken in (lo, hi]: each sample covers the interval
    before it. A window shorter than the sampling interval gets the first sample after it."""
    inside = [s for s in samples if lo < s.at <= hi]
    if not inside:
        inside = [s for s in samples if s.at > hi][:1]
    if not inside:
        return {"cpu_cores": None, "rss_mb": None}
    return {"cpu_cores": _r6(np.mean([s.cpu_cores for s in inside])),
            "rss_mb": _r6(np.mean([s.rss_mb for s in inside]))}


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
