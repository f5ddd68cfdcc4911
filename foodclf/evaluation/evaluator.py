"""Evaluating a model on a split: its predictions, the optimizing and the operational metrics,
written to ``metrics.json`` and ``confusion_matrix.png`` in its folder.

The model is reached only through a ``Predictor`` (a batch of preprocessed images -> logits) and
a picklable function that loads it, so an exported ONNX or INT8 variant is evaluated by the
same code as the eager model: ``evaluate_predictor``. ``evaluate`` does it for a run directory.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import torch

from foodclf.contracts.metrics import DatasetInfo, Metrics, ModelInfo
from foodclf.data.data_config import DataConfig
from foodclf.data.datasets import FoodImageDataset, SplitListing, check_classes, list_split
from foodclf.data.transforms import EvalPreset
from foodclf.errors import DatasetError, RunDirError
from foodclf.evaluation.metrics_file import new_metrics, write_metrics
from foodclf.evaluation.operational import Predictor, measure_operational
from foodclf.evaluation.optimizing import optimizing_metrics, predict_split
from foodclf.evaluation.options import EvalOptions
from foodclf.models.net import count_parameters
from foodclf.training.runs import load_run

log = logging.getLogger(__name__)


def load_eager_predictor(run_dir: str | os.PathLike) -> Predictor:
    """The run's model.pt as a FoodNet in eval mode (module-level, so a spawned process can call it)."""
    return load_run(run_dir).load_model()


def evaluate(run_dir: str | os.PathLike, data_dir: str | os.PathLike, **options) -> Metrics:
    """Evaluate a run directory's eager model on a split; writes RUN_DIR/metrics.json and the PNG.
    ``options`` are EvalOptions' fields (split, bad_threshold, batch_size, latency_runs,
    throughput_runs, threads, workers, progress)."""
    EvalOptions(**options)  # checked before anything is loaded
    run = load_run(run_dir)
    model = run.load_model()
    return evaluate_predictor(
        partial(load_eager_predictor, run.run_dir), run.model_path, run.run_dir, data_dir, run.data_config,
        run.classes, backbone=run.data_config.backbone, variant="eager", parameters=count_parameters(model),
        predict=model, **options)


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
    **options,
) -> Metrics:
    """Evaluate any model format: ``load_predictor()`` gives a callable from a batch of images
    preprocessed with ``data_config`` to logits over ``classes``. It must be picklable (a
    module-level function or a functools.partial of one): memory is measured by calling it in a
    fresh process. ``predict``, if given, is an already loaded predictor to reuse here.
    ``options`` are EvalOptions' fields.

    Writes ``out_dir/confusion_matrix.png`` then ``out_dir/metrics.json``, each atomically and
    only once everything is measured: a failure leaves neither half-written.
    """
    opts = EvalOptions(**options)
    out_dir, model_file = Path(out_dir), Path(model_file)
    listing = split_listing(data_dir, opts.split, classes, out_dir)
    dataset = FoodImageDataset(listing.samples, EvalPreset(data_config))  # the run's own preprocessing
    with torch_threads(opts.threads):
        predict = predict if predict is not None else load_predictor()
        targets, logits = predict_split(predict, dataset, opts.batch_size, opts.workers, opts.progress)
        _check_outputs(logits, classes, model_file)
        optimizing = optimizing_metrics(targets, logits, classes, opts.bad_threshold)
        operational = measure_operational(load_predictor, predict, model_file, dataset, opts.batch_size,
                                          opts.latency_runs, opts.throughput_runs, opts.threads)
    metrics = new_metrics(
        ModelInfo(name=out_dir.resolve().name, backbone=backbone or data_config.backbone, variant=variant,
                  model_file=_relative_name(model_file, out_dir), parameters=parameters),
        opts.split,
        DatasetInfo(path=str(Path(data_dir).resolve()), num_images=len(dataset), classes=list(classes)),
        optimizing, operational)
    write_metrics(metrics, out_dir)
    return metrics


@contextmanager
def torch_threads(threads: int | None):
    """torch's intra-op thread count set to ``threads`` (None: left as it is) for the block only."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def split_listing(data_dir: str | os.PathLike, split: str, classes: Sequence[str], model_dir: Path) -> SplitListing:
    """The split's images (each one decoded once, so a bad file fails here with its name), with
    the same classes, in the same order, as the model."""
    listing = list_split(data_dir, split, check_images=True)
    if not listing.samples:
        raise DatasetError(f"{listing.split_dir}: the split holds no images to evaluate")
    check_classes(listing, classes, f"the model's ({model_dir / 'classes.json'})",
                  "evaluate on a dataset with the classes the model was trained on")
    log.info("%s: %d images in %d classes", listing.split_dir, len(listing.samples), len(listing.classes))
    return listing


def _check_outputs(logits: torch.Tensor, classes: Sequence[str], model_file: Path) -> None:
    if logits.ndim != 2 or logits.shape[1] != len(classes):
        raise RunDirError(f"{model_file}: the model gives outputs of shape {tuple(logits.shape[1:])} per image "
                          f"but classes.json names {len(classes)} classes; is it the model of this run?")


def _relative_name(path: Path, folder: Path) -> str:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path)
