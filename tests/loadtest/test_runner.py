"""foodclf.loadtest.runner: real locust against local http.server threads (200 or 503 answers) and a
port nobody listens on. Every load is bounded: a few users for a second or two."""
import csv
import os
import time
from dataclasses import replace

import pytest

from foodclf.contracts import validate
from foodclf.contracts.loadtest import LoadTest, read_loadtest
from foodclf.errors import FoodclfError
from foodclf.loadtest.profiles import Stage
from foodclf.loadtest.runner import run_capacity, run_loadtest, warn_if_client_saturated
from foodclf.loadtest.summary import format_summary


def test_load_test_counts_add_up(ok_server, photo, tmp_path):
    stages = [Stage(1.0, 2, 0.05), Stage(1.0, 3, 0.0)]
    report = run_loadtest(ok_server.url, photo, stages, out_dir=tmp_path, server_pids=[os.getpid()],
                          sample_interval_s=0.25, timeout_s=5)
    o = report.overall
    assert report.mode == "profile" and report.model == "food" and report.image == "photo.jpg"
    assert o.failures == 0 and o.successes > 10 and o.availability == 1.0 and o.errors == {}
    assert o.successes == sum(s.successes for s in report.stages)
    assert o.successes <= ok_server.bodies  # the server saw every counted request
    assert [s.users for s in report.stages] == [2, 3]
    assert o.transaction_rate == pytest.approx(o.successes / o.duration_s, rel=1e-4)
    assert 0 < o.p50_s <= o.p95_s <= o.p99_s <= o.longest_s
    assert report.server.samples > 0 and report.server.pss_mb_mean > 0

    rows = list(csv.DictReader((tmp_path / "loadtest.csv").open()))
    assert sum(int(r["successes"]) for r in rows) == o.successes
    assert {int(r["stage"]) for r in rows} == {1, 2}
    assert read_loadtest(tmp_path) == report
    # The load generator measured itself: some CPU, about one core at most (its users share a thread).
    assert all(0 < s.client_cpu_cores <= 1.2 for s in report.stages) and 0 < o.client_cpu_cores <= 1.2
    assert "Load generator CPU:" in format_summary(report)


def test_the_load_writes_its_time_zero_for_a_controller_beside_it(ok_server, photo, tmp_path):
    clock = tmp_path / "clock"
    called = time.time()
    report = run_loadtest(ok_server.url, photo, [Stage(1.0, 1, 0.05)], clock_file=clock, timeout_s=5)
    t0 = float(clock.read_text())
    # after the call (the child takes a moment to start), before the stage's end
    assert called < t0 < time.time() - report.overall.duration_s + 0.5


def test_a_saturated_client_is_a_warning(caplog, loadtest_data):
    stage = validate(loadtest_data, LoadTest, "test").stages[0]
    stages = [replace(stage, index=i, client_cpu_cores=c) for i, c in [(1, 0.5), (2, 0.9), (3, None)]]
    with caplog.at_level("WARNING", logger="foodclf.loadtest.runner"):
        warn_if_client_saturated(stages)
    assert [r.getMessage().split(";")[0] for r in caplog.records] == ["stage 2: the load generator used 0.90 cores"]


def test_a_full_queue_is_counted_as_http_503(busy_server, photo, tmp_path):
    report = run_loadtest(busy_server.url, photo, [Stage(1.0, 2, 0.05)], out_dir=tmp_path, timeout_s=5)
    o = report.overall
    assert report.mode == "fixed"
    assert o.successes == 0 and o.failures > 0 and o.availability == 0.0
    assert o.errors == {"http_503": o.failures} == report.stages[0].errors
    assert o.response_time_s is None and o.transaction_rate == 0.0
    assert read_loadtest(tmp_path).overall.errors == {"http_503": o.failures}


def test_down_server_is_a_report_with_failures(closed_url, photo, tmp_path):
    report = run_loadtest(closed_url, photo, [Stage(1.0, 2, 0.1)], out_dir=tmp_path, timeout_s=2)
    o = report.overall
    assert o.successes == 0 and o.failures > 0 and o.errors == {"connection": o.failures}
    assert report.server.samples == 0 and report.server.cpu_cores_mean is None
    assert read_loadtest(tmp_path) == report  # nulls are valid
    assert "Failed transactions:" in format_summary(report)


def test_capacity_sweep_shape(ok_server, photo, tmp_path):
    report = run_capacity(ok_server.url, photo, levels=[1, 2, 4], duration_s=0.7, out_dir=tmp_path,
                          server_pids=[os.getpid()], sample_interval_s=0.2, timeout_s=5)
    assert report.mode == "capacity"
    assert [row.users for row in report.capacity] == [1, 2, 4]
    assert [s.delay_s for s in report.stages] == [0.0, 0.0, 0.0]
    for row, stage in zip(report.capacity, report.stages):
        assert row.transaction_rate == stage.transaction_rate > 0 and row.response_time_s > 0 and row.failures == 0
    assert read_loadtest(tmp_path).capacity == report.capacity


def test_refuses_bad_input_before_sending_anything(photo):
    with pytest.raises(FoodclfError, match="--url"):
        run_loadtest("", photo, [Stage(1, 1, 0)])
    with pytest.raises(FoodclfError, match="URL"):
        run_loadtest("127.0.0.1:8080/predictions/x", photo, [Stage(1, 1, 0)])
    with pytest.raises(FoodclfError, match="bad port"):
        run_loadtest("http://127.0.0.1:http/p", photo, [Stage(1, 1, 0)])
    with pytest.raises(FoodclfError, match="no such file"):
        run_loadtest("http://127.0.0.1:1/p", photo.parent / "nope.jpg", [Stage(1, 1, 0)])
    with pytest.raises(FoodclfError, match="capacity levels"):
        run_capacity("http://127.0.0.1:1/p", photo, levels=[0, 2])
