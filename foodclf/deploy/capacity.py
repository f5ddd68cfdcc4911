"""The one-replica capacity curve that a capacity load test measured (loadtest.json's ``capacity``).

A replica of the simulation serves, with ``n`` requests inside, the curve's transaction rate at
``n`` users in total (linear between the measured levels, flat beyond the last) and uses the
curve's CPU and memory at ``n``. Memory is the replica's Σ PSS over its processes
(foodclf.loadtest.memory), mean per level and the level's peak. Nothing here knows about Kubernetes.
"""
from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from foodclf.contracts.loadtest import LoadTest, loadtest_path, read_loadtest
from foodclf.errors import SchemaError

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class CapacityPoint:
    users: int
    transaction_rate: float
    cpu_cores: float
    pss_mb: float                        # the replica's memory (Σ PSS, MB), mean of the level's samples
    pss_mb_peak: float | None = None     # the level's largest sample (None: the mean)

@dataclass(frozen=True)
class Capacity:
    """The one-replica capacity curve from a load test (``capacity`` of loadtest.json)."""
    model: str
    source: str
    points: tuple[CapacityPoint, ...]  # ascending users
    # The same replica measured held at its CPU limit (under the quota), where known: how a
    # throttled replica serves (foodclf.deploy.quota). The points above then had CPU to spare.
    at_limit: Capacity | None = None

    def rate(self, n: int) -> float:
        return self._interpolate(n, "transaction_rate", 0.0)

    def cpu(self, n: int) -> float:
        return self._interpolate(n, "cpu_cores", 0.0)

    def pss_mb(self, n: int) -> float:
        """A replica's memory (Σ PSS, MB) with ``n`` users in it."""
        # An idle replica keeps its model and JVM in memory: below the first level, the first level.
        return self._interpolate(n, "pss_mb", self.points[0].pss_mb)

    @property
    def peak_pss_mb(self) -> float:
        """The largest memory a replica was measured at (Σ PSS, MB): what a memory limit must hold."""
        return max(p.pss_mb if p.pss_mb_peak is None else p.pss_mb_peak for p in self.points)

    def _interpolate(self, n: float, name: str, at_zero: float) -> float:
        xs = [0] + [p.users for p in self.points]
        ys = [at_zero] + [getattr(p, name) for p in self.points]
        if n >= xs[-1]:
            return ys[-1]  # saturated: more users only wait longer
        i = bisect.bisect_right(xs, n)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (y1 - y0) * (n - x0) / (x1 - x0)


def capacity_from_loadtest(doc: LoadTest, source: str) -> Capacity:
    """The capacity curve of a load test in capacity mode; levels without successes are left out."""
    if not doc.capacity:
        raise SchemaError(f"{source}: has no 'capacity' (mode is {doc.mode!r}); the simulation needs the "
                          "one-replica capacity curve: run `foodclf loadtest --capacity`")
    points = []
    for i, level in enumerate(sorted(doc.capacity, key=lambda level: level.users)):
        if level.transaction_rate <= 0:
            log.warning("%s: capacity at %d users has no successes; left out", source, level.users)
            continue
        if level.cpu_cores is None:
            raise SchemaError(f"{source}: capacity[{i}] has no cpu_cores; the server's CPU is sampled only when "
                              "the load test runs on the server's machine: rerun it there")
        pss = level.pss_mb if level.pss_mb is not None else doc.server.pss_mb_mean
        if pss is None:
            raise SchemaError(f"{source}: capacity[{i}] has no pss_mb; rerun the load test on the server's machine")
        peak = level.pss_mb_peak if level.pss_mb is not None else doc.server.pss_mb_peak
        points.append(CapacityPoint(level.users, level.transaction_rate, level.cpu_cores, pss, peak))
    if not points:
        raise SchemaError(f"{source}: no capacity level had a successful transaction; is the server working?")
    return Capacity(model=doc.model, source=source, points=tuple(points))


def load_capacity(path: str | os.PathLike) -> Capacity:
    """Read the capacity curve from a loadtest.json (or a run directory holding one)."""
    return capacity_from_loadtest(read_loadtest(path), str(loadtest_path(path)))


def mean_capacity(curves: Sequence[Capacity]) -> Capacity:
    """The level-by-level mean of capacity curves of one model (levels common to all of them)."""
    common = sorted(set.intersection(*({p.users for p in c.points} for c in curves)))
    if not common:
        raise SchemaError("the capacity curves share no user level; measure them with the same levels")
    points = []
    for users in common:
        same = [next(p for p in c.points if p.users == users) for c in curves]
        points.append(CapacityPoint(users, *(sum(getattr(p, f) for p in same) / len(same)
                                             for f in ("transaction_rate", "cpu_cores", "pss_mb")),
                                    # a peak is not averaged away: the largest of the curves' peaks
                                    max(p.pss_mb if p.pss_mb_peak is None else p.pss_mb_peak for p in same)))
    return Capacity(curves[0].model, " + ".join(c.source for c in curves), tuple(points))


def capacity_drift(first: Capacity, second: Capacity) -> float:
    """The largest relative change of transaction rate at a common level between two curves."""
    rates = {p.users: p.transaction_rate for p in first.points}
    changes = [abs(p.transaction_rate - rates[p.users]) / rates[p.users] for p in second.points if p.users in rates]
    return max(changes, default=0.0)


def served_rate(rate: float, cpu: float, cpu_limit: float | None) -> tuple[float, float]:
    """(rate, cpu) of a replica once its CPU limit throttles it: work slows in proportion."""
    if cpu_limit is None or cpu <= cpu_limit:
        return rate, cpu
    return rate * cpu_limit / cpu, cpu_limit

