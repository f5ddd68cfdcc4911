"""What the simulation counts: transactions and their response times, CPU, memory and pods, per
record interval (the CSV's rows), per stage (simulations/<deployment>.json's ``stages``) and for
the whole run (its ``summary``).

Response-time percentiles come from every successful request's own time (sent to answered), kept
per stage: the distribution is the simulated one, not a formula's. They interpolate linearly
between the two nearest times, as numpy's default and foodclf.loadtest.stats do, so a simulated
p95 and a measured one are computed alike.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from foodclf.contracts.simulation import SimulationStage
from foodclf.loadtest.profiles import Stage

KIB_PER_MIB = 1024
PERCENTILES = (50, 95, 99)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ascending values, linear between the nearest ranks (numpy's default)."""
    if not sorted_values:
        raise ValueError("no values")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def latency_percentiles(times_s: Sequence[float]) -> dict[str, float | None]:
    """``{"p50_s", "p95_s", "p99_s"}`` of response times (None each when there are none)."""
    ordered = sorted(times_s)
    return {f"p{q}_s": round(percentile(ordered, q), 4) if ordered else None for q in PERCENTILES}


class Tally:
    """The engine's counters. The engine calls ``count`` for every finished transaction,
    ``accrue`` as time passes, ``finish_stage`` at each stage's end and ``take_interval`` at
    each record tick."""

    def __init__(self) -> None:
        self.cpu_total = 0.0              # CPU seconds of all pods since the start
        self.interval = self._new_interval()
        self.stage = self._new_stage(0.0)
        self.stage_rows: list[SimulationStage] = []
        self.stage_times: list[list[float]] = []  # each finished stage's response times
        self.successes = 0
        self.failures = 0
        self.time_s = 0.0                 # the successes' response times, summed

    def _new_interval(self) -> dict:
        return {"successes": 0, "failures": 0, "time": 0.0, "cpu": self.cpu_total}

    @staticmethod
    def _new_stage(t0: float) -> dict:
        return {"successes": 0, "failures": 0, "time": 0.0, "cpu_s": 0.0, "memory_mb_s": 0.0,
                "replicas_s": 0.0, "ready_s": 0.0, "t0": t0, "times": []}

    def count(self, success: bool, elapsed_s: float = 0.0) -> None:
        key = "successes" if success else "failures"
        self.interval[key] += 1
        self.stage[key] += 1
        if success:
            self.interval["time"] += elapsed_s
            self.stage["time"] += elapsed_s
            self.stage["times"].append(elapsed_s)

    def accrue(self, dt: float, cpu_s: float, memory_mb: float, replicas: int, ready: int) -> None:
        """``dt`` seconds passed in which the pods used ``cpu_s`` CPU seconds and held ``memory_mb``."""
        self.cpu_total += cpu_s
        acc = self.stage
        acc["cpu_s"] += cpu_s
        acc["memory_mb_s"] += memory_mb * dt
        acc["replicas_s"] += replicas * dt
        acc["ready_s"] += ready * dt

    def take_interval(self, width_s: float) -> dict:
        """The record interval's counts for the CSV row; starts the next interval."""
        iv = self.interval
        row = {"successes": iv["successes"], "failures": iv["failures"],
               "throughput": round(iv["successes"] / width_s, 3),
               "response_time_s": round(iv["time"] / iv["successes"], 4) if iv["successes"] else "",
               "cpu_cores": round((self.cpu_total - iv["cpu"]) / width_s, 4)}
        self.interval = self._new_interval()
        return row

    def finish_stage(self, index: int, stage: Stage, t: float) -> None:
        """Close stage ``index`` (0-based) at time ``t`` into a SimulationStage row."""
        acc = self.stage
        duration = max(t - acc["t0"], 1e-9)
        self.stage_rows.append(SimulationStage(
            index=index + 1, duration_s=round(duration, 3), users=stage.users, delay_s=stage.delay_s,
            successes=acc["successes"], failures=acc["failures"],
            transaction_rate=round(acc["successes"] / duration, 4),
            response_time_s=round(acc["time"] / acc["successes"], 4) if acc["successes"] else None,
            **latency_percentiles(acc["times"]),
            cpu_cores=round(acc["cpu_s"] / duration, 4),
            memory_kb=round(acc["memory_mb_s"] / duration * KIB_PER_MIB),
            replicas=round(acc["replicas_s"] / duration, 3), ready=round(acc["ready_s"] / duration, 3)))
        self.stage_times.append(acc["times"])
        self.successes += acc["successes"]
        self.failures += acc["failures"]
        self.time_s += acc["time"]
        self.stage = self._new_stage(t)

    def run_percentiles(self) -> dict[str, float | None]:
        """The whole run's p50/p95/p99: over every success of every stage."""
        return latency_percentiles([x for times in self.stage_times for x in times])
