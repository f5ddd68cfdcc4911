"""handlers/food_handler.py in process, loaded by TorchServe's own model loader from an archive.

The server tests (test_server.py) send the same inputs over HTTP; these check the details
(batches, per-request statuses, topk) in seconds. The image builders are shared with them.
"""
import io
import sys
import zipfile

import pytest
import torch
from PIL import Image
from ts.model_loader import TsModelLoader
from ts.service import Service

from foodclf.serve.archive import archive_run
from support import bad_images, good_images, in_process_probabilities
from foodclf.data.images import open_rgb
from foodclf.data.transforms import EvalPreset


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
    assert len(answers) == len(bodies)
    return [(*service.context.get_response_status(i), answers[i]) for i in range(len(bodies))]


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
        assert service.context.get_response_status(0)[0] == 400 and "not an image file" in answer["message"]


def test_answers_name_the_batch_size(service):
    predict(service, [good_images()["jpeg"]] * 3)
    assert [service.context.get_response_headers(i)["X-Batch-Size"] for i in range(3)] == ["3"] * 3
