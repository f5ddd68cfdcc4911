"""The one-replica capacity curve read from a loadtest.json (foodclf.deploy.capacity)."""
from __future__ import annotations

import pytest
from sim_inputs import capacity_rows, loadtest

from foodclf.deploy.capacity import (
    Capacity,
    CapacityPoint,
    capacity_drift,
    capacity_from_loadtest,
    mean_capacity,
    served_rate,
)
from foodclf.errors import SchemaError


def test_capacity_is_read_and_interpolated(capacity):
    assert capacity.model == "tiny"
    assert capacity.rate(1) == 6.0 and capacity.rate(3) == pytest.approx((7.2 + 7.45) / 2)
    assert capacity.rate(100) == 7.5                        # saturated beyond the last level
    assert capacity.cpu(0) == 0.0 and capacity.pss_mb(0) == 900.0


def test_capacity_needs_the_curve_and_the_servers_cpu():
    stage = {"duration_s": 30.0, "users": 1, "delay_s": 0.0, "transaction_rate": 5.0, "response_time_s": 0.2}
    with pytest.raises(SchemaError, match="--capacity"):
        capacity_from_loadtest(loadtest([stage]), "x.json")
    rows = capacity_rows()
    rows[0]["cpu_cores"] = None
    with pytest.raises(SchemaError, match=r"capacity\[0\] has no cpu_cores"):
        capacity_from_loadtest(loadtest([stage], rows), "x.json")


def test_levels_without_successes_are_left_out_and_rss_falls_back_to_the_servers():
    rows = capacity_rows()
    rows[0]["transaction_rate"] = 0.0
    rows[1]["pss_mb"] = None
    stage = {"duration_s": 30.0, "users": 1, "delay_s": 0.0, "transaction_rate": 5.0, "response_time_s": 0.2}
    curve = capacity_from_loadtest(loadtest([stage], rows), "x.json")
    assert [p.users for p in curve.points] == [2, 4, 8, 16]
    assert curve.points[0].pss_mb == 900.0  # the replica's mean Σ PSS


def test_mean_capacity_and_drift():
    a = Capacity("m", "a", (CapacityPoint(1, 10.0, 1.0, 900.0), CapacityPoint(2, 16.0, 1.6, 910.0)))
    b = Capacity("m", "b", (CapacityPoint(1, 8.0, 0.8, 1000.0), CapacityPoint(2, 16.0, 1.8, 930.0),
                            CapacityPoint(4, 20.0, 2.0, 950.0)))
    mean = mean_capacity([a, b])
    assert [p.users for p in mean.points] == [1, 2]  # only the common levels
    assert [(p.transaction_rate, p.cpu_cores, p.pss_mb) for p in mean.points] == [
        pytest.approx((9.0, 0.9, 950.0)), pytest.approx((16.0, 1.7, 920.0))]
    assert capacity_drift(a, b) == pytest.approx(0.2)


def test_the_cpu_limit_throttles_a_replica_in_proportion():
    assert served_rate(8.0, 1.5, 2.0) == (8.0, 1.5)
    assert served_rate(8.0, 4.0, 2.0) == (4.0, 2.0)
    assert served_rate(8.0, 4.0, None) == (8.0, 4.0)
