"""Operational metrics of a model, measured offline on this machine: size on disk, memory once
loaded, latency of one image and throughput of a batch, with the machine they were measured on.

The model is any ``Predictor``: a callable from a batch of preprocessed images (N, 3, H, W) to
logits (N, classes). Eager PyTorch, ONNX Runtime or an INT8 model all fit, so every variant is
measured by the same code.

Choices the figures depend on (also in docs/evaluate.md):
- MB is 10**6 bytes (as ``ls --si`` and the report's "9.27 MB" count).
- Memory is measured in a fresh process (multiprocessing *spawn*): the RSS after loading the model
  and running one prediction minus the RSS just before loading, with torch and foodclf already
  imported, so neither the interpreter nor the evaluation's own tensors are counted.
- Latency runs one image ``runs`` times after ``LATENCY_WARMUP`` untimed runs; throughput runs
  ``throughput_runs`` batches after one untimed batch. Both under ``torch.inference_mode``, in
  this process, with the torch thread count recorded next to them.

The figures' types (``Latency``, ``Throughput``, ``OperationalMetrics``) are metrics.json's
contract (foodclf.contracts.metrics); the machine they were measured on is foodclf.machine's.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import psutil
import torch

from foodclf.contracts.metrics import Latency, OperationalMetrics, Throughput

log = logging.getLogger(__name__)

Predictor = Callable[[torch.Tensor], torch.Tensor]
BYTES_PER_MB = 1_000_000
LATENCY_WARMUP = 5
THROUGHPUT_RUNS = 5


def disk_mb(path: str | os.PathLike) -> float:
    """Size of a model file, or of all files under a model folder, in MB (10**6 bytes)."""
    path = Path(path)
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:
        size = path.stat().st_size
    return size / BYTES_PER_MB


def measure_latency(predict: Predictor, image: torch.Tensor, runs: int = 50,
                    warmup: int = LATENCY_WARMUP) -> Latency:
    """Median, p95 and p99 milliseconds of ``predict`` on one image (C, H, W) or batch of one."""
    if runs < 1:
        raise ValueError(f"latency runs must be at least 1, got {runs}")
    batch = image if image.ndim == 4 else image.unsqueeze(0)
    times_ms = []
    with torch.inference_mode():
        for _ in range(warmup):
            predict(batch)
        for _ in range(runs):
            start = time.perf_counter()
            predict(batch)
            times_ms.append((time.perf_counter() - start) * 1000)
    median, p95, p99 = np.percentile(times_ms, [50, 95, 99])
    return Latency(median=round(float(median), 3), p95=round(float(p95), 3), p99=round(float(p99), 3), runs=runs)


def measure_throughput(predict: Predictor, batch: torch.Tensor, runs: int = THROUGHPUT_RUNS) -> Throughput:
    """Images per second of ``predict`` on ``batch`` (N, C, H, W), after one untimed batch."""
    if runs < 1:
        raise ValueError(f"throughput runs must be at least 1, got {runs}")
    with torch.inference_mode():
        predict(batch)
        start = time.perf_counter()
        for _ in range(runs):
            predict(batch)
        seconds = time.perf_counter() - start
    return Throughput(batch_size=len(batch), images_per_s=round(len(batch) * runs / seconds, 3), runs=runs)


def measure_memory(load_predictor: Callable[[], Predictor], input_shape: tuple[int, ...],
                   threads: int | None = None) -> tuple[float, float]:
    """(MB added, MB total) of RSS when a fresh process loads the model and predicts once.

    ``load_predictor`` must be picklable (a module-level function or a functools.partial of one):
    it runs in a spawned child, which is what keeps this process's allocations out of the figure.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_memory_in_child, load_predictor, tuple(input_shape), threads).result()


def _memory_in_child(load_predictor: Callable[[], Predictor], input_shape: tuple[int, ...],
                     threads: int | None) -> tuple[float, float]:
    if threads:
        torch.set_num_threads(threads)
    images = torch.zeros(input_shape)  # allocated before the baseline: the input is not the model's
    process = psutil.Process()
    before = process.memory_info().rss
    predict = load_predictor()
    with torch.inference_mode():
        predict(images)
    after = process.memory_info().rss
    return (after - before) / BYTES_PER_MB, after / BYTES_PER_MB


def measure_operational(load_predictor: Callable[[], Predictor], predict: Predictor, model_file: Path,
                        dataset: Sequence[tuple[torch.Tensor, int]], batch_size: int, latency_runs: int,
                        throughput_runs: int = THROUGHPUT_RUNS, threads: int | None = None) -> OperationalMetrics:
    """Disk, memory (fresh process), latency and throughput, on real images of ``dataset``
    ((image, label) pairs, preprocessed as the model expects)."""
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
