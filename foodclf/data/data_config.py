"""The data config: how pixels must be prepared for a model. It is written next to every model
(``data_config.json``) and read by training, evaluation, the TorchServe handler and the
benchmarks, so the numbers live in one place only.

Schema of ``data_config.json`` (version 1)::

    {
      "schema_version": 1,
      "backbone": "mobilenet_v2",        # registry name, see foodclf.models.backbones
      "num_classes": 11,
      "image_size": 224,                  # images are resized to image_size x image_size (Keras-style squash)
      "interpolation": "bilinear",        # bilinear | bicubic | nearest
      "mean": [0.485, 0.456, 0.406],      # per-channel, on pixels scaled to [0, 1]
      "std": [0.229, 0.224, 0.225]
    }
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from foodclf.errors import SchemaError
from foodclf.io import atomic_write_json, read_json, require_fields

SCHEMA_VERSION = 1
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DataConfig:
    backbone: str
    num_classes: int
    image_size: int = 224
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise SchemaError(
                f"data config: interpolation '{self.interpolation}' is not one of {', '.join(INTERPOLATIONS)}"
            )
        if self.image_size < 8:
            raise SchemaError(f"data config: image_size {self.image_size} is too small (at least 8)")
        if self.num_classes < 2:
            raise SchemaError(f"data config: num_classes {self.num_classes} must be at least 2")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise SchemaError("data config: mean and std need 3 values each, std positive")
        # Lists from JSON become tuples so the dataclass stays hashable and comparable.
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return {"schema_version": SCHEMA_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict, where: str = "data config") -> "DataConfig":
        require_fields(
            d,
            {"schema_version": int, "backbone": str, "num_classes": int, "image_size": int,
             "interpolation": str, "mean": list, "std": list},
            where,
        )
        if d["schema_version"] != SCHEMA_VERSION:
            raise SchemaError(f"{where}: schema_version {d['schema_version']} is not supported (expected {SCHEMA_VERSION})")
        try:
            return cls(**{k: d[k] for k in ("backbone", "num_classes", "image_size", "interpolation", "mean", "std")})
        except SchemaError as e:
            raise SchemaError(f"{where}: {e}") from e

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DataConfig":
        return cls.from_dict(read_json(path), where=str(path))
