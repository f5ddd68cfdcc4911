"""The HPA scaling real replicas: the simulation's controller functions on a real clock.

    loop = Autoscaler(replica_set, spec, settings)       # spec and settings already time-scaled
    ticks = loop.run(until=lambda: load.done())          # one Tick per sync

Every ``metrics_interval_s`` (first at ``metrics_offset_s``) each replica's CPU is scraped from its
cgroup (mean cores since the previous scrape: what metrics-server reports); every
``sync_period_s`` foodclf.deploy.controller.reconcile sees the replicas as PodViews, as the
simulation's engine builds them, and its answer is carried out: a new replica starts under its
quota in the background and joins the balancer when /ping answers; a removed one (the
unready, then the newest first, as a ReplicaSet picks) is drained, then stopped.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from foodclf.deploy.cluster import SimulationSettings
from foodclf.deploy.controller import ControllerState, PodView, reconcile
from foodclf.deploy.local.replicas import Replica, ReplicaSet
from foodclf.deploy.spec import DeploymentSpec

log = logging.getLogger(__name__)

LONG_AGO = -1e9  # the replicas up before the run: ready and past the CPU initialisation period


@dataclass(frozen=True)
class Tick:
    """One sync of the controller: the count it set, the replicas Ready then, what it saw."""
    t_s: float
    replicas: int
    ready: int
    utilization: int | None


class Autoscaler:
    """Runs the HPA against a ReplicaSet until told to stop; replicas up at start count as old."""

    def __init__(self, replica_set: ReplicaSet, spec: DeploymentSpec, settings: SimulationSettings):
        self.set, self.spec, self.s = replica_set, spec, settings
        self.state = ControllerState()
        self.initial = set(replica_set.replicas)
        self.deleting: set[int] = set()
        self.samples: dict[int, tuple[float, float]] = {}  # slot -> (time, cores)
        self.ticks: list[Tick] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2 * replica_set.balancer.slots, thread_name_prefix="replica")
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def run(self, until: Callable[[], bool], start: float | None = None) -> list[Tick]:
        """Scrape and sync on the settings' schedule until ``until()``, from ``start`` (a
        time.monotonic() reading: the load's time 0; default now); waits for starts and drains."""
        self.t0 = time.monotonic() if start is None else start
        for slot in self.set.replicas:
            self.set.cpu_cores(slot)  # the first scrape's starting mark
        interval = self.s.metrics_interval_s
        next_scrape = self.s.metrics_offset_s % interval or interval
        next_sync = self.s.sync_period_s
        try:
            while not until():
                t = min(next_scrape, next_sync)
                time.sleep(max(0.0, min(t - self.now(), 0.5)))
                if self.now() < t:
                    continue
                if t == next_scrape:
                    self._scrape()
                    next_scrape += interval
                else:
                    self._sync()
                    next_sync += self.s.sync_period_s
        finally:
            self._pool.shutdown(wait=True)
        return self.ticks

    def live(self) -> list[int]:
        with self._lock:
            return [slot for slot in self.set.replicas if slot not in self.deleting]

    def _scrape(self) -> None:
        for slot in list(self.set.replicas):
            try:
                cores = self.set.cpu_cores(slot)
            except (OSError, KeyError):  # removed meanwhile
                continue
            if cores is not None:
                self.samples[slot] = (self.now(), cores)

    def _sync(self) -> None:
        live = self.live()
        views = [self._view(slot, r) for slot, r in list(self.set.replicas.items())]
        desired = reconcile(self.state, self.spec, len(live), views, self.now(), self.s.tolerance,
                            self.s.cpu_init_period_s)
        if desired > len(live):
            for _ in range(desired - len(live)):
                with self._lock:
                    replica = self.set.new_replica()
                self._pool.submit(self._start, replica)  # a start takes longer than a sync period
        elif desired < len(live):
            for slot in self._victims(live, len(live) - desired):
                self.deleting.add(slot)
                if self._ready(self.set.replicas[slot]):
                    self._pool.submit(self._remove, slot)  # not yet ready: _start removes it when it is up
        ready = sum(self._ready(r) for slot, r in list(self.set.replicas.items()) if slot not in self.deleting)
        self.ticks.append(Tick(round(self.now(), 3), desired, ready, self.state.utilization))
        log.info("t=%.1f s: %d replicas wanted (utilisation %s%%), %d ready", self.now(), desired,
                 self.state.utilization, ready)

    def _victims(self, live: list[int], count: int) -> list[int]:
        """The ReplicaSet's choice: not-ready replicas first, then the most recent."""
        def order(slot: int):
            replica = self.set.replicas[slot]
            return (self._ready(replica), -replica.started_s)
        return sorted(live, key=order)[:count]

    def _view(self, slot: int, replica: Replica) -> PodView:
        old = slot in self.initial
        ready = self._ready(replica)
        sample = self.samples.get(slot)
        return PodView(
            request_cores=self.spec.cpu_request, deleting=slot in self.deleting, pending=False, ready=ready,
            start_s=LONG_AGO if old else replica.started_s - self.t0,
            ready_since_s=(LONG_AGO if old else replica.ready_s - self.t0) if ready else None,
            sample_cores=sample[1] if sample else None, sample_time_s=sample[0] if sample else 0.0,
            sample_window_s=self.s.metrics_interval_s)

    @staticmethod
    def _ready(replica: Replica) -> bool:
        return not math.isnan(replica.ready_s)

    def _start(self, replica: Replica) -> None:
        error = self.set.boot(replica)
        if error is not None:
            log.error("replica %d did not start: %s", replica.slot, error)
            return
        self.set.join(replica)
        if replica.slot in self.deleting:  # scaled down while it started
            self._remove(replica.slot)

    def _remove(self, slot: int) -> None:
        try:
            self.set.remove(slot)
        except Exception:  # noqa: BLE001 (a failed drain must not stop the controller)
            log.exception("removing replica %d failed", slot)
        finally:
            self.deleting.discard(slot)
            self.samples.pop(slot, None)
