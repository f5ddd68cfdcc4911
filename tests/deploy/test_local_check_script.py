"""scripts/check_hpa_sim.py --replicas and --scaling, briefly: real replicas under quotas behind HAProxy,
then the simulation."""
from __future__ import annotations

import math

import pytest

from foodclf.contracts.scaling import read_scaling_check
from foodclf.contracts.sim_check import read_sim_check
from foodclf.deploy.capacity import capacity_drift, load_capacity, mean_capacity
from foodclf.deploy.check import largest_error
from foodclf.deploy.local import scaling
from foodclf.deploy.local.cgroups import cgroup_unavailable_reason
from foodclf.deploy.local.haproxy import haproxy_unavailable_reason
from foodclf.loadtest.profiles import parse_profile

UNAVAILABLE = haproxy_unavailable_reason() or cgroup_unavailable_reason()


@pytest.mark.slow
@pytest.mark.serve
@pytest.mark.skipif(bool(UNAVAILABLE), reason=UNAVAILABLE or "")
def test_check_hpa_sim_with_one_and_two_replicas(trained_run, tmp_path, capsys, load_script):
    """One row per replica count and stage, with users per replica, each count simulated with the
    capacity sweeps right before and after its stages; the 15 % figure needs a quiet
    machine and minutes of load (docs/kubernetes.md), so here the files and the exit status must
    agree with what was measured."""
    script = load_script("check_hpa_sim")
    code = script.main([str(trained_run.run_dir), "--replicas", "1,2", "--cpu-scale", "0.25", "--levels", "1,2",
                        "--level-duration", "3s", "--stage", "2:0.1", "--stage-duration", "4s", "--warmup", "2s",
                        "--out", str(tmp_path)])
    check = read_sim_check(tmp_path)
    setup = check.replicas
    assert setup.replica_counts == [1, 2] and setup.cpu_limit == 0.5 and setup.balance == "random(1)"
    assert [(r.replicas, r.users) for r in check.stages] == [(1, 2), (2, 4)]
    for row in check.stages:
        assert row.measured_transaction_rate > 0 and row.simulated_transaction_rate > 0
        assert math.isfinite(row.transaction_rate_error) and row.measured_failures == 0
    assert len(setup.replica_start_s) == 2 and all(s > 0 for s in setup.replica_start_s)
    # sweeps under the quota and with it lifted, before each count's stages and at the end;
    # each count gets the two around it
    names = ("capacity_before_1", "capacity_before_2", "capacity_end")
    held = [load_capacity(tmp_path / d / "loadtest.json") for d in names]
    free = [load_capacity(tmp_path / f"{d}_free" / "loadtest.json") for d in names]
    assert check.capacity_drift == round(max(capacity_drift(a, b) for sweeps in (held, free)
                                             for a, b in zip(sweeps, sweeps[1:])), 4)
    for by_count, sweeps in ((setup.capacity_by_count, held), (setup.free_capacity_by_count, free)):
        for n, around in (("1", sweeps[:2]), ("2", sweeps[1:])):
            assert [p.transaction_rate for p in by_count[n]] == pytest.approx(
                [p.transaction_rate for p in mean_capacity(around).points])
    # without its quota one replica uses more than its quota's cores
    assert max(p.cpu_cores for p in free[0].points) > setup.cpu_limit
    assert check.largest_error == round(largest_error(check.stages), 4)
    assert code == (0 if check.passed else 1) and check.passed == (check.largest_error <= 0.15)
    assert f"largest relative error {largest_error(check.stages):.1%}" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.serve
@pytest.mark.skipif(bool(UNAVAILABLE), reason=UNAVAILABLE or "")
def test_check_hpa_sim_scaling_run(trained_run, tmp_path, capsys, load_script):
    """--scaling, briefly: the challenge profile shrunk to 36 s, the HPA scaling real replicas
    (at most 2); scaling.json, its plot, the printed verdict and the exit status agree."""
    script = load_script("check_hpa_sim")
    code = script.main([str(trained_run.run_dir), "--scaling", "--time-scale", "0.02", "--peak-load", "1.5",
                        "--max-replicas", "2", "--cpu-scale", "0.25", "--levels", "1,2", "--level-duration", "2s",
                        "--warmup", "2s", "--out", str(tmp_path)])
    check = read_scaling_check(tmp_path)
    assert (check.profile, check.time_scale, check.cpu_limit) == ("challenge", 0.02, 0.5)
    comparison = check.comparison
    period = 15.0 * 0.02  # the controller's sync period, time-scaled
    assert len(comparison.ticks) >= 0.8 * sum(s.duration_s for s in comparison.stages) / period
    assert all(1 <= t.replicas <= 2 and t.difference == t.replicas - t.simulated_replicas for t in comparison.ticks)
    assert comparison.largest_replica_difference == max(abs(t.difference) for t in comparison.ticks)
    assert len(comparison.stages) == len(parse_profile("challenge", 0.02))
    assert comparison.overall.measured_transaction_rate > 0 and comparison.overall.measured_failures == 0
    # the held curve sized the load; without its quota the replica used more than the quota
    assert max(p.cpu_cores for p in check.free_capacity) > check.cpu_limit
    assert check.passed == scaling.scaling_passed(comparison, 0.15) and code == (0 if check.passed else 1)
    assert (tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert f"within ±1: {comparison.ticks_within_one} of {len(comparison.ticks)}" in out
    assert f"scaling check: {'passed' if check.passed else 'FAILED'}" in out
