"""The HPA controller's arithmetic (foodclf.deploy.controller) on hand-worked cases, each
following Kubernetes' replica calculator and behavior code."""
from __future__ import annotations

from dataclasses import replace

from foodclf.deploy.controller import (
    IGNORED,
    MISSING,
    READY,
    UNREADY,
    ControllerState,
    PodView,
    classify_for_metric,
    classify_pod,
    mean_milli,
    metric_replica_proposal,
    rate_limited,
    reconcile,
    replica_proposal,
    stabilize,
    utilization_percent,
    wanted_replicas,
)
from foodclf.deploy.spec import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, DeploymentSpec, PodsMetric, fixed_replicas

UP, DOWN = DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN


def pod(cores: float | None, request: float = 1.0, **kw) -> PodView:
    return PodView(request_cores=request, sample_cores=cores, **kw)


# ---- utilisation and the replica calculator -------------------------------------------------
def test_utilization_is_a_truncated_whole_percent_of_the_requests():
    assert utilization_percent([0.5, 0.3], [1, 1]) == 40
    assert utilization_percent([0.4985], [1]) == 49  # 498.5 m rounds up to 499 m: 49.9 % truncated
    assert utilization_percent([0.4995], [1]) == 50  # 499.5 m rounds up to 500 m
    assert utilization_percent([0.3], [0.5]) == 60


def test_inside_the_tolerance_nothing_changes():
    # 3 pods at 0.42 cores of 1: 42 % against 40 % is a ratio of 1.05, inside 0.1.
    assert replica_proposal([pod(0.42)] * 3, 40, current=3) == (3, 42)
    # 0.45 cores: 45 %, ratio 1.125, outside: ceil(1.125 x 3) = 4.
    assert replica_proposal([pod(0.45)] * 3, 40, current=3) == (4, 45)
    # 0.35 cores: 35 %, ratio 0.875, outside: ceil(0.875 x 3) = 3 (rounding up keeps it).
    assert replica_proposal([pod(0.35)] * 3, 40, current=3) == (3, 35)
    # 0.2 cores: 20 %, ratio 0.5: ceil(1.5) = 2.
    assert replica_proposal([pod(0.2)] * 3, 40, current=3) == (2, 20)


def test_scale_up_counts_unready_pods_at_zero():
    # One ready pod at 100 % (ratio 2.5) and one pending: recount (100 + 0) / 2 = 50 %, ratio 1.25
    # -> ceil(1.25 x 2) = 3.
    assert replica_proposal([pod(1.0), pod(None, pending=True)], 40, current=2) == (3, 100)
    # Two ready at 80 % and two pending: recount 160 / 4 = 40 %, inside the tolerance: keep 4.
    pods = [pod(0.8), pod(0.8), pod(None, pending=True), pod(None, pending=True)]
    assert replica_proposal(pods, 40, current=4) == (4, 80)


def test_unready_pods_are_left_out_when_scaling_down():
    # Ready pods at 10 % (ratio 0.25) and an unready one: no recount, ceil(0.25 x 2) = 1.
    assert replica_proposal([pod(0.1), pod(0.1), pod(0.0, ready=False, start_s=-10)], 40, current=3,
                            now=100) == (1, 10)


def test_pods_without_metrics_count_as_full_on_scale_down_and_empty_on_scale_up():
    # Scale-down: 2 pods at 10 % + 1 missing counted at 100 %: (10 + 10 + 100) / 3 = 40 %: keep 3.
    assert replica_proposal([pod(0.1), pod(0.1), pod(None)], 40, current=3) == (3, 10)
    # Scale-up: 1 pod at 100 % + 1 missing counted at 0 %: 50 %, ratio 1.25 -> ceil(2.5) = 3.
    assert replica_proposal([pod(1.0), pod(None)], 40, current=2) == (3, 100)


def test_a_recount_that_flips_direction_keeps_the_count():
    # 1 pod at 45 % (ratio 1.125, up) + 2 missing at 0 %: 15 %, a scale-down: keep 3.
    assert replica_proposal([pod(0.45), pod(None), pod(None)], 40, current=3) == (3, 45)


def test_no_metrics_at_all_gives_no_proposal():
    assert replica_proposal([pod(None), pod(None, pending=True)], 40, current=2) is None


def test_classify_pod_follows_kubernetes_group_pods():
    assert classify_pod(pod(0.5, deleting=True), now=0) == IGNORED
    assert classify_pod(pod(None, pending=True), now=0) == UNREADY
    assert classify_pod(pod(None), now=0) == MISSING
    # Young pod (started 100 s ago), ready at 50 s: a sample ending at 60 s covers only 10 s of
    # readiness (window 15 s) -> unready; one ending at 70 s -> ready.
    young = dict(start_s=0.0, ready_since_s=50.0, sample_window_s=15.0)
    assert classify_pod(pod(0.5, sample_time_s=60.0, **young), now=100) == UNREADY
    assert classify_pod(pod(0.5, sample_time_s=70.0, **young), now=100) == READY
    # Past the 300 s initialisation period any sample of a ready pod counts.
    assert classify_pod(pod(0.5, sample_time_s=60.0, **young), now=400) == READY


# ---- stabilisation, rate limits, min/max -----------------------------------------------------
def test_scale_down_waits_for_the_highest_recommendation_of_five_minutes():
    history = [(0.0, 5), (100.0, 3)]
    # At 200 s the 5 of t=0 is inside the window: stay at 5.
    assert stabilize(history, 200.0, proposal=2, current=5, scale_up=UP, scale_down=DOWN)[0] == 5
    # At 300 s the t=0 record is exactly 300 s old: out (Kubernetes keeps only records after
    # the cutoff), so the 3 of t=100 wins.
    recommendation, new_history = stabilize(history, 300.0, proposal=2, current=5, scale_up=UP, scale_down=DOWN)
    assert recommendation == 3
    assert new_history == [(100.0, 3), (300.0, 2)]
    # Scaling up is not stabilised: the proposal wins at once.
    assert stabilize(history, 200.0, proposal=8, current=5, scale_up=UP, scale_down=DOWN)[0] == 8


def test_scale_up_is_limited_to_double_or_four_more_per_15_s():
    args = dict(min_replicas=1, max_replicas=10, up_events=[], down_events=[], now=100.0, scale_up=UP, scale_down=DOWN)
    assert rate_limited(1, 20, **args) == 5    # max(2 x 1, 1 + 4)
    assert rate_limited(3, 20, **args) == 7    # max(6, 7)
    assert rate_limited(6, 20, **args) == 10   # max(12, 10), then maxReplicas
    assert rate_limited(6, 8, **args) == 8
    # 4 pods were added 10 s ago: the period began at 2, so the limit is max(4, 6) = 6.
    assert rate_limited(6, 20, **{**args, "up_events": [(90.0, 4)]}) == 6
    # ... and 15 s later that event is out of the period.
    assert rate_limited(6, 20, **{**args, "up_events": [(85.0, 4)]}) == 10


def test_scale_down_stops_at_min_replicas():
    args = dict(up_events=[], down_events=[], now=0.0, scale_up=UP, scale_down=DOWN)
    assert rate_limited(10, 0, min_replicas=1, max_replicas=10, **args) == 1
    assert rate_limited(10, 3, min_replicas=2, max_replicas=10, **args) == 3


def test_reconcile_clamps_a_count_outside_min_max_and_remembers_events():
    spec = fixed_replicas(1).with_replicas(2, 5)
    spec = DeploymentSpec(**{**spec.__dict__, "target_cpu_utilization": 40.0})
    state = ControllerState()
    assert reconcile(state, spec, 7, [pod(0.1)] * 7, now=0.0) == 5   # above max
    assert reconcile(state, spec, 1, [pod(0.9)], now=15.0) == 2      # below min
    # 2 pods at 90 %: ratio 2.25 -> ceil(4.5) = 5, allowed (max(4, 6)).
    assert reconcile(state, spec, 2, [pod(0.9)] * 2, now=30.0) == 5
    assert state.up_events[-1] == (30.0, 3) and state.utilization == 90
    # Load gone: 5 pods at 0 %; the recommendation of 5 made at t=30 holds the count for 300 s.
    assert reconcile(state, spec, 5, [pod(0.0)] * 5, now=45.0) == 5
    assert reconcile(state, spec, 5, [pod(0.0)] * 5, now=330.0) == 2




# ---- a Pods metric (requests in flight): Kubernetes' GetMetricReplicas ----------------------------
def inflight(value: float | None, **kw) -> PodView:
    return PodView(request_cores=1.0, metric_value=value, **kw)


def test_a_pods_metric_scales_in_proportion_outside_the_tolerance():
    assert metric_replica_proposal([inflight(1.05)] * 3, 1.0, current=3) == (3, 1.05)
    assert metric_replica_proposal([inflight(2.0)] * 3, 1.0, current=3) == (6, 2.0)
    # Milli-units: the adapter truncates 1.0996 to 1099m; the mean is Go's integer division.
    assert metric_replica_proposal([inflight(1.0996)] * 3, 1.0, current=3) == (3, 1.099)
    assert metric_replica_proposal([inflight(0.5), inflight(0.6), inflight(0.7)], 1.0, current=3) == (2, 0.6)
    assert mean_milli([1, 1, 2]) == 1
    assert metric_replica_proposal([inflight(3.0)] * 2, 1.5, current=2) == (4, 3.0)


def test_for_a_pods_metric_readiness_and_age_do_not_matter_only_pending_and_values():
    young_unready = inflight(2.0, ready=False, start_s=0.0)
    assert classify_pod(PodView(request_cores=1.0, sample_cores=2.0, ready=False, start_s=0.0), now=10.0) == UNREADY
    assert classify_for_metric(young_unready) == READY
    assert classify_for_metric(inflight(2.0, pending=True)) == UNREADY
    assert classify_for_metric(inflight(None)) == MISSING
    assert classify_for_metric(inflight(2.0, deleting=True)) == IGNORED
    assert metric_replica_proposal([inflight(None), inflight(None, pending=True)], 1.0, current=2) is None


def test_a_pods_metric_counts_pending_pods_at_zero_on_a_scale_up():
    # 2 x 2.0 in flight and 2 pending: [2000, 2000, 0, 0] m averages 1000 m, the target: keep 4.
    assert metric_replica_proposal([inflight(2.0)] * 2 + [inflight(None, pending=True)] * 2, 1.0,
                                   current=4) == (4, 2.0)
    # Scaling down, pending pods are left out: 2 x 0.4 -> ceil(0.4 x 2) = 1.
    assert metric_replica_proposal([inflight(0.4)] * 2 + [inflight(None, pending=True)], 1.0, current=3) == (1, 0.4)


def test_a_pods_metric_counts_pods_without_values_as_the_target_down_and_zero_up():
    # Down: [200, 200, 1000] m -> 466 m -> ceil(0.466 x 3) = 2.
    assert metric_replica_proposal([inflight(0.2)] * 2 + [inflight(None)], 1.0, current=3) == (2, 0.2)
    # Up: [3000, 3000, 0] m -> 2000 m -> ceil(2 x 3) = 6.
    assert metric_replica_proposal([inflight(3.0)] * 2 + [inflight(None)], 1.0, current=3) == (6, 3.0)
    # A recount that flips direction keeps the count: 1.2 up, but [1200, 0, 0] m is 0.4 down.
    assert metric_replica_proposal([inflight(1.2), inflight(None), inflight(None)], 1.0, current=3) == (3, 1.2)


def test_several_metrics_take_the_largest_proposal_and_never_scale_down_on_missing_ones():
    both = replace(fixed_replicas(1).with_replicas(1, 10), target_cpu_utilization=40.0,
                   pods_metric=PodsMetric("inflight", 1.0, 60.0))
    state = ControllerState()
    pods = [PodView(request_cores=1.0, sample_cores=0.8, metric_value=3.0)] * 2  # CPU says 4, in flight 6
    assert wanted_replicas(state, both, 2, pods, now=1000.0) == 6
    assert (state.utilization, state.metric) == (80, 3.0)
    no_inflight = [PodView(request_cores=1.0, sample_cores=0.1)] * 2  # CPU says 1, in flight unknown
    assert wanted_replicas(state, both, 2, no_inflight, now=1000.0) is None
    only = replace(both, target_cpu_utilization=None)
    assert wanted_replicas(ControllerState(), only, 2, no_inflight, now=1000.0) is None
    assert reconcile(ControllerState(), only, 2, pods, now=1000.0) == 6
