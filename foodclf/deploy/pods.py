"""A simulated pod and a request in it (foodclf.deploy.engine moves them in time)."""
from __future__ import annotations

import math


class Request:
    __slots__ = ("user", "sent_s", "pod", "counted")

    def __init__(self, user: int, sent_s: float):
        self.user, self.sent_s, self.pod, self.counted = user, sent_s, None, False


class Pod:
    """A pod: its life-cycle times, the requests it serves (processor sharing) and its CPU counter."""

    def __init__(self, name: int, created_s: float, budget: float):
        self.name = name
        self.created_s = created_s
        self.node: int | None = None
        self.bound_s: float | None = None
        self.started_s = math.inf      # container running (memory from here)
        self.up_s = math.inf           # TorchServe answering
        self.ready_s = math.inf
        self.deleted_s: float | None = None
        self.gone = False
        self.jobs: list[tuple[float, int, Request]] = []  # (finish tag, seq, request)
        self.attained = 0.0            # service each request in it has received (PS virtual time)
        self.cpu_seconds = 0.0
        self.budget = budget           # CPU time (core-seconds) left of its quota (foodclf.deploy.quota)
        self.scrape: tuple[float, float] | None = None     # (time, cpu_seconds) at the last scrape
        self.sample: tuple[float, float] | None = None     # (time, cores)
        self.latency_s: float | None = None  # TorchServe's summed latency of answers; None: no answer yet
        self.series: list[tuple[float, float]] = []         # Prometheus' samples of it: (time, seconds)

    def ready(self, t: float) -> bool:
        return self.deleted_s is None and t >= self.ready_s

    def running(self, t: float) -> bool:
        return not self.gone and t >= self.started_s
