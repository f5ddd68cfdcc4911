"""Optimizing metrics against hand-computed values, and predictions over a split in order."""
from __future__ import annotations

import math

import pytest
import torch

from foodclf.evaluation.optimizing import optimizing_metrics, predict_split

# A fixed prediction set: 8 images of classes A, B, C; D is predicted once but never appears,
# E neither appears nor is predicted. The predicted class gets probability 0.6, the others 0.1.
CLASSES = ["A", "B", "C", "D", "E"]
TARGETS = [0, 0, 0, 1, 1, 2, 2, 2]
PREDICTED = [0, 0, 1, 1, 3, 2, 2, 2]
PROBABILITIES = torch.full((8, 5), 0.1).scatter_(1, torch.tensor(PREDICTED)[:, None], 0.6)
# 6 right (p = 0.6 for the true class), 2 wrong (p = 0.1).
EXPECTED_LOSS = -(6 * math.log(0.6) + 2 * math.log(0.1)) / 8


# ----------------------------------------------------------------------------- hand-computed metrics

@pytest.mark.parametrize("scores, from_logits", [(PROBABILITIES, False), (PROBABILITIES.log(), True)],
                         ids=["probabilities", "logits"])
def test_optimizing_metrics_match_hand_computed_values(scores, from_logits):
    m = optimizing_metrics(TARGETS, scores, CLASSES, bad_threshold=0.8, from_logits=from_logits)
    assert m.accuracy == pytest.approx(6 / 8)
    assert m.loss == pytest.approx(EXPECTED_LOSS, rel=1e-6)
    assert m.confusion_matrix == [
        [2, 1, 0, 0, 0],
        [0, 1, 0, 1, 0],
        [0, 0, 3, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]
    rows = {c.name: c for c in m.per_class}
    assert [c.support for c in m.per_class] == [3, 2, 3, 0, 0]
    assert rows["A"].accuracy == pytest.approx(2 / 3) and rows["A"].recall == pytest.approx(2 / 3)
    assert rows["A"].precision == pytest.approx(1.0) and rows["A"].f1 == pytest.approx(0.8)
    assert rows["B"].accuracy == pytest.approx(0.5) and rows["B"].precision == pytest.approx(0.5)
    assert rows["B"].f1 == pytest.approx(0.5)
    assert (rows["C"].accuracy, rows["C"].precision, rows["C"].f1) == (1.0, 1.0, 1.0)
    # D never appears but was predicted once: accuracy undefined, precision and F1 zero.
    assert (rows["D"].accuracy, rows["D"].recall, rows["D"].precision, rows["D"].f1) == (None, None, 0.0, 0.0)
    # E never appears and was never predicted: nothing is defined.
    assert (rows["E"].accuracy, rows["E"].recall, rows["E"].precision, rows["E"].f1) == (None, None, None, None)
    # Bad classes: below the threshold, lowest first; classes without images are never listed.
    assert [(b.name, round(b.accuracy, 4)) for b in m.bad_classes] == [("B", 0.5), ("A", 0.6667)]


def test_bad_classes_are_strictly_below_the_threshold():
    at_half = optimizing_metrics(TARGETS, PROBABILITIES, CLASSES, bad_threshold=0.5, from_logits=False)
    assert at_half.bad_classes == []  # B is exactly 0.5: not below
    at_one = optimizing_metrics(TARGETS, PROBABILITIES, CLASSES, bad_threshold=1.0, from_logits=False)
    assert [b.name for b in at_one.bad_classes] == ["B", "A"]  # C at 1.0 is not below
    assert at_one.bad_threshold == 1.0


def test_zero_probability_gives_a_finite_loss():
    probabilities = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    m = optimizing_metrics([1, 1], probabilities, ["x", "y"], from_logits=False)
    assert math.isfinite(m.loss) and m.loss > 10


def test_optimizing_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="5 classes"):
        optimizing_metrics(TARGETS, PROBABILITIES[:, :4], CLASSES)
    with pytest.raises(ValueError, match="targets"):
        optimizing_metrics(TARGETS[:7], PROBABILITIES, CLASSES)


def test_predict_split_keeps_the_dataset_order_across_batches():
    images = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1, 1)
    dataset = [(image, int(i) % 3) for i, image in enumerate(images)]
    targets, logits = predict_split(lambda batch: batch.flatten(1).repeat(1, 3), dataset, batch_size=4,
                                    progress=False)
    assert targets.tolist() == [i % 3 for i in range(10)]
    assert logits[:, 0].tolist() == list(range(10)) and logits.shape == (10, 3)
