"""The confusion-matrix figure: one drawing for the whole package (the evaluation's
confusion_matrix.png, which the comparison report copies)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from foodclf.io import atomic_save


def confusion_figure(matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str):
    """Counts with class names, rows = true class (scikit-learn's display on a pyplot-free Figure,
    so no GUI backend or global figure state is involved)."""
    import numpy as np
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(6.0, 0.6 * len(classes) + 3)
    figure = Figure(figsize=(size, size), layout="constrained")
    axes = figure.add_subplot()
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=list(classes)).plot(
        ax=axes, cmap="Blues", values_format="d", xticks_rotation="vertical", colorbar=False)
    axes.set_title(title)
    return figure


def save_confusion_matrix(path: str | os.PathLike, matrix: Sequence[Sequence[int]], classes: Sequence[str],
                          title: str) -> Path:
    """The confusion matrix as a PNG, written atomically."""
    figure = confusion_figure(matrix, classes, title)
    return atomic_save(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))
