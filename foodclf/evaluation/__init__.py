"""Stage 3, evaluation: optimizing metrics (accuracy, per class, confusion) and operational ones
(size, memory, latency, throughput), written to metrics.json.

``from foodclf.evaluation import evaluate`` works; the names load lazily, so importing a module
of this package (the handler imports ``operational``) does not import scikit-learn.
"""
import importlib

_LAZY = {"evaluate": "foodclf.evaluation.optimizing", "evaluate_predictor": "foodclf.evaluation.optimizing",
         "load_metrics": "foodclf.evaluation.optimizing"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'foodclf.evaluation' has no attribute '{name}'")
