"""Evaluation preprocessing with Pillow and numpy: resize to image_size x image_size (no crop, as
Keras' flow_from_directory), scale to [0, 1] and normalise with the config's mean and std.

The one implementation of it: evaluation, export calibration and benchmarks reach it through
foodclf.data.transforms.EvalPreset (which hands them a torch tensor); the TorchServe handler
calls it directly, so a worker serving an exported variant imports neither torch nor
torchvision. Pillow's resize filters are antialiased, like torchvision's ``antialias=True``.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from foodclf.data.data_config import DataConfig
from foodclf.data.images import open_rgb

RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


class EvalArrays:
    """An RGB image -> a float32 array (3, image_size, image_size), resized and normalised."""

    def __init__(self, config: DataConfig):
        self.image_size = config.image_size
        self.resample = RESAMPLING[config.interpolation]
        std = np.asarray(config.std, dtype=np.float32)
        # (pixel / 255 - mean) / std as one multiply-add per value
        self.scale = (1.0 / (255.0 * std)).reshape(3, 1, 1)
        self.offset = (-np.asarray(config.mean, dtype=np.float32) / std).reshape(3, 1, 1)

    def __call__(self, image: Image.Image) -> np.ndarray:
        if image.mode != "RGB":
            image = image.convert("RGB")
        size = (self.image_size, self.image_size)
        if image.size != size:
            image = image.resize(size, self.resample)
        pixels = np.asarray(image).transpose(2, 0, 1)  # HWC uint8 -> CHW
        return (pixels * self.scale + self.offset).astype(np.float32, copy=False)

    def from_bytes(self, data: bytes, max_pixels: int, min_side: int) -> np.ndarray:
        """What the TorchServe handler feeds the model for one request's bytes: open_rgb's checks,
        and a JPEG at least twice the model's size decoded in draft mode (scaled down by libjpeg,
        never below the model's size; docs/export.md gives the tolerance against a full decode)."""
        size = (self.image_size, self.image_size)
        return self(open_rgb(data, max_pixels=max_pixels, min_side=min_side, draft_size=size))
