"""The options of an evaluation, defined once: ``evaluate``, ``evaluate_predictor``, the export
stage and the ``foodclf evaluate`` command take their defaults, choices and checks from here."""
from __future__ import annotations

from dataclasses import dataclass, field

from foodclf.data.datasets import SPLITS
from foodclf.errors import FoodclfError
from foodclf.evaluation.operational import LATENCY_WARMUP, THROUGHPUT_RUNS


def _option(default, help: str, **metadata):
    return field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class EvalOptions:
    """How to evaluate: which images, what counts as a bad class, how long to time the model."""

    split: str = _option("evaluation", "the split to evaluate on", choices=SPLITS)
    bad_threshold: float = _option(0.8, "a class whose accuracy is below this did not do well, as in the report")
    batch_size: int = _option(32, "evaluation batch, and the batch throughput is measured at")
    latency_runs: int = _option(50, f"timed single-image runs (after {LATENCY_WARMUP} warm-up runs)")
    throughput_runs: int = _option(THROUGHPUT_RUNS, "timed batches (after 1 warm-up batch)")
    threads: int | None = _option(None, "torch threads (default: torch's own choice)")
    workers: int = _option(0, "data-loading processes")
    progress: bool = _option(True, "a progress bar over batches (--no-progress for logs)")

    def __post_init__(self) -> None:
        # Checked before anything is loaded: a bad option costs no model load and writes nothing.
        if self.split not in SPLITS:
            raise FoodclfError(f"split must be one of {', '.join(SPLITS)}, got '{self.split}'")
        for name in ("batch_size", "latency_runs", "throughput_runs"):
            if getattr(self, name) < 1:
                raise FoodclfError(f"{name.replace('_', ' ')} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.bad_threshold <= 1.0:
            raise FoodclfError(f"bad threshold must be an accuracy between 0 and 1, got {self.bad_threshold}")
        if self.threads is not None and self.threads < 1:
            raise FoodclfError(f"threads must be at least 1 (or left out for torch's default), got {self.threads}")
        if self.workers < 0:
            raise FoodclfError(f"workers must be 0 (decode in this process) or more, got {self.workers}")
