"""The HorizontalPodAutoscaler's own arithmetic, as small pure functions.

They follow Kubernetes' replica calculator and behavior code (pkg/controller/podautoscaler):
``classify_pod`` (groupPods), ``utilization_percent`` and ``replica_proposal``
(GetResourceReplicas) for CPU; ``classify_for_metric`` and ``metric_replica_proposal``
(GetMetricReplicas) for a Pods metric (requests in flight); ``wanted_replicas``
(computeReplicasForMetrics: the largest proposal), ``stabilize``
(stabilizeRecommendationWithBehaviors), ``rate_limited``
(convertDesiredReplicasWithBehaviorRate) and ``reconcile``, one sync of the controller. They
hold no clock and no cluster: the simulation (foodclf.deploy.engine) feeds them what it
observed, and another tool can feed them a real cluster's pods.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from foodclf.deploy.spec import DeploymentSpec, ScalingRules

# How the controller counts a pod (Kubernetes' groupPods).
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
    metric_value: float | None = None   # the Pods metric (custom metrics API); None: no series for it


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


def classify_for_metric(pod: PodView) -> str:
    """Kubernetes' groupPods for a metric other than CPU: readiness and age do not matter, only
    whether the pod is deleting (ignored), pending (unready) or has a value (else missing)."""
    if pod.deleting:
        return IGNORED
    if pod.pending:
        return UNREADY
    return MISSING if pod.metric_value is None else READY


def mean_milli(values_milli: Sequence[int]) -> int:
    """GetMetricUsageRatio's mean: Σ milli-values ÷ pods, Go's integer division."""
    return sum(values_milli) // len(values_milli)


def metric_replica_proposal(pods: Sequence[PodView], target: float, current: int,
                            tolerance: float = 0.1) -> tuple[int, float] | None:
    """(desired replicas, observed mean value per pod) from a Pods metric with an AverageValue
    target, or None when no pod has a value.

    Kubernetes' GetMetricReplicas (calcPlainMetricReplicas), in milli-units as it computes: the
    adapter truncates a value to milli, the target's MilliValue rounds up. Unready (pending) pods
    count as 0 on a scale-up; pods without a value count as 0 on a scale-up and as the target
    on a scale-down; a recount that flips the direction, or lands inside the tolerance, keeps
    ``current``.
    """
    target_milli = math.ceil(target * 1000 - 1e-6)
    groups: dict[str, list[PodView]] = {READY: [], UNREADY: [], MISSING: [], IGNORED: []}
    for pod in pods:
        groups[classify_for_metric(pod)].append(pod)
    ready, unready, missing = groups[READY], groups[UNREADY], groups[MISSING]
    if not ready:
        return None
    values = [int(p.metric_value * 1000) for p in ready]
    usage = mean_milli(values)
    ratio = usage / target_milli
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return current, usage / 1000
        return math.ceil(ratio * len(ready)), usage / 1000
    if missing:
        values += [target_milli if ratio < 1.0 else 0] * len(missing)
    if scale_up_with_unready:
        values += [0] * len(unready)
    new_ratio = mean_milli(values) / target_milli
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current, usage / 1000
    desired = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and desired > current) or (new_ratio > 1.0 and desired < current):
        return current, usage / 1000
    return desired, usage / 1000


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
    metric: float | None = None   # the Pods metric's mean per pod at the last sync


def wanted_replicas(state: ControllerState, spec: DeploymentSpec, current: int, pods: Sequence[PodView],
                    now: float, tolerance: float = 0.1, cpu_init_period_s: float = 300.0) -> int | None:
    """Kubernetes' computeReplicasForMetrics: each metric's proposal, the largest wins; None when
    no metric has values, or when one has none and the others would scale down."""
    proposals, invalid = [], 0
    if spec.target_cpu_utilization is not None:
        cpu = replica_proposal(pods, spec.target_cpu_utilization, current, now, tolerance, cpu_init_period_s)
        if cpu is None:
            invalid += 1
        else:
            proposals.append(cpu[0])
            state.utilization = cpu[1]
    if spec.pods_metric is not None:
        metric = metric_replica_proposal(pods, spec.pods_metric.target, current, tolerance)
        if metric is None:
            invalid += 1
        else:
            proposals.append(metric[0])
            state.metric = metric[1]
    if not proposals or (invalid and max(proposals) < current):
        return None
    return max(proposals)


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
        wanted = wanted_replicas(state, spec, current, pods, now, tolerance, cpu_init_period_s)
        if wanted is None:
            return current
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

