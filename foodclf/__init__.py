"""foodclf: food image classifiers from training to autoscaled serving.

The stages, each a module with one job (see README.md for the files they write):
training (``train``), evaluation, archiving for TorchServe, load tests, HPA simulation and
comparison.
"""
import logging

from foodclf.backbones import create_backbone, list_backbones
from foodclf.data_config import DataConfig
from foodclf.datamodule import FoodDataModule, discover_classes
from foodclf.datasets import FOOD11_CLASSES, list_split
from foodclf.errors import DatasetError, FoodclfError, RunDirError, SchemaError, WeightsError
from foodclf.models import FoodNet, create_model, default_data_config
from foodclf.runs import Run, load_run
from foodclf.sample import make_sample
from foodclf.training import TrainConfig, train
from foodclf.transforms import EvalPreset, TrainPreset

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
__all__ = [
    "FOOD11_CLASSES", "DataConfig", "DatasetError", "EvalPreset", "FoodDataModule", "FoodNet",
    "FoodclfError", "Run", "RunDirError", "SchemaError", "TrainConfig", "TrainPreset", "WeightsError",
    "create_backbone", "create_model", "default_data_config", "discover_classes", "list_backbones",
    "list_split", "load_run", "make_sample", "train",
]
