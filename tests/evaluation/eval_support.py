"""Helpers of the evaluation tests: a private copy of a run, and the check that nothing was written."""
from __future__ import annotations

import shutil
from pathlib import Path

from foodclf.evaluation.metrics_file import CONFUSION_MATRIX_FILE, METRICS_FILE
from foodclf.training.runs import REQUIRED_FILES


def copy_run(run, dest: Path) -> Path:
    """The run's required files only: the shared fixture stays untouched, and no checkpoints are copied."""
    dest.mkdir(parents=True)
    for name in REQUIRED_FILES:
        shutil.copy(run.run_dir / name, dest / name)
    return dest


def assert_nothing_written(run_dir: Path) -> None:
    assert not (run_dir / METRICS_FILE).exists()
    assert not (run_dir / CONFUSION_MATRIX_FILE).exists()
    assert not list(run_dir.glob(".*.tmp")) and not list(run_dir.glob(".*.png"))
