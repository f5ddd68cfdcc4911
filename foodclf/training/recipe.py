"""train(): the report's two-phase transfer-learning recipe as Lightning fits.

Phase 1 trains the head on a frozen backbone (Adam, lr 1e-3, per-step exponential decay 0.1 per
2000 steps, up to 200 epochs, early stopping on validation loss). Phase 2 starts from the best
phase-1 weights, unfreezes the Keras-equivalent tail and fine-tunes at lr 1e-5 for up to 50
epochs. With random weights a frozen phase makes no sense, so everything trains in one phase.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping
from lightning.pytorch.utilities import rank_zero_only

from foodclf.data.datamodule import FoodDataModule, discover_classes
from foodclf.errors import RunDirError
from foodclf.models.net import create_model, default_data_config
from foodclf.training.checkpoints import BEST_FILE, LAST_FILE, ResumePoint, best_checkpoint, last_checkpoint
from foodclf.training.classifier import FoodClassifier
from foodclf.training.config import UNFREEZE_CHOICES, TrainConfig  # noqa: F401  (re-exported)
from foodclf.training.finetuning import PhaseFreezing
from foodclf.training.history import HISTORY_FILE, EpochHistory, cut_history
from foodclf.training.runs import MODEL_FILE, Run, export_checkpoint, load_run, read_config, write_run_files

log = logging.getLogger(__name__)



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


def train(config: TrainConfig, resume: bool = False, callbacks: list[Callback] | None = None) -> Run:
    """Train a model as ``config`` says and return its finished run directory.

    ``callbacks`` are extra Lightning callbacks added to every phase's Trainer. Under DDP every
    rank runs this function; only rank 0 writes files, and every rank returns the same Run.
    """
    run_dir = Path(config.out)
    if resume:
        config = _config_for_resume(run_dir, config)
    elif rank_zero_only.rank == 0 and any((run_dir / n).exists() for n in (BEST_FILE, LAST_FILE, MODEL_FILE)):
        raise RunDirError(f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out")
    pl.seed_everything(config.seed, workers=True)

    classes = discover_classes(config.data)
    data_config = default_data_config(config.backbone, len(classes), config.image_size)
    config.image_size = data_config.image_size
    config.phases = plan_phases(config)
    module = FoodClassifier(config.backbone, len(classes), config.lr, config.lr_decay_rate, config.lr_decay_steps)
    if not resume:  # initial weights; a resumed run gets its own from its checkpoints
        module.model = create_model(config.backbone, len(classes), config.weights)
    datamodule = FoodDataModule(config.data, data_config, config.batch_size, config.workers,
                                skip_bad_images=config.skip_bad_images, seed=config.seed)
    datamodule.setup("fit")  # fail on bad data before anything is written
    _write_run_files(run_dir, data_config, list(classes), asdict(config))

    start = ResumePoint.read(run_dir, config.phases, config.patience) if resume else None
    if start is not None:
        cut_history(run_dir / HISTORY_FILE, start.done_phase, start.done_epoch)
    trainer = _run_phases(config, module, datamodule, run_dir, start, callbacks or [])
    if trainer is None or trainer.is_global_zero:
        export_checkpoint(run_dir / BEST_FILE, run_dir / MODEL_FILE)
    if trainer is not None:
        trainer.strategy.barrier("foodclf.model_written")  # other ranks read model.pt only once it is there
    return load_run(run_dir)


def _run_phases(config: TrainConfig, module: FoodClassifier, datamodule: FoodDataModule, run_dir: Path,
                start: ResumePoint | None, callbacks: list[Callback]) -> pl.Trainer | None:
    """Fit each phase still to run; the last phase's Trainer (None if nothing was left to run)."""
    first = start.phase if start else 0
    best_state = start.best_state if start else None
    trainer = None
    for index in range(first, len(config.phases)):
        phase = config.phases[index]
        resume_from = start.checkpoint if start and index == first else None
        if index > 0 and resume_from is None:  # a new phase starts from the best weights so far
            best = torch.load(run_dir / BEST_FILE, map_location="cpu", weights_only=False)
            module.load_state_dict(best["state_dict"])
        module.phase, module.lr = index, phase["lr"]
        log.info("phase %d/%d: %s trainable, up to %d epochs, lr %g", index + 1, len(config.phases),
                 phase["trainable"], phase["max_epochs"], phase["lr"])
        best = best_checkpoint(run_dir, best_state)  # one per phase, carrying the best score so far
        trainer = _trainer(config, phase, [
            PhaseFreezing(phase["trainable"]),
            EarlyStopping(monitor="val_loss", mode="min", patience=config.patience),
            EpochHistory(run_dir / HISTORY_FILE, index, phase["trainable"]),  # before last.ckpt (see history.py)
            best,
            last_checkpoint(run_dir),
            *callbacks,
        ])
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
        best_state = best.state_dict()
    return trainer


@rank_zero_only
def _write_run_files(run_dir: Path, data_config, classes: list[str], config: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_files(run_dir, data_config, classes, config)


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
    if not (run_dir / LAST_FILE).is_file():
        raise RunDirError(f"{run_dir / LAST_FILE}: not found, nothing to resume; start a new run without --resume")
    saved = TrainConfig.from_dict(read_config(run_dir))
    saved.progress, saved.workers = given.progress, given.workers
    log.info("resuming %s with its saved configuration", run_dir)
    return saved
