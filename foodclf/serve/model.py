"""The model file of a foodclf TorchServe archive.

TorchServe imports this file from the unpacked archive and builds its only ``nn.Module``
class with no arguments, then loads ``model.pt`` (a plain FoodNet state_dict) into it. The
architecture comes from ``data_config.json``, which the archive packs next to this file.
"""
from pathlib import Path

from foodclf.data.data_config import DataConfig
from foodclf.models.backbones import create_backbone
from foodclf.models.net import FoodNet

DATA_CONFIG = Path(__file__).with_name("data_config.json")


class FoodModel(FoodNet):
    """FoodNet for the backbone and class count in data_config.json, random weights until loaded."""

    def __init__(self):
        config = DataConfig.load(DATA_CONFIG)
        super().__init__(create_backbone(config.backbone, "none"), config.num_classes)
