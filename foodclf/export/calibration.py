"""The images that calibrate the INT8 formats' activation ranges.

They come from the *training* split (the evaluation split stays unseen), are prepared by the run's
evaluation transform (what served images get), and are drawn with a fixed seed so an export is
repeatable.
"""
from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from foodclf.data.data_config import DataConfig
from foodclf.data.datasets import FoodImageDataset, check_classes, list_split
from foodclf.data.transforms import EvalPreset
from foodclf.errors import DatasetError

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION_IMAGES = 300
CALIBRATION_SEED = 0


@dataclass
class Calibration:
    split: str
    images: list[torch.Tensor]  # each (1, 3, H, W), prepared by the run's EvalPreset


def load_calibration(data_dir: str | os.PathLike, data_config: DataConfig, classes: Sequence[str],
                     count: int, split: str = "training") -> Calibration:
    """``count`` images of ``split`` (all of them if fewer), drawn with a fixed seed, prepared as
    served images are."""
    listing = list_split(data_dir, split, check_images=False)
    check_classes(listing, classes, "the model's", "calibrate on the dataset the model was trained on")
    if not listing.samples:
        raise DatasetError(f"{listing.split_dir}: no images to calibrate INT8 on")
    samples = random.Random(CALIBRATION_SEED).sample(listing.samples, min(count, len(listing.samples)))
    dataset = FoodImageDataset(samples, EvalPreset(data_config))
    images = [dataset[i][0].unsqueeze(0) for i in range(len(dataset))]
    log.info("calibrating on %d images of %s", len(images), listing.split_dir)
    return Calibration(split, images)


def calibration_or_zeros(calibration: Calibration | None, data_config: DataConfig) -> torch.Tensor:
    """An image to check that a freshly built variant runs: a calibration image, else zeros."""
    if calibration is not None:
        return calibration.images[0]
    return torch.zeros(1, 3, data_config.image_size, data_config.image_size)
