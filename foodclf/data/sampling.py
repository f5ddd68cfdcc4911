"""Training order and augmentation drawn from (seed, epoch, image) alone.

A resumed run must train each epoch exactly as an uninterrupted one would, on one process or
several, whatever the number of data-loading workers. Drawing from the global random generator
cannot promise that: when Lightning restarts from a checkpoint it creates the epoch's iterator
at another moment, and workers seed themselves from whatever state the generator had then. So
the sampler shuffles with a generator seeded by (seed, epoch), as torch's DistributedSampler
does, and hands each image its epoch along with its index; the dataset seeds the generator from
(seed, epoch, index) before the image's random transform. With workers=0 that also fixes the
generator's state for the forward pass that follows (dropout, drop-path); in workers, only the
images are fixed.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

MAX_SEED = 2**63 - 1


class EpochShuffleSampler(DistributedSampler):
    """This rank's share of a (seed, epoch) permutation, as keys ``epoch * len(dataset) + index``.

    A DistributedSampler, so that Lightning calls ``set_epoch`` every epoch and, under DDP,
    keeps it instead of putting its own in place (one process is rank 0 of 1).
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)

    def __iter__(self):
        size = len(self.dataset)
        return (self.epoch * size + index for index in super().__iter__())


class EpochSeededDataset(Dataset):
    """Wraps a dataset whose transform draws from torch's generator: item ``epoch * n + index``
    is image ``index``, transformed with the generator seeded from (seed, epoch, index)."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int):
        epoch, index = divmod(key, len(self.dataset))
        torch.manual_seed(sample_seed(self.seed, epoch, index))
        return self.dataset[index]


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A distinct seed for every (seed, epoch, image)."""
    return (seed * 1_000_003 + epoch * 100_000_007 + index * 7_919) % MAX_SEED
