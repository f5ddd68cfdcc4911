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
    "foodclf.models.backbones": ("create_backbone", "list_backbones"),
    "foodclf.data.data_config": ("DataConfig",),
    "foodclf.data.datamodule": ("FoodDataModule", "discover_classes"),
    "foodclf.data.datasets": ("FOOD11_CLASSES", "list_split"),
    "foodclf.errors": ("DatasetError", "FoodclfError", "RunDirError", "SchemaError", "WeightsError"),
    "foodclf.models.net": ("FoodNet", "create_model", "default_data_config"),
    "foodclf.training.runs": ("Run", "load_run"),
    "foodclf.data.sample": ("make_sample",),
    "foodclf.training.config": ("TrainConfig",),
    "foodclf.training.recipe": ("train",),
    "foodclf.data.transforms": ("EvalPreset", "TrainPreset"),
    "foodclf.evaluation": ("Metrics", "evaluate", "evaluate_predictor", "load_metrics", "optimizing_metrics"),
    "foodclf.serve.archive": ("archive_run",),
    "foodclf.serve.server": ("ServeError", "TorchServe"),
    "foodclf.loadtest.runner": ("run_capacity", "run_loadtest"),
    "foodclf.loadtest.files": ("load_loadtest",),
    "foodclf.deploy.simulation": ("simulate",),
    "foodclf.deploy.results": ("load_simulation",),
    "foodclf.report.compare": ("compare",),
    "foodclf.export.variants": ("ExportError", "FORMATS", "export_variants"),
    "foodclf.models.predictors": ("load_predictor",),
    "foodclf.loadtest.profiles": ("CHALLENGE_PROFILE", "Stage"),
    "foodclf.deploy.manifests": ("load_deployment",),
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
