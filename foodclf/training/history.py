"""RUN_DIR/history.csv: one row per finished epoch, across phases and resumes.

Rows are appended by rank 0 at the end of each training epoch, just before last.ckpt is saved.
A run killed between the two leaves a row that its checkpoint does not hold: on --resume the
rows after the checkpoint's epoch are cut, so that the history never holds an epoch twice.
"""
from __future__ import annotations

import csv
import os
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_only

from foodclf.io import atomic_write_csv

HISTORY_FILE = "history.csv"
COLUMNS = ("phase", "trainable", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")


class EpochHistory(Callback):
    """Appends one row per epoch to ``path`` (phase and epoch are 1-based)."""

    def __init__(self, path: str | os.PathLike, phase: int, trainable: str):
        self.path, self.phase, self.trainable = Path(path), phase, trainable
        self._started = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._started = time.perf_counter()

    @rank_zero_only
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row = {"phase": self.phase + 1, "trainable": self.trainable, "epoch": trainer.current_epoch + 1,
               "lr": trainer.optimizers[0].param_groups[0]["lr"],
               **{k: metrics.get(k, "") for k in METRICS},
               "seconds": round(time.perf_counter() - self._started, 3)}
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            if new:
                writer.writeheader()
            writer.writerow(row)


def read_history(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a history.csv (empty when the file does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@rank_zero_only
def cut_history(path: str | os.PathLike, phase: int, epoch: int) -> int:
    """Keep the rows up to (``phase``, ``epoch``), both 1-based; return how many were cut."""
    rows = read_history(path)
    kept = [r for r in rows if (int(r["phase"]), int(r["epoch"])) <= (phase, epoch)]
    if len(kept) < len(rows):
        atomic_write_csv(path, COLUMNS, kept)
    return len(rows) - len(kept)
