"""handlers/food_handler.py in process, loaded by TorchServe's own model loader from an archive.

The server tests (test_server.py) send the same inputs over HTTP; these check the details
(batches, per-request statuses, topk) in seconds. The image builders are shared with them.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
import torch
from support import bad_images, good_images, in_process_probabilities
from ts.model_loader import TsModelLoader
from ts.service import Service

from foodclf.serve.archive import archive_run


# ---- the handler, as a TorchServe worker loads it -----------------------------------------
@pytest.fixture(scope="module")
def service(trained_run, tmp_path_factory):
    store = tmp_path_factory.mktemp("handler-store")
    mar = archive_run(trained_run.run_dir, "food", store, batch_size=8)
    model_dir = tmp_path_factory.mktemp("handler-model")
    with zipfile.ZipFile(mar) as z:
        z.extractall(model_dir)
    sys.path.insert(0, str(model_dir))  # what the worker does before loading
    try:
        yield TsModelLoader().load("food", str(model_dir), handler="food_handler.py", gpu_id=None, batch_size=8)
    finally:
        sys.path.remove(str(model_dir))
        for module in ("food_handler", "food_model"):
            sys.modules.pop(module, None)


def predict(service, bodies, headers=None, fields=None):
    """Run one batch through the handler as Service.predict does; (status, phrase, answer) per request."""
    batch = []
    for i, body in enumerate(bodies):
        parameters = [{"name": "body", "contentType": "application/octet-stream", "value": body}]
        parameters += [{"name": k, "contentType": "text/plain", "value": v} for k, v in (fields or {}).items()]
        batch.append({"requestId": f"r{i}".encode(), "parameters": parameters,
                      "headers": [{"name": k.encode(), "value": v.encode()} for k, v in (headers or {}).items()]})
    request_headers, inputs, ids = Service.retrieve_data_for_inference(batch)
    service.context.request_ids, service.context.request_processor = ids, request_headers
    answers = service._entry_point(inputs, service.context)
    assert len(answers) == len(bodies) and all(isinstance(a, str) for a in answers)  # JSON text
    return [(*service.context.get_response_status(i), json.loads(answers[i])) for i in range(len(bodies))]


def test_every_image_kind_matches_the_in_process_prediction(service, trained_run):
    images = good_images()
    results = predict(service, list(images.values()), headers={"X-TopK": str(len(trained_run.classes))})
    for (name, data), (status, _, answer) in zip(images.items(), results):
        assert status == 200, name
        served = torch.zeros(len(trained_run.classes))
        for p in answer["predictions"]:
            assert p["label"] == trained_run.classes[p["index"]]
            served[p["index"]] = p["probability"]
        torch.testing.assert_close(served, in_process_probabilities(trained_run, data), atol=1e-4, rtol=0,
                                   msg=f"{name}: served probabilities differ from the in-process model")


def test_default_topk_is_five_most_probable_first(service):
    [(status, _, answer)] = predict(service, [good_images()["jpeg"]])
    probabilities = [p["probability"] for p in answer["predictions"]]
    assert status == 200 and len(probabilities) == 5 and probabilities == sorted(probabilities, reverse=True)


def test_topk_from_header_or_form_field(service):
    assert len(predict(service, [good_images()["png"]], headers={"x-topk": "2"})[0][2]["predictions"]) == 2
    assert len(predict(service, [good_images()["png"]], fields={"topk": "1"})[0][2]["predictions"]) == 1


@pytest.mark.parametrize("topk", ["0", "12", "three"])
def test_bad_topk_is_a_400(service, topk):
    [(status, _, answer)] = predict(service, [good_images()["png"]], headers={"X-TopK": topk})
    assert status == 400 and "topk must be a whole number from 1 to 11" in answer["message"]


def test_each_bad_input_fails_only_its_own_request(service):
    good = good_images()["jpeg"]
    bad = bad_images()
    results = predict(service, [good, *(body for body, _ in bad.values()), good])
    assert results[0][0] == results[-1][0] == 200
    assert results[0][2] == results[-1][2]
    for (name, (_, phrase)), (status, reason, answer) in zip(bad.items(), results[1:-1]):
        assert status == 400, name
        assert answer["code"] == 400 and answer["type"] == "BadRequest" and phrase in answer["message"], name
        assert reason and "\n" not in reason


def test_text_and_json_bodies_are_not_images(service):
    for value in ("some text", {"an": "object"}):
        batch = [{"requestId": b"r0", "parameters": [{"name": "body", "contentType": "x", "value": value}]}]
        request_headers, inputs, ids = Service.retrieve_data_for_inference(batch)
        service.context.request_ids, service.context.request_processor = ids, request_headers
        [answer] = service._entry_point(inputs, service.context)
        assert service.context.get_response_status(0)[0] == 400 and "not an image file" in json.loads(answer)["message"]


def test_answers_name_the_batch_size(service):
    predict(service, [good_images()["jpeg"]] * 3)
    assert [service.context.get_response_headers(i)["X-Batch-Size"] for i in range(3)] == ["3"] * 3


# ---- a worker imports only what its variant runs ----------------------------------------------
# Never in a worker; torch (its compiled core) and torchvision only in the eager model's.
HEAVY = ("torch._C", "torchvision", "onnxruntime", "openvino", "lightning", "pytorch_lightning", "timm", "sklearn",
         "matplotlib", "nncf")
# What a TorchServe worker does with an archive, in a fresh interpreter started as TorchServe starts it
# (the unpacked archive on PYTHONPATH, so its sitecustomize.py runs first): TorchServe's worker module
# and model loader, the handler, one request.
WORKER = """
import json, sys
model_dir, image, heavy = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3:]
import ts.model_service_worker  # TorchServe's worker imports torch at start-up
from ts.model_loader import TsModelLoader
from ts.service import Service
service = TsModelLoader().load("food", model_dir, handler="food_handler.py", gpu_id=None, batch_size=1)
batch = [{"requestId": b"r0", "parameters": [{"name": "body", "contentType": "image/jpeg", "value": image}]}]
service.context.request_processor, inputs, service.context.request_ids = Service.retrieve_data_for_inference(batch)
[answer] = service._entry_point(inputs, service.context)
from ts.protocol.otf_message_handler import create_predict_response
create_predict_response([answer], {0: "r0"}, "", 200, context=service.context)  # the answer as sent
print(json.dumps({"variant": service._entry_point.__self__.variant, "answer": json.loads(answer),
                  "heavy": sorted(name for name in heavy if name in sys.modules)}))
"""


@pytest.fixture(scope="module")
def variants(trained_run, sample_data, tmp_path_factory):
    """The trained run's exported variants, from a copy (the session's run stays as it is)."""
    from foodclf.export.variants import export_variants

    run_dir = tmp_path_factory.mktemp("handler-variants") / "run"
    shutil.copytree(trained_run.run_dir, run_dir)
    folders = export_variants(run_dir, ["onnx", "int8", "openvino"], sample_data, calibration_images=4,
                              evaluate=False)
    return {"eager": trained_run.run_dir, **{f.name.removeprefix("run-"): f for f in folders}}


@pytest.mark.parametrize("variant, heavy", [("eager", ["torch._C"]), ("onnx", ["onnxruntime"]),
                                            ("int8", ["onnxruntime"]), ("openvino", ["openvino"])])
def test_a_worker_imports_only_what_its_variant_runs(variants, tmp_path, variant, heavy):
    mar = archive_run(variants[variant], "food", tmp_path / "store")
    model_dir = tmp_path / "model"
    with zipfile.ZipFile(mar) as z:
        z.extractall(model_dir)
    image = tmp_path / "photo.jpg"
    image.write_bytes(good_images()["jpeg"])
    env = {**os.environ, "PYTHONPATH": f"{model_dir}:{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-c", WORKER, str(model_dir), str(image), *HEAVY], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["variant"] == variant and len(loaded["answer"]["predictions"]) == 5
    # TorchServe's BaseHandler would have imported both runtimes, and TorchServe's worker torch
    assert loaded["heavy"] == heavy
