"""The run directory: what training writes and every later stage reads.

    RUN_DIR/
      model.pt            plain FoodNet state_dict (keys backbone.*, head.*; no Lightning prefix)
      data_config.json    preprocessing + architecture (foodclf.data.data_config)
      classes.json        class names in index order, e.g. ["Bread", "Dairy product", ...]
      config.json         the resolved training configuration (foodclf.training.recipe.TrainConfig)
      history.csv         one row per epoch: phase, trainable, epoch, lr, train/val loss and accuracy, seconds
      best.ckpt last.ckpt Lightning checkpoints (best validation loss; latest, for --resume)

Later stages add metrics.json (evaluation), loadtest.json and simulations.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from foodclf.contracts.data_config import DATA_CONFIG_FILE
from foodclf.data.data_config import DataConfig
from foodclf.errors import RunDirError, SchemaError
from foodclf.io import atomic_save, atomic_write_json, read_json
from foodclf.models.net import FoodNet, create_model, default_data_config

log = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
CLASSES_FILE = "classes.json"
CONFIG_FILE = "config.json"
REQUIRED_FILES = (MODEL_FILE, DATA_CONFIG_FILE, CLASSES_FILE)


@dataclass
class Run:
    run_dir: Path
    data_config: DataConfig
    classes: list[str]

    @property
    def model_path(self) -> Path:
        return self.run_dir / MODEL_FILE

    @property
    def name(self) -> str:
        return self.run_dir.name

    def load_model(self) -> FoodNet:
        """The trained FoodNet in eval mode, its state checked against the architecture."""
        model = create_model(self.data_config.backbone, self.data_config.num_classes, "none")
        state = load_state_dict(self.model_path)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise RunDirError(f"{self.model_path}: does not fit {self.data_config.backbone} "
                              f"with {self.data_config.num_classes} classes ({e})") from e
        return model.eval()


def load_run(run_dir: str | os.PathLike) -> Run:
    """Open a run directory written by train(); missing or inconsistent files raise RunDirError."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: run directory not found; train one with foodclf train --out {run_dir}")
    missing = [name for name in REQUIRED_FILES if not (run_dir / name).is_file()]
    if missing:
        raise RunDirError(f"{run_dir}: missing {', '.join(missing)}; is training finished? "
                          "(foodclf train writes them at the end, --resume finishes an interrupted run)")
    try:
        data_config = DataConfig.load(run_dir / DATA_CONFIG_FILE)
        classes = read_json(run_dir / CLASSES_FILE)
    except SchemaError as e:
        raise RunDirError(str(e)) from e
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise RunDirError(f"{run_dir / CLASSES_FILE}: must be a JSON list of class names")
    if len(classes) != data_config.num_classes:
        raise RunDirError(f"{run_dir}: {CLASSES_FILE} names {len(classes)} classes but "
                          f"{DATA_CONFIG_FILE} says num_classes={data_config.num_classes}")
    return Run(run_dir, data_config, classes)


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RunDirError(f"{path}: cannot load the state_dict ({e}); re-export it from best.ckpt") from e


def export_checkpoint(checkpoint_path: Path, model_path: Path) -> None:
    """Write the plain FoodNet state_dict of a Lightning checkpoint (its ``model.`` prefix stripped)."""
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    atomic_save(model_path, lambda tmp: torch.save(state, tmp))


def write_run_files(run_dir: Path, data_config: DataConfig, classes: list[str], config: dict) -> None:
    data_config.save(run_dir / DATA_CONFIG_FILE)
    atomic_write_json(run_dir / CLASSES_FILE, list(classes))
    atomic_write_json(run_dir / CONFIG_FILE, config)


def random_weights_run(run_dir: str | os.PathLike, backbone: str, image_size: int,
                       classes: list[str] | None = None, note: str = "random weights") -> Path:
    """A complete run directory whose model has random weights: for benchmarks and tests that
    need a model's cost or its answers, not its accuracy (Food-11's classes by default)."""
    from foodclf.data.datasets import FOOD11_CLASSES

    classes = list(classes or FOOD11_CLASSES)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_files(run_dir, default_data_config(backbone, len(classes), image_size=image_size), classes,
                    {"note": note, "backbone": backbone})
    model = create_model(backbone, len(classes))
    atomic_save(run_dir / MODEL_FILE, lambda tmp: torch.save(model.state_dict(), tmp))
    return run_dir


def read_config(run_dir: Path) -> dict:
    path = Path(run_dir) / CONFIG_FILE
    try:
        return read_json(path)
    except SchemaError as e:
        raise RunDirError(f"{e}; cannot resume without it") from e


def describe(run: Run) -> str:
    return json.dumps({"run": str(run.run_dir), "backbone": run.data_config.backbone, "classes": run.classes})
