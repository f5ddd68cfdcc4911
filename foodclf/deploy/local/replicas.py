"""A Deployment on one machine: N real TorchServe replicas, each under a CPU quota, behind HAProxy.

    with ReplicaSet(store, "food", cpu_limit=scaled_cpu(2.0), slots=4) as replicas:
        replicas.scale_to(2)            # start, wait for /ping, join the balancer
        run_loadtest(replicas.url, ...) # the Service's address
        replicas.scale_to(1)            # drain the newest, then stop it

A replica is what a pod is here: a TorchServe (its own ports and working directory) whose whole
process tree (launcher, Java frontend, Python workers) lives in a cgroup with the pod's CPU
limit as its quota, as the kubelet enforces it. It joins the balancer when TorchServe answers
/ping with its workers ready (the readiness probe), and leaves it drained: no new requests, those
inside answered, then stopped. Everything stops on exit, on an exception or Ctrl-C too.

The scale factor: the Deployment's limit (2 CPU) is for a cluster node, not this machine. Each
replica gets ``limit × CPU_SCALE`` cores; CPU_SCALE = 0.15 makes 4 replicas of a 2-CPU limit
1.2 cores, which leaves 0.8 of 2 cores for the load generator, HAProxy and the scheduler's slack.
At 0.2 (1.6 cores) 4 busy replicas got only 0.33 of their 0.4 cores each: the quotas' bursts
at each period's start queued for the 2 cores, and answers were 18-25 % slower. The simulation
it is compared with gets the same scaled limit and a capacity curve measured under it.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from foodclf.deploy.local.cgroups import CpuGroup
from foodclf.deploy.local.haproxy import Balancer
from foodclf.errors import FoodclfError
from foodclf.serve.server import TorchServe

log = logging.getLogger(__name__)

CPU_SCALE = 0.15


def scaled_cpu(cores: float, scale: float = CPU_SCALE) -> float:
    """A manifest's CPU quantity (cores) as this machine gives it to one replica."""
    return round(cores * scale, 4)


@dataclass
class Replica:
    """One running replica: its balancer slot, server and CPU group, and when it was started."""
    slot: int
    server: TorchServe
    group: CpuGroup
    started_s: float                 # time.monotonic() when its start began
    up_s: float = float("nan")       # ... when TorchServe answered /ping with its workers ready
    ready_s: float = float("nan")    # ... and when the balancer's health check saw it UP
    cpu_marks: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, usage_s) scrapes

    @property
    def start_seconds(self) -> float:
        """Start under the quota to Ready (the balancer's health check sees it UP): what the
        simulation's model_load_s stands for when readiness is that check."""
        return self.ready_s - self.started_s

    def outside_group(self) -> list[int]:
        """Processes of this replica's server not in its group: none, as it is launched inside it."""
        inside = self.group.pids()
        return [pid for pid in self.server.process_pids() if pid not in inside]

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            self.group.remove()


class ReplicaSet:
    """Replicas of one model behind one balancer; ``scale_to`` adds the lowest free slots and
    removes the newest replicas first (as a ReplicaSet deletes the youngest pods)."""

    def __init__(self, model_store: str | os.PathLike, model: str, cpu_limit: float, workdir: str | os.PathLike,
                 slots: int = 4, balance: str = "random(1)", properties: dict | None = None,
                 startup_timeout: float = 300.0):
        self.model_store, self.model, self.cpu_limit = Path(model_store), model, cpu_limit
        self.workdir = Path(workdir)
        self.properties = dict(properties or {})
        self.startup_timeout = startup_timeout
        self.balancer = Balancer(slots=slots, balance=balance)
        self.replicas: dict[int, Replica] = {}
        self.started: list[Replica] = []  # every replica that turned ready, removed ones too

    @property
    def url(self) -> str:
        """The balancer's predictions URL: what the load goes to."""
        return f"{self.balancer.url}/predictions/{self.model}"

    def __enter__(self) -> ReplicaSet:
        self.balancer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every replica and the balancer (whatever fails, the rest still stops)."""
        errors = []
        for slot in sorted(self.replicas, reverse=True):
            try:
                self.replicas.pop(slot).stop()
            except Exception as e:  # noqa: BLE001 (the others must stop all the same)
                log.error("stopping replica %d failed: %s", slot, e)
                errors.append(e)
        self.balancer.stop()
        if errors:
            raise errors[0]

    def pids(self) -> list[int]:
        """Every replica's processes: what a load test samples as the server."""
        return [pid for r in list(self.replicas.values()) for pid in r.server.process_pids()]

    def scale_to(self, count: int) -> None:
        """Add replicas (started side by side, each joined once ready) or remove the newest."""
        if not 0 <= count <= self.balancer.slots:
            raise FoodclfError(f"{count} replicas: this set has {self.balancer.slots} slots")
        while len(self.replicas) > count:
            self.remove(max(self.replicas, key=lambda s: self.replicas[s].started_s))
        starting = [self.new_replica() for _ in range(count - len(self.replicas))]
        with ThreadPoolExecutor(max_workers=max(1, len(starting))) as pool:
            # every start is waited for, so a failed one cannot leave another running unseen
            failures = [e for e in pool.map(self.boot, starting) if e is not None]
        if failures:
            raise failures[0]
        for replica in starting:
            self.join(replica)

    def add(self) -> Replica:
        """Start one replica and join it to the balancer once ready; returns it."""
        replica = self.new_replica()
        error = self.boot(replica)
        if error is not None:
            raise error
        self.join(replica)
        return replica

    def new_replica(self) -> Replica:
        """A replica in the lowest free slot, its CPU group made, its server not started."""
        free = set(range(1, self.balancer.slots + 1)) - set(self.replicas)
        if not free:
            raise FoodclfError(f"all {self.balancer.slots} balancer slots are taken (replicas still draining?)")
        slot = min(free)
        group = CpuGroup(f"foodclf-{os.getpid()}-r{slot}", self.cpu_limit).create()
        # launched through the group: the launcher, Java and the workers are all born under the quota
        server = TorchServe(self.model_store, models={self.model: f"{self.model}.mar"},
                            workdir=self.workdir / f"replica-{slot}", properties=self.properties,
                            startup_timeout=self.startup_timeout, launch_prefix=group.launch_prefix())
        replica = Replica(slot, server, group, started_s=time.monotonic())
        self.replicas[slot] = replica
        return replica

    def boot(self, replica: Replica) -> BaseException | None:
        """Start the replica's TorchServe under its quota; the error (the replica gone) or None."""
        replica.started_s = time.monotonic()
        try:
            replica.server.start()
        except BaseException as e:
            self.replicas.pop(replica.slot).stop()
            return e
        replica.up_s = time.monotonic()
        outside = replica.outside_group()
        if outside:  # a quota that misses processes would make every figure wrong
            self.replicas.pop(replica.slot).stop()
            return FoodclfError(f"replica {replica.slot}: processes {outside} run outside its CPU group "
                                f"{replica.group.folders[0]}")
        return None

    def join(self, replica: Replica) -> None:
        self.balancer.join(replica.slot, replica.server.inference_port)
        self.balancer.wait_up(replica.slot)
        replica.ready_s = time.monotonic()
        self.started.append(replica)
        log.info("replica %d ready after %.1f s under %.2f cores", replica.slot, replica.start_seconds,
                 self.cpu_limit)

    @contextmanager
    def serving_only(self, slot: int) -> Iterator[Replica]:
        """Within the block only replica ``slot`` gets requests (the others drained, still running)."""
        others = [s for s in self.replicas if s != slot]
        for other in others:
            self.balancer.drain(other)
        try:
            yield self.replicas[slot]
        finally:
            for other in others:
                self.balancer.undrain(other)

    def remove(self, slot: int) -> None:
        """Drain replica ``slot`` (no new requests, those inside answered), then stop it."""
        if slot not in self.replicas:
            raise FoodclfError(f"no replica in slot {slot}; running: {sorted(self.replicas)}")
        try:
            self.balancer.drain(slot)
            self.balancer.leave(slot)
        finally:
            self.replicas.pop(slot).stop()

    def cpu_cores(self, slot: int) -> float | None:
        """The replica's mean CPU cores since its previous call (a metrics-server scrape); None
        at the first call."""
        replica = self.replicas[slot]
        now, used = time.monotonic(), replica.group.usage_s()
        previous = replica.cpu_marks[-1] if replica.cpu_marks else None
        replica.cpu_marks.append((now, used))
        if previous is None or now <= previous[0]:
            return None
        return (used - previous[1]) / (now - previous[0])

