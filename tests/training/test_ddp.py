"""Data-parallel training on CPU (2 processes, gloo) through the train command: both phases of
the recipe, one writer, and epoch figures of the whole validation set on every rank."""
import subprocess
import sys

import pytest
import torch
from torch.nn import functional as F

from foodclf import EvalPreset, load_run
from foodclf.data.datasets import FoodImageDataset, list_split
from foodclf.models.net import create_model
from foodclf.training.history import read_history


def validation_figures(run, data_dir) -> tuple[float, float]:
    """(loss, accuracy) of the run's model.pt over the whole validation split."""
    dataset = FoodImageDataset(list_split(data_dir, "validation").samples, EvalPreset(run.data_config))
    images, labels = zip(*(dataset[i] for i in range(len(dataset))))
    with torch.inference_mode():
        logits = run.load_model()(torch.stack(images))
    labels = torch.tensor(labels)
    return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()


@pytest.mark.slow
def test_two_process_ddp_trains_both_phases_with_whole_set_figures(sample_data, tmp_path):
    weights = tmp_path / "pretrained.pt"
    torch.save(create_model("baseline", 11).state_dict(), weights)  # a weights file: the two-phase recipe runs
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "foodclf", "train", "--data", str(sample_data), "--out", str(out),
               "--backbone", "baseline", "--weights", str(weights), "--epochs", "2", "--finetune-epochs", "2",
               "--image-size", "32", "--batch-size", "8", "--workers", "0", "--no-progress",
               "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "error" not in result.stderr.lower().replace("stderr", ""), result.stderr[-3000:]
    history = read_history(out / "history.csv")
    assert [(r["phase"], r["epoch"]) for r in history] == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]
    run = load_run(out)
    best = min(history, key=lambda r: float(r["val_loss"]))
    loss, accuracy = validation_figures(run, sample_data)
    assert float(best["val_loss"]) == pytest.approx(loss, rel=1e-4)
    assert float(best["val_acc"]) == pytest.approx(accuracy, abs=1e-6)
