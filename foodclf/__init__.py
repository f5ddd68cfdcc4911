"""foodclf: food image classifiers from training to autoscaled serving.

The stages, each a module with one job (see README.md and docs/contracts.md for the files they
write): training (``train``), evaluation (``evaluate``), archiving for TorchServe, load tests,
HPA simulation and comparison (``compare``).

Names are imported lazily: ``import foodclf`` stays cheap, and a script or a TorchServe worker
pays for Lightning only when it trains.
"""
import importlib
import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

_EXPORTS = {
    "foodclf.backbones": ("create_backbone", "list_backbones"),
    "foodclf.data_config": ("DataConfig",),
    "foodclf.datamodule": ("FoodDataModule", "discover_classes"),
    "foodclf.datasets": ("FOOD11_CLASSES", "list_split"),
    "foodclf.errors": ("DatasetError", "FoodclfError", "RunDirError", "SchemaError", "WeightsError"),
    "foodclf.models": ("FoodNet", "create_model", "default_data_config"),
    "foodclf.runs": ("Run", "load_run"),
    "foodclf.sample": ("make_sample",),
    "foodclf.training": ("TrainConfig", "train"),
    "foodclf.transforms": ("EvalPreset", "TrainPreset"),
    "foodclf.evaluation": ("Metrics", "evaluate", "evaluate_predictor", "load_metrics", "optimizing_metrics"),
    "foodclf.archive": ("archive_run",),
    "foodclf.serving": ("ServeError", "TorchServe"),
    "foodclf.loadtest": ("load_loadtest", "run_capacity", "run_loadtest"),
    "foodclf.hpa": ("load_simulation", "simulate"),
    "foodclf.compare": ("compare",),
    "foodclf.export": ("ExportError", "FORMATS", "export_variants"),
    "foodclf.predictors": ("load_predictor",),
    "foodclf.profiles": ("CHALLENGE_PROFILE", "Stage"),
    "foodclf.manifests": ("load_deployment",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'foodclf' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + __all__)
