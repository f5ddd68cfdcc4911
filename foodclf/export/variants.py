"""Exporting a trained run into faster variants, each one a candidate of its own.

    RUN_DIR/variants/<run name>-<format>/
      model.onnx | model.int8.onnx | model.xml + .bin | model.int8.xml + .bin | model.bf16.xml + .bin
      data_config.json  classes.json   copies of the run's (the same preprocessing, the same classes)
      variant.json      how it was made: format, precision, source run, calibration, int8 range,
                        the exporting machine, library versions (foodclf.contracts.variant)
      metrics.json  confusion_matrix.png   foodclf.evaluation.optimizing, once evaluated

The folder's name is the candidate name (``metrics.json`` ``model.name``, the archive's name), and
``model.variant`` is the format, so the comparison, archive, load-test and HPA stages take a
variant like any run directory. ``foodclf.models.predictors.load_predictor`` runs it.

The formats and how each is built: foodclf.export.builders; the precision each runs at on every
CPU: PRECISIONS; which ones this CPU can build, and the int8 weight range:
foodclf.export.portability; calibration: foodclf.export.calibration. A variant that cannot be
built here raises ExportError naming the variant and why; the other variants are still built.
"""
from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import torch

from foodclf import contracts, machine
from foodclf.contracts import created_now
from foodclf.contracts.variant import SCHEMA_VERSION, VARIANT_FILE, CalibrationRecord, Int8Range, Variant
from foodclf.data.data_config import DataConfig
from foodclf.evaluation import evaluate_predictor, write_metrics
from foodclf.evaluation.operational import disk_mb
from foodclf.export.builders import BUILDERS, BuildInputs, export_onnx
from foodclf.export.calibration import DEFAULT_CALIBRATION_IMAGES, Calibration, calibration_or_zeros, load_calibration
from foodclf.export.errors import ExportError
from foodclf.export.portability import check_cpu, cpu_supports, resolve_int8_range
from foodclf.io import read_json
from foodclf.models.predictors import MODEL_FILES, PRECISIONS, find_model, load_predictor, model_files
from foodclf.training.runs import CLASSES_FILE, DATA_CONFIG_FILE, Run, load_run

__all__ = ["FORMATS", "TOLERANCES", "PRECISIONS", "VARIANT_FILE", "DEFAULT_CALIBRATION_IMAGES", "ExportError",
           "available_formats", "export_variants", "evaluate_variant", "variant_dir"]

log = logging.getLogger(__name__)

FORMATS = ("onnx", "int8", "openvino", "openvino-int8", "openvino-bf16")
VARIANTS_DIR = "variants"
# The packages each format needs at export time (pip names), for a clear error when one is missing.
REQUIREMENTS = {
    "onnx": ("onnx", "onnxscript", "onnxruntime"),
    "int8": ("onnx", "onnxscript", "onnxruntime"),
    "openvino": ("onnx", "onnxscript", "openvino"),
    "openvino-int8": ("onnx", "onnxscript", "openvino", "nncf"),
    "openvino-bf16": ("onnx", "onnxscript", "openvino"),
}

# How far a variant's answers may stray from the eager model's, per format: (largest difference of
# any class probability, smallest top-1 agreement), on the sample dataset's evaluation split.
# Measured on the tests' trained baseline (32 px, AMD EPYC AVX2): onnx and openvino 1e-6 (openvino
# compiled with the f32 hint; OpenVINO's bf16 default gave 0.013 on an AMX Xeon); int8 0.03 (7-bit
# weights, foodclf.export.portability), openvino-int8 0.06, every top-1 class unchanged; on the
# training split 0.05 and 0.18, top-1 agreement 100 % and 99.2 %. bf16 is not measured here (no
# bf16 CPU): its bound follows from bf16's 8-bit mantissa (relative rounding 2^-9 per value, a few
# times 0.013 over a network's layers). Docs: docs/export.md.
TOLERANCES: dict[str, tuple[float, float]] = {
    "onnx": (1e-4, 1.0),
    "openvino": (1e-4, 1.0),
    "int8": (0.1, 0.95),
    "openvino-int8": (0.25, 0.95),
    "openvino-bf16": (0.05, 0.95),
}


def variant_dir(run_dir: str | os.PathLike, fmt: str) -> Path:
    """Where ``export_variants`` writes the ``fmt`` variant of the run in ``run_dir``."""
    run_dir = Path(run_dir)
    return run_dir / VARIANTS_DIR / f"{run_dir.resolve().name}-{fmt}"


def available_formats() -> list[str]:
    """The formats this CPU can build and run at their stated precision (bf16 needs bf16 instructions)."""
    return [fmt for fmt in FORMATS if cpu_supports(fmt)]


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
    int8_range: str = "auto",
) -> list[Path]:
    """Build each format's variant of the run, evaluate it on ``split`` (metrics.json), and return
    the variant folders in the order of ``formats``.

    ``calibration_images`` training images calibrate the INT8 formats; ``int8_range`` (auto,
    reduced or full) sets the int8 format's weights (foodclf.export.portability). Every format is
    tried; if any fails, ExportError names each failed variant and why (its ``built`` attribute
    lists the folders that were written).
    """
    formats = check_formats(formats)
    if calibration_images < 1:
        raise ExportError(f"calibration images must be at least 1, got {calibration_images}")
    chosen_range = resolve_int8_range(int8_range)
    run = load_run(run_dir)
    evaluation = dict(split=split, threads=threads, batch_size=batch_size, latency_runs=latency_runs,
                      progress=progress)
    built, failures = [], []
    with tempfile.TemporaryDirectory(prefix=".export-", dir=run.run_dir) as scratch:
        inputs = LazyInputs(run, Path(scratch), data_dir, calibration_images, chosen_range)
        for fmt in formats:
            name = variant_dir(run.run_dir, fmt).name
            try:
                out = build_variant(run, fmt, inputs)
                if evaluate:
                    evaluate_variant(out, data_dir, **evaluation)
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


class LazyInputs:
    """What the builders start from, made once and only when a format needs it: the fp32 ONNX
    graph, and the calibration images for the INT8 formats."""

    def __init__(self, run: Run, scratch: Path, data_dir, calibration_images: int, int8_range: Int8Range):
        self.run, self.scratch, self.data_dir = run, scratch, data_dir
        self.calibration_images, self.int8_range = calibration_images, int8_range
        self.onnx_file: Path | None = None
        self.calibration: Calibration | None = None

    def for_format(self, fmt: str) -> BuildInputs:
        if self.onnx_file is None:
            self.onnx_file = export_onnx(self.run, self.scratch / MODEL_FILES["onnx"])
        if PRECISIONS[fmt] == "int8" and self.calibration is None:
            self.calibration = load_calibration(self.data_dir, self.run.data_config, self.run.classes,
                                                self.calibration_images)
        return BuildInputs(self.onnx_file, self.calibration, self.int8_range.choice)


# ----------------------------------------------------------------------------- building

def build_variant(run: Run, fmt: str, inputs: LazyInputs) -> Path:
    """Write the ``fmt`` variant's folder (model, configs, variant.json) atomically; return it."""
    check_requirements(fmt)
    check_cpu(fmt)
    sources = inputs.for_format(fmt)
    out = variant_dir(run.run_dir, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model_file = staging / MODEL_FILES[fmt]
        BUILDERS[fmt](sources, model_file)
        shutil.copy2(run.run_dir / DATA_CONFIG_FILE, staging / DATA_CONFIG_FILE)
        shutil.copy2(run.run_dir / CLASSES_FILE, staging / CLASSES_FILE)
        int8_range = inputs.int8_range if fmt == "int8" else None
        contracts.write(staging / VARIANT_FILE, variant_record(run, fmt, model_file, sources.calibration, int8_range))
        load_predictor(staging)(calibration_or_zeros(sources.calibration, run.data_config))  # it must load and run
        replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("wrote the %s variant (%s) of %s to %s", fmt, PRECISIONS[fmt], run.run_dir, out)
    return out


def variant_record(run: Run, fmt: str, model_file: Path, calibration: Calibration | None,
                   int8_range: Int8Range | None) -> Variant:
    """variant.json: enough to tell later how, and on which CPU, this variant was made."""
    versions = {"torch": torch.__version__}
    for package in REQUIREMENTS[fmt]:
        versions[package] = getattr(importlib.import_module(package), "__version__", "unknown")
    quantised = PRECISIONS[fmt] == "int8" and calibration is not None
    return Variant(
        schema_version=SCHEMA_VERSION,
        created=created_now(),
        format=fmt,
        precision=PRECISIONS[fmt],
        source_run=str(run.run_dir.resolve()),
        backbone=run.data_config.backbone,
        model_file=model_file.name,
        calibration=CalibrationRecord(calibration.split, len(calibration.images)) if quantised else None,
        int8_range=int8_range,
        exported_on=machine.describe_machine(),
        versions=versions,
    )


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
