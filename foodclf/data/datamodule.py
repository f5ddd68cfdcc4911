"""FoodDataModule: the training, validation and evaluation splits of a dataset folder, with the
report's augmentation for training and resize-only transforms otherwise (see transforms.py)."""
from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from foodclf.data.data_config import DataConfig
from foodclf.data.datasets import FoodImageDataset, SplitListing, check_classes, list_split
from foodclf.data.sampling import EpochSeededDataset, EpochShuffleSampler
from foodclf.data.transforms import EvalPreset, TrainPreset
from foodclf.errors import DatasetError

log = logging.getLogger(__name__)


def discover_classes(data_dir: str | Path) -> tuple[str, ...]:
    """Class names of a dataset, read from its training split (no image decoding)."""
    return list_split(data_dir, "training", check_images=False).classes


class FoodDataModule(pl.LightningDataModule):
    def __init__(
        self,
        data_dir: str | Path,
        data_config: DataConfig,
        batch_size: int = 32,
        num_workers: int = 0,
        check_images: bool = True,
        skip_bad_images: bool = False,
        augment: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.data_config = data_config
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.check_images = check_images
        self.skip_bad_images = skip_bad_images
        self.augment = augment
        self.seed = seed  # the training order and augmentation of each epoch (foodclf.data.sampling)
        self.listings: dict[str, SplitListing] = {}
        self.classes: tuple[str, ...] = ()

    def listing(self, split: str) -> SplitListing:
        """The split's images, listed and checked once; its classes must match training's."""
        if split not in self.listings:
            listing = list_split(self.data_dir, split, self.check_images, self.skip_bad_images)
            if split != "training":
                check_classes(listing, self.listing("training").classes, "the training split",
                              "every split needs the same class folders")
            elif len(listing.classes) != self.data_config.num_classes:
                raise DatasetError(
                    f"{listing.split_dir}: {len(listing.classes)} classes, but the data config says "
                    f"{self.data_config.num_classes}"
                )
            if not listing.samples:
                raise DatasetError(f"{listing.split_dir}: the split holds no usable images")
            self.listings[split] = listing
            log.info("%s: %d images in %d classes (%s layout)", listing.split_dir, len(listing.samples),
                     len(listing.classes), listing.layout)
        return self.listings[split]

    def setup(self, stage: str | None = None) -> None:
        self.classes = self.listing("training").classes
        if stage in (None, "fit"):
            self.listing("validation")

    def dataset(self, split: str, train: bool = False) -> FoodImageDataset:
        transform = TrainPreset(self.data_config) if train and self.augment else EvalPreset(self.data_config)
        return FoodImageDataset(self.listing(split).samples, transform)

    def _loader(self, split: str, train: bool = False) -> DataLoader:
        dataset = self.dataset(split, train)
        if train:  # order and augmentation from (seed, epoch, image): a resumed run repeats them exactly
            dataset, sampler = EpochSeededDataset(dataset, self.seed), EpochShuffleSampler(
                dataset, self._world_size(), self._rank(), self.seed)
        else:
            sampler = self._unpadded_shard(dataset)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def _world_size(self) -> int:
        trainer = getattr(self, "trainer", None)
        return trainer.world_size if trainer is not None else 1

    def _rank(self) -> int:
        trainer = getattr(self, "trainer", None)
        return trainer.global_rank if trainer is not None else 0

    def _unpadded_shard(self, dataset) -> DistributedSampler | None:
        """Under DDP, this rank's share of an evaluation split, every image exactly once.

        Lightning's own DistributedSampler pads the last shard with repeated images, which would
        count them twice in the validation figures; training keeps Lightning's sampler.
        """
        if self._world_size() < 2:
            return None
        return UnpaddedDistributedSampler(dataset, self._world_size(), self._rank())

    def train_dataloader(self) -> DataLoader:
        return self._loader("training", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self._loader("evaluation")



class UnpaddedDistributedSampler(DistributedSampler):
    """Images rank, rank + world, rank + 2 world, ...: shards of unequal length, no repeats."""

    def __init__(self, dataset, num_replicas: int, rank: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))
        self.total_size = len(dataset)

    def __iter__(self):
        return iter(range(self.rank, len(self.dataset), self.num_replicas))
