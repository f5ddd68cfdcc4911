"""Fixed replica counts measured for real: what scripts/check_hpa_sim.py --replicas compares.

For each N, the closed-loop stages go through the balancer to N replicas under their quota;
around them one replica's capacity curve (through the same balancer, under the same quota) is
measured before and after, so that the simulation's replicas are the measured one and the
curve's drift says how steady the machine was.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from foodclf.contracts.loadtest import LoadTest
from foodclf.deploy.capacity import Capacity, capacity_from_loadtest
from foodclf.deploy.local.replicas import ReplicaSet
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
    """The capacity curves (before, after), each N's load test, the machine's other load."""
    curves: list[Capacity] = field(default_factory=list)
    measured: dict[int, LoadTest] = field(default_factory=dict)
    others: dict[str, float] = field(default_factory=dict)
    start_seconds: list[float] = field(default_factory=list)  # each replica's start to Ready


def per_replica_stages(stages: Sequence[Stage], replicas: int) -> list[Stage]:
    """The stages with ``replicas`` times the users: every N is loaded alike per replica."""
    return [Stage(s.duration_s, s.users * replicas, s.delay_s) for s in stages]


def measure_fixed(replica_set: ReplicaSet, counts: Sequence[int], stages: Sequence[Stage], image: Path,
                  levels: Sequence[int], level_s: float, out: Path) -> FixedMeasurement:
    """Capacity of one replica, each count's stages (users per replica), capacity again."""
    result = FixedMeasurement()
    for when in ("before", "after"):
        if when == "after":
            for n in counts:
                _measure_count(replica_set, n, per_replica_stages(stages, n), image, out, result)
        replica_set.scale_to(1)
        log.info("capacity of one replica (%s) at %s users, %.0f s each", when, list(levels), level_s)
        with MachineLoad() as load:
            doc = run_capacity(replica_set.url, image, list(levels), level_s, out_dir=out / f"capacity_{when}",
                               server_pids=replica_set.pids(), seed=0, model=replica_set.model)
        result.others[f"capacity_{when}"] = load.others(doc)
        result.curves.append(capacity_from_loadtest(doc, str(out / f"capacity_{when}" / "loadtest.json")))
    result.start_seconds = [r.start_seconds for r in replica_set.started]
    return result


def _measure_count(replica_set: ReplicaSet, n: int, stages: list[Stage], image: Path, out: Path,
                   result: FixedMeasurement) -> None:
    replica_set.scale_to(n)
    log.info("%d replica(s): %d stage(s) of %.0f s", n, len(stages), stages[0].duration_s)
    with MachineLoad() as load:
        doc = run_loadtest(replica_set.url, image, stages, out_dir=out / f"replicas_{n}",
                           server_pids=replica_set.pids(), seed=0, model=replica_set.model, profile="check")
    result.measured[n] = doc
    result.others[f"replicas_{n}"] = load.others(doc)
