"""Every epoch draws its randomness from (seed, phase, epoch) alone, so that a resumed run
trains each epoch exactly as an uninterrupted one would.

Seeding once at the start is not enough: a run resumed at epoch 8 would replay epoch 1's data
order and augmentation. Lightning does not save the random generators in its checkpoints, and
data-loading workers keep their own. So the generators are reseeded at the start of every
training epoch (before Lightning creates the epoch's data iterator, which seeds the workers),
and the training loader's workers are not persistent (see FoodDataModule).
"""
from __future__ import annotations

from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.callbacks import Callback

MAX_SEED = 2**32 - 1


def epoch_seed(seed: int, phase: int, epoch: int) -> int:
    """A seed for one epoch of one phase (0-based both), distinct for every pair."""
    return (seed * 1_000_003 + phase * 10_007 + epoch) % MAX_SEED


class EpochSeed(Callback):
    def __init__(self, seed: int, phase: int):
        self.seed, self.phase = seed, phase

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        seed_everything(epoch_seed(self.seed, self.phase, trainer.current_epoch), workers=True, verbose=False)
