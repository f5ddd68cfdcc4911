"""The scaling run's time and CPU scaling and its comparison (foodclf.deploy.local.scaling), without servers."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from sim_inputs import loadtest

from foodclf.contracts.scaling import ScalingCheck, read_scaling_check
from foodclf.deploy.check import curve_points
from foodclf.deploy.cluster import SimulationSettings
from foodclf.deploy.local import scaling
from foodclf.deploy.local.autoscaler import Tick
from foodclf.deploy.manifests import load_deployment, overlay_dir
from foodclf.errors import SchemaError
from foodclf.loadtest.profiles import Stage
from foodclf.machine import describe_machine


@pytest.fixture
def hpa():
    return load_deployment(overlay_dir("hpa"))


def test_scaled_spec_shrinks_the_behavior_and_the_cpu_alike(hpa):
    spec = scaling.scaled_spec(hpa, time_scale=0.25, cpu_scale=0.2, max_replicas=4)
    assert spec.cpu_request == pytest.approx(hpa.cpu_request * 0.2)
    assert spec.cpu_limit == pytest.approx(hpa.cpu_limit * 0.2)
    assert spec.target_cpu_utilization == hpa.target_cpu_utilization  # utilisation is a ratio: unchanged
    assert spec.scale_down.stabilization_window_s == hpa.scale_down.stabilization_window_s * 0.25
    assert [p.period_s for p in spec.scale_up.policies] == [p.period_s * 0.25 for p in hpa.scale_up.policies]
    assert spec.max_replicas == min(4, hpa.max_replicas)
    assert spec.readiness == scaling.BALANCER_CHECK and spec.startup is None


def test_scaled_settings_keep_the_measured_start_unscaled():
    base = SimulationSettings()
    settings = scaling.scaled_settings(0.25, model_load_s=31.0)
    assert (settings.sync_period_s, settings.metrics_interval_s) == (base.sync_period_s / 4,
                                                                     base.metrics_interval_s / 4)
    assert settings.cpu_init_period_s == base.cpu_init_period_s / 4
    assert (settings.image_pull_s, settings.model_load_s) == (0.0, 31.0)


def test_compare_scaling_pairs_each_tick_with_the_simulated_count(hpa, capacity, tmp_path):
    spec = scaling.scaled_spec(hpa, 0.25, 1.0, 4)
    stages = [Stage(20.0, 1, 1.0), Stage(40.0, 30, 0.1)]
    simulated = scaling.simulate_scaling(capacity, spec, scaling.scaled_settings(0.25, 5.0), stages, 0.25)
    measured = loadtest([{"duration_s": 20.0, "users": 1, "delay_s": 1.0, "transaction_rate": 1.8,
                          "response_time_s": 0.15},
                         {"duration_s": 40.0, "users": 30, "delay_s": 0.1, "transaction_rate": 15.0,
                          "response_time_s": 1.5}])
    by_time = {row["t_s"]: row["replicas"] for row in simulated.rows}
    ticks = [Tick(3.75 * i, by_time[float(math.floor(3.75 * i))] + (i == 8), 1, None) for i in range(1, 14)]
    comparison = scaling.compare_scaling(ticks, measured, simulated)
    assert [r.difference for r in comparison.ticks] == [int(i == 8) for i in range(1, 14)]
    assert comparison.largest_replica_difference == 1 and comparison.ticks_within_one == 13
    assert max(r.simulated_replicas for r in comparison.ticks) > 1  # 30 users make the HPA scale up
    assert [(s.users, s.replicas) for s in comparison.stages] == [(1, None), (30, None)]
    rate = comparison.overall.simulated_transaction_rate
    error = comparison.overall.transaction_rate_error
    assert error == pytest.approx((rate - 1.8) / 1.8, abs=1e-3)
    # passed: every tick within one replica and the rate within the tolerance
    assert scaling.scaling_passed(comparison, abs(error) + 0.01)
    assert not scaling.scaling_passed(comparison, abs(error) - 0.01)
    ticks[3] = replace(ticks[3], replicas=ticks[3].replicas + 2)
    assert not scaling.scaling_passed(scaling.compare_scaling(ticks, measured, simulated), abs(error) + 0.01)


def test_scaling_json_is_written_and_read_back_with_its_plot(hpa, capacity, tmp_path):
    spec = scaling.scaled_spec(hpa, 0.25, 1.0, 4)
    stages = [Stage(20.0, 2, 1.0)]
    simulated = scaling.simulate_scaling(capacity, spec, scaling.scaled_settings(0.25, 5.0), stages, 0.25)
    measured = loadtest([{"duration_s": 20.0, "users": 2, "delay_s": 1.0, "transaction_rate": 1.8,
                          "response_time_s": 0.15}])
    comparison = scaling.compare_scaling([Tick(3.75, 1, 1, 12), Tick(7.5, 1, 1, 20)], measured, simulated)
    check = ScalingCheck(
        schema_version=1, created="2026-11-30T12:00:00+00:00", model="m", profile="scaling", time_scale=0.25,
        peak_load=2.0, cpu_scale=1.0, cpu_limit=spec.cpu_limit, cpu_request=spec.cpu_request, tolerance=0.15,
        replica_start_s=[4.0], model_load_s=4.0, capacity=curve_points(capacity), free_capacity=curve_points(capacity),
        comparison=comparison, passed=True, other_busy_cores={"scaling": 0.1}, machine=describe_machine())
    path = scaling.write_scaling(check, tmp_path)
    assert read_scaling_check(tmp_path) == check and path == tmp_path / "scaling.json"
    assert (tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads(path.read_text())
    data["schema_version"] = 2
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match="schema_version 2 is not supported.*check_hpa_sim.py"):
        read_scaling_check(path)
