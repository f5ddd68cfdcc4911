"""FoodClassifier: the LightningModule around a FoodNet (the system, not the network).

It owns the loss, the metrics it logs and the optimiser: Adam with the report's Keras
``ExponentialDecay`` (lr * rate ** (step / decay_steps), applied every optimizer step).
Freezing belongs to foodclf.training.finetuning.PhaseFreezing, not here.
"""
from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.nn import functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from foodclf.models.net import create_model


class FoodClassifier(pl.LightningModule):
    def __init__(
        self,
        backbone: str,
        num_classes: int,
        lr: float = 1e-3,
        lr_decay_rate: float = 0.1,
        lr_decay_steps: int = 2000,
    ):
        super().__init__()
        self.save_hyperparameters()
        # Random weights here: a checkpoint or train() loads the real ones, so that reloading a
        # checkpoint never downloads ImageNet weights.
        self.model = create_model(backbone, num_classes, "none")
        self.lr = lr  # the current phase's rate; train() changes it between phases
        self.phase = 0  # index of the training phase, saved in checkpoints for --resume
        # Epoch figures as torchmetrics: under DDP they add up every rank's sums and counts, so the
        # validation loss and accuracy are those of the whole validation set on every rank (early
        # stopping and best.ckpt then decide on the same number everywhere).
        self.train_loss, self.val_loss = MeanMetric(), MeanMetric()
        self.train_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        self.train_accuracy(logits, labels)
        self.train_loss(loss.detach(), len(labels))
        self.log("train_loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(labels))
        self.log("train_acc", self.train_accuracy, on_step=False, on_epoch=True, batch_size=len(labels))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        logits = self(images)
        self.val_accuracy(logits, labels)
        self.val_loss(F.cross_entropy(logits, labels), len(labels))
        self.log("val_loss", self.val_loss, prog_bar=True, batch_size=len(labels))
        self.log("val_acc", self.val_accuracy, prog_bar=True, batch_size=len(labels))

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=self.lr)
        # Keras ExponentialDecay(staircase=False) is a per-step exponential: gamma = rate ** (1 / steps).
        gamma = self.hparams.lr_decay_rate ** (1.0 / self.hparams.lr_decay_steps)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["foodclf"] = {"phase": self.phase, "lr": self.lr}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("foodclf", {})
        self.phase, self.lr = state.get("phase", 0), state.get("lr", self.lr)
