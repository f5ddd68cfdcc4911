"""foodclf.export.variants: every variant of the trained run is a run-like candidate folder whose predictions
agree with the eager model within its documented tolerance, its variant.json says how and on which CPU it
was made, an evaluated variant is a candidate for the comparison, and a variant that cannot be built is
reported (never skipped)."""
from __future__ import annotations

import sys

import pytest
import torch
from export_support import CALIBRATION_IMAGES, NO_BF16, copy_run, eager_probabilities

from foodclf import machine
from foodclf.contracts.variant import SCHEMA_VERSION, VARIANT_FILE, CalibrationRecord, read_variant
from foodclf.errors import SchemaError
from foodclf.evaluation import load_metrics
from foodclf.export.variants import (
    FORMATS,
    PRECISIONS,
    TOLERANCES,
    ExportError,
    available_formats,
    evaluate_variant,
    export_variants,
    variant_dir,
)
from foodclf.models.predictors import MODEL_FILES, load_predictor, model_files
from foodclf.report.compare import read_run

# Every format; bf16 only where the CPU has bf16 (no tolerance is taken from a CPU that emulates it).
EACH_FORMAT = [pytest.param(f, marks=pytest.mark.skipif(not machine.has_bf16(), reason=NO_BF16))
               if PRECISIONS[f] == "bf16" else f for f in FORMATS]


def test_each_variant_is_a_run_like_folder_named_after_its_candidate(exported, trained_run):
    run_dir, folders = exported
    assert list(folders) == available_formats()
    for fmt, folder in folders.items():
        assert folder == variant_dir(run_dir, fmt) == run_dir / "variants" / f"food-{fmt}"
        for file in model_files(folder / MODEL_FILES[fmt]):
            assert file.stat().st_size > 0
        for name in ("data_config.json", "classes.json"):
            assert (folder / name).read_bytes() == (trained_run.run_dir / name).read_bytes()
    assert sorted(p.name for p in (run_dir / "variants").iterdir()) == sorted(f"food-{f}" for f in folders)


def test_variant_json_records_precision_calibration_and_the_exporting_cpu(exported):
    run_dir, folders = exported
    for fmt, folder in folders.items():
        record = read_variant(folder)
        assert record.schema_version == SCHEMA_VERSION
        assert record.format == fmt and record.model_file == MODEL_FILES[fmt]
        assert record.precision == {"onnx": "fp32", "openvino": "fp32", "int8": "int8", "openvino-int8": "int8",
                                    "openvino-bf16": "bf16"}[fmt]
        assert record.source_run == str(run_dir.resolve()) and record.backbone == "baseline"
        quantised = fmt in ("int8", "openvino-int8")
        assert record.calibration == (CalibrationRecord("training", CALIBRATION_IMAGES) if quantised else None)
        assert (record.int8_range is not None) == (fmt == "int8")
        assert (record.exported_on.cpu, record.exported_on.isa) == (machine.cpu_model(), machine.cpu_features())
        assert "torch" in record.versions


def test_a_variant_json_of_the_old_schema_is_a_clear_error(exported, tmp_path):
    old = tmp_path / VARIANT_FILE
    old.write_text('{"schema_version": 1, "created": "2026-01-01T00:00:00+00:00", "format": "onnx", '
                   '"source_run": "/r", "backbone": "baseline", "model_file": "model.onnx", '
                   '"calibration": null, "versions": {"torch": "2"}}')
    with pytest.raises(SchemaError, match=rf"{VARIANT_FILE}: schema_version 1 is not supported \(expected 2\); "
                                          "export the variant again"):
        read_variant(tmp_path)


@pytest.mark.parametrize("fmt", EACH_FORMAT)
def test_each_variant_agrees_with_eager_within_its_tolerance(exported, trained_run, evaluation_batch, fmt):
    images, _ = evaluation_batch
    variant = torch.softmax(load_predictor(exported[1][fmt], threads=1)(images), dim=1)
    eager = eager_probabilities(trained_run, images)
    max_difference, min_agreement = TOLERANCES[fmt]
    assert (variant - eager).abs().max().item() <= max_difference
    assert (variant.argmax(1) == eager.argmax(1)).float().mean().item() >= min_agreement


def test_every_format_has_a_tolerance_a_precision_and_a_model_file_of_its_own():
    assert set(TOLERANCES) == set(FORMATS) and set(FORMATS) <= set(PRECISIONS)
    assert len({MODEL_FILES[f] for f in FORMATS}) == len(FORMATS)


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


@pytest.mark.parametrize("formats, options, match", [
    (["tflite"], {}, "unknown format.*tflite.*choose from onnx, int8"),
    ([], {}, "no format asked for"),
    (["int8"], {"int8_range": "7bit"}, "int8 range '7bit' is not one of auto, reduced, full"),
])
def test_bad_options_fail_before_anything_is_written(trained_run, sample_data, tmp_path, formats, options, match):
    run_dir = copy_run(trained_run, tmp_path / "food")
    with pytest.raises(ExportError, match=match):
        export_variants(run_dir, formats, sample_data, **options)
    assert not (run_dir / "variants").exists()


def test_script_prints_one_line_for_a_missing_run(tmp_path, capsys, load_script):
    from foodclf.cli import run_cli

    script = load_script("export")
    assert run_cli(script.main, [str(tmp_path / "nope"), "--data", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().startswith(f"error: {tmp_path / 'nope'}: run directory not found")
