"""The run's two checkpoints and where a resumed run starts.

    best.ckpt  the epoch with the lowest validation loss over every phase so far
    last.ckpt  the end of the latest finished epoch, written every epoch whatever its loss

Both are Lightning ModelCheckpoints (Lightning writes through a temporary file and renames it,
so a kill never leaves half a checkpoint). last.ckpt is saved at the end of each training
epoch, after validation, early stopping and best.ckpt have taken that epoch into account, so it
holds the optimiser, scheduler, early-stopping and best-checkpoint state of that moment.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

log = logging.getLogger(__name__)

BEST_FILE = "best.ckpt"
LAST_FILE = "last.ckpt"


def best_checkpoint(run_dir: Path, state: dict | None = None) -> ModelCheckpoint:
    """best.ckpt's callback; ``state`` (an earlier phase's) carries the best score across phases."""
    callback = ModelCheckpoint(dirpath=run_dir, filename=BEST_FILE.removesuffix(".ckpt"), monitor="val_loss",
                               mode="min", save_top_k=1, enable_version_counter=False, auto_insert_metric_name=False)
    if state:
        callback.load_state_dict(state)
    return callback


def last_checkpoint(run_dir: Path) -> ModelCheckpoint:
    """last.ckpt's callback: every epoch, at the end of training, independent of the loss."""
    return ModelCheckpoint(dirpath=run_dir, filename=LAST_FILE.removesuffix(".ckpt"), monitor=None, save_top_k=1,
                           every_n_epochs=1, save_on_train_epoch_end=True, enable_version_counter=False)


@dataclass
class ResumePoint:
    """Where a run continues: the phase (0-based), and last.ckpt when that phase is unfinished."""

    phase: int
    checkpoint: Path | None
    best_state: dict | None   # best.ckpt's callback state, for the phases still to come
    done_phase: int           # the checkpoint's phase and epoch, 1-based (the history is cut after them)
    done_epoch: int

    @classmethod
    def read(cls, run_dir: Path, phases: list[dict], patience: int) -> ResumePoint:
        path = run_dir / LAST_FILE
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        phase = checkpoint.get("foodclf", {}).get("phase", 0)
        epoch = checkpoint["epoch"]  # 0-based: the epoch this checkpoint finished
        states = checkpoint.get("callbacks", {})
        best_state = states.get(best_checkpoint(run_dir).state_key)
        stopped = _early_stopped(states, patience) or epoch + 1 >= phases[phase]["max_epochs"]
        log.info("resuming %s after phase %d, epoch %d%s", run_dir, phase + 1, epoch + 1,
                 " (that phase had finished)" if stopped else "")
        if stopped:
            return cls(phase + 1, None, best_state, phase + 1, epoch + 1)
        return cls(phase, path, best_state, phase + 1, epoch + 1)


def _early_stopped(states: dict, patience: int) -> bool:
    """Whether the checkpointed epoch was the one at which early stopping ended its phase."""
    state = states.get(EarlyStopping(monitor="val_loss", mode="min", patience=patience).state_key)
    return bool(state) and state.get("wait_count", 0) >= patience
