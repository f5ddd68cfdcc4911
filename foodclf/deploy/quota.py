"""A pod's CPU limit as the kernel enforces it: a CFS quota, a budget of CPU time per period.

Every period (the kubelet's 100 ms) a cgroup gets ``limit × period`` of CPU time; its threads
run at full speed until that is spent, then wait for the next period. So a pod that is mostly
idle answers a request at the speed of free cores, and only a busy one runs at its limit's pace:
with a limit of 0.3 cores, one request of 24 ms of CPU on an idle pod takes 24 ms, not 80.

The simulation approximates the periods with a token bucket: the budget refills continuously at
``limit`` cores and holds at most one period's worth (``limit × period``). While it lasts, a
replica with ``n`` requests inside serves at the rate and CPU of the capacity curve measured with
CPU to spare; once it is spent, at those of the replica held at its limit: a curve measured under
the quota where there is one (``Capacity.at_limit``; here a throttled replica paid about a fifth
more CPU per request), else the free rate slowed in proportion (``served_rate``).
"""
from __future__ import annotations

from dataclasses import dataclass

from foodclf.deploy.capacity import Capacity, served_rate

CFS_PERIOD_S = 0.1  # the kubelet's CFS period (cpu.cfs_period_us = 100000)
# A budget below this (core-seconds) is spent: advancing to the moment it runs out leaves rounding dust.
SPENT = 1e-9


@dataclass(frozen=True)
class QuotaTable:
    """Per number of requests inside (index n): the replica's rate and CPU with budget left
    (``free_*``) and without (``held_*``), how fast it spends its budget (``drain``: CPU above
    the limit; ≤ 0 when it never runs out), the limit and the bucket's size."""
    free_rate: list[float]
    free_cpu: list[float]
    held_rate: list[float]
    held_cpu: list[float]
    drain: list[float]
    limit: float
    bucket: float


def quota_table(capacity: Capacity, cpu_limit: float | None, top: int, period_s: float = CFS_PERIOD_S) -> QuotaTable:
    """The table for 0..``top`` requests inside; without a limit the budget never runs out."""
    free_rate = [capacity.rate(n) for n in range(top + 1)]
    free_cpu = [capacity.cpu(n) for n in range(top + 1)]
    if cpu_limit is None:
        inf = float("inf")
        return QuotaTable(free_rate, free_cpu, free_rate, free_cpu, [-inf] * (top + 1), inf, inf)
    if capacity.at_limit is not None:
        held_rate = [capacity.at_limit.rate(n) for n in range(top + 1)]
        held_cpu = [min(capacity.at_limit.cpu(n), cpu_limit) for n in range(top + 1)]
    else:
        held = [served_rate(r, c, cpu_limit) for r, c in zip(free_rate, free_cpu)]
        held_rate, held_cpu = [r for r, _ in held], [c for _, c in held]
    drain = [c - cpu_limit for c in free_cpu]
    return QuotaTable(free_rate, free_cpu, held_rate, held_cpu, drain, cpu_limit, cpu_limit * period_s)
