"""foodclf.deploy.quota in whole simulated runs: a CPU quota is a budget per period, so a
lightly loaded replica answers at full speed and only a busy one at its limit's pace."""
from __future__ import annotations

import pytest

from foodclf.deploy.capacity import Capacity, CapacityPoint
from foodclf.deploy.quota import CFS_PERIOD_S, quota_table
from foodclf.deploy.simulation import simulate
from foodclf.deploy.spec import fixed_replicas
from foodclf.loadtest.profiles import Stage

# A request costs 20 ms of one core: 50/s with CPU to spare (1 core busy at 1 user).
FREE = Capacity("m", "free", (CapacityPoint(1, 50.0, 1.0, 100.0), CapacityPoint(2, 50.0, 1.0, 100.0)))
LIMIT = 0.3  # 30 ms of CPU per 100 ms period


def one_stage(capacity: Capacity, users: int, delay_s: float):
    (stage,) = simulate(capacity, fixed_replicas(1, cpu_limit=LIMIT), [Stage(300.0, users, delay_s)]).stages
    return stage


def test_an_idle_replica_answers_at_full_speed_within_its_budget():
    # One user who waits 2 s on average: every request finds a full budget (30 ms > 20 ms).
    stage = one_stage(FREE, users=1, delay_s=4.0)
    assert stage.response_time_s == pytest.approx(0.020, rel=0.01)
    assert stage.cpu_cores < LIMIT


def test_a_busy_replica_runs_at_its_limits_pace():
    # Back to back: the budget is spent within the first period, then 0.3 / 20 ms = 15/s.
    stage = one_stage(FREE, users=2, delay_s=0.0)
    assert stage.transaction_rate == pytest.approx(LIMIT / 0.020, rel=0.01)
    assert stage.cpu_cores == pytest.approx(LIMIT, rel=0.01)


def test_a_replica_measured_at_its_limit_serves_at_that_curves_rate():
    # Held at its quota it pays 25 ms a request (12/s), not the free 20 ms.
    held = Capacity("m", "held", (CapacityPoint(1, 12.0, 0.3, 100.0),))
    stage = one_stage(Capacity("m", "free", FREE.points, at_limit=held), users=2, delay_s=0.0)
    assert stage.transaction_rate == pytest.approx(12.0, rel=0.01)
    # and light load still gets the free speed
    assert one_stage(Capacity("m", "free", FREE.points, at_limit=held), users=1, delay_s=4.0).response_time_s \
        == pytest.approx(0.020, rel=0.01)


def test_the_table_without_a_limit_never_runs_out_and_with_one_holds_one_period():
    free = quota_table(FREE, None, top=4)
    assert free.held_rate == free.free_rate and all(d < 0 for d in free.drain)
    limited = quota_table(FREE, LIMIT, top=4)
    assert limited.bucket == pytest.approx(LIMIT * CFS_PERIOD_S)
    assert limited.held_rate[1] == pytest.approx(15.0) and limited.held_cpu[1] == pytest.approx(LIMIT)
    assert limited.drain[1] == pytest.approx(0.7) and limited.drain[0] == -LIMIT
