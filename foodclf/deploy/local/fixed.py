"""Fixed replica counts measured for real: what scripts/check_hpa_sim.py --replicas compares.

For each N, the closed-loop stages go through the balancer to N replicas under their quota;
right before and right after them one replica's capacity is measured twice (through the same
balancer, the others drained meanwhile): under its quota (how it serves once the period's budget
is spent) and with the quota lifted (how it serves while budget is left: foodclf.deploy.quota),
so that the simulation's replicas are the measured one as the machine was at the time: this
machine's speed moves by 10-25 % over minutes, far more than within one N's stages. The sweeps
after one N are those before the next; the curves' largest change says how steady the machine was.

Every replica is warmed up before anything is measured on it: a fresh TorchServe spends its first
few hundred requests compiling (the JVM's JIT, the worker's first batches of each size) and
under a 0.4-core quota answered them 20-25 % slower (22-23 ms of CPU a request once warm, 27-29
in its first 20 s). The simulation's replica is a warm one, so the measured ones are too.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from foodclf.contracts.loadtest import LoadTest
from foodclf.deploy.capacity import Capacity, capacity_drift, capacity_from_loadtest, mean_capacity
from foodclf.deploy.local.replicas import Replica, ReplicaSet
from foodclf.loadtest.profiles import Stage
from foodclf.loadtest.runner import run_capacity, run_loadtest

log = logging.getLogger(__name__)


class MachineLoad:
    """Mean busy CPU cores of the whole machine while the block runs."""

    def __enter__(self) -> MachineLoad:
        self._start = (time.monotonic(), psutil.cpu_times())
        return self

    def __exit__(self, *exc) -> None:
        then, before = self._start
        after = psutil.cpu_times()
        idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
        busy = (sum(after) - sum(before)) - idle
        self.cores = busy / max(time.monotonic() - then, 1e-9)

    def others(self, loadtest: LoadTest) -> float:
        """Busy cores beyond the server's own during a load test."""
        return round(self.cores - (loadtest.server.cpu_cores_mean or 0.0), 2)


@dataclass
class FixedMeasurement:
    """The capacity sweeps (before each N, at the end), each N's load test, the machine's other load."""
    counts: list[int] = field(default_factory=list)
    curves: list[Capacity] = field(default_factory=list)       # under the quota
    free_curves: list[Capacity] = field(default_factory=list)  # the quota lifted
    measured: dict[int, LoadTest] = field(default_factory=dict)
    others: dict[str, float] = field(default_factory=dict)
    start_seconds: list[float] = field(default_factory=list)  # each replica's start to Ready

    def capacity(self, n: int) -> Capacity:
        """The curve for N replicas' stages: the mean of the sweeps right before and right after
        them, free, with the mean of those under the quota as its ``at_limit``."""
        i = self.counts.index(n)
        return replace(mean_capacity(self.free_curves[i:i + 2]), at_limit=mean_capacity(self.curves[i:i + 2]))

    def drift(self) -> float:
        """The largest change of a curve between consecutive sweeps."""
        return max((capacity_drift(a, b) for curves in (self.curves, self.free_curves)
                    for a, b in zip(curves, curves[1:])), default=0.0)


def per_replica_stages(stages: Sequence[Stage], replicas: int) -> list[Stage]:
    """The stages with ``replicas`` times the users: every N is loaded alike per replica."""
    return [Stage(s.duration_s, s.users * replicas, s.delay_s) for s in stages]


def warm_up(url: str, image: Path, seconds: float, users: int) -> None:
    """``users`` closed-loop users without delay for ``seconds`` against ``url``, nothing kept."""
    if seconds > 0:
        log.info("warming up for %.0f s with %d users", seconds, users)
        run_loadtest(url, image, [Stage(seconds, users, 0.0)], seed=0, profile="warm-up")


def measure_fixed(replica_set: ReplicaSet, counts: Sequence[int], stages: Sequence[Stage], image: Path,
                  levels: Sequence[int], level_s: float, out: Path, warmup_s: float = 0.0) -> FixedMeasurement:
    """For each count: one replica's capacity, then the count's stages (users per replica); a
    last capacity at the end. Every replica is warmed up for ``warmup_s`` when it joins."""
    result = FixedMeasurement(counts=list(counts))
    for n in counts:
        _scale_warm(replica_set, n, image, warmup_s)
        _sweep(replica_set, image, levels, level_s, out, f"capacity_before_{n}", result)
        _measure_count(replica_set, n, per_replica_stages(stages, n), image, out, result)
    _sweep(replica_set, image, levels, level_s, out, "capacity_end", result)
    result.start_seconds = [r.start_seconds for r in replica_set.started]
    return result


def _sweep(replica_set: ReplicaSet, image: Path, levels: Sequence[int], level_s: float, out: Path, name: str,
           result: FixedMeasurement) -> None:
    """One replica's capacity curves under its quota and with it lifted, the others drained meanwhile."""
    with replica_set.serving_only(min(replica_set.replicas)) as replica:
        held, free = sweep_held_and_free(replica_set, replica, image, levels, level_s, out, name, result.others)
    result.curves.append(held)
    result.free_curves.append(free)


def sweep_held_and_free(replica_set: ReplicaSet, replica: Replica, image: Path, levels: Sequence[int],
                        level_s: float, out: Path, name: str, others: dict[str, float]) -> tuple[Capacity, Capacity]:
    """The capacity curves through the balancer (which should send only to ``replica``) under
    the replica's quota (``out/name``) and with it lifted (``out/name_free``): how it serves
    once its period's budget is spent, and while budget is left. ``others`` gets the machine's
    other load during each."""
    held = _capacity(replica_set, replica, image, levels, level_s, out, name, others)
    with replica.group.quota_lifted():
        free = _capacity(replica_set, replica, image, levels, level_s, out, f"{name}_free", others)
    return held, free


def _capacity(replica_set: ReplicaSet, replica: Replica, image: Path, levels: Sequence[int], level_s: float,
              out: Path, name: str, others: dict[str, float]) -> Capacity:
    log.info("capacity of one replica (%s) at %s users, %.0f s each", name, list(levels), level_s)
    with MachineLoad() as load:
        doc = run_capacity(replica_set.url, image, list(levels), level_s, out_dir=out / name,
                           server_pids=replica.server.process_pids(), seed=0, model=replica_set.model)
    others[name] = load.others(doc)
    return capacity_from_loadtest(doc, str(out / name / "loadtest.json"))


def _scale_warm(replica_set: ReplicaSet, n: int, image: Path, warmup_s: float) -> None:
    """Scale to ``n``; when replicas were added, warm the set up (the warm ones take their share too)."""
    before = len(replica_set.replicas)
    replica_set.scale_to(n)
    if n > before:
        warm_up(replica_set.url, image, warmup_s, users=2 * n)


def _measure_count(replica_set: ReplicaSet, n: int, stages: list[Stage], image: Path, out: Path,
                   result: FixedMeasurement) -> None:
    log.info("%d replica(s): %d stage(s) of %.0f s", n, len(stages), stages[0].duration_s)
    with MachineLoad() as load:
        doc = run_loadtest(replica_set.url, image, stages, out_dir=out / f"replicas_{n}",
                           server_pids=replica_set.pids(), seed=0, model=replica_set.model, profile="check")
    result.measured[n] = doc
    result.others[f"replicas_{n}"] = load.others(doc)
