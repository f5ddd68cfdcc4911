"""The optimizing metrics (the report's): how well a model classifies a split. ``predict_split``
runs any predictor over a dataset; ``optimizing_metrics`` turns its predictions into accuracy,
loss, per-class figures, the bad classes and the confusion matrix.

Metric choices (also in docs/evaluate.md):
- per-class accuracy is the diagonal of the row-normalised confusion matrix, i.e. the recall;
- a class with no image in the split (support 0) has accuracy and recall ``null``; its precision
  and F1 are 0.0 when the model predicted it (all false positives), else ``null`` (scikit-learn
  with ``zero_division=nan``, NaN written as null: JSON holds no NaN); it is never in
  ``bad_classes`` (there is nothing to judge it on);
- a class is *bad* when its accuracy is strictly below ``bad_threshold``; the list is sorted by
  accuracy, lowest first;
- loss is the mean cross-entropy over all images (natural log).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from foodclf.contracts.metrics import BadClass, ClassMetrics, OptimizingMetrics
from foodclf.evaluation.operational import Predictor


def optimizing_metrics(
    targets: Sequence[int] | np.ndarray | torch.Tensor,
    scores: np.ndarray | torch.Tensor,
    classes: Sequence[str],
    bad_threshold: float = 0.8,
    from_logits: bool = True,
) -> OptimizingMetrics:
    """The optimizing metrics of predictions: ``scores`` (N, classes) are logits, or probabilities
    when ``from_logits`` is False; ``targets`` (N,) are the true class indices."""
    scores = torch.as_tensor(scores, dtype=torch.float32)
    targets = torch.as_tensor(targets, dtype=torch.long)
    _check_predictions(targets, scores, classes)
    if from_logits:
        loss = F.cross_entropy(scores, targets)
    else:
        # Clamped so that a zero probability for the true class gives a large loss, not inf.
        loss = F.nll_loss(torch.log(scores.clamp_min(torch.finfo(scores.dtype).tiny)), targets)
    y_true, y_pred = targets.numpy(), scores.argmax(dim=1).numpy()
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=np.nan)
    per_class = [
        ClassMetrics(name=name, support=int(n), accuracy=_number(r), precision=_number(p), recall=_number(r),
                     f1=_number(f))
        for name, p, r, f, n in zip(classes, precision, recall, f1, support)
    ]
    bad = [BadClass(c.name, c.accuracy) for c in per_class if c.accuracy is not None and c.accuracy < bad_threshold]
    return OptimizingMetrics(
        accuracy=float(accuracy_score(y_true, y_pred)),
        loss=float(loss),
        bad_threshold=float(bad_threshold),
        per_class=per_class,
        bad_classes=sorted(bad, key=lambda b: b.accuracy),  # stable: ties keep class order
        confusion_matrix=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    )


def _check_predictions(targets: torch.Tensor, scores: torch.Tensor, classes: Sequence[str]) -> None:
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise ValueError(f"scores must be (images, {len(classes)} classes), got {tuple(scores.shape)}")
    if targets.ndim != 1 or len(targets) != len(scores):
        raise ValueError(f"targets must be ({len(scores)},), got {tuple(targets.shape)}")
    if len(targets) == 0:
        raise ValueError("no predictions to evaluate")
    if targets.min() < 0 or targets.max() >= len(classes):
        raise ValueError(f"targets must be class indices in 0..{len(classes) - 1}")


def _number(value: float) -> float | None:
    """NaN (sklearn's "undefined" with zero_division=nan) becomes None: JSON null."""
    return None if math.isnan(value) else float(value)


def predict_split(predict: Predictor, dataset: Dataset, batch_size: int = 32, workers: int = 0,
                  progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(true labels (N,), logits (N, classes)) of every image of ``dataset``, in order."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    targets, outputs = [], []
    with torch.inference_mode():
        for images, labels in tqdm(loader, desc="evaluating", unit="batch", disable=not progress):
            outputs.append(torch.as_tensor(predict(images)).float())
            targets.append(labels)
    return torch.cat(targets), torch.cat(outputs)
