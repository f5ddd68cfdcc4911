"""The simulation against reality (foodclf.deploy.check and scripts/check_hpa_sim.py)."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from sim_inputs import loadtest

from foodclf.contracts.sim_check import read_sim_check
from foodclf.deploy.capacity import capacity_drift, load_capacity, mean_capacity
from foodclf.deploy.check import compare_with_loadtest, largest_error
from foodclf.errors import SchemaError


def test_compare_with_loadtest_gives_relative_errors(capacity):
    measured = loadtest([{"duration_s": 120.0, "users": 4, "delay_s": 0.0, "transaction_rate": 7.0,
                          "response_time_s": 0.6}])
    (row,) = compare_with_loadtest(capacity, measured)
    assert (row.index, row.replicas, row.users) == (1, 1, 4)
    assert row.simulated_transaction_rate == pytest.approx(7.45, rel=0.02)
    assert row.transaction_rate_error == pytest.approx((row.simulated_transaction_rate - 7.0) / 7.0, abs=1e-4)
    assert row.response_time_error == pytest.approx((row.simulated_response_time_s - 0.6) / 0.6, abs=1e-4)
    assert largest_error([row]) == max(abs(row.transaction_rate_error), abs(row.response_time_error))
    assert largest_error([replace(row, transaction_rate_error=None, response_time_error=None)]) == 0.0


def test_a_check_file_of_another_version_or_with_a_missing_field_says_what_to_do(tmp_path):
    path = tmp_path / "check.json"
    path.write_text(json.dumps({"schema_version": 2, "model": "m"}))
    with pytest.raises(SchemaError, match="check.json: schema_version 2 is not supported.*check_hpa_sim.py"):
        read_sim_check(tmp_path)
    path.write_text(json.dumps({"schema_version": 1, "model": "m"}))
    with pytest.raises(SchemaError, match="check.json: field '.*': field required"):
        read_sim_check(path)


@pytest.mark.slow
@pytest.mark.serve
def test_check_hpa_sim_script_against_a_real_torchserve(trained_run, tmp_path, capsys, load_script):
    """The reality check end to end, briefly: real TorchServe, real locust, then the simulation.
    The 15 % figure needs a quiet machine and minutes of load (docs/kubernetes.md); here the
    files, the drift and the exit status must agree with what was measured."""
    script = load_script("check_hpa_sim")
    tolerance = 0.15
    code = script.main([str(trained_run.run_dir), "--levels", "1,2", "--level-duration", "3s", "--stage", "2:0.1",
                        "--stage-duration", "4s", "--warmup", "2s", "--tolerance", str(tolerance),
                        "--out", str(tmp_path)])
    check = read_sim_check(tmp_path)
    (row,) = check.stages
    assert (row.users, row.delay_s, row.replicas) == (2, 0.1, 1) and check.replicas is None
    assert row.measured_transaction_rate > 0 and row.simulated_transaction_rate > 0
    assert math.isfinite(row.transaction_rate_error) and math.isfinite(row.response_time_error)
    before, after = (load_capacity(tmp_path / d / "loadtest.json") for d in ("capacity_before", "capacity_after"))
    assert check.capacity_drift == round(capacity_drift(before, after), 4)
    assert [p.transaction_rate for p in check.capacity] == pytest.approx(
        [p.transaction_rate for p in mean_capacity([before, after]).points])
    worst = max(abs(row.transaction_rate_error), abs(row.response_time_error))
    assert check.largest_error == round(worst, 4) and check.passed == (worst <= tolerance)
    assert code == (0 if check.passed else 1)
    assert f"largest relative error {worst:.1%}" in capsys.readouterr().out


def test_a_batching_archive_is_named_as_the_simulations_blind_spot(trained_run, tmp_path, capsys, load_script):
    script = load_script("check_hpa_sim")
    from foodclf.serve.archive import archive_run
    script._warn_if_batching(archive_run(trained_run.run_dir, "single", tmp_path, batch_size=1))
    assert capsys.readouterr().out == ""
    script._warn_if_batching(archive_run(trained_run.run_dir, "batched", tmp_path, batch_size=4))
    out = capsys.readouterr().out
    assert "batched.mar batches up to 4 requests" in out and "batch size 1" in out
