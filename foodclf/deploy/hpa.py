"""Predict a Kubernetes deployment: the HPA controller, the cluster and siege's users, simulated.

    capacity = load_capacity("runs/demo/mobilenet_v2/loadtest.json")    # one replica, measured
    spec = load_deployment("k8s/deployment_hpa.yaml")                    # foodclf.deploy.manifests
    result = simulate(capacity, spec, parse_profile("challenge"))
    write_simulation(result, "runs/demo/mobilenet_v2/simulations")       # .json .csv .png

What is modelled, and how (docs/kubernetes.md has the reasoning and the limits):

* A replica is a processor-sharing server whose total service rate with ``n`` requests inside
  is the measured one-replica capacity curve's transaction rate at ``n`` users (linear between
  the measured levels, flat beyond the last); its CPU is the curve's CPU at ``n``. When that
  CPU exceeds the pod's CPU limit, the pod is throttled: CPU = limit and the rate shrinks in
  proportion. A replica holds at most ``queue_size`` requests (TorchServe's job_queue_size);
  more are refused (503).
* Users are siege's (and foodclf.loadtest.runner's) closed loop: each waits uniform(0, delay) and
  sends one request, waits for the answer, and again. A stage change redraws the waits of
  users who are waiting; a request counts in the stage in which it completes. A request
  fails when no replica is ready (connection refused), when its replica is full, or when it
  takes longer than the client timeout. The Service picks a ready replica at random
  (kube-proxy's iptables mode).
* The HPA controller as Kubernetes' replica calculator and behavior code do it (the small
  pure functions below: ``classify_pod``, ``replica_proposal``, ``stabilize``,
  ``rate_limited``, ``reconcile``): every sync period, utilisation = Σ usage / Σ requests
  (an integer percent, as in Kubernetes), desired = ceil(ratio × pods), inside the
  tolerance nothing changes, unready and metric-less pods are handled as Kubernetes does,
  scale-down is stabilised, scale-up rate-limited, and min/max clamp the result.
* Metrics-server scrapes every ``metrics_interval_s``; a sample is the mean CPU over the
  interval before it, so the controller acts on the past.
* A new pod is Pending until a node has its CPU and memory requests free, then pulls its image,
  starts TorchServe (``model_load_s``) and turns Ready on the probes' schedule
  (``ready_delay_s``). A removed pod leaves the endpoints at once and finishes the requests
  it holds.

Everything is deterministic for a given seed, and the 30-minute challenge takes seconds.
"""
from __future__ import annotations

import bisect
import csv
import heapq
import io
import logging
import math
import os
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from foodclf.errors import FoodclfError, SchemaError
from foodclf.io import atomic_save, atomic_write_json, atomic_write_text, read_json, require_fields
from foodclf.loadtest.runner import DEFAULT_TIMEOUT_S, load_loadtest
from foodclf.deploy.manifests import DeploymentSpec, Probe, ScalingRules, fixed_replicas
from foodclf.loadtest.profiles import Stage

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
KIB_PER_MIB = 1024
# A refused connection or an immediate 503 still costs the client a round trip; without it a
# user with no delay would retry infinitely often in zero time.
FAILED_REQUEST_S = 0.05
CSV_FIELDS = ["t_s", "stage", "users", "replicas", "pods", "ready", "pending", "in_flight", "successes",
              "failures", "throughput", "response_time_s", "cpu_cores", "memory_mb", "hpa_utilization",
              "hpa_desired"]


class SimulationError(FoodclfError):
    """The simulation's inputs cannot describe a working deployment (e.g. probes that give up)."""


# ==== capacity: one replica, measured =========================================================

@dataclass(frozen=True)
class CapacityPoint:
    users: int
    transaction_rate: float
    cpu_cores: float
    rss_mb: float


@dataclass(frozen=True)
class Capacity:
    """The one-replica capacity curve from a load test (``capacity`` of loadtest.json)."""
    model: str
    source: str
    points: tuple[CapacityPoint, ...]  # ascending users

    def rate(self, n: int) -> float:
        return self._interpolate(n, "transaction_rate", 0.0)

    def cpu(self, n: int) -> float:
        return self._interpolate(n, "cpu_cores", 0.0)

    def rss_mb(self, n: int) -> float:
        # An idle replica keeps its model and JVM in memory: below the first level, the first level.
        return self._interpolate(n, "rss_mb", self.points[0].rss_mb)

    def _interpolate(self, n: float, name: str, at_zero: float) -> float:
        xs = [0] + [p.users for p in self.points]
        ys = [at_zero] + [getattr(p, name) for p in self.points]
        if n >= xs[-1]:
            return ys[-1]  # saturated: more users only wait longer
        i = bisect.bisect_right(xs, n)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (y1 - y0) * (n - x0) / (x1 - x0)


def capacity_from_loadtest(doc: dict, source: str) -> Capacity:
    """The capacity curve of a validated loadtest.json; levels without successes are left out."""
    rows = doc.get("capacity")
    if not rows:
        raise SchemaError(f"{source}: has no 'capacity' (mode is {doc.get('mode')!r}); the simulation needs the "
                          "one-replica capacity curve: run scripts/loadtest.py --capacity")
    points = []
    for i, row in enumerate(sorted(rows, key=lambda r: r["users"])):
        if row["transaction_rate"] <= 0:
            log.warning("%s: capacity at %d users has no successes; left out", source, row["users"])
            continue
        if row.get("cpu_cores") is None:
            raise SchemaError(f"{source}: capacity[{i}] has no cpu_cores; the server's CPU is sampled only when "
                              "the load test runs on the server's machine: rerun it there")
        rss = row.get("rss_mb") if row.get("rss_mb") is not None else (doc.get("server") or {}).get("rss_mb_mean")
        if rss is None:
            raise SchemaError(f"{source}: capacity[{i}] has no rss_mb; rerun the load test on the server's machine")
        points.append(CapacityPoint(int(row["users"]), float(row["transaction_rate"]), float(row["cpu_cores"]),
                                    float(rss)))
    if not points:
        raise SchemaError(f"{source}: no capacity level had a successful transaction; is the server working?")
    return Capacity(model=str(doc.get("model", "model")), source=source, points=tuple(points))


def load_capacity(path: str | os.PathLike) -> Capacity:
    """Read the capacity curve from a loadtest.json (or a run directory holding one)."""
    path = Path(path)
    doc = load_loadtest(path)
    return capacity_from_loadtest(doc, str(path / "loadtest.json" if path.is_dir() else path))


def mean_capacity(curves: Sequence[Capacity]) -> Capacity:
    """The level-by-level mean of capacity curves of one model (levels common to all of them)."""
    common = sorted(set.intersection(*({p.users for p in c.points} for c in curves)))
    if not common:
        raise SchemaError("the capacity curves share no user level; measure them with the same levels")
    points = []
    for users in common:
        same = [next(p for p in c.points if p.users == users) for c in curves]
        points.append(CapacityPoint(users, *(sum(getattr(p, f) for p in same) / len(same)
                                             for f in ("transaction_rate", "cpu_cores", "rss_mb"))))
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


# ==== the HPA controller, as small pure functions =============================================

READY, UNREADY, MISSING, IGNORED = "ready", "unready", "missing", "ignored"


@dataclass(frozen=True)
class PodView:
    """What the controller knows of one pod at a sync."""
    request_cores: float
    deleting: bool = False
    pending: bool = False              # phase Pending: unscheduled, or pulling its image
    ready: bool = True
    start_s: float = -1e9              # Pod.Status.StartTime (bound to a node)
    ready_since_s: float | None = None  # when it last turned Ready
    sample_cores: float | None = None   # metrics-server's latest sample; None: no metrics yet
    sample_time_s: float = 0.0          # the end of the sample's window
    sample_window_s: float = 15.0


def classify_pod(pod: PodView, now: float, cpu_init_period_s: float = 300.0,
                 initial_readiness_delay_s: float = 30.0) -> str:
    """Kubernetes' groupPods for CPU: ignored (deleting), unready, missing (no metrics) or ready."""
    if pod.deleting:
        return IGNORED
    if pod.pending:
        return UNREADY
    if pod.sample_cores is None:
        return MISSING
    if now < pod.start_s + cpu_init_period_s:
        # Young pod: its sample counts only once it covers a whole window after turning ready.
        fresh = pod.ready_since_s is not None and pod.sample_time_s >= pod.ready_since_s + pod.sample_window_s
        return READY if pod.ready and fresh else UNREADY
    # Old pod: unready only if it never became ready.
    never_ready = pod.ready_since_s is None or pod.start_s + initial_readiness_delay_s > pod.ready_since_s
    return UNREADY if (not pod.ready and never_ready) else READY


def utilization_percent(usages_cores: Iterable[float], requests_cores: Iterable[float]) -> int:
    """Σ usage ÷ Σ request as Kubernetes computes it: in millicores (a Quantity's MilliValue
    rounds up), the percent truncated to a whole number."""
    usage_m = sum(math.ceil(u * 1000 - 1e-6) for u in usages_cores)
    request_m = sum(math.ceil(r * 1000 - 1e-6) for r in requests_cores)
    return (usage_m * 100) // request_m


def replica_proposal(pods: Sequence[PodView], target_percent: float, current: int, now: float = 0.0,
                     tolerance: float = 0.1, cpu_init_period_s: float = 300.0) -> tuple[int, int] | None:
    """(desired replicas, observed utilisation %) from the pods, or None when no pod has metrics.

    Kubernetes' GetResourceReplicas: unready pods count as 0% on a scale-up; pods without
    metrics count as 0% on a scale-up and as 100% (or the target, if higher) on a scale-down;
    a recount that flips the direction, or lands inside the tolerance, keeps ``current``.
    """
    groups: dict[str, list[PodView]] = {READY: [], UNREADY: [], MISSING: [], IGNORED: []}
    for pod in pods:
        groups[classify_pod(pod, now, cpu_init_period_s)].append(pod)
    ready, unready, missing = groups[READY], groups[UNREADY], groups[MISSING]
    if not ready:
        return None  # Kubernetes reports "no metrics" and leaves the count alone
    utilization = utilization_percent([p.sample_cores for p in ready], [p.request_cores for p in ready])
    ratio = utilization / target_percent
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return current, utilization
        return math.ceil(ratio * len(ready)), utilization
    usages = [p.sample_cores for p in ready]
    requests = [p.request_cores for p in ready]
    if missing and ratio != 1.0:
        fallback = max(100.0, target_percent) / 100.0 if ratio < 1.0 else 0.0
        usages += [p.request_cores * fallback for p in missing]
        requests += [p.request_cores for p in missing]
    if scale_up_with_unready:
        usages += [0.0] * len(unready)
        requests += [p.request_cores for p in unready]
    new_ratio = utilization_percent(usages, requests) / target_percent
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current, utilization
    desired = math.ceil(new_ratio * len(usages))
    if (new_ratio < 1.0 and desired > current) or (new_ratio > 1.0 and desired < current):
        return current, utilization
    return desired, utilization


def stabilize(history: Sequence[tuple[float, int]], now: float, proposal: int, current: int,
              scale_up: ScalingRules, scale_down: ScalingRules) -> tuple[int, list[tuple[float, int]]]:
    """(stabilised recommendation, new history): the lowest recommendation of the scale-up window
    and the highest of the scale-down window bound the result (Kubernetes'
    stabilizeRecommendationWithBehaviors). ``history`` holds (time, proposal) of past syncs."""
    up_cutoff = now - scale_up.stabilization_window_s
    down_cutoff = now - scale_down.stabilization_window_s
    up, down = proposal, proposal
    for t, rec in history:
        if t > up_cutoff:
            up = min(up, rec)
        if t > down_cutoff:
            down = max(down, rec)
    recommendation = min(max(current, up), down)
    keep_after = min(up_cutoff, down_cutoff)
    return recommendation, [(t, r) for t, r in history if t > keep_after] + [(now, proposal)]


def change_in_period(events: Sequence[tuple[float, int]], now: float, period_s: float) -> int:
    """Replicas added (or removed) by the scale events of the last ``period_s`` seconds."""
    return sum(change for t, change in events if t + period_s > now)


def scale_up_limit(current: int, up_events: Sequence[tuple[float, int]], down_events: Sequence[tuple[float, int]],
                   now: float, rules: ScalingRules) -> int:
    if rules.select_policy == "Disabled":
        return current
    pick = min if rules.select_policy == "Min" else max
    proposals = []
    for policy in rules.policies:
        start = (current - change_in_period(up_events, now, policy.period_s)
                 + change_in_period(down_events, now, policy.period_s))
        if policy.kind == "Pods":
            proposals.append(start + policy.value)
        else:
            proposals.append(math.ceil(start * (1 + policy.value / 100)))
    return pick(proposals)


def scale_down_limit(current: int, up_events: Sequence[tuple[float, int]], down_events: Sequence[tuple[float, int]],
                     now: float, rules: ScalingRules) -> int:
    if rules.select_policy == "Disabled":
        return current
    pick = max if rules.select_policy == "Min" else min  # the biggest change is the lowest count
    proposals = []
    for policy in rules.policies:
        start = (current - change_in_period(up_events, now, policy.period_s)
                 + change_in_period(down_events, now, policy.period_s))
        if policy.kind == "Pods":
            proposals.append(start - policy.value)
        else:
            proposals.append(int(start * (1 - policy.value / 100)))
    return pick(proposals)


def rate_limited(current: int, desired: int, min_replicas: int, max_replicas: int,
                 up_events: Sequence[tuple[float, int]], down_events: Sequence[tuple[float, int]], now: float,
                 scale_up: ScalingRules, scale_down: ScalingRules) -> int:
    """Kubernetes' convertDesiredReplicasWithBehaviorRate: the behavior's policies, then min/max."""
    if desired > current:
        limit = max(scale_up_limit(current, up_events, down_events, now, scale_up), current)
        return min(desired, max_replicas, limit)
    if desired < current:
        limit = min(scale_down_limit(current, up_events, down_events, now, scale_down), current)
        return max(desired, min_replicas, limit)
    return desired


@dataclass
class ControllerState:
    """What the HPA controller remembers between syncs."""
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[tuple[float, int]] = field(default_factory=list)
    down_events: list[tuple[float, int]] = field(default_factory=list)
    utilization: int | None = None


def reconcile(state: ControllerState, spec: DeploymentSpec, current: int, pods: Sequence[PodView], now: float,
              tolerance: float = 0.1, cpu_init_period_s: float = 300.0) -> int:
    """One sync of the HPA: the new replica count (``state`` is updated in place)."""
    if current == 0:
        return current  # scaling is disabled for a deployment scaled to zero by hand
    if current > spec.max_replicas:
        desired = spec.max_replicas
    elif current < spec.min_replicas:
        desired = spec.min_replicas
    else:
        proposal = replica_proposal(pods, spec.target_cpu_utilization, current, now, tolerance, cpu_init_period_s)
        if proposal is None:
            return current
        wanted, state.utilization = proposal
        stabilized, state.recommendations = stabilize(state.recommendations, now, wanted, current,
                                                      spec.scale_up, spec.scale_down)
        desired = rate_limited(current, stabilized, spec.min_replicas, spec.max_replicas, state.up_events,
                               state.down_events, now, spec.scale_up, spec.scale_down)
    if desired > current:
        state.up_events.append((now, desired - current))
    elif desired < current:
        state.down_events.append((now, current - desired))
    horizon = now - 3600.0  # no policy period is longer than an hour (the API's maximum is 1800 s)
    state.up_events = [e for e in state.up_events if e[0] > horizon]
    state.down_events = [e for e in state.down_events if e[0] > horizon]
    return desired


# ==== pod start-up and the nodes ==============================================================

def probe_success_s(after_s: float, probe: Probe) -> float:
    """The first time (from container start) at which ``probe`` runs and finds the server up."""
    if after_s <= probe.initial_delay_s:
        return probe.initial_delay_s
    return probe.initial_delay_s + math.ceil((after_s - probe.initial_delay_s) / probe.period_s - 1e-9) * probe.period_s


def ready_delay_s(server_up_s: float, readiness: Probe | None, startup: Probe | None = None) -> float:
    """Seconds from container start until the pod is Ready.

    The startup probe, if any, must see the server up within failure_threshold × period (else
    Kubernetes restarts the container for ever: SimulationError); readiness probes run after it,
    every period from the initial delay, and success_threshold of them in a row turn it Ready.
    """
    started = 0.0
    if startup is not None:
        started = probe_success_s(server_up_s, startup)
        gives_up = startup.initial_delay_s + startup.failure_threshold * startup.period_s
        if started >= gives_up:
            raise SimulationError(f"the startup probe gives up after {gives_up:.0f} s but TorchServe needs "
                                  f"{server_up_s:.0f} s to start: raise startupProbe.failureThreshold")
    if readiness is None:
        return started
    first = probe_success_s(max(server_up_s, started), readiness)
    return first + (readiness.success_threshold - 1) * readiness.period_s


def place_pod(free: Sequence[tuple[float, float]], cpu: float, memory: float) -> int | None:
    """The node a pod's requests fit on (the least allocated, as kube-scheduler prefers), or None."""
    fits = [i for i, (c, m) in enumerate(free) if c >= cpu - 1e-9 and m >= memory]
    return max(fits, key=lambda i: (free[i][0], free[i][1], -i)) if fits else None


# ==== the simulation ===========================================================================

@dataclass(frozen=True)
class Cluster:
    nodes: int = 3
    node_cpu: float = 4.0
    node_memory_bytes: float = 8 * 2.0**30


@dataclass(frozen=True)
class SimulationSettings:
    """The parts of the world that the manifests and the capacity curve do not say."""
    cluster: Cluster = Cluster()
    sync_period_s: float = 15.0        # --horizontal-pod-autoscaler-sync-period
    tolerance: float = 0.1             # --horizontal-pod-autoscaler-tolerance
    cpu_init_period_s: float = 300.0   # --horizontal-pod-autoscaler-cpu-initialization-period
    metrics_interval_s: float = 15.0   # metrics-server --metric-resolution
    metrics_offset_s: float = 7.5      # scrapes fall half an interval before each sync
    image_pull_s: float = 10.0
    model_load_s: float = 20.0         # container start to TorchServe answering /ping
    queue_size: int = 100              # TorchServe job_queue_size: requests a replica holds
    timeout_s: float = DEFAULT_TIMEOUT_S
    record_interval_s: float = 1.0
    seed: int = 0


class _Request:
    __slots__ = ("user", "sent_s", "pod", "counted")

    def __init__(self, user: int, sent_s: float):
        self.user, self.sent_s, self.pod, self.counted = user, sent_s, None, False


class _Pod:
    """A pod: its life-cycle times, the requests it serves (processor sharing) and its CPU counter."""

    def __init__(self, name: int, created_s: float):
        self.name = name
        self.created_s = created_s
        self.node: int | None = None
        self.bound_s: float | None = None
        self.started_s = math.inf      # container running (memory from here)
        self.up_s = math.inf           # TorchServe answering
        self.ready_s = math.inf
        self.deleted_s: float | None = None
        self.gone = False
        self.jobs: list[tuple[float, int, _Request]] = []  # (finish tag, seq, request)
        self.attained = 0.0            # service each request in it has received (PS virtual time)
        self.cpu_seconds = 0.0
        self.scrape: tuple[float, float] | None = None     # (time, cpu_seconds) at the last scrape
        self.sample: tuple[float, float] | None = None     # (time, cores)

    def ready(self, t: float) -> bool:
        return self.deleted_s is None and t >= self.ready_s

    def running(self, t: float) -> bool:
        return not self.gone and t >= self.started_s


@dataclass
class SimulationResult:
    model: str
    deployment: str
    manifest: str
    capacity_source: str
    profile: str
    time_scale: float
    rows: list[dict]
    stages: list[dict]
    summary: dict


class _Simulation:
    def __init__(self, capacity: Capacity, spec: DeploymentSpec, stages: Sequence[Stage],
                 settings: SimulationSettings, initial_replicas: int | None):
        self.capacity, self.spec, self.stages, self.s = capacity, spec, list(stages), settings
        self.rng = random.Random(settings.seed)
        self.t = 0.0
        self.end = sum(st.duration_s for st in stages)
        self.events: list[tuple[float, int, str, Any]] = []
        self.seq = 0
        # Per replica, indexed by requests inside: service rate and CPU, CPU limit applied.
        top = settings.queue_size
        table = [served_rate(capacity.rate(n), capacity.cpu(n), spec.cpu_limit) for n in range(top + 1)]
        self.rate = [r for r, _ in table]
        self.cpu = [c for _, c in table]
        self.rss = [capacity.rss_mb(n) for n in range(top + 1)]
        self.server_up_s = settings.model_load_s
        self.ready_after_start_s = ready_delay_s(settings.model_load_s, spec.readiness, spec.startup)
        c = settings.cluster
        self.free = [[c.node_cpu, c.node_memory_bytes] for _ in range(c.nodes)]
        self.pods: list[_Pod] = []
        self.replicas = 0
        self.controller = ControllerState()
        self.desired = None
        # Users: each has a token; a wake-up event with an old token is stale.
        self.users = 0
        self.user_token: list[int] = []
        self.user_request: list[_Request | None] = []
        self.stage_index = 0
        # Counters for the current record interval and stage.
        self.cpu_total = 0.0
        self.interval = {"successes": 0, "failures": 0, "time": 0.0, "cpu": 0.0}
        self.stage_acc = self._new_stage_acc()
        self.rows: list[dict] = []
        self.stage_rows: list[dict] = []
        self.all_successes = 0
        self.all_failures = 0
        self.all_time = 0.0
        self._start(initial_replicas if initial_replicas is not None else spec.min_replicas)

    # ---- set-up
    def _start(self, replicas: int) -> None:
        need_cpu, need_mem = self.spec.cpu_request, self.spec.memory_request_bytes
        for _ in range(replicas):  # the deployment was up and idle before the test began
            pod = self._new_pod()
            if not self._bind(pod, settle=True):
                raise SimulationError(f"{replicas} replicas do not fit the cluster's nodes "
                                      f"(requests {need_cpu} CPU, {need_mem / 2**30:.2f} GiB each)")
        self.replicas = replicas
        self._push(0.0, "stage", 0)
        self._push(self.s.sync_period_s, "sync", None)
        self._push(self.s.metrics_offset_s % self.s.metrics_interval_s or self.s.metrics_interval_s, "scrape", None)
        self._push(self.s.record_interval_s, "record", None)
        for pod in self.pods:
            pod.scrape = (0.0, 0.0)

    def _push(self, t: float, kind: str, data: Any) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, data))

    def _new_stage_acc(self) -> dict:
        return {"successes": 0, "failures": 0, "time": 0.0, "cpu_s": 0.0, "memory_mb_s": 0.0,
                "replicas_s": 0.0, "ready_s": 0.0, "t0": self.t}

    # ---- the main loop
    def run(self) -> None:
        while True:
            t_event = self.events[0][0] if self.events else math.inf
            pod, t_done = self._next_completion()
            if t_done <= t_event and t_done < self.end:
                self._advance(t_done)
                self._complete(pod)
                continue
            if t_event > self.end:
                self._advance(self.end)
                self._finish_stage()
                return
            t, _, kind, data = heapq.heappop(self.events)
            self._advance(t)
            getattr(self, f"_on_{kind}")(data)

    def _next_completion(self) -> tuple[_Pod | None, float]:
        best, best_t = None, math.inf
        for pod in self.pods:
            n = len(pod.jobs)
            if n and self.rate[n] > 0:
                t = self.t + max(0.0, pod.jobs[0][0] - pod.attained) * n / self.rate[n]
                if t < best_t:
                    best, best_t = pod, t
        return best, best_t

    def _advance(self, t: float) -> None:
        dt = t - self.t
        if dt <= 0:
            return
        memory = 0.0
        for pod in self.pods:
            n = len(pod.jobs)
            if n:
                pod.attained += dt * self.rate[n] / n
                used = dt * self.cpu[n]
                pod.cpu_seconds += used
                self.cpu_total += used
                self.stage_acc["cpu_s"] += used
            if pod.running(self.t):
                memory += self.rss[n]
        ready = sum(1 for p in self.pods if p.ready(self.t))
        acc = self.stage_acc
        acc["memory_mb_s"] += memory * dt
        acc["replicas_s"] += self.replicas * dt
        acc["ready_s"] += ready * dt
        self.t = t

    # ---- requests
    def _on_send(self, data: tuple[int, int]) -> None:
        user, token = data
        if user >= self.users or token != self.user_token[user]:
            return  # a wake-up from before a stage change or from a user who left
        request = _Request(user, self.t)
        self.user_request[user] = request
        endpoints = [p for p in self.pods if p.ready(self.t)]
        pod = self.rng.choice(endpoints) if endpoints else None
        if pod is None or self.t < pod.up_s or len(pod.jobs) >= self.s.queue_size:
            self._fail(request, self.t + FAILED_REQUEST_S)  # refused, or 503 from a full queue
            return
        request.pod = pod
        self.seq += 1
        heapq.heappush(pod.jobs, (pod.attained + 1.0, self.seq, request))
        self._push(self.t + self.s.timeout_s, "timeout", request)

    def _complete(self, pod: _Pod) -> None:
        tag, _, request = heapq.heappop(pod.jobs)
        # Rounding must not let the next tag fall behind; an empty pod starts counting afresh.
        pod.attained = max(pod.attained, tag) if pod.jobs else 0.0
        if pod.deleted_s is not None and not pod.jobs:
            self._remove(pod)
        if not self._awaited(request):
            return  # timed out already, or its user left
        request.counted = True
        self._count(success=True, elapsed=self.t - request.sent_s)
        self._think(request.user)

    def _on_timeout(self, request: _Request) -> None:
        if self._awaited(request):
            self._fail(request, self.t)  # the server keeps working on it; the client has given up

    def _awaited(self, request: _Request) -> bool:
        """Whether a user still waits for this request's answer."""
        return not request.counted and request.user < self.users and self.user_request[request.user] is request

    def _fail(self, request: _Request, retry_s: float) -> None:
        request.counted = True
        self._count(success=False)
        self._think(request.user, not_before=retry_s)

    def _count(self, success: bool, elapsed: float = 0.0) -> None:
        key = "successes" if success else "failures"
        self.interval[key] += 1
        self.stage_acc[key] += 1
        if success:
            self.interval["time"] += elapsed
            self.stage_acc["time"] += elapsed

    def _think(self, user: int, not_before: float | None = None) -> None:
        self.user_request[user] = None
        self.user_token[user] += 1
        wake = self.t + self.rng.uniform(0.0, self.stages[self.stage_index].delay_s)
        if not_before is not None:
            wake = max(wake, not_before)
        self._push(wake, "send", (user, self.user_token[user]))

    # ---- the load profile
    def _on_stage(self, index: int) -> None:
        if index > 0:
            self._finish_stage()
        self.stage_index = index
        stage = self.stages[index]
        old = self.users
        self.users = stage.users
        while len(self.user_token) < self.users:
            self.user_token.append(0)
            self.user_request.append(None)
        for user in range(self.users):
            # Waiting users (and newcomers) redraw their wait with the new stage's delay, as
            # foodclf.loadtest.runner's users do; users with a request in flight keep waiting for it.
            if user >= old or self.user_request[user] is None:
                self._think(user)
        for user in range(self.users, old):
            self.user_request[user] = None  # users who leave abandon what they sent
            self.user_token[user] += 1
        if index + 1 < len(self.stages):
            self._push(self.t + stage.duration_s, "stage", index + 1)

    def _finish_stage(self) -> None:
        acc, stage = self.stage_acc, self.stages[self.stage_index]
        duration = max(self.t - acc["t0"], 1e-9)
        self.stage_rows.append({
            "index": self.stage_index + 1, "duration_s": round(duration, 3), "users": stage.users,
            "delay_s": stage.delay_s, "successes": acc["successes"], "failures": acc["failures"],
            "transaction_rate": round(acc["successes"] / duration, 4),
            "response_time_s": round(acc["time"] / acc["successes"], 4) if acc["successes"] else None,
            "cpu_cores": round(acc["cpu_s"] / duration, 4),
            "memory_kb": round(acc["memory_mb_s"] / duration * KIB_PER_MIB),
            "replicas": round(acc["replicas_s"] / duration, 3), "ready": round(acc["ready_s"] / duration, 3)})
        self.all_successes += acc["successes"]
        self.all_failures += acc["failures"]
        self.all_time += acc["time"]
        self.stage_acc = self._new_stage_acc()

    # ---- metrics, the controller and the deployment
    def _on_scrape(self, _: Any) -> None:
        for pod in self.pods:
            if not pod.running(self.t):
                continue
            if pod.scrape is not None and self.t > pod.scrape[0]:
                pod.sample = (self.t, (pod.cpu_seconds - pod.scrape[1]) / (self.t - pod.scrape[0]))
            pod.scrape = (self.t, pod.cpu_seconds)
        self._push(self.t + self.s.metrics_interval_s, "scrape", None)

    def _on_sync(self, _: Any) -> None:
        views = [self._view(p) for p in self.pods if not p.gone]
        desired = reconcile(self.controller, self.spec, self.replicas, views, self.t, self.s.tolerance,
                            self.s.cpu_init_period_s)
        self.desired = desired
        if desired != self.replicas:
            log.debug("t=%.0f s: HPA scales %d -> %d (utilisation %s%%)", self.t, self.replicas, desired,
                      self.controller.utilization)
            self._scale(desired)
        self._push(self.t + self.s.sync_period_s, "sync", None)

    def _view(self, pod: _Pod) -> PodView:
        return PodView(
            request_cores=self.spec.cpu_request, deleting=pod.deleted_s is not None,
            pending=pod.node is None or self.t < pod.started_s, ready=pod.ready(self.t),
            start_s=pod.bound_s if pod.bound_s is not None else self.t,
            ready_since_s=pod.ready_s if pod.ready_s <= self.t else None,
            sample_cores=pod.sample[1] if pod.sample else None,
            sample_time_s=pod.sample[0] if pod.sample else 0.0, sample_window_s=self.s.metrics_interval_s)

    def _scale(self, desired: int) -> None:
        live = [p for p in self.pods if p.deleted_s is None]
        if desired > len(live):
            for _ in range(desired - len(live)):
                self._bind(self._new_pod())
        else:
            # The ReplicaSet deletes unscheduled, then not-ready, then the most recent pods first.
            order = sorted(live, key=lambda p: (p.node is not None, p.running(self.t), p.ready(self.t),
                                                -p.created_s))
            for pod in order[:len(live) - desired]:
                pod.deleted_s = self.t
                if not pod.jobs:
                    self._remove(pod)
        self.replicas = desired

    def _new_pod(self) -> _Pod:
        pod = _Pod(len(self.pods), self.t)
        self.pods.append(pod)
        return pod

    def _bind(self, pod: _Pod, settle: bool = False) -> bool:
        node = place_pod(self.free, self.spec.cpu_request, self.spec.memory_request_bytes)
        if node is None:
            return False  # Pending until a node frees up
        self.free[node][0] -= self.spec.cpu_request
        self.free[node][1] -= self.spec.memory_request_bytes
        pod.node, pod.bound_s = node, self.t
        if settle:  # started long ago: ready, and past the HPA's CPU initialisation period
            pod.bound_s = -1e9
            pod.started_s = pod.up_s = pod.ready_s = -1e9
        else:
            pod.started_s = self.t + self.s.image_pull_s
            pod.up_s = pod.started_s + self.server_up_s
            pod.ready_s = pod.started_s + self.ready_after_start_s
        return True

    def _remove(self, pod: _Pod) -> None:
        pod.gone = True
        if pod.node is not None:
            self.free[pod.node][0] += self.spec.cpu_request
            self.free[pod.node][1] += self.spec.memory_request_bytes
        self.pods = [p for p in self.pods if p is not pod]
        for waiting in [p for p in self.pods if p.node is None and p.deleted_s is None]:
            self._bind(waiting)

    # ---- the time series
    def _on_record(self, _: Any) -> None:
        width = self.s.record_interval_s
        iv = self.interval
        cpu = (self.cpu_total - iv["cpu"]) / width
        live = [p for p in self.pods if p.deleted_s is None]
        self.rows.append({
            "t_s": round(self.t, 3), "stage": self.stage_index + 1, "users": self.users, "replicas": self.replicas,
            "pods": len(live), "ready": sum(1 for p in live if p.ready(self.t)),
            "pending": sum(1 for p in live if p.node is None),
            "in_flight": sum(len(p.jobs) for p in self.pods),
            "successes": iv["successes"], "failures": iv["failures"],
            "throughput": round(iv["successes"] / width, 3),
            "response_time_s": round(iv["time"] / iv["successes"], 4) if iv["successes"] else "",
            "cpu_cores": round(cpu, 4),
            "memory_mb": round(sum(self.rss[len(p.jobs)] for p in self.pods if p.running(self.t)), 1),
            "hpa_utilization": "" if self.controller.utilization is None else self.controller.utilization,
            "hpa_desired": "" if self.desired is None else self.desired})
        self.interval = {"successes": 0, "failures": 0, "time": 0.0, "cpu": self.cpu_total}
        self._push(self.t + width, "record", None)


def simulate(capacity: Capacity, spec: DeploymentSpec, stages: Sequence[Stage],
             settings: SimulationSettings = SimulationSettings(), profile: str = "custom",
             time_scale: float = 1.0, initial_replicas: int | None = None) -> SimulationResult:
    """Simulate ``stages`` of siege load against the deployment ``spec`` whose replicas have
    ``capacity``; the deployment starts with ``initial_replicas`` (default: min) ready pods."""
    if not stages:
        raise SimulationError("the load profile has no stages")
    if settings.record_interval_s <= 0 or settings.sync_period_s <= 0 or settings.metrics_interval_s <= 0:
        raise SimulationError("record interval, sync period and metrics interval must be more than 0 s")
    rss_bytes = max(p.rss_mb for p in capacity.points) * 2**20
    if spec.memory_limit_bytes is not None and rss_bytes > spec.memory_limit_bytes:
        log.warning("%s: a replica's measured RSS (%.0f MiB) exceeds the memory limit (%.0f MiB): Kubernetes "
                    "would OOM-kill it, which the simulation does not model", spec.name, rss_bytes / 2**20,
                    spec.memory_limit_bytes / 2**20)
    sim = _Simulation(capacity, spec, stages, settings, initial_replicas)
    sim.run()
    return SimulationResult(model=capacity.model, deployment=spec.name, manifest=spec.path,
                            capacity_source=capacity.source, profile=profile, time_scale=time_scale,
                            rows=sim.rows, stages=sim.stage_rows, summary=_summary(sim))


def _summary(sim: _Simulation) -> dict:
    """The report's table over the whole run: mean CPU cores and memory of all pods together,
    siege's transaction rate and response time, failures; the busiest stage's CPU and memory too."""
    stages = sim.stage_rows
    total_s = sum(s["duration_s"] for s in stages)
    successes = sim.all_successes
    rows = sim.rows
    return {
        "cpu_cores": round(sum(s["cpu_cores"] * s["duration_s"] for s in stages) / total_s, 4),
        "memory_kb": round(sum(s["memory_kb"] * s["duration_s"] for s in stages) / total_s),
        "response_time_s": round(sim.all_time / successes, 4) if successes else None,
        "transaction_rate": round(successes / total_s, 4),
        "successes": successes,
        "failures": sim.all_failures,
        "max_replicas": max([r["replicas"] for r in rows] or [sim.replicas]),
        "max_ready_replicas": max([r["ready"] for r in rows] or [0]),
        "cpu_cores_peak": max(s["cpu_cores"] for s in stages),
        "memory_kb_peak": max(s["memory_kb"] for s in stages),
        "availability": round(successes / (successes + sim.all_failures), 6) if successes + sim.all_failures else None,
        "duration_s": round(total_s, 3),
    }


# ==== files ===================================================================================

def write_simulation(result: SimulationResult, out_dir: str | os.PathLike, plot: bool = True) -> Path:
    """``<deployment>.json``, ``.csv`` and ``.png`` in ``out_dir``; returns the JSON's path."""
    out_dir = Path(out_dir)
    name = result.deployment
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.rows)
    atomic_write_text(out_dir / f"{name}.csv", buf.getvalue())
    if plot:
        plot_simulation(result, out_dir / f"{name}.png")
    doc = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "deployment": name, "manifest": result.manifest, "model": result.model,
        "capacity_source": result.capacity_source, "profile": result.profile, "time_scale": result.time_scale,
        "summary": result.summary, "stages": result.stages,
        "timeseries_csv": f"{name}.csv", "plot": f"{name}.png" if plot else None,
    }
    validate_simulation(doc, str(out_dir / f"{name}.json"))
    return atomic_write_json(out_dir / f"{name}.json", doc)


_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_SUMMARY_FIELDS = {"cpu_cores": _NUM, "memory_kb": _NUM, "response_time_s": _OPT_NUM, "transaction_rate": _NUM,
                   "successes": int, "failures": int, "max_replicas": int, "max_ready_replicas": int}


def validate_simulation(doc: Any, where: str) -> dict:
    require_fields(doc, {"schema_version": int, "created": str, "deployment": str, "manifest": str, "model": str,
                         "capacity_source": str, "profile": str, "time_scale": _NUM, "summary": dict,
                         "timeseries_csv": str}, where)
    if doc["schema_version"] != SCHEMA_VERSION:
        raise SchemaError(f"{where}: schema_version {doc['schema_version']} is not {SCHEMA_VERSION}; "
                          "rerun scripts/simulate_hpa.py")
    require_fields(doc["summary"], _SUMMARY_FIELDS, f"{where}: summary")
    return doc


def load_simulation(path: str | os.PathLike) -> dict:
    """Read and validate a ``simulations/<deployment>.json``."""
    return validate_simulation(read_json(path), str(path))


def plot_simulation(result: SimulationResult, path: str | os.PathLike) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.rows
    t = [r["t_s"] / 60 for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    ax = axes[0]
    ax.plot(t, [r["users"] for r in rows], color="grey", label="users")
    ax.set_ylabel("users")
    twin = ax.twinx()
    twin.step(t, [r["replicas"] for r in rows], where="post", label="replicas (desired)")
    twin.step(t, [r["ready"] for r in rows], where="post", label="ready")
    twin.set_ylabel("replicas")
    twin.legend(loc="upper left", fontsize=8)
    ax = axes[1]
    ax.plot(t, _smooth([r["throughput"] for r in rows]), label="transactions/s (10 s mean)")
    ax.plot(t, _smooth([r["failures"] for r in rows]), color="red", label="failures/s")
    ax.set_ylabel("per second")
    twin = ax.twinx()
    twin.plot(t, _smooth([r["response_time_s"] or 0.0 for r in rows]), color="purple", label="response time")
    twin.set_ylabel("response time (s)")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[2]
    ax.plot(t, [r["cpu_cores"] for r in rows], label="CPU (cores)")
    ax.set_ylabel("CPU cores")
    twin = ax.twinx()
    twin.plot(t, [r["memory_mb"] / 1024 for r in rows], color="green", label="memory (GiB)")
    twin.set_ylabel("memory (GiB)")
    ax.set_xlabel("minutes")
    fig.suptitle(f"{result.model} on {result.deployment}: {result.profile} profile (simulated)")
    fig.tight_layout()
    try:
        return atomic_save(path, lambda p: fig.savefig(p, format="png", dpi=90))
    finally:
        plt.close(fig)


def _smooth(values: Sequence[float], width: int = 10) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= width:
            total -= values[i - width]
        out.append(total / min(i + 1, width))
    return out


def format_table(results: Sequence[SimulationResult | dict]) -> str:
    """The report's deployment table: one row per model × deployment."""
    head = (f"{'model':<16} {'deployment':<18} {'CPU (cores)':>11} {'Memory (KB)':>12} {'Resp. (s)':>9} "
            f"{'Trans. rate':>11} {'Failed':>7} {'Max pods':>8}")
    lines = [head, "-" * len(head)]
    for r in results:
        model, deployment, s = ((r.model, r.deployment, r.summary) if isinstance(r, SimulationResult)
                                else (r["model"], r["deployment"], r["summary"]))
        rt = "-" if s["response_time_s"] is None else f"{s['response_time_s']:.2f}"
        lines.append(f"{model:<16} {deployment:<18} {s['cpu_cores']:>11.3f} {s['memory_kb']:>12.0f} {rt:>9} "
                     f"{s['transaction_rate']:>11.2f} {s['failures']:>7d} {s['max_replicas']:>8d}")
    return "\n".join(lines)


# ==== the check against reality ================================================================

def compare_with_loadtest(capacity: Capacity, measured: dict, settings: SimulationSettings = SimulationSettings(),
                          cpu_limit: float | None = None) -> list[dict]:
    """Simulate one fixed replica under each stage of a real load test (same users, delay and
    duration) and give, per stage, the measured and simulated transaction rate and response
    time with their relative errors ((simulated - measured) / measured)."""
    comparisons = []
    for stage in measured["stages"]:
        one = Stage(float(stage["duration_s"]), int(stage["users"]), float(stage["delay_s"]))
        result = simulate(capacity, fixed_replicas(1, cpu_limit), [one], settings, profile="fixed")
        sim = result.stages[0]
        comparisons.append({
            "users": one.users, "delay_s": one.delay_s, "duration_s": one.duration_s,
            "measured_transaction_rate": stage["transaction_rate"], "simulated_transaction_rate": sim["transaction_rate"],
            "transaction_rate_error": _relative(sim["transaction_rate"], stage["transaction_rate"]),
            "measured_response_time_s": stage["response_time_s"], "simulated_response_time_s": sim["response_time_s"],
            "response_time_error": _relative(sim["response_time_s"], stage["response_time_s"]),
        })
    return comparisons


def _relative(simulated: float | None, measured: float | None) -> float | None:
    if simulated is None or not measured:
        return None
    return round((simulated - measured) / measured, 4)

