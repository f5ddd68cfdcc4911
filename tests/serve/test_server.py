"""A real TorchServe from an archive of the trained run: predictions, parity, batching, bad input.

One server for the module (TorchServe takes ~20 s to start here), on free 127.0.0.1 ports in
its own tmp working directory; the fixture asserts that every process is gone afterwards.
"""
import json
import threading
import time
import zipfile

import psutil
import pytest
import requests
import torch
from serve_support import alive, processes_using
from support import bad_images, good_images, in_process_probabilities, probabilities, put

from foodclf.serve.archive import archive_run
from foodclf.serve.properties import DEFAULT_CONFIG, read_properties
from foodclf.serve.server import ServeError, TorchServe, load_failures
from foodclf.serve.settings import MALLOC_ENV, serving_env

BATCH_SIZE = 4


@pytest.fixture(scope="module")
def store(trained_run, tmp_path_factory):
    store = tmp_path_factory.mktemp("serve-store")
    archive_run(trained_run.run_dir, "food", store, batch_size=BATCH_SIZE, max_batch_delay=100, workers=1)
    return store


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("serve-work")
    with TorchServe(store, models={"food": "food.mar"}, workdir=workdir) as server:
        pids = server.process_pids()
        server.first_worker_pids = server.worker_pids("food")
        yield server
    assert len(pids) >= 2 and not alive(pids)  # frontend and worker
    assert not processes_using(workdir)


def concurrently(server, bodies: list[bytes], **headers) -> list[requests.Response]:
    """Send all bodies at the same moment, one thread each, so TorchServe can batch them."""
    barrier = threading.Barrier(len(bodies))
    responses = [None] * len(bodies)

    def send(i):
        barrier.wait()
        responses[i] = put(server, bodies[i], **headers)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return responses


def assert_workers_unchanged(server):
    assert server.worker_pids("food") == server.first_worker_pids, "a worker restarted"
    assert put(server, good_images()["jpeg"]).status_code == 200


# ---- the server ----------------------------------------------------------------------------
@pytest.mark.serve
def test_ping_is_healthy_without_a_token(server):
    response = requests.get(f"{server.inference_url}/ping", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "Healthy"}


@pytest.mark.serve
@pytest.mark.parametrize("kind", list(good_images()))
def test_prediction_equals_the_in_process_model(server, trained_run, kind):
    data = good_images()[kind]
    response = put(server, data, **{"X-TopK": str(len(trained_run.classes))})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    served = probabilities(response.json(), len(trained_run.classes))
    torch.testing.assert_close(served, in_process_probabilities(trained_run, data), atol=1e-4, rtol=0)


@pytest.mark.serve
def test_default_answer_is_the_top_five(server, trained_run):
    answer = put(server, good_images()["png"]).json()
    predictions = answer["predictions"]
    assert [p["label"] for p in predictions] == [trained_run.classes[p["index"]] for p in predictions]
    assert len(answer["predictions"]) == 5


@pytest.mark.serve
def test_concurrent_requests_are_batched_and_all_correct(server, trained_run):
    data = good_images()["jpeg"]
    expected = in_process_probabilities(trained_run, data)
    batch_sizes = []
    for _ in range(3):  # the batch forms within maxBatchDelay; on a busy machine, give it more chances
        responses = concurrently(server, [data] * 8, **{"X-TopK": str(len(trained_run.classes))})
        for response in responses:
            assert response.status_code == 200
            served = probabilities(response.json(), len(trained_run.classes))
            torch.testing.assert_close(served, expected, atol=1e-4, rtol=0)
        batch_sizes += [int(r.headers["X-Batch-Size"]) for r in responses]
        if max(batch_sizes) > 1:
            break
    assert 1 < max(batch_sizes) <= BATCH_SIZE


@pytest.mark.serve
@pytest.mark.parametrize("kind", list(bad_images()))
def test_bad_input_is_a_json_400_and_the_worker_stays_up(server, kind):
    data, phrase = bad_images()[kind]
    response = put(server, data, **({"Content-Type": "image/jpeg"} if kind == "text_named_jpg" else {}))
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == 400 and phrase in body["message"]
    assert_workers_unchanged(server)


@pytest.mark.serve
def test_one_bad_image_in_a_batch_fails_only_its_own_request(server):
    good, (bad, phrase) = good_images()["jpeg"], bad_images()["truncated_jpeg"]
    for _ in range(3):
        responses = concurrently(server, [good, bad, good, good])
        assert [r.status_code for r in responses] == [200, 400, 200, 200]
        assert phrase in responses[1].json()["message"]
        if int(responses[1].headers["X-Batch-Size"]) > 1:
            break
    assert int(responses[1].headers["X-Batch-Size"]) > 1, "the bad image never shared a batch"
    assert_workers_unchanged(server)


# What TorchServe logs for every request or batch with its own log4j2.xml.
PER_REQUEST_LINES = ("Flushing req.cmd", "Looping backend response", "Backend response time",
                     "Backend received inference", "Sending response for jobId")


@pytest.mark.serve
def test_the_access_log_has_every_request_and_the_other_logs_none(server):
    logs = server.workdir / "logs"
    before = (logs / "access_log.log").read_text().count("/predictions/food")
    for _ in range(3):
        assert put(server, good_images()["jpeg"]).status_code == 200
    assert (logs / "access_log.log").read_text().count("/predictions/food") == before + 3
    for path in (logs / "ts_log.log", logs / "model_log.log", server.workdir / "torchserve.out"):
        text = path.read_text()
        assert not [line for line in PER_REQUEST_LINES if line in text], path
    # Lifecycle messages stay, once each: model and workers in ts_log, the workers' own lines in model_log.
    ts_log = (logs / "ts_log.log").read_text()
    assert ts_log.count("Inference API bind to") == 1
    assert "Torch worker started." in (logs / "model_log.log").read_text()


@pytest.mark.serve
def test_workers_run_with_the_allocator_setting(server):
    # The handler logs the value it sees; psutil's environ() cannot tell (glibc cuts it short there).
    expected = serving_env()[MALLOC_ENV]  # foodclf's, unless the test's environment sets one
    model_log = server.model_log.read_text()
    assert model_log.count(f"GLIBC_TUNABLES={expected}\n") == len(server.worker_pids("food"))


@pytest.mark.serve
def test_the_frontend_jvm_runs_with_the_configs_vmargs(server):
    vmargs = read_properties(DEFAULT_CONFIG)["vmargs"].split()
    assert "-XX:TieredStopAtLevel=1" in vmargs  # C1 only: C2's compiling took CPU from the model
    java = psutil.Process(server.pid).cmdline()
    assert java[0].endswith("java") and all(arg in java for arg in vmargs)


@pytest.mark.serve
def test_unknown_model_is_a_json_404(server):
    response = put(server, good_images()["jpeg"], model="no_such_model")
    assert response.status_code == 404
    assert response.json()["message"] == "Model not found: no_such_model"


@pytest.mark.serve
def test_model_api_is_off_and_metrics_are_prometheus(server):
    put(server, good_images()["jpeg"])
    assert requests.post(f"{server.management_url}/models?url=food.mar", timeout=10).status_code == 405
    metrics = requests.get(f"{server.metrics_url}/metrics", timeout=10)
    assert metrics.status_code == 200 and "ts_inference_requests_total" in metrics.text


# ---- starting and stopping -----------------------------------------------------------------
@pytest.mark.serve
def test_server_is_stopped_when_the_with_body_fails(store, tmp_path):
    """No models: the frontend alone starts in seconds."""
    with pytest.raises(RuntimeError, match="test body failed"):
        with TorchServe(store, workdir=tmp_path) as server:
            pids = server.process_pids()
            assert requests.get(f"{server.inference_url}/ping", timeout=10).status_code == 200
            raise RuntimeError("test body failed")
    assert pids and not alive(pids)
    assert not processes_using(tmp_path)


@pytest.mark.serve
def test_a_failed_start_names_the_log_and_leaves_nothing_running(store, tmp_path):
    with pytest.raises(ServeError, match="did not become ready") as error:
        TorchServe(store, models={"food": "food.mar"}, workdir=tmp_path, startup_timeout=1).start()
    assert str(tmp_path / "torchserve.out") in str(error.value)
    assert not processes_using(tmp_path)


@pytest.mark.serve
def test_a_model_that_cannot_load_stops_the_start_with_the_reason(store, tmp_path):
    # An archive whose data_config.json asks for 5 classes while model.pt has 11: the handler fails.
    broken = tmp_path / "store"
    broken.mkdir()
    with zipfile.ZipFile(store / "food.mar") as original, zipfile.ZipFile(broken / "food.mar", "w") as copy:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename.endswith("data_config.json"):
                data = json.dumps({**json.loads(data), "num_classes": 5}).encode()
            copy.writestr(item, data)
    workdir = tmp_path / "serve"
    started = time.monotonic()
    reason = r"model 'food' cannot load in its worker \(2 tries\): .*size mismatch"
    with pytest.raises(ServeError, match=reason) as error:
        TorchServe(broken, models={"food": "food.mar"}, workdir=workdir, startup_timeout=200).start()
    assert time.monotonic() - started < 100  # TorchServe itself would retry for ever
    assert str(workdir / "logs" / "model_log.log") in str(error.value)
    assert not processes_using(workdir)


def test_load_failures_reads_only_what_came_after_the_offset(tmp_path):
    log = tmp_path / "model_log.log"
    line = "2026-11-29T13:51:18,727 [INFO ] W-9000-food_1.0-stdout MODEL_LOG - {}\n"
    old = line.format("Failed to load model food, exception an earlier run's failure")
    new = "".join(line.format(m) for m in ["Failed to load model food, exception bad shape:",
                                           "\tsize mismatch for head.weight", "Traceback (most recent call last):",
                                           "Failed to load model other, exception not ours"])
    log.write_text(old + new)
    assert load_failures(log, "food") == ["an earlier run's failure", "bad shape: size mismatch for head.weight"]
    assert load_failures(log, "food", offset=len(old.encode())) == ["bad shape: size mismatch for head.weight"]
    assert load_failures(tmp_path / "missing.log", "food") == []


def test_missing_archive_fails_before_starting(store, tmp_path):
    with pytest.raises(ServeError, match="nope.mar: archive for model 'x' not found"):
        TorchServe(store, models={"x": "nope.mar"}, workdir=tmp_path).start()
