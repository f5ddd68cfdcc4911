"""Load tests of a real TorchServe serving a random-weights model, and scripts/bench_serve.py.

The server holds two models, "food" and "other" (the same archive under two names), as the
demo's server holds several: one model's replica is the frontend and its own workers.

The server's job queue is two requests long, so two closed-loop users never fill it and a dozen
do: TorchServe then answers 503 (its body says the model "has no worker", though it has one).
"""
import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from foodclf.contracts.loadtest import read_loadtest
from foodclf.loadtest.memory import torchserve_replica
from foodclf.loadtest.profiles import Stage
from foodclf.loadtest.runner import run_capacity, run_loadtest
from foodclf.loadtest.sampler import ServerSampler
from foodclf.serve.archive import archive_run
from foodclf.serve.server import TorchServe
from foodclf.training.runs import random_weights_run

JOB_QUEUE_SIZE = 2


@pytest.fixture(scope="module")
def torchserve(tmp_path_factory):
    """A random-weights baseline model archived as "food" and "other" and served by one TorchServe
    on free loopback ports."""
    run_dir = random_weights_run(tmp_path_factory.mktemp("run") / "food", "baseline", 32)
    store = tmp_path_factory.mktemp("model-store")
    for name in ("food", "other"):
        archive_run(run_dir, name, store, batch_size=1, workers=1, threads=1)
    with TorchServe(store, models={"food": "food.mar", "other": "other.mar"}, workdir=tmp_path_factory.mktemp("serve"),
                    properties={"job_queue_size": JOB_QUEUE_SIZE}) as server:
        yield server


@pytest.fixture(scope="module")
def food_photo(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("photo") / "photo.jpg"
    Image.effect_noise((48, 48), 64).convert("RGB").save(path, quality=90)
    return path


@pytest.mark.serve
def test_torchserve_load_test(torchserve, food_photo, tmp_path):
    url = torchserve.predictions_url("food")
    report = run_loadtest(url, food_photo, [Stage(2.0, JOB_QUEUE_SIZE, 0.05)], out_dir=tmp_path, timeout_s=10,
                          server_pids=torchserve.process_pids(), sample_interval_s=0.25)
    o, server = report.overall, report.server
    assert o.failures == 0 and o.successes > 2 and o.availability == 1.0
    assert o.successes == report.stages[0].successes
    assert o.transaction_rate == pytest.approx(o.successes / o.duration_s, rel=1e-4)
    # the frontend (Java) and the worker (Python + torch) were sampled
    assert len(server.pids) >= 2 and server.pss_mb_mean > 100 and server.cpu_cores_max > 0
    assert read_loadtest(tmp_path).overall.successes == o.successes


@pytest.mark.serve
def test_replica_pss_sampled_matches_psutil_read_directly(torchserve):
    replica, frontend = torchserve_replica(torchserve, "food"), torchserve.pid
    workers, others = torchserve.worker_pids("food"), torchserve.worker_pids("other")
    with ServerSampler(replica, interval_s=60) as sampler:   # the thread waits: this test takes the samples
        sampler.sample()
        direct = sum(psutil.Process(pid).memory_full_info().pss for pid in [frontend, *workers]) / 2**20
    assert sampler.samples[-1].pss_mb == pytest.approx(direct, rel=0.2)
    roles = {(p.pid, p.role) for p in sampler.peak.processes}
    assert roles == {(frontend, "frontend"), *((w, "worker") for w in workers)}
    assert not set(others) & {p.pid for p in sampler.peak.processes}   # the other model's workers are not ours
    assert sampler.samples[-1].pss_mb > 100                            # a JVM and a Python worker with torch


@pytest.mark.serve
def test_a_load_test_of_one_model_records_its_replica_memory(torchserve, food_photo, tmp_path):
    report = run_loadtest(torchserve.predictions_url("food"), food_photo, [Stage(1.5, 1, 0.05)], timeout_s=10,
                          replica=torchserve_replica(torchserve, "food"), sample_interval_s=0.25, out_dir=tmp_path)
    server = report.server
    assert server.samples > 0 and server.uss_mb_peak <= server.pss_mb_peak <= server.rss_mb_peak
    assert server.pss_mb_mean <= server.pss_mb_peak
    assert {p.role for p in server.peak_processes} == {"frontend", "worker"}
    assert sum(p.pss_mb for p in server.peak_processes) == pytest.approx(server.pss_mb_peak, rel=1e-4)
    assert torchserve.worker_pids("other")[0] not in server.pids
    assert read_loadtest(tmp_path).server == server


@pytest.mark.serve
def test_a_full_job_queue_is_http_503(torchserve, food_photo):
    report = run_loadtest(torchserve.predictions_url("food"), food_photo, [Stage(1.5, 12, 0.0)], timeout_s=10,
                          server_pids=torchserve.process_pids(), sample_interval_s=0.5)
    o = report.overall
    assert o.successes > 0                                   # the worker kept answering ...
    assert o.errors.get("http_503", 0) > 0                   # ... while the queue turned the rest away
    assert set(o.errors) == {"http_503"}


@pytest.mark.serve
def test_torchserve_rejected_requests_are_failures(torchserve, tmp_path):
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_bytes(b"this is not a JPEG")
    report = run_loadtest(torchserve.predictions_url("food"), not_a_photo, [Stage(1.0, 1, 0.1)], timeout_s=10)
    o = report.overall
    assert o.successes == 0 and o.failures > 0 and o.errors == {"http_400": o.failures}
    # the server found by its listening port when no PIDs are given
    assert report.server.samples > 0


@pytest.mark.serve
def test_torchserve_capacity_sweep(torchserve, food_photo):
    report = run_capacity(torchserve.predictions_url("food"), food_photo, levels=[1, 2], duration_s=1.0,
                          server_pids=torchserve.process_pids(), sample_interval_s=0.25, timeout_s=10)
    assert [row.users for row in report.capacity] == [1, 2]
    assert all(row.transaction_rate > 0 and row.failures == 0 for row in report.capacity)
    assert all(row.cpu_cores is not None and row.pss_mb > 100 for row in report.capacity)


BENCH_SERVE = Path(__file__).resolve().parents[2] / "scripts" / "bench_serve.py"


@pytest.mark.serve
def test_bench_serve_measures_raw_and_served_and_writes_the_ratio(tmp_path):
    # Run as a user runs it: its raw side spawns processes, which must import the script by path.
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(BENCH_SERVE), "--backbone", "baseline", "--image-size", "32",
                           "--grid", "1,1,2,5", "--duration", "1s", "--warmup", "1s", "--rounds", "2",
                           "--property", "number_of_netty_threads=1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    bench = json.loads(out.read_text())
    result = bench["results"][0]
    assert (result["workers"], result["threads"], result["batch_size"], result["max_batch_delay_ms"]) == (1, 1, 2, 5)
    assert len(result["raw_rounds"]) == len(result["served_rounds"]) == len(result["ratio_rounds"]) == 2
    assert result["raw_images_per_s"] > 0 and result["served_transaction_rate"] > 0
    assert result["served_failures"] == 0 and result["ten_users_failures"] == 0
    assert result["ratio"] == pytest.approx(result["served_transaction_rate"] / result["raw_images_per_s"], abs=1e-4)
    assert bench["properties"] == {"number_of_netty_threads": "1"} and bench["best"] == result
    assert "best served setting: workers 1, threads 1, batch 2, delay 5 ms" in done.stdout


def test_bench_serve_refuses_a_property_without_a_value():
    done = subprocess.run([sys.executable, str(BENCH_SERVE), "--property", "vmargs"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "--property: 'vmargs' is not KEY=VALUE" in done.stdout + done.stderr
