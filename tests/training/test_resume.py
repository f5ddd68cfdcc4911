"""A run killed with SIGKILL resumes exactly where it stopped: every epoch runs once, and the
result equals an uninterrupted run with the same seed."""
import csv
import json
import subprocess
import sys

import pytest
import torch
from train_support import kill_after_rows

from foodclf import load_run
from foodclf.training.history import read_history

# Two phases (--unfreeze all after a frozen-backbone phase), no early stopping: 12 epochs in all.
OPTIONS = dict(backbone="baseline", weights="none", unfreeze="all", epochs=7, finetune_epochs=5, lr=1.0,
               finetune_lr=1e-3, patience=50, image_size=32, batch_size=16, workers=0, seed=7)


def cli_args(data, out) -> list[str]:
    args = ["--data", str(data), "--out", str(out), "--no-progress"]
    for name, value in OPTIONS.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def first_worse_epoch(history: list[dict]) -> int:
    """The 0-based row index of the first epoch whose validation loss was above an earlier one."""
    best = float("inf")
    for index, row in enumerate(history):
        if float(row["val_loss"]) > best:
            return index
        best = min(best, float(row["val_loss"]))
    raise AssertionError("no epoch got worse: choose options that overfit")


@pytest.fixture(scope="module")
def uninterrupted(sample_data, tmp_path_factory):
    """The same command, never killed. A process of its own like the killed one: the test process's
    torch thread count (which other tests change) would change the sums' order, and the figures."""
    out = tmp_path_factory.mktemp("resume") / "uninterrupted"
    subprocess.run([sys.executable, "-m", "foodclf", "train", *cli_args(sample_data, out)], check=True,
                   capture_output=True, timeout=600)
    return load_run(out)


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_uninterrupted_result(uninterrupted, sample_data, tmp_path):
    reference = read_history(uninterrupted.run_dir / "history.csv")
    assert [(r["phase"], r["epoch"]) for r in reference] == [("1", str(e)) for e in range(1, 8)] + \
        [("2", str(e)) for e in range(1, 6)]
    worse = first_worse_epoch(reference)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "foodclf", "train", *cli_args(sample_data, out)]
    kill_after_rows(command, out / "history.csv", worse + 1)
    assert not (out / "model.pt").exists()

    subprocess.run([sys.executable, "-m", "foodclf", "train", "--out", str(out), "--resume", "--no-progress",
                    "--workers", "0"], check=True, capture_output=True, timeout=600)

    resumed = read_history(out / "history.csv")
    assert [(r["phase"], r["epoch"]) for r in resumed] == [(r["phase"], r["epoch"]) for r in reference]
    for mine, theirs in zip(resumed, reference):
        for column in ("lr", "train_loss", "train_acc", "val_loss", "val_acc"):
            assert float(mine[column]) == pytest.approx(float(theirs[column]), rel=1e-4, abs=1e-6), (mine, column)
    expected = torch.load(uninterrupted.model_path, weights_only=True)
    actual = torch.load(out / "model.pt", weights_only=True)
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=1e-4, atol=1e-5)
    assert load_run(out).classes == uninterrupted.classes
    json.loads((out / "config.json").read_text())
    with open(out / "history.csv") as f:
        assert len(list(csv.reader(f))) == len(reference) + 1
    for name in ("best.ckpt", "last.ckpt"):
        assert "state_dict" in torch.load(out / name, map_location="cpu", weights_only=False)


def test_last_ckpt_is_the_last_epoch_not_the_best(uninterrupted):
    """last.ckpt is written every epoch: it holds the final epoch even when that was not the best."""
    last = torch.load(uninterrupted.run_dir / "last.ckpt", map_location="cpu", weights_only=False)
    assert (last["foodclf"]["phase"], last["epoch"]) == (1, OPTIONS["finetune_epochs"] - 1)
