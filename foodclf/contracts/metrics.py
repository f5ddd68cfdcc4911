"""metrics.json: how well a model classifies a split and what it costs to run, written by
``foodclf.evaluation`` into a candidate folder (a run directory or an exported variant) and read
by the comparison. docs/contracts.md and docs/evaluate.md document every field.

Version 2 added ``machine.isa`` (the CPU's instruction sets: the same model runs other kernels
on an AVX-512 or AMX machine) and made ``operational.process_rss_mb`` and
``operational.throughput.runs`` required.
"""
from __future__ import annotations

import os
from pathlib import Path

from foodclf.contracts import contract, file_in, read
from foodclf.contracts.machine import Machine
from foodclf.errors import SchemaError

METRICS_FILE = "metrics.json"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"  # drawn beside metrics.json by the evaluation
SCHEMA_VERSION = 2


class MetricsError(SchemaError, ValueError):
    """A metrics.json whose fields disagree with each other. A ValueError too, so that pydantic
    reports it like any other invalid field, with the file's name."""


@contract
class ModelInfo:
    name: str                 # candidate name: the folder metrics.json is written to
    backbone: str
    variant: str              # eager | onnx | int8 | openvino | ...
    model_file: str           # relative to that folder when inside it
    parameters: int | None    # None when the format does not say


@contract
class DatasetInfo:
    path: str
    num_images: int
    classes: list[str]


@contract
class ClassMetrics:
    name: str
    support: int              # images of this class in the split
    accuracy: float | None    # = recall; None when support is 0
    precision: float | None
    recall: float | None
    f1: float | None


@contract
class BadClass:
    name: str
    accuracy: float


@contract
class OptimizingMetrics:
    accuracy: float
    loss: float
    bad_threshold: float
    per_class: list[ClassMetrics]
    bad_classes: list[BadClass]          # accuracy below bad_threshold, lowest first
    confusion_matrix: list[list[int]]    # rows = true class, columns = predicted class


@contract
class Latency:
    """Milliseconds for one image, over ``runs`` timed runs."""

    median: float
    p95: float
    p99: float
    runs: int


@contract
class Throughput:
    batch_size: int
    images_per_s: float
    runs: int                 # timed batches


@contract
class OperationalMetrics:
    disk_mb: float            # size of the model file(s), MB = 10**6 bytes
    memory_mb: float          # RSS added by loading the model and running one prediction
    process_rss_mb: float     # whole RSS of that fresh process afterwards (interpreter, torch, model)
    threads: int              # torch intra-op threads used for latency and throughput
    latency_ms: Latency
    throughput: Throughput


@contract
class Metrics:
    """The content of metrics.json, field for field."""

    schema_version: int
    created: str              # UTC, ISO 8601
    model: ModelInfo
    split: str
    dataset: DatasetInfo
    machine: Machine
    optimizing: OptimizingMetrics
    operational: OperationalMetrics

    def __post_init__(self) -> None:
        # The checks a field's type cannot express: the figures must describe the same classes.
        classes, optimizing = self.dataset.classes, self.optimizing
        if [c.name for c in optimizing.per_class] != classes:
            raise MetricsError("optimizing.per_class must list dataset.classes in order")
        n = len(classes)
        if len(optimizing.confusion_matrix) != n or any(len(row) != n for row in optimizing.confusion_matrix):
            raise MetricsError(f"optimizing.confusion_matrix must be {n} rows of {n} counts (one per class)")
        if not 0.0 <= optimizing.accuracy <= 1.0:
            raise MetricsError(f"optimizing.accuracy {optimizing.accuracy} is not between 0 and 1")


def metrics_path(path_or_run_dir: str | os.PathLike) -> Path:
    """The metrics.json of a candidate folder, or the file itself."""
    return file_in(path_or_run_dir, METRICS_FILE)


def read_metrics(path_or_run_dir: str | os.PathLike) -> Metrics:
    """Read and validate a metrics.json (a file, or a folder holding one); a bad file raises
    SchemaError naming the file and the field."""
    return read(metrics_path(path_or_run_dir), Metrics, SCHEMA_VERSION,
                "evaluate the model again (foodclf evaluate) to rewrite it")
