"""TrainConfig: every training option, once. ``foodclf train``'s options are generated from these
fields (their ``help`` metadata), and the resolved copy is saved as RUN_DIR/config.json."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from foodclf.errors import FoodclfError

UNFREEZE_CHOICES = ("recipe", "all", "none")
LIGHTNING = "Lightning Trainer pass-through"  # the option group of the Trainer's own settings


def option(default, help: str, **metadata):
    """A field with its command-line help (and, optionally, ``choices``, ``group``, ``flag``)."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class TrainConfig:
    """Every training option; the resolved copy is saved as RUN_DIR/config.json."""

    data: str = field(metadata={"help": "dataset folder with training/, validation/, evaluation/ (Food-11 or one "
                                        "folder per class); required unless --resume"})
    out: str = field(metadata={"help": "run directory to write (or to continue with --resume)", "required": True})
    backbone: str = option("mobilenet_v2", "vgg16, mobilenet_v2, baseline or timm/<name>")
    weights: str = option("imagenet", "imagenet, none (random) or PATH to a state_dict")
    unfreeze: str | None = option(None, "what phase 2 unfreezes: the Keras-equivalent tail (recipe, the default), "
                                        "all, or none (no phase 2); with --weights none one all-layers phase",
                                  choices=UNFREEZE_CHOICES)
    epochs: int = option(200, "phase-1 epochs at most")
    finetune_epochs: int = option(50, "phase-2 epochs at most")
    lr: float = option(1e-3, "phase-1 learning rate (Adam)")
    finetune_lr: float = option(1e-5, "phase-2 learning rate")
    lr_decay_rate: float = option(0.1, "exponential decay: lr x RATE^(step / STEPS), applied every step")
    lr_decay_steps: int = option(2000, "optimizer steps per decay of --lr-decay-rate")
    batch_size: int = option(32, "images per batch")
    image_size: int | None = option(None, "square input size (default: the backbone's own, 224 for torchvision's)")
    patience: int = option(5, "early-stopping patience in epochs (validation loss)")
    seed: int = option(42, "random seed (data order, augmentation, head initialisation)")
    workers: int = option(min(4, os.cpu_count() or 1), "data-loading processes")
    skip_bad_images: bool = option(False, "leave unreadable images out with a warning instead of stopping")
    accelerator: str = option("auto", "cpu, gpu, auto, ...", group=LIGHTNING)
    devices: str | int = option("auto", "auto, a count, or a list like 0,1", group=LIGHTNING)
    precision: str = option("32-true", "32-true, bf16-mixed, 16-mixed, ...", group=LIGHTNING)
    strategy: str = option("auto", "auto, ddp, ...", group=LIGHTNING)
    num_nodes: int = option(1, "machines taking part (DDP)", group=LIGHTNING)
    progress: bool = option(True, "progress bars (--no-progress for logs)")
    phases: list[dict] = field(default_factory=list, metadata={"cli": False})  # filled in by plan_phases

    def __post_init__(self) -> None:
        if self.unfreeze is not None and self.unfreeze not in UNFREEZE_CHOICES:
            raise FoodclfError(f"--unfreeze '{self.unfreeze}' is not one of {', '.join(UNFREEZE_CHOICES)}")
        for name in ("epochs", "batch_size", "patience", "lr_decay_steps"):
            if getattr(self, name) < 1:
                raise FoodclfError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if isinstance(self.devices, str) and self.devices.isdigit():
            self.devices = int(self.devices)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
