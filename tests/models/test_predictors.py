"""foodclf.models.predictors: a model directory's file picks its runtime, every runtime gives the eager
model's logits, and a directory that cannot be loaded says which file is wrong and what to do."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from foodclf.errors import RunDirError
from foodclf.export.builders import BuildInputs, convert_openvino, export_onnx
from foodclf.models.net import FoodNet
from foodclf.models.predictors import (
    MODEL_FILES,
    OPENVINO_HINTS,
    PRECISIONS,
    OnnxRuntimePredictor,
    OpenVinoPredictor,
    find_model,
    load_predictor,
)
from foodclf.training.runs import CLASSES_FILE, DATA_CONFIG_FILE, REQUIRED_FILES

# fp32 runtimes reorder float sums: logits agree to far better than this (measured ~1e-6).
FP32_ATOL = 1e-4


def model_dir(run, dest: Path) -> Path:
    """A folder holding the run's configs and no model file."""
    dest.mkdir(parents=True)
    for name in (DATA_CONFIG_FILE, CLASSES_FILE):
        shutil.copy(run.run_dir / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def fp32_dirs(trained_run, tmp_path_factory):
    """The trained run as ONNX and as OpenVINO IR, each in its own model folder."""
    root = tmp_path_factory.mktemp("predictors")
    onnx_dir = model_dir(trained_run, root / "onnx")
    export_onnx(trained_run, onnx_dir / MODEL_FILES["onnx"])
    openvino_dir = model_dir(trained_run, root / "openvino")
    convert_openvino(BuildInputs(onnx_dir / MODEL_FILES["onnx"]), openvino_dir / MODEL_FILES["openvino"])
    return {"onnx": onnx_dir, "openvino": openvino_dir}


def images(run, count: int) -> torch.Tensor:
    size = run.data_config.image_size
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(count))


def test_a_run_directory_gives_its_eager_model(trained_run):
    predictor = load_predictor(trained_run.run_dir)
    assert isinstance(predictor, FoodNet) and not predictor.training
    batch = images(trained_run, 3)
    with torch.inference_mode():
        torch.testing.assert_close(predictor(batch), trained_run.load_model()(batch))


@pytest.mark.parametrize("variant, runtime", [("onnx", OnnxRuntimePredictor), ("openvino", OpenVinoPredictor)])
@pytest.mark.parametrize("batch_size", [1, 5])
def test_fp32_runtimes_give_the_eager_logits_at_any_batch_size(fp32_dirs, trained_run, variant, runtime,
                                                                  batch_size):
    predictor = load_predictor(fp32_dirs[variant], threads=1)
    assert isinstance(predictor, runtime) and predictor.threads == 1
    assert find_model(fp32_dirs[variant]) == (variant, fp32_dirs[variant] / MODEL_FILES[variant])
    batch = images(trained_run, batch_size)
    logits = predictor(batch)
    assert isinstance(logits, torch.Tensor) and logits.dtype == torch.float32
    with torch.inference_mode():
        torch.testing.assert_close(logits, trained_run.load_model()(batch), atol=FP32_ATOL, rtol=0)


def test_the_fp32_openvino_model_is_compiled_for_f32_whatever_the_cpu_prefers(fp32_dirs):
    """OpenVINO's default on CPUs with bf16 (AVX512-BF16, AMX) is bf16: 0.013 from eager on such a Xeon."""
    import openvino as ov

    predictor = load_predictor(fp32_dirs["openvino"], threads=1)
    assert predictor.precision == "fp32" and predictor.config["INFERENCE_PRECISION_HINT"] == "f32"
    assert predictor.compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32


def test_every_variant_has_one_precision_and_openvino_a_hint_for_it():
    assert set(PRECISIONS) == set(MODEL_FILES)
    assert set(PRECISIONS.values()) == set(OPENVINO_HINTS) == {"fp32", "int8", "bf16"}


def test_threads_default_to_torchs_setting(fp32_dirs):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert load_predictor(fp32_dirs["onnx"]).threads == 1
    finally:
        torch.set_num_threads(before)


def test_a_folder_without_a_model_file_says_how_to_make_one(trained_run, tmp_path):
    folder = model_dir(trained_run, tmp_path / "empty")
    with pytest.raises(RunDirError, match=r"no model file .*foodclf export"):
        load_predictor(folder)


def test_a_folder_with_two_model_files_is_refused(trained_run, fp32_dirs, tmp_path):
    folder = model_dir(trained_run, tmp_path / "two")
    shutil.copy(fp32_dirs["onnx"] / "model.onnx", folder / "model.onnx")
    shutil.copy(trained_run.run_dir / "model.pt", folder / "model.pt")
    with pytest.raises(RunDirError, match="several model files.*model.pt.*model.onnx"):
        load_predictor(folder)


def test_openvino_without_its_weights_names_the_missing_file(trained_run, fp32_dirs, tmp_path):
    folder = model_dir(trained_run, tmp_path / "xml-only")
    shutil.copy(fp32_dirs["openvino"] / "model.xml", folder / "model.xml")
    with pytest.raises(RunDirError, match=r"model\.bin: missing"):
        load_predictor(folder)


def test_a_corrupt_onnx_file_is_a_clear_error(trained_run, tmp_path):
    folder = model_dir(trained_run, tmp_path / "corrupt")
    (folder / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(RunDirError, match=r"model\.onnx: ONNX Runtime cannot load it"):
        load_predictor(folder)


def test_required_run_files_are_what_eager_loading_needs():
    assert MODEL_FILES["eager"] in REQUIRED_FILES
