"""Data-parallel training on CPU (2 processes, gloo) through the train command: both phases of
the recipe, one writer, epoch figures of the whole validation set on every rank, and a run
killed mid-way (every rank at once) that --resume finishes as if nothing had happened."""
import socket
import subprocess
import sys

import pytest
import torch
from torch.nn import functional as F
from train_support import kill_after_rows

from foodclf import EvalPreset, load_run
from foodclf.data.datasets import FoodImageDataset, list_split
from foodclf.models.net import create_model
from foodclf.training.history import read_history

DDP = ["--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--workers", "0", "--no-progress"]
EPOCHS = [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]  # (phase, epoch) of every history row


def train_command(data, out, weights) -> list[str]:
    """Two phases of two epochs (a weights file, so the frozen-backbone recipe runs), 32 px."""
    return [sys.executable, "-m", "foodclf", "train", "--data", str(data), "--out", str(out),
            "--backbone", "baseline", "--weights", str(weights), "--epochs", "2", "--finetune-epochs", "2",
            "--image-size", "32", "--batch-size", "8", *DDP]


def check_output(result: subprocess.CompletedProcess) -> None:
    """Exit 0, no error, and no warning that a logged figure was left unsynchronised across ranks."""
    assert result.returncode == 0, result.stderr[-3000:]
    assert "error" not in result.stderr.lower().replace("stderr", ""), result.stderr[-3000:]
    assert "sync_dist" not in result.stdout + result.stderr, result.stderr[-3000:]


def validation_figures(run, data_dir) -> tuple[float, float]:
    """(loss, accuracy) of the run's model.pt over the whole validation split."""
    dataset = FoodImageDataset(list_split(data_dir, "validation").samples, EvalPreset(run.data_config))
    images, labels = zip(*(dataset[i] for i in range(len(dataset))))
    with torch.inference_mode():
        logits = run.load_model()(torch.stack(images))
    labels = torch.tensor(labels)
    return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()


def assert_same_training(out, reference_dir) -> None:
    """Every epoch once, with the reference's figures, and the same model.pt (which loads)."""
    mine, reference = read_history(out / "history.csv"), read_history(reference_dir / "history.csv")
    assert [(r["phase"], r["epoch"]) for r in mine] == EPOCHS
    for row, theirs in zip(mine, reference):
        for column in ("lr", "train_loss", "train_acc", "val_loss", "val_acc"):
            assert float(row[column]) == pytest.approx(float(theirs[column]), rel=1e-4, abs=1e-6), (row, column)
    expected = torch.load(reference_dir / "model.pt", weights_only=True)
    actual = load_run(out).load_model().state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "pretrained.pt"
    torch.save(create_model("baseline", 11).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def uninterrupted(sample_data, weights):
    """An uninterrupted 2-process run: its directory and the command's output."""
    out = weights.parent / "uninterrupted"
    result = subprocess.run(train_command(sample_data, out, weights), capture_output=True, text=True,
                            timeout=900, cwd=weights.parent)
    return out, result


@pytest.mark.slow
def test_two_process_ddp_trains_both_phases_with_whole_set_figures(uninterrupted, sample_data):
    out, result = uninterrupted
    check_output(result)
    history = read_history(out / "history.csv")
    assert [(r["phase"], r["epoch"]) for r in history] == EPOCHS
    run = load_run(out)
    best = min(history, key=lambda r: float(r["val_loss"]))
    loss, accuracy = validation_figures(run, sample_data)
    assert float(best["val_loss"]) == pytest.approx(loss, rel=1e-4)
    assert float(best["val_acc"]) == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.slow
def test_a_killed_ddp_run_resumes_under_ddp_to_the_uninterrupted_result(uninterrupted, sample_data, weights,
                                                                         tmp_path):
    reference_dir, _ = uninterrupted
    out = tmp_path / "killed"
    # After the second row: last.ckpt holds epoch 1 at least (the first row can come before any
    # checkpoint, leaving nothing to resume), and the kill lands before or after epoch 2's.
    kill_after_rows(train_command(sample_data, out, weights), out / "history.csv", 2, cwd=tmp_path)
    assert not (out / "model.pt").exists()

    result = subprocess.run([sys.executable, "-m", "foodclf", "train", "--out", str(out), "--resume", *DDP],
                            capture_output=True, text=True, timeout=900, cwd=tmp_path)
    check_output(result)

    assert_same_training(out, reference_dir)


@pytest.mark.slow
def test_two_torchrun_nodes_train_as_the_lightning_launched_run(uninterrupted, sample_data, weights, tmp_path):
    """docs/training.md's multi-machine launch, as two one-process "machines" on this host."""
    reference_dir, _ = uninterrupted
    out = tmp_path / "torchrun"
    command = train_command(sample_data, out, weights)
    train_args = command[command.index("train"):]
    train_args[train_args.index("--devices") + 1] = "1"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    logs = [(tmp_path / f"node{rank}.out", tmp_path / f"node{rank}.err") for rank in (0, 1)]
    nodes = []
    for rank, (stdout, stderr) in enumerate(logs):
        with stdout.open("w") as out_file, stderr.open("w") as err_file:
            nodes.append(subprocess.Popen(
                [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                 "--node-rank", str(rank), "--master-addr", "127.0.0.1", "--master-port", str(port),
                 "-m", "foodclf", *train_args, "--num-nodes", "2"],
                stdout=out_file, stderr=err_file, cwd=tmp_path))
    for node, (stdout, stderr) in zip(nodes, logs):
        returncode = node.wait(timeout=900)
        check_output(subprocess.CompletedProcess(node.args, returncode, stdout.read_text(), stderr.read_text()))
    assert_same_training(out, reference_dir)
