"""Freezing, in one place: which parameters train in each phase of the recipe.

Phases (``trainable``):
  head  backbone frozen, only the Linear head trains (the report's phase 1)
  tail  the recipe's Keras-equivalent tail of the backbone and the head train (phase 2)
  all   every parameter trains (phase 2 with --unfreeze all, or training from random weights)

A frozen BatchNorm must behave like a Keras layer with trainable=False: it normalises with its
running statistics and never updates them. Lightning's own freeze switches
``track_running_stats`` off instead, which makes BN normalise with *batch* statistics in training.
So this callback keeps the statistics and puts frozen BN layers back in eval mode at every
training batch, after whatever ``model.train()`` Lightning called.
"""
from __future__ import annotations

from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

TRAINABLE_CHOICES = ("head", "tail", "all")


class PhaseFreezing(BaseFinetuning):
    def __init__(self, trainable: str):
        super().__init__()
        if trainable not in TRAINABLE_CHOICES:
            raise ValueError(f"trainable '{trainable}' is not one of {', '.join(TRAINABLE_CHOICES)}")
        self.trainable = trainable

    @property
    def state_key(self) -> str:
        return f"PhaseFreezing[{self.trainable}]"

    @staticmethod
    def freeze_module(module: nn.Module) -> None:
        # Unlike Lightning's version: keep track_running_stats, so frozen BN uses its statistics.
        for param in module.parameters(recurse=False):
            param.requires_grad = False

    @staticmethod
    def freeze(modules, train_bn: bool = True) -> None:
        # BaseFinetuning.freeze calls its own freeze_module by class name; route it to ours.
        for module in BaseFinetuning.flatten_modules(modules):
            if isinstance(module, _BatchNorm) and train_bn:
                BaseFinetuning.make_trainable(module)
            else:
                PhaseFreezing.freeze_module(module)

    def freeze_before_training(self, pl_module) -> None:
        model = pl_module.model
        self.make_trainable(model)
        if self.trainable in ("head", "tail"):
            self.freeze(model.backbone, train_bn=False)
        if self.trainable == "tail":
            self.make_trainable(model.tail_modules())

    def finetune_function(self, pl_module, epoch: int, optimizer) -> None:
        """Nothing to unfreeze mid-phase: each phase is its own fit with its own optimizer."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        set_frozen_batchnorm_eval(pl_module.model)


def set_frozen_batchnorm_eval(model: nn.Module) -> None:
    """Frozen BN layers in eval mode, trainable ones in training mode.

    Both ways matter: Lightning keeps each module's mode across fits, so a BN layer put in eval
    mode while frozen in phase 1 would otherwise stay there after phase 2 unfreezes it (and a
    resumed phase 2, whose model starts in training mode, would train differently).
    """
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.train(any(p.requires_grad for p in module.parameters()))
