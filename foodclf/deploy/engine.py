"""The event-driven simulation: siege's users, the Service, the pods and the HPA controller in time.

* A replica is a processor-sharing server: with ``n`` requests inside it completes the capacity
  curve's transaction rate at ``n`` users in total and uses the curve's CPU at ``n``, as long as
  its CPU quota has budget left in the period; once spent, it serves as the replica held at its
  limit (foodclf.deploy.quota). It holds at most ``queue_size`` requests (TorchServe's
  job_queue_size); more are refused (503).
* Users are siege's closed loop (as foodclf.loadtest.runner's): wait uniform(0, delay), send one
  request, wait for the answer, again. A stage change redraws the waits of waiting users; a
  request counts in the stage in which it completes. It fails when no replica is ready
  (refused), its replica is full, or it outlasts the client timeout. The Service picks a ready
  replica at random (kube-proxy's iptables mode).
* Every sync period the controller (foodclf.deploy.controller) sees the pods as metrics-server
  last sampled them: a sample is the mean CPU over the scrape interval before it. A deployment
  scaled on requests in flight (a Pods metric) sees, per pod, PromQL's rate() over the rule's
  window of TorchServe's summed latency as Prometheus scraped it (foodclf.deploy.prometheus); a
  pod has that series from its first answer on, scraped from when TorchServe is up.
* A new pod is Pending until a node has its requests free, then pulls its image, starts
  TorchServe and turns Ready on the probes' schedule (foodclf.deploy.cluster). A removed pod
  leaves the endpoints at once and finishes the requests it holds. Deterministic for a seed.

What is counted (transactions, each success's response time, CPU, memory) is
foodclf.deploy.tally's: per record interval, per stage and for the run.
"""
from __future__ import annotations

import heapq
import logging
import math
import random
from collections.abc import Sequence
from typing import Any

from foodclf.deploy.capacity import Capacity
from foodclf.deploy.cluster import SimulationError, SimulationSettings, place_pod, ready_delay_s
from foodclf.deploy.controller import ControllerState, PodView, reconcile
from foodclf.deploy.pods import Pod, Request
from foodclf.deploy.prometheus import keep_window, rate
from foodclf.deploy.quota import SPENT, quota_table
from foodclf.deploy.spec import DeploymentSpec
from foodclf.deploy.tally import Tally
from foodclf.loadtest.profiles import Stage

log = logging.getLogger(__name__)

# A refused connection or an immediate 503 still costs the client a round trip; without it a
# user with no delay would retry infinitely often in zero time.
FAILED_REQUEST_S = 0.05
# The time series' columns, one row per record interval (foodclf.deploy.results writes the CSV).
CSV_FIELDS = ["t_s", "stage", "users", "replicas", "pods", "ready", "pending", "in_flight", "successes", "failures",
              "throughput", "response_time_s", "cpu_cores", "memory_mb", "hpa_utilization", "hpa_inflight",
              "hpa_desired"]


class Engine:
    """One run: build it, call run(), then read rows (the CSV's) and tally (stages and totals)."""

    def __init__(self, capacity: Capacity, spec: DeploymentSpec, stages: Sequence[Stage],
                 settings: SimulationSettings, initial_replicas: int | None):
        self.capacity, self.spec, self.stages, self.s = capacity, spec, list(stages), settings
        self.rng = random.Random(settings.seed)
        self.t = 0.0
        self.end = sum(st.duration_s for st in stages)
        self.events: list[tuple[float, int, str, Any]] = []
        self.seq = 0
        # Per replica, indexed by requests inside: service rate and CPU with and without CPU budget.
        top = settings.queue_size
        self.quota = quota_table(capacity, spec.cpu_limit, top)
        self.pss = [capacity.pss_mb(n) for n in range(top + 1)]  # a replica's Σ PSS with n requests in it
        self.busiest_replica_jobs = 0  # the most requests one running replica held (its peak memory)
        self.server_up_s = settings.model_load_s
        self.ready_after_start_s = ready_delay_s(settings.model_load_s, spec.readiness, spec.startup)
        c = settings.cluster
        self.free = [[c.node_cpu, c.node_memory_bytes] for _ in range(c.nodes)]
        self.pods: list[Pod] = []
        self._running: list[Pod] = []   # _states' answer, valid until _states_until
        self._ready: list[Pod] = []
        self._states_until = -math.inf
        self.replicas = 0
        self.controller = ControllerState()
        self.desired = None
        self.pod_seconds_done = 0.0  # pod-seconds of pods already removed (bound to a node until then)
        # Users: each has a token; a wake-up event with an old token is stale.
        self.users = 0
        self.user_token: list[int] = []
        self.user_request: list[Request | None] = []
        self.stage_index = 0
        self.tally = Tally()  # transactions, response times, CPU, memory: per interval, stage and run
        self.rows: list[dict] = []
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

    # ---- the main loop
    def run(self) -> None:
        events = self.events
        while True:
            # Most timeouts find their request answered: drop them unseen (time's passing is
            # linear, so skipping them changes nothing) rather than advance every pod for them.
            while events and events[0][2] == "timeout" and not self._awaited(events[0][3]):
                heapq.heappop(events)
            t_event = events[0][0] if events else math.inf
            pod, t_next, completes = self._next_change()
            if t_next <= t_event and t_next < self.end:
                self._advance(t_next)
                if completes:
                    self._complete(pod)
                continue  # else a pod's CPU budget ran out: it slows down from here
            if t_event > self.end:
                self._advance(self.end)
                self.tally.finish_stage(self.stage_index, self.stages[self.stage_index], self.t)
                return
            t, _, kind, data = heapq.heappop(events)
            self._advance(t)
            getattr(self, f"_on_{kind}")(data)

    def _next_change(self) -> tuple[Pod | None, float, bool]:
        """The next pod to complete a request or to spend its CPU budget: (pod, when, completes)."""
        best, best_t, completes = None, math.inf, False
        q = self.quota
        for pod in self._states(self.t)[0]:  # the hot loop (only running pods hold requests): locals
            n = len(pod.jobs)
            if not n:
                continue
            drain = q.drain[n]
            if drain > 0 and pod.budget > SPENT:  # on budget: full speed until it is spent
                rate_n, t_spent = q.free_rate[n], pod.budget / drain
                if t_spent < best_t:
                    best, best_t, completes = pod, t_spent, False
            else:
                rate_n = q.free_rate[n] if drain <= 0 else q.held_rate[n]
            if rate_n > 0:
                t = (pod.jobs[0][0] - pod.attained) * n / rate_n
                if t < best_t:
                    best, best_t, completes = pod, t, True
        return best, self.t + max(0.0, best_t), completes

    def _advance(self, t: float) -> None:
        now, dt = self.t, t - self.t
        if dt <= 0:
            return
        memory = used = 0.0
        q, pss = self.quota, self.pss
        busiest = self.busiest_replica_jobs
        running, ready = self._states(now)
        for pod in running:  # the hot loop: locals, no method calls
            n = len(pod.jobs)
            if n:
                drain = q.drain[n]
                if drain <= 0 or pod.budget > SPENT:
                    rate_n, cpu_n = q.free_rate[n], q.free_cpu[n]
                    pod.budget = min(q.bucket, max(0.0, pod.budget - drain * dt))
                else:
                    rate_n, cpu_n = q.held_rate[n], q.held_cpu[n]
                pod.attained += dt * rate_n / n
                pod.cpu_seconds += dt * cpu_n
                used += dt * cpu_n
            elif pod.budget < q.bucket:
                pod.budget = min(q.bucket, pod.budget + q.limit * dt)
            memory += pss[n]
            busiest = n if n > busiest else busiest
        self.tally.accrue(dt, used, memory, self.replicas, len(ready))
        self.busiest_replica_jobs = busiest
        self.t = t

    def _states(self, t: float) -> tuple[list[Pod], list[Pod]]:
        """The running pods and the ready ones at ``t``, in pod order. They change only when a pod
        is added, bound, deleted or removed, or when one's start or ready time passes: kept until
        then, so that every event does not test every pod (time only moves forward)."""
        if t < self._states_until:
            return self._running, self._ready
        self._running = [p for p in self.pods if p.running(t)]
        self._ready = [p for p in self.pods if p.ready(t)]
        later = [x for p in self.pods for x in (p.started_s, p.ready_s) if x > t]
        self._states_until = min(later, default=math.inf)
        return self._running, self._ready

    def _pods_changed(self) -> None:
        self._states_until = -math.inf

    # ---- requests
    def _on_send(self, data: tuple[int, int]) -> None:
        user, token = data
        if user >= self.users or token != self.user_token[user]:
            return  # a wake-up from before a stage change or from a user who left
        request = Request(user, self.t)
        self.user_request[user] = request
        endpoints = self._states(self.t)[1]
        pod = self.rng.choice(endpoints) if endpoints else None
        if pod is None or self.t < pod.up_s or len(pod.jobs) >= self.s.queue_size:
            self._fail(request, self.t + FAILED_REQUEST_S)  # refused, or 503 from a full queue
            return
        request.pod = pod
        self.seq += 1
        heapq.heappush(pod.jobs, (pod.attained + 1.0, self.seq, request))
        self._push(self.t + self.s.timeout_s, "timeout", request)

    def _complete(self, pod: Pod) -> None:
        tag, _, request = heapq.heappop(pod.jobs)
        pod.latency_s = (pod.latency_s or 0.0) + self.t - request.sent_s  # counted even if the client gave up
        # Rounding must not let the next tag fall behind; an empty pod starts counting afresh.
        pod.attained = max(pod.attained, tag) if pod.jobs else 0.0
        if pod.deleted_s is not None and not pod.jobs:
            self._remove(pod)
        if not self._awaited(request):
            return  # timed out already, or its user left
        request.counted = True
        self.tally.count(success=True, elapsed_s=self.t - request.sent_s)
        self._think(request.user)

    def _on_timeout(self, request: Request) -> None:
        if self._awaited(request):
            self._fail(request, self.t)  # the server keeps working on it; the client has given up

    def _awaited(self, request: Request) -> bool:
        """Whether a user still waits for this request's answer."""
        return not request.counted and request.user < self.users and self.user_request[request.user] is request

    def _fail(self, request: Request, retry_s: float) -> None:
        request.counted = True
        self.tally.count(success=False)
        self._think(request.user, not_before=retry_s)

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
            self.tally.finish_stage(self.stage_index, self.stages[self.stage_index], self.t)
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

    # ---- metrics, the controller and the deployment
    def _on_scrape(self, _: Any) -> None:
        for pod in self.pods:
            if not pod.running(self.t):
                continue
            if pod.scrape is not None and self.t > pod.scrape[0]:
                pod.sample = (self.t, (pod.cpu_seconds - pod.scrape[1]) / (self.t - pod.scrape[0]))
            pod.scrape = (self.t, pod.cpu_seconds)
            if self.spec.pods_metric is not None and pod.latency_s is not None and self.t >= pod.up_s:
                pod.series = keep_window(pod.series, self.t, self.spec.pods_metric.rate_window_s)
                pod.series.append((self.t, pod.latency_s))
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

    def _view(self, pod: Pod) -> PodView:
        return PodView(
            request_cores=self.spec.cpu_request, deleting=pod.deleted_s is not None,
            pending=pod.node is None or self.t < pod.started_s, ready=pod.ready(self.t),
            start_s=pod.bound_s if pod.bound_s is not None else self.t,
            ready_since_s=pod.ready_s if pod.ready_s <= self.t else None,
            sample_cores=pod.sample[1] if pod.sample else None,
            sample_time_s=pod.sample[0] if pod.sample else 0.0, sample_window_s=self.s.metrics_interval_s,
            metric_value=rate(pod.series, self.t, self.spec.pods_metric.rate_window_s) if self.spec.pods_metric
            else None)

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
                self._pods_changed()
                if not pod.jobs:
                    self._remove(pod)
        self.replicas = desired

    def _new_pod(self) -> Pod:
        pod = Pod(len(self.pods), self.t, budget=self.quota.bucket)
        self.pods.append(pod)
        self._pods_changed()
        return pod

    def _bind(self, pod: Pod, settle: bool = False) -> bool:
        node = place_pod(self.free, self.spec.cpu_request, self.spec.memory_request_bytes)
        if node is None:
            return False  # Pending until a node frees up
        self.free[node][0] -= self.spec.cpu_request
        self.free[node][1] -= self.spec.memory_request_bytes
        pod.node, pod.bound_s = node, self.t
        self._pods_changed()
        if settle:  # started long ago: ready, and past the HPA's CPU initialisation period
            pod.bound_s = -1e9
            pod.started_s = pod.up_s = pod.ready_s = -1e9
        else:
            pod.started_s = self.t + self.s.image_pull_s
            pod.up_s = pod.started_s + self.server_up_s
            pod.ready_s = pod.started_s + self.ready_after_start_s
        return True

    def _remove(self, pod: Pod) -> None:
        pod.gone = True
        if pod.node is not None:
            self.pod_seconds_done += self.t - max(pod.bound_s, 0.0)
            self.free[pod.node][0] += self.spec.cpu_request
            self.free[pod.node][1] += self.spec.memory_request_bytes
        self.pods = [p for p in self.pods if p is not pod]
        self._pods_changed()
        for waiting in [p for p in self.pods if p.node is None and p.deleted_s is None]:
            self._bind(waiting)

    def pod_seconds(self) -> float:
        """Seconds of pods bound to a node (their requests reserved there), summed: what the run cost."""
        bound = [p for p in self.pods if p.node is not None]
        return self.pod_seconds_done + sum(self.t - max(p.bound_s, 0.0) for p in bound)

    # ---- the time series
    def _on_record(self, _: Any) -> None:
        width = self.s.record_interval_s
        counts = self.tally.take_interval(width)
        live = [p for p in self.pods if p.deleted_s is None]
        self.rows.append({
            "t_s": round(self.t, 3), "stage": self.stage_index + 1, "users": self.users, "replicas": self.replicas,
            "pods": len(live), "ready": sum(1 for p in live if p.ready(self.t)),
            "pending": sum(1 for p in live if p.node is None),
            "in_flight": sum(len(p.jobs) for p in self.pods),
            "successes": counts["successes"], "failures": counts["failures"], "throughput": counts["throughput"],
            "response_time_s": counts["response_time_s"], "cpu_cores": counts["cpu_cores"],
            "memory_mb": round(sum(self.pss[len(p.jobs)] for p in self.pods if p.running(self.t)), 1),
            "hpa_utilization": "" if self.controller.utilization is None else self.controller.utilization,
            "hpa_inflight": "" if self.controller.metric is None else self.controller.metric,
            "hpa_desired": "" if self.desired is None else self.desired})
        self._push(self.t + width, "record", None)

