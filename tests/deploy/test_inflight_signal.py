"""The signal hpa-inflight scales on, measured on a real TorchServe: the rate of its counter
ts_inference_latency_microseconds, / 1e6, is the mean number of requests inside the server
(Little's law), what the simulation feeds the HPA (foodclf.deploy.prometheus)."""
from __future__ import annotations

import re
import time

import pytest
import requests

from foodclf.loadtest.profiles import Stage
from foodclf.loadtest.runner import run_loadtest
from foodclf.serve.archive import archive_run
from foodclf.serve.server import TorchServe
from foodclf.training.runs import random_weights_run

SERIES = re.compile(r'^ts_inference_latency_microseconds\{[^}]*model_name="food"[^}]*\}\s+(\S+)$', re.MULTILINE)


def latency_counter_s(server: TorchServe) -> tuple[float, float]:
    """(time, the counter in seconds) as Prometheus would scrape it."""
    text = requests.get(f"{server.metrics_url}/metrics", timeout=10).text
    (value,) = SERIES.findall(text)
    return time.monotonic(), float(value) / 1e6


@pytest.mark.serve
def test_the_latency_counters_rate_is_the_requests_in_flight(tmp_path, tmp_path_factory):
    from PIL import Image

    run_dir = random_weights_run(tmp_path / "run", "baseline", 32)
    archive_run(run_dir, "food", tmp_path / "store", batch_size=1, workers=1, threads=1)
    photo = tmp_path / "photo.jpg"
    Image.effect_noise((256, 256), 64).convert("RGB").save(photo, quality=90)
    with TorchServe(tmp_path / "store", models={"food": "food.mar"}, workdir=tmp_path / "serve") as server:
        url = server.predictions_url("food")
        requests.put(url, data=photo.read_bytes(), timeout=30).raise_for_status()  # the series exists
        rates = []
        for users in (1, 3):
            t0, c0 = latency_counter_s(server)
            report = run_loadtest(url, photo, [Stage(6.0, users, 0.0)], out_dir=tmp_path / f"u{users}", timeout_s=30)
            t1, c1 = latency_counter_s(server)
            o = report.overall
            client_in_flight = o.successes * o.response_time_s / (t1 - t0)  # Little's law on the client's side
            rates.append((c1 - c0) / (t1 - t0))
            # The server counts its own part of each request: a little less than the client waits.
            assert 0.6 * client_in_flight <= rates[-1] <= 1.02 * client_in_flight, (users, rates, client_in_flight)
    # One worker, no batching: three closed-loop users keep about three requests inside, one keeps one.
    assert rates[1] > 2 * rates[0]
