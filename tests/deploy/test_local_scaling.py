"""The scaling run's time and CPU scaling and its comparison (foodclf.deploy.local.scaling), without servers."""
from __future__ import annotations

import json
import math

import pytest
from sim_inputs import loadtest

from foodclf.deploy.cluster import SimulationSettings
from foodclf.deploy.local import scaling
from foodclf.deploy.local.autoscaler import Tick
from foodclf.deploy.manifests import load_deployment, overlay_dir
from foodclf.loadtest.profiles import Stage


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
    assert [r["difference"] for r in comparison["ticks"]] == [int(i == 8) for i in range(1, 14)]
    assert comparison["largest_replica_difference"] <= 1
    assert max(r["simulated_replicas"] for r in comparison["ticks"]) > 1  # 30 users make the HPA scale up
    assert [s["users"] for s in comparison["stages"]] == [1, 30]
    rate = comparison["overall"]["simulated_transaction_rate"]
    assert comparison["overall"]["transaction_rate_error"] == pytest.approx((rate - 1.8) / 1.8, abs=1e-3)
    path = scaling.write_scaling(comparison, tmp_path, {"time_scale": 0.25})
    assert json.loads(path.read_text())["time_scale"] == 0.25 and (tmp_path / "scaling.png").stat().st_size > 0
