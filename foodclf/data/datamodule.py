"""FoodDataModule: the training, validation and evaluation splits of a dataset folder, with the
report's augmentation for training and resize-only transforms otherwise (see transforms.py)."""
from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from foodclf.data.data_config import DataConfig
from foodclf.data.datasets import FoodImageDataset, SplitListing, list_split
from foodclf.errors import DatasetError
from foodclf.data.transforms import EvalPreset, TrainPreset

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
    ):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.data_config = data_config
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.check_images = check_images
        self.skip_bad_images = skip_bad_images
        self.augment = augment
        self.listings: dict[str, SplitListing] = {}
        self.classes: tuple[str, ...] = ()

    def listing(self, split: str) -> SplitListing:
        """The split's images, listed and checked once; its classes must match training's."""
        if split not in self.listings:
            listing = list_split(self.data_dir, split, self.check_images, self.skip_bad_images)
            if split != "training":
                expected = self.listing("training").classes
                if listing.classes != expected:
                    raise DatasetError(_class_mismatch(listing, expected, "the training split"))
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
        return DataLoader(
            self.dataset(split, train),
            batch_size=self.batch_size,
            shuffle=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("training", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self._loader("evaluation")


def _class_mismatch(listing: SplitListing, expected: tuple[str, ...], what: str) -> str:
    missing = [c for c in expected if c not in listing.classes]
    extra = [c for c in listing.classes if c not in expected]
    detail = []
    if missing:
        detail.append(f"missing {missing}")
    if extra:
        detail.append(f"unexpected {extra}")
    if not detail:
        detail.append("same names in another order")
    return (f"{listing.split_dir}: classes differ from {what} ({'; '.join(detail)}); "
            f"expected {len(expected)} classes: {list(expected)}")
