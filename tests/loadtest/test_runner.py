"""foodclf.loadtest.runner and foodclf.loadtest.profiles: formulas by hand, real locust against real servers.

The local servers here are http.server threads on 127.0.0.1 free ports (200 or 500 answers),
plus a port nobody listens on; the TorchServe tests at the end serve a real model. Every load
is bounded: a few users for a second or two.
"""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from foodclf.errors import FoodclfError, SchemaError
from foodclf.loadtest.runner import (
    client_cpu_cores, combine_stages, failure_kind, format_summary, load_loadtest, run_capacity, run_loadtest,
    summarize, warn_if_client_saturated,
)
from foodclf.loadtest.profiles import CHALLENGE_PROFILE, Stage, parse_duration, parse_profile, total_duration


# ---------------------------------------------------------------- local servers

class _Handler(BaseHTTPRequestHandler):
    status = 200

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.bodies += 1
        body = b'{"Bread": 0.9}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(status: int):
    handler = type("Handler", (_Handler,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.bodies = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.fixture
def ok_server():
    server = _serve(200)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def failing_server():
    server = _serve(500)
    yield server
    server.shutdown()
    server.server_close()


def _url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/predictions/food"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on exit: connections are refused


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff" + bytes(2000))  # the local servers never decode it
    return path


# ---------------------------------------------------------------- statistics by hand

def test_summarize_on_a_known_sample():
    times = [0.1, 0.2, 0.3, 0.4, 1.0]
    s = summarize(times, failures=1, duration_s=2.0)
    assert s["successes"] == 5 and s["failures"] == 1
    assert s["availability"] == pytest.approx(5 / 6)
    assert s["transaction_rate"] == pytest.approx(2.5)       # 5 successes / 2 s
    assert s["response_time_s"] == pytest.approx(0.4)        # 2.0 / 5
    assert s["p50_s"] == pytest.approx(0.3)
    assert s["p95_s"] == pytest.approx(0.4 + 0.8 * 0.6)      # linear: rank 3.8 between 0.4 and 1.0
    assert s["p99_s"] == pytest.approx(0.4 + 0.96 * 0.6)
    assert s["longest_s"] == pytest.approx(1.0)


def test_summarize_without_traffic_gives_nulls_not_errors():
    s = summarize([], failures=0, duration_s=5.0)
    assert s["transaction_rate"] == 0.0
    assert s["availability"] is None and s["response_time_s"] is None and s["p95_s"] is None


def test_combine_stages_uses_the_reports_formulas():
    # Two siege runs: 60 s with 100 hits at 1.0 s, 60 s with 300 hits at 2.0 s, 20 failures.
    a = {"duration_s": 60.0, "successes": 100, "failures": 0, "response_time_s": 1.0}
    b = {"duration_s": 60.0, "successes": 300, "failures": 20, "response_time_s": 2.0}
    o = combine_stages([a, b])
    assert o["transaction_rate"] == pytest.approx(400 / 120)
    assert o["response_time_s"] == pytest.approx((100 * 1.0 + 300 * 2.0) / 400)   # 1.75, not 1.5
    assert o["availability"] == pytest.approx(400 / 420)
    assert o["duration_s"] == 120.0 and o["failures"] == 20


def test_failure_kinds():
    assert failure_kind(503, "LocustBadStatusCode: code=503") == "http_5xx"
    assert failure_kind(404, "LocustBadStatusCode: code=404") == "http_4xx"
    assert failure_kind(0, "ConnectionRefusedError: [Errno 111] Connection refused") == "connection"
    assert failure_kind(0, "RetriesExceeded: URL x: 0, original=timed out") == "timeout"


# ---------------------------------------------------------------- profiles

def test_challenge_profile_is_the_courses():
    assert len(CHALLENGE_PROFILE) == 30
    assert total_duration(CHALLENGE_PROFILE) == 30 * 60
    pairs = [(s.delay_s, s.users) for s in CHALLENGE_PROFILE]
    assert pairs[:5] == [(100, 20)] * 5 and pairs[14] == (1, 20) and pairs[15:20] == [(1, 30)] * 5
    assert pairs[-7:] == [(80, 20)] * 7
    scaled = parse_profile("challenge", time_scale=0.1)
    assert total_duration(scaled) == pytest.approx(180) and scaled[15].users == 30


def test_profile_files_and_errors(tmp_path):
    js = tmp_path / "p.json"
    js.write_text(json.dumps([{"duration": "1m30s", "users": 3, "delay": 0.5}, ["10s", 2, 0]]))
    assert parse_profile(js) == [Stage(90.0, 3, 0.5), Stage(10.0, 2, 0.0)]
    cs = tmp_path / "p.csv"
    cs.write_text("duration,users,delay\n2m,4,1\n")
    assert parse_profile(cs) == [Stage(120.0, 4, 1.0)]
    assert parse_duration("30s") == 30 and parse_duration(45) == 45 and parse_duration("1h") == 3600
    with pytest.raises(FoodclfError, match="stage 1: users"):
        parse_profile([{"duration": 5, "users": 0, "delay": 1}])
    with pytest.raises(FoodclfError, match="duration"):
        parse_duration("soon")
    with pytest.raises(FoodclfError, match="not a known profile"):
        parse_profile(str(tmp_path / "missing.json"))


# ---------------------------------------------------------------- real locust, local servers

def test_load_test_counts_add_up(ok_server, photo, tmp_path):
    stages = [Stage(1.0, 2, 0.05), Stage(1.0, 3, 0.0)]
    report = run_loadtest(_url(ok_server), photo, stages, out_dir=tmp_path, server_pids=[os.getpid()],
                          sample_interval_s=0.25, timeout_s=5)
    o = report["overall"]
    assert report["mode"] == "profile" and report["model"] == "food" and report["image"] == "photo.jpg"
    assert o["failures"] == 0 and o["successes"] > 10 and o["availability"] == 1.0
    assert o["successes"] == sum(s["successes"] for s in report["stages"])
    assert o["successes"] <= ok_server.bodies  # the server saw every counted request
    assert [s["users"] for s in report["stages"]] == [2, 3]
    assert o["transaction_rate"] == pytest.approx(o["successes"] / o["duration_s"], rel=1e-4)
    assert 0 < o["p50_s"] <= o["p95_s"] <= o["p99_s"] <= o["longest_s"]
    assert report["server"]["samples"] > 0 and report["server"]["rss_mb_mean"] > 0

    rows = list(csv.DictReader((tmp_path / "loadtest.csv").open()))
    assert sum(int(r["successes"]) for r in rows) == o["successes"]
    assert {int(r["stage"]) for r in rows} == {1, 2}
    assert load_loadtest(tmp_path) == json.loads((tmp_path / "loadtest.json").read_text())
    assert "Transaction rate:" in format_summary(report) and "Availability:" in format_summary(report)
    # The load generator measured itself: some CPU, about one core at most (its users share a thread).
    assert all(0 < s["client_cpu_cores"] <= 1.2 for s in report["stages"]) and 0 < o["client_cpu_cores"] <= 1.2
    assert "Load generator CPU:" in format_summary(report)


def test_client_cpu_is_per_stage_and_a_saturated_client_is_a_warning(caplog):
    raw = {"stage_starts": [0.0, 1.0], "end": 3.0, "cpu_s_at_stage_starts": [0.0, 0.5], "cpu_s_end": 2.3}
    assert [client_cpu_cores(raw, 0, 1), client_cpu_cores(raw, 1, 2)] == [0.5, 0.9]
    assert client_cpu_cores(raw, 0, 2) == pytest.approx(2.3 / 3)
    assert client_cpu_cores({"stage_starts": [0.0], "end": 1.0}, 0, 1) is None  # an older child: unknown
    with caplog.at_level("WARNING", logger="foodclf.loadtest.runner"):
        warn_if_client_saturated([{"index": 1, "client_cpu_cores": 0.5}, {"index": 2, "client_cpu_cores": 0.9},
                                  {"index": 3, "client_cpu_cores": None}])
    assert [r.getMessage().split(";")[0] for r in caplog.records] == ["stage 2: the load generator used 0.90 cores"]


def test_failing_endpoint_counts_failures(failing_server, photo):
    report = run_loadtest(_url(failing_server), photo, [Stage(1.0, 2, 0.05)], timeout_s=5)
    o = report["overall"]
    assert report["mode"] == "fixed"
    assert o["successes"] == 0 and o["failures"] > 0 and o["availability"] == 0.0
    assert o["errors"] == {"http_5xx": o["failures"]}
    assert o["response_time_s"] is None and o["transaction_rate"] == 0.0


def test_down_server_is_a_report_with_failures(photo, tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/predictions/food"
    report = run_loadtest(url, photo, [Stage(1.0, 2, 0.1)], out_dir=tmp_path, timeout_s=2)
    o = report["overall"]
    assert o["successes"] == 0 and o["failures"] > 0 and o["errors"] == {"connection": o["failures"]}
    assert report["server"]["samples"] == 0 and report["server"]["cpu_cores_mean"] is None
    load_loadtest(tmp_path / "loadtest.json")  # nulls are valid
    assert "Failed transactions:" in format_summary(report)


def test_capacity_sweep_shape(ok_server, photo, tmp_path):
    report = run_capacity(_url(ok_server), photo, levels=[1, 2, 4], duration_s=0.7, out_dir=tmp_path,
                          server_pids=[os.getpid()], sample_interval_s=0.2, timeout_s=5)
    assert report["mode"] == "capacity"
    assert [row["users"] for row in report["capacity"]] == [1, 2, 4]
    assert [s["delay_s"] for s in report["stages"]] == [0.0, 0.0, 0.0]
    for row in report["capacity"]:
        assert row["transaction_rate"] > 0 and row["response_time_s"] > 0 and row["failures"] == 0
    assert load_loadtest(tmp_path)["capacity"] == report["capacity"]


def test_refuses_without_a_url(photo):
    with pytest.raises(FoodclfError, match="--url"):
        run_loadtest("", photo, [Stage(1, 1, 0)])
    with pytest.raises(FoodclfError, match="URL"):
        run_loadtest("127.0.0.1:8080/predictions/x", photo, [Stage(1, 1, 0)])
    with pytest.raises(FoodclfError, match="no such file"):
        run_loadtest("http://127.0.0.1:1/p", photo.parent / "nope.jpg", [Stage(1, 1, 0)])


# ---------------------------------------------------------------- schema

def _valid_report() -> dict:
    stage = {"index": 1, "duration_s": 2.0, "users": 1, "delay_s": 0.0, "successes": 4, "failures": 0,
             "availability": 1.0, "transaction_rate": 2.0, "response_time_s": 0.5, "p50_s": 0.5,
             "p95_s": 0.5, "p99_s": 0.5, "longest_s": 0.5, "cpu_cores": None, "rss_mb": None}
    overall = {k: v for k, v in stage.items() if k not in ("index", "users", "delay_s")}
    return {"schema_version": 1, "created": "2026-11-29T07:00:00+00:00", "url": "http://127.0.0.1:1/p",
            "model": "m", "image": "p.jpg", "mode": "fixed", "stages": [stage], "overall": overall,
            "server": {"cpu_cores_mean": None, "cpu_cores_max": None, "rss_mb_mean": None,
                       "rss_mb_max": None, "samples": 0}}


@pytest.mark.parametrize("breaks, field", [
    (lambda d: d.pop("overall"), "overall"),
    (lambda d: d["stages"][0].update(successes="4"), "successes"),
    (lambda d: d.update(mode="burst"), "mode"),
    (lambda d: d.update(schema_version=2), "schema_version"),
    (lambda d: d.update(mode="capacity"), "capacity"),
    (lambda d: d["server"].pop("samples"), "samples"),
    (lambda d: d["overall"].update(client_cpu_cores="0.1"), "client_cpu_cores"),  # optional, but a number
])
def test_load_loadtest_names_the_bad_field(tmp_path, breaks, field):
    path = tmp_path / "loadtest.json"
    path.write_text(json.dumps(_valid_report()))
    assert load_loadtest(path)["model"] == "m"
    data = _valid_report()
    breaks(data)
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match=f"loadtest.json.*{field}"):
        load_loadtest(path)


# ---------------------------------------------------------------- a real TorchServe

def _untrained_run(run_dir):
    """A complete run directory with random weights (the load test needs answers, not accuracy)."""
    import torch

    from foodclf.data.datasets import FOOD11_CLASSES
    from foodclf.models.net import create_model, default_data_config
    from foodclf.training.runs import write_run_files

    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save(create_model("baseline", 11).state_dict(), run_dir / "model.pt")
    write_run_files(run_dir, default_data_config("baseline", 11, image_size=32), list(FOOD11_CLASSES), {})
    return run_dir


@pytest.fixture(scope="module")
def torchserve(tmp_path_factory):
    """A random-weights baseline model archived and served by TorchServe on free loopback ports."""
    serving = pytest.importorskip("foodclf.serve.server")
    archive = pytest.importorskip("foodclf.serve.archive")
    run_dir = _untrained_run(tmp_path_factory.mktemp("run") / "food")
    store = tmp_path_factory.mktemp("model-store")
    archive.archive_run(run_dir, "food", store, batch_size=1, workers=1, threads=1)
    with serving.TorchServe(store, models={"food": "food.mar"},
                            workdir=tmp_path_factory.mktemp("serve")) as server:
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
    report = run_loadtest(url, food_photo, [Stage(2.0, 2, 0.05)], out_dir=tmp_path, timeout_s=10,
                          server_pids=torchserve.process_pids(), sample_interval_s=0.25)
    o, server = report["overall"], report["server"]
    assert o["failures"] == 0 and o["successes"] > 2 and o["availability"] == 1.0
    assert o["successes"] == report["stages"][0]["successes"]
    assert o["transaction_rate"] == pytest.approx(o["successes"] / o["duration_s"], rel=1e-4)
    # the frontend (Java) and the worker (Python + torch) were sampled
    assert len(server["pids"]) >= 2 and server["rss_mb_mean"] > 100 and server["cpu_cores_max"] > 0
    assert load_loadtest(tmp_path)["overall"]["successes"] == o["successes"]


@pytest.mark.serve
def test_torchserve_rejected_requests_are_failures(torchserve, tmp_path):
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_bytes(b"this is not a JPEG")
    report = run_loadtest(torchserve.predictions_url("food"), not_a_photo, [Stage(1.0, 1, 0.1)], timeout_s=10)
    o = report["overall"]
    assert o["successes"] == 0 and o["failures"] > 0 and o["errors"] == {"http_4xx": o["failures"]}
    # the server found by its listening port when no PIDs are given
    assert report["server"]["samples"] > 0


@pytest.mark.serve
def test_torchserve_capacity_sweep(torchserve, food_photo):
    report = run_capacity(torchserve.predictions_url("food"), food_photo, levels=[1, 2], duration_s=1.0,
                          server_pids=torchserve.process_pids(), sample_interval_s=0.25, timeout_s=10)
    assert [row["users"] for row in report["capacity"]] == [1, 2]
    assert all(row["transaction_rate"] > 0 and row["failures"] == 0 for row in report["capacity"])
    assert all(row["cpu_cores"] is not None and row["rss_mb"] > 100 for row in report["capacity"])


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
