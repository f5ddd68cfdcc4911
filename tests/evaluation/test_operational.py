"""Operational metrics: file size, latency and throughput counting, memory in a fresh process."""
from __future__ import annotations

import pytest
import torch

from foodclf.evaluation.operational import (
    BYTES_PER_MB,
    LATENCY_WARMUP,
    disk_mb,
    measure_latency,
    measure_memory,
    measure_throughput,
)

ALLOCATED_MB = 64


class CountingPredictor:
    """Logits of a tiny linear model, counting calls and the batch sizes seen."""

    def __init__(self):
        self.model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
        self.batch_sizes: list[int] = []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(len(images))
        return self.model(images)


def load_allocating_predictor():
    """A predictor that holds ALLOCATED_MB of weights (module level: the spawned child imports it)."""
    weights = torch.ones(ALLOCATED_MB * BYTES_PER_MB // 4)  # float32, touched so the pages are resident
    return lambda images: images.flatten(1)[:, :4] * weights[:4]


def test_disk_mb_counts_millions_of_bytes(tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"x" * 1_234_567)
    assert disk_mb(model) == pytest.approx(1.234567)
    (tmp_path / "variant").mkdir()
    (tmp_path / "variant" / "a.bin").write_bytes(b"x" * 500_000)
    (tmp_path / "variant" / "b.bin").write_bytes(b"x" * 250_000)
    assert disk_mb(tmp_path / "variant") == pytest.approx(0.75)


def test_latency_times_single_images_after_warmup():
    predict = CountingPredictor()
    latency = measure_latency(predict, torch.rand(3, 8, 8), runs=20)
    assert predict.batch_sizes == [1] * (LATENCY_WARMUP + 20)
    assert latency.runs == 20
    assert 0 < latency.median <= latency.p95 <= latency.p99 < 1000  # a linear layer takes well under a second


def test_throughput_times_whole_batches():
    predict = CountingPredictor()
    throughput = measure_throughput(predict, torch.rand(16, 3, 8, 8), runs=3)
    assert predict.batch_sizes == [16] * 4  # one untimed, three timed
    assert throughput.batch_size == 16 and throughput.runs == 3
    assert throughput.images_per_s > 0


def test_latency_and_throughput_need_a_run():
    with pytest.raises(ValueError, match="at least 1"):
        measure_latency(CountingPredictor(), torch.rand(3, 8, 8), runs=0)
    with pytest.raises(ValueError, match="at least 1"):
        measure_throughput(CountingPredictor(), torch.rand(2, 3, 8, 8), runs=0)


def test_memory_is_what_the_loaded_model_adds_in_a_fresh_process():
    added, total = measure_memory(load_allocating_predictor, (1, 3, 8, 8))
    # The weights are counted in full; the child's interpreter and torch are not (they are in total).
    assert ALLOCATED_MB <= added < ALLOCATED_MB + 100
    assert total > added + 50

