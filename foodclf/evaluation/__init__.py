"""Stage 3, evaluation: optimizing metrics (accuracy, per class, confusion) and operational ones
(size, memory, latency, throughput), written to metrics.json.

  options.py       EvalOptions: the options of an evaluation, their defaults and checks
  optimizing.py    predictions over a split; accuracy, loss, per class, confusion matrix
  operational.py   disk, memory (fresh process), latency, throughput
  figures.py       the confusion-matrix figure
  metrics_file.py  metrics.json (the Metrics contract) and the PNG: assembling, writing, reading, summary
  evaluator.py     evaluate (a run directory) and evaluate_predictor (any model format)

``from foodclf.evaluation import evaluate`` works (the module is evaluator.py, so that the package's
``evaluate`` is always the function); the names load lazily, so importing a module
of this package (the handler imports ``operational``) does not import scikit-learn.
"""
import importlib

_LAZY = {
    "evaluate": "foodclf.evaluation.evaluator",
    "evaluate_predictor": "foodclf.evaluation.evaluator",
    "EvalOptions": "foodclf.evaluation.options",
    "optimizing_metrics": "foodclf.evaluation.optimizing",
    "Metrics": "foodclf.contracts.metrics",
    "METRICS_FILE": "foodclf.contracts.metrics",
    "read_metrics": "foodclf.contracts.metrics",
    "CONFUSION_MATRIX_FILE": "foodclf.evaluation.metrics_file",
    "format_summary": "foodclf.evaluation.metrics_file",
    "load_metrics": "foodclf.evaluation.metrics_file",
    "write_metrics": "foodclf.evaluation.metrics_file",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'foodclf.evaluation' has no attribute '{name}'")
