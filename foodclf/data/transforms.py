"""Transform presets (torchvision transforms v2), built from a DataConfig.

``TrainPreset`` is the report's Keras ``ImageDataGenerator`` augmentation; ``EvalPreset`` is
resize-only, done by Pillow and numpy (foodclf.data.preprocess, which the TorchServe handler uses
without torch). Both end with the config's normalisation, so what a model saw in training is what
evaluation and the TorchServe handler feed it.

Keras facts mirrored here: the image is first loaded at the target size, then
augmented; rotation ±1 degree, width/height shift ±10 %, shear 0.1 *degrees*, zoom drawn
separately for x and y in [0.9, 1.1], horizontal flip, and ``fill_mode='nearest'`` (edge pixels
repeat). torchvision's affine only fills with a constant, so we pad with edge pixels first,
transform, and crop the centre back out: the same picture as nearest fill.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from foodclf.data.data_config import DataConfig
from foodclf.data.preprocess import EvalArrays

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}


class RandomAnisotropicZoom(v2.Transform):
    """Keras ``zoom_range``: x and y zoom factors drawn apart from [1 - z, 1 + z].

    A factor below 1 zooms in (Keras maps output coordinates to input ones by multiplying),
    so the image is resized by 1 / factor along each axis. Follow it with a centre crop.
    """

    def __init__(self, zoom_range: float, interpolation: InterpolationMode = InterpolationMode.BILINEAR):
        super().__init__()
        self.zoom_range = zoom_range
        self.interpolation = interpolation

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        lo, hi = 1.0 - self.zoom_range, 1.0 + self.zoom_range
        zx, zy = (float(torch.empty(1).uniform_(lo, hi)) for _ in range(2))
        return {"zx": zx, "zy": zy}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        height, width = F.get_size(inpt)
        size = [max(1, round(height / params["zy"])), max(1, round(width / params["zx"]))]
        return F.resize(inpt, size, interpolation=self.interpolation, antialias=True)


class TrainPreset:
    """The report's training augmentation at the config's size, then normalisation."""

    def __init__(
        self,
        config: DataConfig,
        rotation_degrees: float = 1.0,
        shift: float = 0.1,
        shear_degrees: float = 0.1,
        zoom: float = 0.1,
        hflip: bool = True,
    ):
        size = config.image_size
        interpolation = INTERPOLATION_MODES[config.interpolation]
        # Enough edge padding that shift + zoom-out + rotation never reach past it.
        pad = math.ceil(size * (shift + zoom + 0.05)) + 1
        padded = size + 2 * pad
        steps: list[Any] = [
            v2.ToImage(),
            v2.Resize((size, size), interpolation=interpolation, antialias=True),
            v2.Pad(pad, padding_mode="edge"),
            v2.RandomAffine(
                degrees=rotation_degrees,
                translate=(shift * size / padded, shift * size / padded),
                shear=(-shear_degrees, shear_degrees),
                interpolation=interpolation,
            ),
            RandomAnisotropicZoom(zoom, interpolation),
            v2.CenterCrop(size),
        ]
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(config.mean, config.std)]
        self.transforms = v2.Compose(steps)

    def __call__(self, image: Any) -> torch.Tensor:
        return self.transforms(image)


class EvalPreset:
    """Resize to image_size x image_size (no crop, as Keras' flow_from_directory), normalise: the
    Pillow + numpy implementation of foodclf.data.preprocess.EvalArrays, as a torch tensor."""

    def __init__(self, config: DataConfig):
        self.image_size = config.image_size
        self.arrays = EvalArrays(config)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(self.arrays(image))

    def from_bytes(self, data: bytes, max_pixels: int, min_side: int) -> torch.Tensor:
        """EvalArrays.from_bytes (the TorchServe handler's decoding) as a tensor."""
        return torch.from_numpy(self.arrays.from_bytes(data, max_pixels=max_pixels, min_side=min_side))
