"""Pod start-up on the probes' schedule and the nodes' room (foodclf.deploy.cluster)."""
from __future__ import annotations

import pytest

from foodclf.deploy.cluster import SimulationError, place_pod, ready_delay_s
from foodclf.deploy.spec import Probe


def test_ready_delay_follows_the_probe_schedule():
    report = Probe(initial_delay_s=5, period_s=5, success_threshold=3)
    assert ready_delay_s(20.0, report) == 30.0   # probes at 20, 25, 30 succeed
    assert ready_delay_s(21.0, report) == 35.0   # first success at 25
    assert ready_delay_s(3.0, report) == 15.0    # nothing before the initial delay (5, 10, 15)
    assert ready_delay_s(7.0, None) == 0.0       # no probes: Ready when the container runs
    startup = Probe(initial_delay_s=0, period_s=5, failure_threshold=60)
    assert ready_delay_s(22.0, report, startup) == 35.0  # startup succeeds at 25; readiness 25, 30, 35


def test_a_startup_probe_that_gives_up_before_the_model_loads_is_an_error():
    with pytest.raises(SimulationError, match="failureThreshold"):
        ready_delay_s(30.0, None, Probe(initial_delay_s=0, period_s=5, failure_threshold=2))


def test_place_pod_needs_both_requests_free():
    free = [(1.0, 4e9), (0.5, 8e9)]
    assert place_pod(free, 1.0, 2e9) == 0
    assert place_pod(free, 0.5, 6e9) == 1
    assert place_pod(free, 1.0, 6e9) is None


