"""What the simulation counts (foodclf.deploy.tally): percentiles as numpy and the load test
compute them, and each stage's response-time distribution from a whole run."""
from __future__ import annotations

import random

import numpy as np
import pytest

from foodclf.deploy.simulation import simulate
from foodclf.deploy.spec import fixed_replicas
from foodclf.deploy.tally import latency_percentiles, percentile
from foodclf.loadtest.profiles import Stage


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_percentiles_interpolate_as_numpy_does(n):
    values = sorted(random.Random(n).expovariate(3.0) for _ in range(n))
    for q in (0, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_no_successes_give_no_percentiles():
    assert latency_percentiles([]) == {"p50_s": None, "p95_s": None, "p99_s": None}
    assert latency_percentiles([0.3, 0.1, 0.2]) == {"p50_s": 0.2, "p95_s": 0.29, "p99_s": 0.298}


def test_users_without_delay_all_wait_the_same(capacity):
    # Processor sharing with a constant number inside: every request takes users / rate.
    (stage,) = simulate(capacity, fixed_replicas(1), [Stage(120.0, 8, 0.0)]).stages
    assert stage.p50_s == pytest.approx(8 / 7.5, rel=0.02)
    assert stage.p99_s == pytest.approx(stage.p50_s, rel=0.05)


def test_random_delays_spread_the_response_times(capacity):
    result = simulate(capacity, fixed_replicas(1), [Stage(300.0, 6, 1.0), Stage(300.0, 1, 10.0)])
    busy, quiet = result.stages
    # Arrivals bunch up while others are inside: the tail is well above the middle.
    assert busy.p50_s < busy.p95_s < busy.p99_s and busy.p95_s > 1.3 * busy.p50_s
    assert busy.p95_s > busy.response_time_s
    assert quiet.p99_s == pytest.approx(1 / 6.0, rel=0.01)  # one user alone: the bare service time
    summary = result.summary
    assert quiet.p50_s < summary.p50_s <= summary.p95_s <= busy.p99_s
