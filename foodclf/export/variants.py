"""Exporting a trained run into faster variants, each one a candidate of its own.

    RUN_DIR/variants/<run name>-<format>/
      model.onnx | model.int8.onnx | model.xml + model.bin | model.int8.xml + model.int8.bin
      data_config.json  classes.json   copies of the run's (the same preprocessing, the same classes)
      variant.json      how it was made: format, source run, calibration, library versions
      metrics.json  confusion_matrix.png   foodclf.evaluation.optimizing, once evaluated

The folder's name is the candidate name (``metrics.json`` ``model.name``, the archive's name), and
``model.variant`` is the format, so the comparison, archive, load-test and HPA stages take a
variant like any run directory. ``foodclf.models.predictors.load_predictor`` runs it.

Formats (see docs/export.md for the measurements behind them):

    onnx           fp32 ONNX (torch.onnx's torch.export-based exporter), run by ONNX Runtime
    int8           ONNX Runtime static quantisation of that graph: QDQ, per-channel INT8 weights,
                   UINT8 activations, calibrated on training images
    openvino       the ONNX graph converted to OpenVINO IR (fp32), run by OpenVINO
    openvino-int8  NNCF post-training quantisation of the OpenVINO model, same calibration images

Calibration images come from the *training* split (the evaluation split stays unseen), are
prepared by the run's evaluation transform (what served images get), and are drawn with a
fixed seed so an export is repeatable. A variant that cannot be built here raises ExportError
naming the variant and why; the other variants are still built.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

from foodclf.data.data_config import DataConfig
from foodclf.data.datasets import FoodImageDataset, list_split
from foodclf.errors import DatasetError, FoodclfError
from foodclf.evaluation.optimizing import evaluate_predictor, write_metrics
from foodclf.evaluation.operational import disk_mb
from foodclf.io import atomic_write_json, read_json
from foodclf.models.predictors import INPUT_NAME, MODEL_FILES, OUTPUT_NAME, find_model, load_predictor, model_files
from foodclf.training.runs import CLASSES_FILE, DATA_CONFIG_FILE, Run, load_run
from foodclf.data.transforms import EvalPreset

log = logging.getLogger(__name__)

FORMATS = ("onnx", "int8", "openvino", "openvino-int8")
VARIANTS_DIR = "variants"
VARIANT_FILE = "variant.json"
SCHEMA_VERSION = 1
DEFAULT_CALIBRATION_IMAGES = 300
CALIBRATION_SEED = 0
# The packages each format needs at export time (pip names), for a clear error when one is missing.
REQUIREMENTS = {
    "onnx": ("onnx", "onnxscript", "onnxruntime"),
    "int8": ("onnx", "onnxscript", "onnxruntime"),
    "openvino": ("onnx", "onnxscript", "openvino"),
    "openvino-int8": ("onnx", "onnxscript", "openvino", "nncf"),
}


# How far a variant's answers may stray from the eager model's, per format: (largest difference of
# any class probability, smallest top-1 agreement), on the sample dataset's evaluation split.
# Measured on the tests' trained baseline (32 px): onnx and openvino 1e-6; int8 0.03 (reduce_range,
# see quantize_onnxruntime), openvino-int8 0.06, both with every top-1 class unchanged; on the
# training split 0.04 and 0.18, top-1 agreement 100 % and 99.2 %. Docs: docs/export.md.
TOLERANCES: dict[str, tuple[float, float]] = {
    "onnx": (1e-4, 1.0),
    "openvino": (1e-4, 1.0),
    "int8": (0.1, 0.95),
    "openvino-int8": (0.25, 0.95),
}


class ExportError(FoodclfError):
    """A variant could not be built or evaluated. ``built`` lists the variant folders that were."""

    def __init__(self, message: str, built: Sequence[Path] = ()):
        super().__init__(message)
        self.built = list(built)


@dataclass
class Calibration:
    split: str
    images: list[torch.Tensor]  # each (1, 3, H, W), prepared by the run's EvalPreset


def variant_dir(run_dir: str | os.PathLike, fmt: str) -> Path:
    """Where ``export_variants`` writes the ``fmt`` variant of the run in ``run_dir``."""
    run_dir = Path(run_dir)
    return run_dir / VARIANTS_DIR / f"{run_dir.resolve().name}-{fmt}"


def export_variants(
    run_dir: str | os.PathLike,
    formats: Iterable[str],
    data_dir: str | os.PathLike,
    calibration_images: int = DEFAULT_CALIBRATION_IMAGES,
    split: str = "evaluation",
    evaluate: bool = True,
    threads: int | None = None,
    batch_size: int = 32,
    latency_runs: int = 50,
    progress: bool = False,
) -> list[Path]:
    """Build each format's variant of the run, evaluate it on ``split`` (metrics.json), and return
    the variant folders in the order of ``formats``.

    ``calibration_images`` training images calibrate the INT8 formats. Every format is tried;
    if any fails, ExportError names each failed variant and why (its ``built`` attribute lists
    the folders that were written).
    """
    formats = check_formats(formats)
    if calibration_images < 1:
        raise ExportError(f"calibration images must be at least 1, got {calibration_images}")
    run = load_run(run_dir)
    built, failures = [], []
    with tempfile.TemporaryDirectory(prefix=".export-", dir=run.run_dir) as scratch:
        onnx_file = None
        calibration = None
        for fmt in formats:
            name = variant_dir(run.run_dir, fmt).name
            try:
                check_requirements(fmt)
                if onnx_file is None:
                    onnx_file = export_onnx(run, Path(scratch) / MODEL_FILES["onnx"])
                if fmt.endswith("int8") and calibration is None:
                    calibration = load_calibration(data_dir, run.data_config, run.classes, calibration_images)
                out = build_variant(run, fmt, onnx_file, calibration)
                if evaluate:
                    evaluate_variant(out, data_dir, split=split, threads=threads, batch_size=batch_size,
                                     latency_runs=latency_runs, progress=progress)
                built.append(out)
            except Exception as e:  # one variant's failure must not hide the others' results
                log.error("variant %s failed: %s", name, e)
                failures.append(f"{name}: {e}")
    if failures:
        raise ExportError(f"{len(failures)} of {len(formats)} variant(s) of {run.run_dir} could not be built: "
                          + "; ".join(failures), built)
    return built


def check_formats(formats: Iterable[str]) -> list[str]:
    formats = list(dict.fromkeys(formats))  # unique, in order
    if not formats:
        raise ExportError(f"no format asked for: choose from {', '.join(FORMATS)}")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
    return formats


def check_requirements(fmt: str) -> None:
    """ExportError naming the variant and the missing packages when this machine lacks them."""
    missing = []
    for package in REQUIREMENTS[fmt]:
        try:
            importlib.import_module(package)
        except ImportError:
            missing.append(package)
    if missing:
        raise ExportError(f"format '{fmt}' needs {', '.join(missing)}, not installed here "
                          f"(pip install {' '.join(missing)})")


# ----------------------------------------------------------------------------- building

def build_variant(run: Run, fmt: str, onnx_file: Path, calibration: Calibration | None) -> Path:
    """Write the ``fmt`` variant's folder (model, configs, variant.json) atomically; return it."""
    out = variant_dir(run.run_dir, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model_file = staging / MODEL_FILES[fmt]
        BUILDERS[fmt](onnx_file, model_file, calibration)
        shutil.copy2(run.run_dir / DATA_CONFIG_FILE, staging / DATA_CONFIG_FILE)
        shutil.copy2(run.run_dir / CLASSES_FILE, staging / CLASSES_FILE)
        atomic_write_json(staging / VARIANT_FILE, variant_record(run, fmt, model_file, calibration))
        load_predictor(staging)(calibration_or_zeros(calibration, run.data_config))  # it must load and run
        replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("wrote the %s variant of %s to %s", fmt, run.run_dir, out)
    return out


def export_onnx(run: Run, path: Path) -> Path:
    """The run's FoodNet as one fp32 ONNX file, batch size dynamic, input 'images' -> 'logits'."""
    model = run.load_model()
    size = run.data_config.image_size
    example = torch.zeros(1, 3, size, size)
    try:
        # The torch.export-based exporter (the default since torch 2.9; the TorchScript one is deprecated).
        # It prints its progress whatever ``verbose`` says; library code logs instead.
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
        log.debug("torch.onnx.export: %s", printed.getvalue())
    except Exception as e:
        raise ExportError(f"torch.onnx.export failed for {run.data_config.backbone} ({type(e).__name__}: {e})") from e
    return path


def copy_onnx(onnx_file: Path, model_file: Path, calibration: Calibration | None) -> None:
    shutil.copy2(onnx_file, model_file)


def quantize_onnxruntime(onnx_file: Path, model_file: Path, calibration: Calibration | None) -> None:
    """ONNX Runtime static quantisation, QDQ format: per-channel INT8 weights, UINT8 activations
    with MinMax ranges from the calibration images."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.images = iter(calibration.images)

        def get_next(self):
            image = next(self.images, None)
            return None if image is None else {INPUT_NAME: image.numpy()}

    # Shape inference and graph fusions (Conv+BN) first, as ONNX Runtime recommends before quantising.
    prepared = model_file.with_name("prepared.onnx")
    quant_pre_process(str(onnx_file), str(prepared))
    # reduce_range: 7-bit weights. On x86 CPUs without VNNI (AVX2 only, as this project's machine)
    # ONNX Runtime multiplies UINT8 x INT8 with VPMADDUBSW, whose 16-bit sums saturate with 8-bit
    # weights: measured on a trained baseline, the largest probability error fell from 0.43 to 0.04
    # at the same speed (docs/export.md).
    quantize_static(str(prepared), str(model_file), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    prepared.unlink()


def convert_openvino(onnx_file: Path, model_file: Path, calibration: Calibration | None) -> None:
    import openvino as ov

    # compress_to_fp16 off: the fp32 variant keeps the exported weights bit for bit.
    ov.save_model(ov.convert_model(str(onnx_file)), str(model_file), compress_to_fp16=False)
    _check_written(model_file)


def quantize_openvino(onnx_file: Path, model_file: Path, calibration: Calibration | None) -> None:
    """NNCF post-training quantisation (its default preset: symmetric INT8, bias correction)."""
    import nncf
    import openvino as ov

    model = ov.convert_model(str(onnx_file))
    dataset = nncf.Dataset([image.numpy() for image in calibration.images])
    quantized = nncf.quantize(model, dataset, subset_size=len(calibration.images))
    ov.save_model(quantized, str(model_file), compress_to_fp16=False)
    _check_written(model_file)


def _check_written(model_file: Path) -> None:
    for file in model_files(model_file):
        if not file.is_file():
            raise ExportError(f"{file}: OpenVINO did not write it")


BUILDERS: dict[str, Callable[[Path, Path, Calibration | None], None]] = {
    "onnx": copy_onnx,
    "int8": quantize_onnxruntime,
    "openvino": convert_openvino,
    "openvino-int8": quantize_openvino,
}


def variant_record(run: Run, fmt: str, model_file: Path, calibration: Calibration | None) -> dict:
    """variant.json: enough to tell later how this variant was made."""
    record = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "format": fmt,
        "source_run": str(run.run_dir.resolve()),
        "backbone": run.data_config.backbone,
        "model_file": model_file.name,
        "calibration": ({"split": calibration.split, "images": len(calibration.images)}
                        if calibration is not None and fmt.endswith("int8") else None),
        "versions": {"torch": torch.__version__},
    }
    for package in REQUIREMENTS[fmt]:
        module = importlib.import_module(package)
        record["versions"][package] = getattr(module, "__version__", "unknown")
    return record


def replace_dir(staging: Path, out: Path) -> None:
    """Move a finished folder into place; an older variant there is removed only now."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


# ----------------------------------------------------------------------------- calibration

def load_calibration(data_dir: str | os.PathLike, data_config: DataConfig, classes: Sequence[str],
                     count: int, split: str = "training") -> Calibration:
    """``count`` images of ``split`` (all of them if fewer), drawn with a fixed seed, prepared as
    served images are."""
    listing = list_split(data_dir, split, check_images=False)
    if list(listing.classes) != list(classes):
        raise DatasetError(f"{listing.split_dir}: classes differ from the model's; calibrate on the dataset "
                           f"the model was trained on ({list(classes)})")
    if not listing.samples:
        raise DatasetError(f"{listing.split_dir}: no images to calibrate INT8 on")
    samples = random.Random(CALIBRATION_SEED).sample(listing.samples, min(count, len(listing.samples)))
    dataset = FoodImageDataset(samples, EvalPreset(data_config))
    images = [dataset[i][0].unsqueeze(0) for i in range(len(dataset))]
    log.info("calibrating on %d images of %s", len(images), listing.split_dir)
    return Calibration(split, images)


def calibration_or_zeros(calibration: Calibration | None, data_config: DataConfig) -> torch.Tensor:
    if calibration is not None:
        return calibration.images[0]
    return torch.zeros(1, 3, data_config.image_size, data_config.image_size)


# ----------------------------------------------------------------------------- evaluating

def evaluate_variant(out: str | os.PathLike, data_dir: str | os.PathLike, threads: int | None = None, **options):
    """Evaluate a variant folder like a run (foodclf.evaluation.optimizing): writes its metrics.json and
    returns the Metrics. ``options`` are evaluate_predictor's (split, batch_size, latency_runs, ...)."""
    out = Path(out)
    variant, model_file = find_model(out)
    data_config = DataConfig.load(out / DATA_CONFIG_FILE)
    classes = read_json(out / CLASSES_FILE)
    metrics = evaluate_predictor(
        partial(load_predictor, out, threads), model_file, out, data_dir, data_config, classes,
        backbone=data_config.backbone, variant=variant, parameters=None, threads=threads, **options)
    files = model_files(model_file)
    if len(files) > 1:  # OpenVINO: the weights are in the .bin beside the .xml; count them too
        metrics.operational.disk_mb = round(sum(disk_mb(f) for f in files), 3)
        write_metrics(metrics, out)
    return metrics
