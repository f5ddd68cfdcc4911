"""metrics.json and confusion_matrix.png in a candidate folder: assembling the Metrics contract
(foodclf.contracts.metrics), writing both files, reading them back, and the printed summary.

Nothing here imports torch: the comparison and the export command read and print metrics.json
without loading a model.
"""
from __future__ import annotations

import os
from pathlib import Path

from foodclf.contracts import created_now, to_json, validate, write
from foodclf.contracts.metrics import (
    CONFUSION_MATRIX_FILE,
    METRICS_FILE,
    SCHEMA_VERSION,
    ClassMetrics,
    DatasetInfo,
    Metrics,
    ModelInfo,
    OperationalMetrics,
    OptimizingMetrics,
    read_metrics,
)
from foodclf.evaluation.figures import save_confusion_matrix
from foodclf.machine import describe_machine

__all__ = ["CONFUSION_MATRIX_FILE", "METRICS_FILE", "format_summary", "load_metrics", "new_metrics",
           "read_metrics", "write_metrics"]


def new_metrics(model: ModelInfo, split: str, dataset: DatasetInfo, optimizing: OptimizingMetrics,
                operational: OperationalMetrics) -> Metrics:
    """The Metrics of an evaluation that ends now, on this machine."""
    return Metrics(schema_version=SCHEMA_VERSION, created=created_now(),
                   model=model, split=split, dataset=dataset, machine=describe_machine(),
                   optimizing=optimizing, operational=operational)


def write_metrics(metrics: Metrics, out_dir: str | os.PathLike) -> Path:
    """Write the confusion-matrix PNG, then metrics.json (its presence means both are complete)."""
    out_dir = Path(out_dir)
    title = (f"{metrics.model.name} ({metrics.model.variant}) on {metrics.split}: "
             f"accuracy {metrics.optimizing.accuracy:.3f}")
    save_confusion_matrix(out_dir / CONFUSION_MATRIX_FILE, metrics.optimizing.confusion_matrix,
                          metrics.dataset.classes, title)
    return write(out_dir / METRICS_FILE, metrics)


def load_metrics(path: str | os.PathLike) -> dict:
    """A metrics.json (a file, or a folder holding one) validated by its contract, as the JSON
    data it holds: for code that looks fields up by dotted path. ``read_metrics`` gives the
    Metrics dataclass itself."""
    return to_json(read_metrics(path))


def format_summary(metrics: Metrics | dict) -> str:
    """The report's short table: accuracy, loss, the classes it did not do well on, per-class
    figures, and the operational figures with the threads they were measured with."""
    m = metrics if isinstance(metrics, Metrics) else validate(metrics, Metrics, METRICS_FILE)
    opt = m.optimizing
    bad = ", ".join(f"{b.name} ({b.accuracy:.2f})" for b in opt.bad_classes)
    verdict = f"did not do well in classifying: {bad}" if bad else f"every class at or above {opt.bad_threshold:g}"
    width = max(len("class"), *(len(c.name) for c in opt.per_class))
    lines = [
        f"{m.model.name} ({m.model.variant}, {m.model.backbone}) on {m.split}: "
        f"{m.dataset.num_images} images, {len(m.dataset.classes)} classes",
        f"accuracy {opt.accuracy:.2f}, loss {opt.loss:.2f}; {verdict}",
        "",
        f"  {'class':<{width}}  support  accuracy  precision  recall     f1",
        *(_class_row(c, width) for c in opt.per_class),
        "",
        _operational_line(m),
    ]
    return "\n".join(lines)


def _class_row(c: ClassMetrics, width: int) -> str:
    return (f"  {c.name:<{width}}  {c.support:>7}  {_fmt(c.accuracy):>8}  {_fmt(c.precision):>9}"
            f"  {_fmt(c.recall):>6}  {_fmt(c.f1):>5}")


def _operational_line(m: Metrics) -> str:
    ops = m.operational
    lat, thr = ops.latency_ms, ops.throughput
    isa = " ".join(m.machine.isa) or "no AVX2"
    return (f"disk {ops.disk_mb:.2f} MB, memory +{ops.memory_mb:.1f} MB once loaded, "
            f"latency median {lat.median:.1f} ms (p95 {lat.p95:.1f}, p99 {lat.p99:.1f}, {lat.runs} runs), "
            f"throughput {thr.images_per_s:.1f} images/s at batch {thr.batch_size}; "
            f"{ops.threads} threads on {m.machine.cpu} ({m.machine.cores} cores, {isa})")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
