"""FoodNet: a backbone, global average pooling and one Linear layer (Keras ``pooling='avg'`` +
``Dense(num_classes)``). Its state_dict has ``backbone.*`` and ``head.*`` keys and nothing else,
which is what ``model.pt`` holds and what TorchServe loads.
"""
from __future__ import annotations

import os

import torch
from torch import nn

from foodclf.data.data_config import DataConfig
from foodclf.models.backbones import Backbone, create_backbone


class FoodNet(nn.Module):
    def __init__(self, backbone: Backbone, num_classes: int):
        super().__init__()
        self.backbone = backbone.features
        self.head = nn.Linear(backbone.num_features, num_classes)
        # Module names (inside ``backbone``) that the recipe unfreezes in phase 2.
        self.tail_names = list(backbone.tail)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.backbone(images)
        if features.ndim == 4:  # torchvision bases give a map; timm ones are already pooled
            features = features.mean(dim=(2, 3))
        return self.head(features)

    def tail_modules(self) -> list[nn.Module]:
        return [self.backbone.get_submodule(name) for name in self.tail_names]


def create_model(backbone: str, num_classes: int, weights: str | os.PathLike = "none") -> FoodNet:
    return FoodNet(create_backbone(backbone, weights), num_classes)


def default_data_config(backbone: str, num_classes: int, image_size: int | None = None) -> DataConfig:
    """The backbone's own preprocessing facts, at ``image_size`` if given."""
    spec = create_backbone(backbone, "none")
    return DataConfig(backbone=backbone, num_classes=num_classes, image_size=image_size or spec.image_size,
                      interpolation=spec.interpolation, mean=spec.mean, std=spec.std)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
