"""Every variant this CPU can build serves through one real TorchServe with the eager archive's
answers (within the variant's tolerance) and the same JSON 400s."""
from __future__ import annotations

import zipfile

import pytest
from support import bad_images, encode, good_images, in_process_probabilities, photo, probabilities, put

from foodclf.export.variants import TOLERANCES

pytestmark = pytest.mark.serve

# Draft-mode JPEG decoding against the exact evaluation transform: largest probability difference
# (measured 0.005-0.012 on 1280x1280 JPEGs; docs/export.md, "The request path").
DRAFT_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def served(exported, tmp_path_factory):
    """One TorchServe serving every variant's archive (named after its folder)."""
    from foodclf.serve.archive import archive_run
    from foodclf.serve.server import TorchServe

    store = tmp_path_factory.mktemp("export-store")
    names = {}
    for fmt, folder in exported[1].items():
        archive_run(folder, folder.name, store, batch_size=1, max_batch_delay=0, workers=1, threads=1)
        names[fmt] = folder.name
    with TorchServe(store, models={name: f"{name}.mar" for name in names.values()},
                    workdir=tmp_path_factory.mktemp("export-serve")) as server:
        server.names, server.store = names, store
        yield server


def test_a_variant_archive_holds_its_model_files_instead_of_model_pt(served):
    with zipfile.ZipFile(served.store / f"{served.names['openvino-int8']}.mar") as archive:
        names = set(archive.namelist())
    assert {"model.int8.xml", "model.int8.bin", "data_config.json", "index_to_name.json", "food_handler.py"} <= names
    assert not names & {"model.pt", "food_model.py"}


def test_each_archive_serves_the_eager_answer_within_its_tolerance(served, trained_run):
    classes = trained_run.data_config.num_classes
    for fmt, name in served.names.items():
        for kind, data in good_images().items():
            response = put(served, data, name, **{"X-TopK": str(classes)})
            assert response.status_code == 200, (fmt, kind, response.text)
            answer = response.json()
            assert len(answer["predictions"]) == classes
            assert set(answer["predictions"][0]) == {"label", "index", "probability"}
            expected = in_process_probabilities(trained_run, data)
            assert (probabilities(answer, classes) - expected).abs().max().item() <= TOLERANCES[fmt][0], (fmt, kind)


def test_each_archive_answers_bad_input_with_the_same_json_400(served):
    body, phrase = bad_images()["not_an_image"]
    for fmt, name in served.names.items():
        response = put(served, body, name)
        assert response.status_code == 400, fmt
        assert response.json()["type"] == "BadRequest" and phrase in response.json()["message"]
        assert put(served, body, name, **{"X-TopK": "99"}).status_code == 400


def test_a_large_jpeg_is_served_within_the_draft_decoding_tolerance(served, trained_run):
    """1280x1280 is decoded at 1/8 scale (160 px for this 32 px model): documented tolerance 0.02."""
    data = encode(photo((1280, 1280)), "JPEG", quality=90)
    response = put(served, data, served.names["onnx"], **{"X-TopK": str(trained_run.data_config.num_classes)})
    assert response.status_code == 200, response.text
    served_probs = probabilities(response.json(), trained_run.data_config.num_classes)
    assert (served_probs - in_process_probabilities(trained_run, data)).abs().max().item() <= DRAFT_TOLERANCE
