"""foodclf.export.variants: every variant of the trained run is a run-like candidate folder whose predictions
agree with the eager model within its documented tolerance, an evaluated variant is a candidate
for the comparison, a variant that cannot be built is reported (never skipped), and every archive
serves through one real TorchServe with the eager archive's answers."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from foodclf.report.compare import read_run
from foodclf.data.datasets import FoodImageDataset, list_split
from foodclf.evaluation.optimizing import load_metrics
from foodclf.export.variants import (FORMATS, TOLERANCES, VARIANT_FILE, ExportError, evaluate_variant, export_variants,
                            variant_dir)
from foodclf.models.predictors import MODEL_FILES, load_predictor, model_files
from foodclf.training.runs import REQUIRED_FILES
from foodclf.data.transforms import EvalPreset
from support import bad_images, encode, good_images, in_process_probabilities, photo, probabilities, put

CALIBRATION_IMAGES = 64
# Draft-mode JPEG decoding against the exact evaluation transform: largest probability difference
# (measured 0.005-0.012 on 1280x1280 JPEGs; docs/export.md, "The request path").
DRAFT_TOLERANCE = 0.02


def copy_run(run, dest: Path) -> Path:
    """The run's required files only, so the shared fixture's folder gets no variants/."""
    dest.mkdir(parents=True)
    for name in REQUIRED_FILES:
        shutil.copy(run.run_dir / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def exported(trained_run, sample_data, tmp_path_factory):
    """(run folder, {format: variant folder}) with every format built, not yet evaluated."""
    run_dir = copy_run(trained_run, tmp_path_factory.mktemp("export") / "food")
    folders = export_variants(run_dir, FORMATS, sample_data, calibration_images=CALIBRATION_IMAGES, evaluate=False)
    return run_dir, dict(zip(FORMATS, folders))


@pytest.fixture(scope="module")
def evaluation_batch(trained_run, sample_data):
    """(images, labels) of the sample's evaluation split, prepared as evaluation does."""
    dataset = FoodImageDataset(list_split(sample_data, "evaluation").samples, EvalPreset(trained_run.data_config))
    pairs = [dataset[i] for i in range(len(dataset))]
    return torch.stack([image for image, _ in pairs]), torch.tensor([label for _, label in pairs])


def test_each_variant_is_a_run_like_folder_named_after_its_candidate(exported, trained_run):
    run_dir, folders = exported
    assert list(folders) == list(FORMATS)
    for fmt, folder in folders.items():
        assert folder == variant_dir(run_dir, fmt) == run_dir / "variants" / f"food-{fmt}"
        for file in model_files(folder / MODEL_FILES[fmt]):
            assert file.stat().st_size > 0
        for name in ("data_config.json", "classes.json"):
            assert (folder / name).read_bytes() == (trained_run.run_dir / name).read_bytes()
        record = json.loads((folder / VARIANT_FILE).read_text())
        assert record["format"] == fmt and record["model_file"] == MODEL_FILES[fmt]
        assert record["source_run"] == str(run_dir.resolve()) and record["backbone"] == "baseline"
        expected = {"split": "training", "images": CALIBRATION_IMAGES} if fmt.endswith("int8") else None
        assert record["calibration"] == expected
    assert sorted(p.name for p in (run_dir / "variants").iterdir()) == sorted(f"food-{f}" for f in FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_variant_agrees_with_eager_within_its_tolerance(exported, trained_run, evaluation_batch, fmt):
    images, _ = evaluation_batch
    with torch.inference_mode():
        eager = torch.softmax(trained_run.load_model()(images), dim=1)
    variant = torch.softmax(load_predictor(exported[1][fmt], threads=1)(images), dim=1)
    max_difference, min_agreement = TOLERANCES[fmt]
    assert (variant - eager).abs().max().item() <= max_difference
    assert (variant.argmax(1) == eager.argmax(1)).float().mean().item() >= min_agreement


def test_an_evaluated_variant_is_a_candidate_for_the_comparison(exported, trained_run, sample_data,
                                                                 evaluation_batch):
    folder = exported[1]["openvino-int8"]
    evaluate_variant(folder, sample_data, threads=1, batch_size=8, latency_runs=3, throughput_runs=1,
                     progress=False)
    metrics = load_metrics(folder)
    assert metrics["model"] == {"name": "food-openvino-int8", "backbone": "baseline", "variant": "openvino-int8",
                                "model_file": "model.int8.xml", "parameters": None}
    images, labels = evaluation_batch
    with torch.inference_mode():
        eager_accuracy = (trained_run.load_model()(images).argmax(1) == labels).float().mean().item()
    assert abs(metrics["optimizing"]["accuracy"] - eager_accuracy) <= 1 - TOLERANCES["openvino-int8"][1]
    # OpenVINO keeps its weights in the .bin: the disk figure counts both files.
    on_disk = sum(f.stat().st_size for f in model_files(folder / "model.int8.xml")) / 1e6
    assert metrics["operational"]["disk_mb"] == pytest.approx(on_disk, abs=1e-3)
    assert metrics["operational"]["threads"] == 1
    assert read_run(folder).name == "food-openvino-int8"


def test_a_variant_that_cannot_be_built_is_reported_and_the_others_are_built(trained_run, sample_data, tmp_path,
                                                                          monkeypatch):
    run_dir = copy_run(trained_run, tmp_path / "food")
    monkeypatch.setitem(sys.modules, "nncf", None)  # as on a machine without NNCF: `import nncf` fails
    with pytest.raises(ExportError, match=r"1 of 2 variant\(s\).*food-openvino-int8: format 'openvino-int8' "
                                          r"needs nncf, not installed here \(pip install nncf\)") as caught:
        export_variants(run_dir, ["onnx", "openvino-int8"], sample_data, calibration_images=8, evaluate=False)
    assert caught.value.built == [variant_dir(run_dir, "onnx")]
    assert (variant_dir(run_dir, "onnx") / "model.onnx").is_file()
    assert not variant_dir(run_dir, "openvino-int8").exists()
    assert [p.name for p in (run_dir / "variants").iterdir()] == ["food-onnx"]  # no staging folder left
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("formats, match", [(["tflite"], "unknown format.*tflite.*choose from onnx, int8"),
                                            ([], "no format asked for")])
def test_bad_formats_fail_before_anything_is_written(trained_run, sample_data, tmp_path, formats, match):
    run_dir = copy_run(trained_run, tmp_path / "food")
    with pytest.raises(ExportError, match=match):
        export_variants(run_dir, formats, sample_data)
    assert not (run_dir / "variants").exists()


def test_script_prints_one_line_for_a_missing_run(tmp_path, capsys, load_script):
    from foodclf.cli import run_cli

    script = load_script("export")
    assert run_cli(script.main, [str(tmp_path / "nope"), "--data", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().startswith(f"error: {tmp_path / 'nope'}: run directory not found")


# ---- every archive through one real TorchServe ---------------------------------------------
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
    import zipfile

    with zipfile.ZipFile(served.store / f"{served.names['openvino-int8']}.mar") as archive:
        names = set(archive.namelist())
    assert {"model.int8.xml", "model.int8.bin", "data_config.json", "index_to_name.json", "food_handler.py"} <= names
    assert not names & {"model.pt", "food_model.py"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_archive_serves_the_eager_answer_within_its_tolerance(served, trained_run, fmt):

    classes = trained_run.data_config.num_classes
    for kind, data in good_images().items():
        response = put(served, data, served.names[fmt], **{"X-TopK": str(classes)})
        assert response.status_code == 200, (kind, response.text)
        answer = response.json()
        assert len(answer["predictions"]) == classes
        assert set(answer["predictions"][0]) == {"label", "index", "probability"}
        expected = in_process_probabilities(trained_run, data)
        assert (probabilities(answer, classes) - expected).abs().max().item() <= TOLERANCES[fmt][0], kind


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_archive_answers_bad_input_with_the_same_json_400(served, fmt):

    body, phrase = bad_images()["not_an_image"]
    response = put(served, body, served.names[fmt])
    assert response.status_code == 400
    assert response.json()["type"] == "BadRequest" and phrase in response.json()["message"]
    assert put(served, body, served.names[fmt], **{"X-TopK": "99"}).status_code == 400


def test_a_large_jpeg_is_served_within_the_draft_decoding_tolerance(served, trained_run):
    """1280x1280 is decoded at 1/8 scale (160 px for this 32 px model): documented tolerance 0.02."""

    data = encode(photo((1280, 1280)), "JPEG", quality=90)
    response = put(served, data, served.names["onnx"], **{"X-TopK": str(trained_run.data_config.num_classes)})
    assert response.status_code == 200, response.text
    served_probs = probabilities(response.json(), trained_run.data_config.num_classes)
    assert (served_probs - in_process_probabilities(trained_run, data)).abs().max().item() <= DRAFT_TOLERANCE
