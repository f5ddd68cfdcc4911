"""Evaluation: how well a model classifies a split (the report's *optimizing* metrics) and what it
costs to run (*operational* metrics, see foodclf.evaluation.operational), written to ``metrics.json`` and
``confusion_matrix.png`` in the run directory.

The model is reached only through a ``Predictor`` (a batch of preprocessed images -> logits) and
a picklable function that loads it, so an exported ONNX or INT8 variant is evaluated by the
same code as the eager model: ``evaluate_predictor``. ``evaluate`` does it for a run directory.

Metric choices (also in docs/evaluate.md):
- per-class accuracy is the diagonal of the row-normalised confusion matrix, i.e. the recall;
- a class with no image in the split (support 0) has accuracy and recall ``null``; its precision
  and F1 are 0.0 when the model predicted it (all false positives), else ``null`` (scikit-learn
  with ``zero_division=nan``, NaN written as null: JSON holds no NaN); it is never in
  ``bad_classes`` (there is nothing to judge it on);
- a class is *bad* when its accuracy is strictly below ``bad_threshold``; the list is sorted by
  accuracy, lowest first;
- loss is the mean cross-entropy over all images (natural log).
"""
from __future__ import annotations

import json
import logging
import math
import re
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from foodclf.data.data_config import DataConfig
from foodclf.data.datasets import FoodImageDataset, SplitListing, list_split
from foodclf.errors import DatasetError, FoodclfError, RunDirError, SchemaError
from foodclf.io import atomic_save, atomic_write_text, read_json, require_fields
from foodclf.models.net import count_parameters
from foodclf.evaluation.operational import (
    THROUGHPUT_RUNS, MachineInfo, OperationalMetrics, Predictor, disk_mb, machine_info, measure_latency,
    measure_memory, measure_throughput,
)
from foodclf.training.runs import load_run
from foodclf.data.transforms import EvalPreset

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
METRICS_FILE = "metrics.json"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
# A JSON list holding only numbers, as json.dumps(indent=2) writes it: one number a line.
_NUMBER_LIST = re.compile(r"\[\s*(-?[0-9][-+0-9.eE]*(?:,\s*-?[0-9][-+0-9.eE]*)*)\s*\]")


@dataclass
class ModelInfo:
    name: str                 # candidate name: the folder metrics.json is written to
    backbone: str
    variant: str              # eager | onnx | int8 | ...
    model_file: str           # relative to that folder when inside it
    parameters: int | None    # None when the format does not say


@dataclass
class DatasetInfo:
    path: str
    num_images: int
    classes: list[str]


@dataclass
class ClassMetrics:
    name: str
    support: int              # images of this class in the split
    accuracy: float | None    # = recall; None when support is 0
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass
class BadClass:
    name: str
    accuracy: float


@dataclass
class OptimizingMetrics:
    accuracy: float
    loss: float
    bad_threshold: float
    per_class: list[ClassMetrics]
    bad_classes: list[BadClass]
    confusion_matrix: list[list[int]]  # rows = true class, columns = predicted class


@dataclass
class Metrics:
    """The content of metrics.json; ``to_dict()`` is exactly what is written."""

    model: ModelInfo
    split: str
    dataset: DatasetInfo
    machine: MachineInfo
    optimizing: OptimizingMetrics
    operational: OperationalMetrics
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict:
        d = asdict(self)
        return {"schema_version": SCHEMA_VERSION, "created": d.pop("created"), **d}


# ----------------------------------------------------------------------------- optimizing metrics

def optimizing_metrics(
    targets: Sequence[int] | np.ndarray | torch.Tensor,
    scores: np.ndarray | torch.Tensor,
    classes: Sequence[str],
    bad_threshold: float = 0.8,
    from_logits: bool = True,
) -> OptimizingMetrics:
    """The optimizing metrics of predictions: ``scores`` (N, classes) are logits, or probabilities
    when ``from_logits`` is False; ``targets`` (N,) are the true class indices."""
    scores = torch.as_tensor(scores, dtype=torch.float32)
    targets = torch.as_tensor(targets, dtype=torch.long)
    _check_predictions(targets, scores, classes)
    if from_logits:
        loss = F.cross_entropy(scores, targets)
    else:
        # Clamped so that a zero probability for the true class gives a large loss, not inf.
        loss = F.nll_loss(torch.log(scores.clamp_min(torch.finfo(scores.dtype).tiny)), targets)
    y_true, y_pred = targets.numpy(), scores.argmax(dim=1).numpy()
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=np.nan)
    per_class = [
        ClassMetrics(name=name, support=int(n), accuracy=_number(r), precision=_number(p), recall=_number(r),
                     f1=_number(f))
        for name, p, r, f, n in zip(classes, precision, recall, f1, support)
    ]
    bad = [BadClass(c.name, c.accuracy) for c in per_class if c.accuracy is not None and c.accuracy < bad_threshold]
    return OptimizingMetrics(
        accuracy=float(accuracy_score(y_true, y_pred)),
        loss=float(loss),
        bad_threshold=float(bad_threshold),
        per_class=per_class,
        bad_classes=sorted(bad, key=lambda b: b.accuracy),  # stable: ties keep class order
        confusion_matrix=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    )


def _check_predictions(targets: torch.Tensor, scores: torch.Tensor, classes: Sequence[str]) -> None:
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise ValueError(f"scores must be (images, {len(classes)} classes), got {tuple(scores.shape)}")
    if targets.ndim != 1 or len(targets) != len(scores):
        raise ValueError(f"targets must be ({len(scores)},), got {tuple(targets.shape)}")
    if len(targets) == 0:
        raise ValueError("no predictions to evaluate")
    if targets.min() < 0 or targets.max() >= len(classes):
        raise ValueError(f"targets must be class indices in 0..{len(classes) - 1}")


def _number(value: float) -> float | None:
    """NaN (sklearn's "undefined" with zero_division=nan) becomes None: JSON null."""
    return None if math.isnan(value) else float(value)


# ----------------------------------------------------------------------------- evaluating a model

def load_eager_predictor(run_dir: str | os.PathLike) -> Predictor:
    """The run's model.pt as a FoodNet in eval mode (module-level, so a spawned process can call it)."""
    return load_run(run_dir).load_model()


def evaluate(
    run_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    split: str = "evaluation",
    bad_threshold: float = 0.8,
    batch_size: int = 32,
    latency_runs: int = 50,
    threads: int | None = None,
    progress: bool = True,
    workers: int = 0,
    throughput_runs: int = THROUGHPUT_RUNS,
) -> Metrics:
    """Evaluate a run directory's eager model on a split; writes RUN_DIR/metrics.json and the PNG."""
    _check_options(batch_size, latency_runs, throughput_runs, bad_threshold, threads)  # before loading anything
    run = load_run(run_dir)
    model = run.load_model()
    return evaluate_predictor(
        partial(load_eager_predictor, run.run_dir), run.model_path, run.run_dir, data_dir, run.data_config,
        run.classes, backbone=run.data_config.backbone, variant="eager", parameters=count_parameters(model),
        predict=model, split=split, bad_threshold=bad_threshold, batch_size=batch_size, latency_runs=latency_runs,
        threads=threads, progress=progress, workers=workers, throughput_runs=throughput_runs,
    )


def evaluate_predictor(
    load_predictor: Callable[[], Predictor],
    model_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    data_config: DataConfig,
    classes: Sequence[str],
    *,
    backbone: str | None = None,
    variant: str = "eager",
    parameters: int | None = None,
    predict: Predictor | None = None,
    split: str = "evaluation",
    bad_threshold: float = 0.8,
    batch_size: int = 32,
    latency_runs: int = 50,
    threads: int | None = None,
    progress: bool = True,
    workers: int = 0,
    throughput_runs: int = THROUGHPUT_RUNS,
) -> Metrics:
    """Evaluate any model format: ``load_predictor()`` gives a callable from a batch of images
    preprocessed with ``data_config`` to logits over ``classes``. It must be picklable (a
    module-level function or a functools.partial of one): memory is measured by calling it in a
    fresh process. ``predict``, if given, is an already loaded predictor to reuse here.

    Writes ``out_dir/confusion_matrix.png`` then ``out_dir/metrics.json``, each atomically and
    only once everything is measured: a failure leaves neither half-written.
    """
    _check_options(batch_size, latency_runs, throughput_runs, bad_threshold, threads)
    out_dir, model_file = Path(out_dir), Path(model_file)
    listing = _split_listing(data_dir, split, classes, out_dir)
    dataset = FoodImageDataset(listing.samples, EvalPreset(data_config))  # the run's own preprocessing
    threads_before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        predict = predict if predict is not None else load_predictor()
        targets, logits = predict_split(predict, dataset, batch_size, workers, progress)
        _check_outputs(logits, classes, model_file)
        optimizing = optimizing_metrics(targets, logits, classes, bad_threshold)
        operational = measure_operational(load_predictor, predict, model_file, dataset, batch_size,
                                          latency_runs, throughput_runs, threads)
    finally:
        torch.set_num_threads(threads_before)
    metrics = Metrics(
        model=ModelInfo(name=out_dir.resolve().name, backbone=backbone or data_config.backbone, variant=variant,
                        model_file=_relative_name(model_file, out_dir), parameters=parameters),
        split=split,
        dataset=DatasetInfo(path=str(Path(data_dir).resolve()), num_images=len(dataset), classes=list(classes)),
        machine=machine_info(),
        optimizing=optimizing,
        operational=operational,
    )
    write_metrics(metrics, out_dir)
    return metrics


def _check_options(batch_size: int, latency_runs: int, throughput_runs: int, bad_threshold: float,
                   threads: int | None) -> None:
    for name, value in (("batch size", batch_size), ("latency runs", latency_runs),
                        ("throughput runs", throughput_runs)):
        if value < 1:
            raise FoodclfError(f"{name} must be at least 1, got {value}")
    if not 0.0 <= bad_threshold <= 1.0:
        raise FoodclfError(f"bad threshold must be an accuracy between 0 and 1, got {bad_threshold}")
    if threads is not None and threads < 1:
        raise FoodclfError(f"threads must be at least 1 (or left out for torch's default), got {threads}")


def _split_listing(data_dir: str | os.PathLike, split: str, classes: Sequence[str], model_dir: Path) -> SplitListing:
    """The split's images (each one decoded once, so a bad file fails here with its name), with
    the same classes, in the same order, as the model."""
    listing = list_split(data_dir, split, check_images=True)
    if not listing.samples:
        raise DatasetError(f"{listing.split_dir}: the split holds no images to evaluate")
    if list(listing.classes) != list(classes):
        raise DatasetError(_class_mismatch(listing, list(classes), model_dir))
    log.info("%s: %d images in %d classes", listing.split_dir, len(listing.samples), len(listing.classes))
    return listing


def _class_mismatch(listing: SplitListing, expected: list[str], model_dir: Path) -> str:
    found = list(listing.classes)
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    detail = [f"the dataset has {len(found)} classes, the model {len(expected)}"] if len(found) != len(expected) else []
    if missing:
        detail.append(f"not in the dataset: {missing}")
    if extra:
        detail.append(f"not known to the model: {extra}")
    if not missing and not extra and len(found) == len(expected):
        detail.append(f"same names in another order: {found}")
    return (f"{listing.split_dir}: classes differ from the model's ({model_dir / 'classes.json'}): "
            f"{'; '.join(detail)}. Evaluate on a dataset with the classes the model was trained on: {expected}")


def predict_split(predict: Predictor, dataset: FoodImageDataset, batch_size: int = 32, workers: int = 0,
                  progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(true labels (N,), logits (N, classes)) of every image of ``dataset``, in order."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    targets, outputs = [], []
    with torch.inference_mode():
        for images, labels in tqdm(loader, desc="evaluating", unit="batch", disable=not progress):
            outputs.append(torch.as_tensor(predict(images)).float())
            targets.append(labels)
    return torch.cat(targets), torch.cat(outputs)


def _check_outputs(logits: torch.Tensor, classes: Sequence[str], model_file: Path) -> None:
    if logits.ndim != 2 or logits.shape[1] != len(classes):
        raise RunDirError(f"{model_file}: the model gives outputs of shape {tuple(logits.shape[1:])} per image "
                          f"but classes.json names {len(classes)} classes; is it the model of this run?")


def measure_operational(load_predictor: Callable[[], Predictor], predict: Predictor, model_file: Path,
                        dataset: FoodImageDataset, batch_size: int, latency_runs: int,
                        throughput_runs: int = THROUGHPUT_RUNS, threads: int | None = None) -> OperationalMetrics:
    """Disk, memory (fresh process), latency and throughput, on real images of the split."""
    image = dataset[0][0]
    # A full batch even from a small split: the images repeat, the arithmetic is the same.
    batch = torch.stack([dataset[i % len(dataset)][0] for i in range(batch_size)])
    latency = measure_latency(predict, image, latency_runs)
    throughput = measure_throughput(predict, batch, throughput_runs)
    log.info("measuring memory in a fresh process")
    memory, process_rss = measure_memory(load_predictor, (1, *image.shape), threads)
    return OperationalMetrics(disk_mb=round(disk_mb(model_file), 3), memory_mb=round(memory, 3),
                              process_rss_mb=round(process_rss, 3), threads=torch.get_num_threads(),
                              latency_ms=latency, throughput=throughput)


def _relative_name(path: Path, folder: Path) -> str:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- files

def write_metrics(metrics: Metrics, out_dir: str | os.PathLike) -> Path:
    """Write the confusion-matrix PNG, then metrics.json (its presence means both are complete)."""
    out_dir = Path(out_dir)
    title = (f"{metrics.model.name} ({metrics.model.variant}) on {metrics.split}: "
             f"accuracy {metrics.optimizing.accuracy:.3f}")
    save_confusion_matrix(out_dir / CONFUSION_MATRIX_FILE, metrics.optimizing.confusion_matrix,
                          metrics.dataset.classes, title)
    return atomic_write_text(out_dir / METRICS_FILE, metrics_json(metrics.to_dict()))


def metrics_json(metrics: dict) -> str:
    """Indented JSON with each list of numbers on one line, so a confusion-matrix row reads as a row."""
    text = json.dumps(metrics, indent=2)
    return _NUMBER_LIST.sub(lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text) + "\n"


def save_confusion_matrix(path: Path, matrix: list[list[int]], classes: Sequence[str], title: str) -> Path:
    """Counts with class names, rows = true class (sklearn's display on a pyplot-free Figure)."""
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(6.0, 0.6 * len(classes) + 3)
    figure = Figure(figsize=(size, size), layout="constrained")
    axes = figure.add_subplot()
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=list(classes)).plot(
        ax=axes, cmap="Blues", values_format="d", xticks_rotation="vertical", colorbar=False)
    axes.set_title(title)
    return atomic_save(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))


_NUMBER = (int, float)
_NUMBER_OR_NULL = (int, float, type(None))
_SECTIONS: dict[str, dict[str, Any]] = {
    "": {"schema_version": int, "created": str, "model": dict, "split": str, "dataset": dict, "machine": dict,
         "optimizing": dict, "operational": dict},
    "model": {"name": str, "backbone": str, "variant": str, "model_file": str, "parameters": (int, type(None))},
    "dataset": {"path": str, "num_images": int, "classes": list},
    "machine": {"cpu": str, "cores": int, "torch": str, "python": str},
    "optimizing": {"accuracy": _NUMBER, "loss": _NUMBER, "bad_threshold": _NUMBER, "per_class": list,
                   "bad_classes": list, "confusion_matrix": list},
    "operational": {"disk_mb": _NUMBER, "memory_mb": _NUMBER, "threads": int, "latency_ms": dict,
                    "throughput": dict},
    "operational.latency_ms": {"median": _NUMBER, "p95": _NUMBER, "p99": _NUMBER, "runs": int},
    "operational.throughput": {"batch_size": int, "images_per_s": _NUMBER},
}
_PER_CLASS = {"name": str, "support": int, "accuracy": _NUMBER_OR_NULL, "precision": _NUMBER_OR_NULL,
              "recall": _NUMBER_OR_NULL, "f1": _NUMBER_OR_NULL}
_BAD_CLASS = {"name": str, "accuracy": _NUMBER}
# Fields this module writes beyond docs/contracts.md: checked when present, so older files still load.
_OPTIONAL = {"operational": {"process_rss_mb": _NUMBER}, "operational.throughput": {"runs": int}}


def load_metrics(path: str | os.PathLike) -> dict:
    """Read and validate a metrics.json (a file, or a folder holding one); a bad file raises
    SchemaError naming the file and the field."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    data = read_json(path)
    for section, fields in _SECTIONS.items():
        obj = _section(data, section)
        require_fields(obj, fields, f"{path}: {section or 'top level'}")
        optional = {k: v for k, v in _OPTIONAL.get(section, {}).items() if k in obj}
        require_fields(obj, optional, f"{path}: {section}")
    if data["schema_version"] != SCHEMA_VERSION:
        raise SchemaError(f"{path}: schema_version {data['schema_version']} is not supported (expected "
                          f"{SCHEMA_VERSION}); rerun scripts/evaluate.py")
    _check_classes(data, path)
    return data


def _section(data: dict, dotted: str) -> Any:
    for key in filter(None, dotted.split(".")):
        data = data[key]
    return data


def _check_classes(data: dict, path: Path) -> None:
    classes = data["dataset"]["classes"]
    if not all(isinstance(c, str) for c in classes):
        raise SchemaError(f"{path}: dataset.classes must be a list of class names")
    optimizing = data["optimizing"]
    per_class = optimizing["per_class"]
    for i, entry in enumerate(per_class):
        require_fields(entry, _PER_CLASS, f"{path}: optimizing.per_class[{i}]")
    if [c["name"] for c in per_class] != classes:
        raise SchemaError(f"{path}: optimizing.per_class must list dataset.classes in order")
    for i, entry in enumerate(optimizing["bad_classes"]):
        require_fields(entry, _BAD_CLASS, f"{path}: optimizing.bad_classes[{i}]")
    matrix = optimizing["confusion_matrix"]
    square = len(matrix) == len(classes) and all(
        isinstance(row, list) and len(row) == len(classes) and all(type(v) is int for v in row) for row in matrix)
    if not square:
        raise SchemaError(f"{path}: optimizing.confusion_matrix must be {len(classes)} rows of {len(classes)} "
                          "integer counts (one per class)")
    if not 0.0 <= optimizing["accuracy"] <= 1.0:
        raise SchemaError(f"{path}: optimizing.accuracy {optimizing['accuracy']} is not between 0 and 1")


# ----------------------------------------------------------------------------- the summary

def format_summary(metrics: Metrics | dict) -> str:
    """The report's short table: accuracy, loss, the classes it did not do well on, per-class
    figures, and the operational figures with the threads they were measured with."""
    m = metrics.to_dict() if isinstance(metrics, Metrics) else metrics
    opt, ops = m["optimizing"], m["operational"]
    bad = ", ".join(f"{b['name']} ({b['accuracy']:.2f})" for b in opt["bad_classes"])
    verdict = f"did not do well in classifying: {bad}" if bad else f"every class at or above {opt['bad_threshold']:g}"
    width = max(len("class"), *(len(c["name"]) for c in opt["per_class"]))
    lines = [
        f"{m['model']['name']} ({m['model']['variant']}, {m['model']['backbone']}) on {m['split']}: "
        f"{m['dataset']['num_images']} images, {len(m['dataset']['classes'])} classes",
        f"accuracy {opt['accuracy']:.2f}, loss {opt['loss']:.2f}; {verdict}",
        "",
        f"  {'class':<{width}}  support  accuracy  precision  recall     f1",
    ]
    for c in opt["per_class"]:
        lines.append(f"  {c['name']:<{width}}  {c['support']:>7}  {_fmt(c['accuracy']):>8}  {_fmt(c['precision']):>9}"
                     f"  {_fmt(c['recall']):>6}  {_fmt(c['f1']):>5}")
    lat, thr = ops["latency_ms"], ops["throughput"]
    lines += [
        "",
        f"disk {ops['disk_mb']:.2f} MB, memory +{ops['memory_mb']:.1f} MB once loaded, "
        f"latency median {lat['median']:.1f} ms (p95 {lat['p95']:.1f}, p99 {lat['p99']:.1f}, {lat['runs']} runs), "
        f"throughput {thr['images_per_s']:.1f} images/s at batch {thr['batch_size']}; "
        f"{ops['threads']} threads on {m['machine']['cpu']} ({m['machine']['cores']} cores)",
    ]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
