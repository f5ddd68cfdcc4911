"""train(): the report's two-phase transfer-learning recipe as Lightning fits.

Phase 1 trains the head on a frozen backbone (Adam, lr 1e-3, per-step exponential decay 0.1 per
2000 steps, up to 200 epochs, early stopping on validation loss). Phase 2 starts from the best
phase-1 weights, unfreezes the Keras-equivalent tail and fine-tunes at lr 1e-5 for up to 50
epochs. With random weights a frozen phase makes no sense, so everything trains in one phase.
"""
from __future__ import annotations

import csv
import logging
import time
from dataclasses import asdict
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only

from foodclf.training.classifier import FoodClassifier
from foodclf.training.config import UNFREEZE_CHOICES, TrainConfig  # noqa: F401  (re-exported)
from foodclf.data.datamodule import FoodDataModule, discover_classes
from foodclf.errors import RunDirError
from foodclf.training.finetuning import PhaseFreezing
from foodclf.models.net import create_model, default_data_config
from foodclf.training.runs import MODEL_FILE, Run, export_checkpoint, load_run, read_config, write_run_files

log = logging.getLogger(__name__)

HISTORY_FILE = "history.csv"


def plan_phases(config: TrainConfig) -> list[dict]:
    """The phases to run: what trains, for how many epochs, at which learning rate."""
    head = {"trainable": "head", "max_epochs": config.epochs, "lr": config.lr}
    finetune = {"max_epochs": config.finetune_epochs, "lr": config.finetune_lr}
    unfreeze = config.unfreeze
    if unfreeze is None:
        if config.weights == "none":
            log.warning("--weights none: a frozen random backbone learns nothing, so every layer trains "
                        "in one phase (pass --unfreeze to choose otherwise)")
            return [{"trainable": "all", "max_epochs": config.epochs, "lr": config.lr}]
        unfreeze = "recipe"
    if unfreeze == "none" or config.finetune_epochs == 0:
        return [head]
    return [head, {"trainable": "tail" if unfreeze == "recipe" else "all", **finetune}]


class EpochHistory(Callback):
    """Appends one row per epoch to RUN_DIR/history.csv (kept across phases and resumes)."""

    COLUMNS = ("phase", "trainable", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")

    def __init__(self, path: Path, phase: int, trainable: str):
        self.path, self.phase, self.trainable = path, phase, trainable
        self._started = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._started = time.perf_counter()

    @rank_zero_only
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row = {"phase": self.phase + 1, "trainable": self.trainable, "epoch": trainer.current_epoch + 1,
               "lr": trainer.optimizers[0].param_groups[0]["lr"],
               **{k: metrics.get(k, "") for k in ("train_loss", "train_acc", "val_loss", "val_acc")},
               "seconds": round(time.perf_counter() - self._started, 3)}
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)


def train(config: TrainConfig, resume: bool = False, callbacks: list[Callback] | None = None) -> Run:
    """Train a model as ``config`` says and return its finished run directory.

    ``callbacks`` are extra Lightning callbacks added to every phase's Trainer.
    """
    run_dir = Path(config.out)
    if resume:
        config = _config_for_resume(run_dir, config)
    elif any((run_dir / name).exists() for name in ("best.ckpt", "last.ckpt", MODEL_FILE)):
        raise RunDirError(f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out")
    pl.seed_everything(config.seed, workers=True)

    classes = discover_classes(config.data)
    data_config = default_data_config(config.backbone, len(classes), config.image_size)
    config.image_size = data_config.image_size
    config.phases = plan_phases(config)
    module = FoodClassifier(config.backbone, len(classes), config.lr, config.lr_decay_rate, config.lr_decay_steps)
    if not resume:  # initial weights; a resumed run gets its own from last.ckpt
        module.model = create_model(config.backbone, len(classes), config.weights)
    datamodule = FoodDataModule(config.data, data_config, config.batch_size, config.workers,
                                skip_bad_images=config.skip_bad_images)
    datamodule.setup("fit")  # fail on bad data before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_files(run_dir, data_config, list(classes), asdict(config))

    checkpoint = ModelCheckpoint(dirpath=run_dir, filename="best", monitor="val_loss", mode="min", save_top_k=1,
                                 save_last=True, enable_version_counter=False, auto_insert_metric_name=False)
    start_phase, resume_path = 0, None
    if resume:
        resume_path = run_dir / "last.ckpt"
        start_phase = torch.load(resume_path, map_location="cpu", weights_only=False).get("foodclf", {}).get("phase", 0)
    for index in range(start_phase, len(config.phases)):
        phase = config.phases[index]
        if index > start_phase:  # each new phase starts from the best weights so far
            best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=False)
            module.load_state_dict(best["state_dict"])
        module.phase, module.lr = index, phase["lr"]
        # One ModelCheckpoint spans the phases so best.ckpt is the best of all of them. Each phase's
        # Trainer counts steps from 0 again, and ModelCheckpoint skips saving at a step it already
        # saved at: forget the previous phase's step.
        checkpoint._last_global_step_saved = -1
        log.info("phase %d/%d: %s trainable, up to %d epochs, lr %g", index + 1, len(config.phases),
                 phase["trainable"], phase["max_epochs"], phase["lr"])
        trainer = _trainer(config, phase, [
            PhaseFreezing(phase["trainable"]),
            EarlyStopping(monitor="val_loss", mode="min", patience=config.patience),
            checkpoint,
            EpochHistory(run_dir / HISTORY_FILE, index, phase["trainable"]),
            *(callbacks or []),
        ])
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_path if index == start_phase else None)
    if trainer.is_global_zero:
        export_checkpoint(Path(checkpoint.best_model_path), run_dir / MODEL_FILE)
    return load_run(run_dir)


def _trainer(config: TrainConfig, phase: dict, callbacks: list[Callback]) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=phase["max_epochs"],
        callbacks=callbacks,
        logger=False,
        default_root_dir=config.out,
        accelerator=config.accelerator,
        devices=config.devices,
        precision=config.precision,
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        enable_progress_bar=config.progress,
        enable_model_summary=config.progress,
        log_every_n_steps=1,
    )


def _config_for_resume(run_dir: Path, given: TrainConfig) -> TrainConfig:
    if not (run_dir / "last.ckpt").is_file():
        raise RunDirError(f"{run_dir / 'last.ckpt'}: not found, nothing to resume; start a new run without --resume")
    saved = TrainConfig.from_dict(read_config(run_dir))
    saved.progress, saved.workers = given.progress, given.workers
    log.info("resuming %s with its saved configuration", run_dir)
    return saved
