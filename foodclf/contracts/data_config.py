"""data_config.json: how pixels must be prepared for a model. It is written next to every model
and read by training, evaluation, export, the TorchServe handler and the benchmarks, so the
numbers live in one place only. docs/contracts.md documents every field.

``DataConfig`` is both the file's contract and the object the code passes around
(re-exported as ``foodclf.DataConfig`` and from ``foodclf.data.data_config``).
"""
from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Literal

from foodclf.contracts import contract, file_in, read, write
from foodclf.errors import SchemaError

DATA_CONFIG_FILE = "data_config.json"
SCHEMA_VERSION = 1
Interpolation = Literal["bilinear", "bicubic", "nearest"]
INTERPOLATIONS: tuple[str, ...] = typing.get_args(Interpolation)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_IMAGE_SIZE = 8


class DataConfigError(SchemaError, ValueError):
    """A data config value out of range. A ValueError too, so that pydantic reports it, read
    from a file, like any other invalid field, with the file's name."""


@contract
class DataConfig:
    backbone: str                              # registry name, see foodclf.models.backbones
    num_classes: int
    image_size: int = 224                      # images are resized to image_size x image_size
    interpolation: Interpolation = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN   # per channel, on pixels scaled to [0, 1]
    std: tuple[float, float, float] = IMAGENET_STD
    # Last because it has a default: code builds DataConfig(backbone, num_classes, ...).
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise DataConfigError(f"interpolation '{self.interpolation}' is not one of {', '.join(INTERPOLATIONS)}")
        if self.image_size < MIN_IMAGE_SIZE:
            raise DataConfigError(f"image_size {self.image_size} is too small (at least {MIN_IMAGE_SIZE})")
        if self.num_classes < 2:
            raise DataConfigError(f"num_classes {self.num_classes} must be at least 2")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise DataConfigError("mean and std need 3 values each, std positive")
        if self.schema_version != SCHEMA_VERSION:
            raise DataConfigError(f"schema_version {self.schema_version} is not supported (expected {SCHEMA_VERSION})")
        # Lists given in Python become tuples, as the file's arrays do: configs compare equal.
        self.mean, self.std = tuple(float(m) for m in self.mean), tuple(float(s) for s in self.std)

    def save(self, path: str | os.PathLike) -> Path:
        return write(path, self)

    @classmethod
    def load(cls, path: str | os.PathLike) -> DataConfig:
        return read_data_config(path)


def read_data_config(path_or_dir: str | os.PathLike) -> DataConfig:
    """Read and validate a data_config.json (a file, or a folder holding one); a bad file raises
    SchemaError naming the file and the field."""
    return read(file_in(path_or_dir, DATA_CONFIG_FILE), DataConfig, SCHEMA_VERSION,
                "train the model again, or export it again, to rewrite it")
