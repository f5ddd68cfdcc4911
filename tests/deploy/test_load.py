"""The profile against one replica's capacity (foodclf.deploy.load) and `foodclf simulate
--peak-load`: scaled so that hpa (max 5) saturates and hpa+ (max 10) copes."""
from __future__ import annotations

import pytest
from sim_inputs import capacity_rows, write_capacity_loadtest

from foodclf.commands.simulate import main as simulate_main
from foodclf.contracts.simulation import read_simulations
from foodclf.deploy.cluster import SimulationError
from foodclf.deploy.load import describe_load, scale_to_peak_load, service_time_s, stage_demand
from foodclf.deploy.manifests import overlay_dir
from foodclf.loadtest.profiles import Stage, parse_profile


def test_demand_is_users_over_half_the_delay_plus_the_service_time(capacity):
    assert service_time_s(capacity) == pytest.approx(1 / 6.0)
    assert stage_demand(Stage(60.0, 20, 1.0), 0.5) == pytest.approx(20.0)
    load = describe_load([Stage(60.0, 20, 100.0), Stage(60.0, 30, 1.0)], capacity)
    assert load.peak_demand == pytest.approx(30 / (0.5 + 1 / 6.0), rel=1e-3)
    assert load.replica_capacity == 7.5 and load.peak_load == pytest.approx(load.peak_demand / 7.5, rel=1e-3)
    assert (load.peak_load_target, load.users_scale) == (None, 1.0)


def test_scaling_keeps_the_profiles_shape_and_reaches_the_peak_load(capacity):
    challenge = parse_profile("challenge")
    scaled, load = scale_to_peak_load(challenge, capacity, 20.0)
    assert load.peak_load_target == 20.0 and load.peak_load == pytest.approx(20.0, rel=0.02)
    assert [(s.duration_s, s.delay_s) for s in scaled] == [(s.duration_s, s.delay_s) for s in challenge]
    assert [s.users for s in scaled] == [max(1, round(s.users * load.users_scale)) for s in challenge]
    assert max(s.users for s in scaled) > max(s.users for s in challenge)
    with pytest.raises(SimulationError, match="more than 0"):
        scale_to_peak_load(challenge, capacity, 0.0)


@pytest.fixture
def fast_model(tmp_path):
    """A model like the demo's: 30 requests/s at 0.9 cores, far more than the challenge profile needs."""
    rows = capacity_rows(rates=(20.0, 28.0, 30.0, 30.0, 30.0), cpu_per_rate=0.03, rss=1000.0)
    return write_capacity_loadtest(tmp_path / "fast" / "loadtest.json", rows, model="fast")


def test_peak_load_8_saturates_hpa_and_hpa_plus_copes(fast_model, capsys):
    assert simulate_main(["--capacity", str(fast_model), "--peak-load", "8", "--no-plot",
                          "--manifest", str(overlay_dir("hpa")), "--manifest", str(overlay_dir("hpa+"))]) == 0
    out = capsys.readouterr().out
    sims = read_simulations(fast_model.parent)
    hpa, plus = sims["deployment_hpa"], sims["deployment_hpa+"]
    assert hpa.load == plus.load and hpa.load.peak_load_target == 8.0
    assert hpa.load.peak_load == pytest.approx(8.0, rel=0.02) and hpa.load.users_scale > 1
    assert f"users x {hpa.load.users_scale:.3g}" in out and "--peak-load 8" in out
    peak = max(range(len(hpa.stages)), key=lambda i: hpa.stages[i].users)
    assert hpa.stages[peak].users == plus.stages[peak].users
    assert plus.summary.max_replicas == 10 and plus.stages[peak].ready > 5
    assert hpa.summary.max_replicas == 5
    # Five replicas serve at most 5 x 30/s of the 8 x 30/s asked: requests queue; ten do not.
    assert plus.stages[peak].p95_s < hpa.stages[peak].p95_s / 2
    assert plus.summary.p95_s < hpa.summary.p95_s and plus.summary.failures <= hpa.summary.failures
    assert plus.summary.memory_kb > hpa.summary.memory_kb
    assert "deployment_hpa+ wins over deployment_hpa" in out


def test_without_peak_load_the_profile_is_used_as_given(fast_model, capsys):
    assert simulate_main(["--capacity", str(fast_model), "--time-scale", "0.1", "--no-plot",
                          "--manifest", str(overlay_dir("hpa"))]) == 0
    (sim,) = read_simulations(fast_model.parent).values()
    assert (sim.load.peak_load_target, sim.load.users_scale) == (None, 1.0)
    assert [s.users for s in sim.stages] == [s.users for s in parse_profile("challenge")]
    assert sim.load.peak_load < 2  # the challenge profile hardly loads a fast model
    assert "the profile's users as given" in capsys.readouterr().out
