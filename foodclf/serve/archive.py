"""Packing a run directory into a TorchServe model archive (``model-store/NAME.mar``).

The archive holds, at its top level:

    food_model.py        the model file: one nn.Module class built from data_config.json
    model.pt             the run's plain FoodNet state_dict (loaded with weights_only=True)
    food_handler.py      the handler (decoding, the run's EvalPreset, top-k JSON)
    sitecustomize.py     run when the worker starts: torch imported lazily (foodclf/serve/worker_start.py)
    data_config.json     the run's preprocessing and architecture, copied unchanged
    index_to_name.json   {"0": "Bread", "1": "Dairy product", ...} from classes.json
    model-config.yaml    workers, batching and handler settings (below)
    MAR-INF/MANIFEST.json  written by torch-model-archiver

model-config.yaml::

    minWorkers: 1            # = maxWorkers: a fixed number of worker processes
    maxWorkers: 1
    batchSize: 4             # requests one inference may take
    maxBatchDelay: 10        # ms a batch waits to fill up
    responseTimeout: 120     # s before TorchServe restarts a silent worker
    handler:
      torch_threads: 0       # torch threads per worker; 0 = usable cores // maxWorkers
                             # ($FOODCLF_TORCH_THREADS overrides it when serving)
      min_side: 8            # smaller images are rejected (400)
      max_pixels: 40000000   # larger images are rejected as decompression bombs (400)
      backbone: baseline     # for people reading the archive: what is inside
      run_dir: /abs/run
      variant: eager         # or the exported variant's format (below)

An exported variant folder (foodclf.export.variants, RUN_DIR/variants/<run>-<format>/) is archived the
same way: its model file(s) (model.onnx, model.int8.onnx, model.xml + model.bin, ...) take the
place of model.pt and food_model.py, and the handler runs them through foodclf.models.predictors.
"""
from __future__ import annotations

import importlib.resources
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from foodclf.data.data_config import DataConfig
from foodclf.data.images import DEFAULT_MAX_PIXELS
from foodclf.errors import FoodclfError
from foodclf.io import atomic_write_json, atomic_write_text, read_json
from foodclf.models.predictors import EAGER, find_model, load_predictor, model_files
from foodclf.serve.settings import DEFAULT_MIN_SIDE
from foodclf.training.runs import CLASSES_FILE, DATA_CONFIG_FILE, load_run

log = logging.getLogger(__name__)

# The handler and model class ship inside this package (foodclf/serve/handler.py, model.py) and are
# packed into the archive under these names; handlers/ in the repository links to the same files.
HANDLER_FILE = "food_handler.py"
MODEL_FILE = "food_model.py"
# Run by Python when the model's worker starts (TorchServe puts the unpacked archive on its
# PYTHONPATH): torch is imported lazily, so an exported variant's worker never loads it.
WORKER_START_FILE = "sitecustomize.py"
PACKAGED_SOURCES = {HANDLER_FILE: "handler.py", MODEL_FILE: "model.py", WORKER_START_FILE: "worker_start.py"}
MODEL_CONFIG_FILE = "model-config.yaml"
INDEX_TO_NAME_FILE = "index_to_name.json"
# torch-model-archiver's own rule for model names (it also names the URL /predictions/NAME).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]*$")

# scripts/bench_serve.py's best on 2 cores (MobileNetV2, 224 px): 2 workers x 1 torch thread, batch 4,
# 10 ms, the highest served throughput (docs/loadtest.md has the figures). Two torch threads in one
# worker stall whenever another process holds a core (OpenMP), so one worker per core with one
# thread each is the robust default.
DEFAULT_BATCH_SIZE = 4
DEFAULT_MAX_BATCH_DELAY_MS = 10
DEFAULT_WORKERS = 2
DEFAULT_RESPONSE_TIMEOUT_S = 120


class ArchiveError(FoodclfError):
    """The archive cannot be written: bad name or options, missing handler files, archiver failure."""


def archive_run(
    run_dir: str | os.PathLike,
    name: str,
    export_path: str | os.PathLike = "model-store",
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batch_delay: int = DEFAULT_MAX_BATCH_DELAY_MS,
    workers: int = DEFAULT_WORKERS,
    threads: int = 0,
    response_timeout: int = DEFAULT_RESPONSE_TIMEOUT_S,
) -> Path:
    """Write ``export_path/NAME.mar`` for the run in ``run_dir`` and return its path.

    The model is loaded first, so a run whose model.pt does not fit its data_config.json fails
    here rather than in a TorchServe worker. The .mar appears atomically (an existing one is
    replaced only by a complete new one).
    """
    check_options(name, batch_size, max_batch_delay, workers, threads, response_timeout)
    run = load_archivable(run_dir)  # a run (model.pt checked) or an exported variant (loaded once)
    export_path = Path(export_path)
    export_path.mkdir(parents=True, exist_ok=True)
    target = export_path / f"{name}.mar"
    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=export_path) as staging:
        staging = Path(staging)
        files = staging / "files"
        files.mkdir()
        copy_handler_sources(files)
        atomic_write_json(files / INDEX_TO_NAME_FILE, {str(i): c for i, c in enumerate(run.classes)})
        shutil.copy2(run.run_dir / DATA_CONFIG_FILE, files / DATA_CONFIG_FILE)
        model_config = {
            "minWorkers": workers, "maxWorkers": workers,
            "batchSize": batch_size, "maxBatchDelay": max_batch_delay,
            "responseTimeout": response_timeout,
            "handler": {"torch_threads": threads, "min_side": DEFAULT_MIN_SIDE, "max_pixels": DEFAULT_MAX_PIXELS,
                        "backbone": run.data_config.backbone, "run_dir": str(run.run_dir.resolve()),
                        "variant": run.variant},
        }
        atomic_write_text(files / MODEL_CONFIG_FILE, yaml.safe_dump(model_config, sort_keys=False))
        run_archiver(name, run.model_path, files, staging, model_file=run.variant == EAGER,
                     extra_files=run.extra_files)
        os.replace(staging / f"{name}.mar", target)
    log.info("archived %s as %s (batch %d, delay %d ms, %d workers)", run.run_dir, target,
             batch_size, max_batch_delay, workers)
    return target


@dataclass
class Archivable:
    """What an archive is made of: a run directory's model.pt, or an exported variant's model files."""

    run_dir: Path
    data_config: DataConfig
    classes: list[str]
    model_path: Path                 # the serialized file: model.pt, model.onnx, model.xml, ...
    variant: str = EAGER
    extra_files: list[Path] = field(default_factory=list)


def load_archivable(run_dir: str | os.PathLike) -> Archivable:
    """A run directory, or a variant folder written by foodclf.export.variants (laid out like a run, with its
    own model file). The model is loaded once here, so a bad one fails now, not in a worker."""
    run_dir = Path(run_dir)
    variant = variant_model(run_dir)
    if variant is None:
        run = load_run(run_dir)  # RunDirError naming the missing files
        run.load_model()  # RunDirError if model.pt does not fit the architecture
        return Archivable(run.run_dir, run.data_config, run.classes, run.model_path)
    name, model_path = variant
    data_config = DataConfig.load(run_dir / DATA_CONFIG_FILE)
    classes = read_json(run_dir / CLASSES_FILE)
    load_predictor(run_dir, threads=1)  # RunDirError if the runtime cannot load it
    return Archivable(run_dir, data_config, classes, model_path, name, model_files(model_path)[1:])


def variant_model(run_dir: Path) -> tuple[str, Path] | None:
    """(variant, model file) of an exported variant folder; None for a run directory (or no model)."""
    try:
        variant, model_path = find_model(run_dir)
    except FoodclfError:
        return None  # load_run says what is missing, in a run directory's words
    return None if variant == EAGER else (variant, model_path)


def read_model_config(mar: str | os.PathLike) -> dict:
    """The model-config.yaml inside a .mar (workers, batching, handler settings); {} when it has none."""
    try:
        with zipfile.ZipFile(mar) as archive:
            if MODEL_CONFIG_FILE not in archive.namelist():
                return {}
            return yaml.safe_load(archive.read(MODEL_CONFIG_FILE)) or {}
    except (OSError, zipfile.BadZipFile, yaml.YAMLError) as e:
        raise ArchiveError(f"{mar}: cannot read its {MODEL_CONFIG_FILE} ({e}); "
                           "is it a .mar from foodclf archive?") from e


def check_options(name: str, batch_size: int, max_batch_delay: int, workers: int, threads: int,
                  response_timeout: int) -> None:
    if not NAME_PATTERN.match(name):
        raise ArchiveError(f"model name '{name}' is not allowed: use letters, digits, '_', '-' and '.', "
                           "starting with a letter or digit (it becomes the URL /predictions/NAME)")
    for option, value, low in (("batch size", batch_size, 1), ("max batch delay", max_batch_delay, 0),
                               ("workers", workers, 1), ("threads", threads, 0),
                               ("response timeout", response_timeout, 1)):
        if value < low:
            raise ArchiveError(f"{option} must be at least {low}, got {value}")


def copy_handler_sources(files: Path) -> None:
    """The package's handler and model class, under the names the archive gives them."""
    package = importlib.resources.files("foodclf.serve")
    for archived, source in PACKAGED_SOURCES.items():
        (files / archived).write_bytes(package.joinpath(source).read_bytes())


def run_archiver(name: str, model_path: Path, files: Path, staging: Path,
                 model_file: bool = True, extra_files: Sequence[Path] = ()) -> None:
    """torch-model-archiver, in a subprocess whose temp dir is ``staging``.

    The archiver copies the artifacts to TEMP/NAME before zipping and deletes that folder:
    two archives of the same name at once (tests, a second shell) must not share it.
    An exported variant needs no model file (``model_file=False``); ``extra_files`` are its other
    model files (OpenVINO's .bin).
    """
    command = [
        sys.executable, "-m", "model_archiver.model_packaging",
        "--model-name", name, "--version", "1.0",
        *(["--model-file", str(files / MODEL_FILE)] if model_file else []),
        "--serialized-file", str(model_path),
        "--handler", str(files / HANDLER_FILE),
        "--extra-files", ",".join([str(files / f) for f in (DATA_CONFIG_FILE, INDEX_TO_NAME_FILE, WORKER_START_FILE)]
                                  + [str(f) for f in extra_files]),
        "--config-file", str(files / MODEL_CONFIG_FILE),
        "--export-path", str(staging),
    ]
    tmp = staging / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "TEMP": str(tmp)}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0 or not (staging / f"{name}.mar").is_file():
        output = (result.stderr or result.stdout).strip()[-2000:]
        raise ArchiveError(f"torch-model-archiver failed for '{name}' (exit {result.returncode}): {output}")
