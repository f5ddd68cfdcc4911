import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image

from foodclf import TrainConfig, load_run, train
from foodclf.data.datasets import FoodImageDataset, list_split
from foodclf.data.transforms import EvalPreset
from foodclf.errors import RunDirError
from foodclf.models.net import create_model

REPO = Path(__file__).resolve().parents[2]


def _history(run_dir):
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


def _accuracy(run, data_dir):
    model = run.load_model()
    dataset = FoodImageDataset(list_split(data_dir, "evaluation").samples, EvalPreset(run.data_config))
    images, labels = zip(*(dataset[i] for i in range(len(dataset))))
    with torch.no_grad():
        predictions = model(torch.stack(images)).argmax(1)
    return (predictions == torch.tensor(labels)).float().mean().item()


def test_run_directory_holds_everything_later_stages_need(trained_run):
    run_dir = trained_run.run_dir
    for name in ("best.ckpt", "last.ckpt", "model.pt", "data_config.json", "classes.json", "config.json",
                 "history.csv"):
        assert (run_dir / name).is_file(), name
    state = torch.load(run_dir / "model.pt", weights_only=True)
    assert {k.split(".")[0] for k in state} == {"backbone", "head"}  # no Lightning "model." prefix
    config = json.loads((run_dir / "config.json").read_text())
    assert config["phases"] == [{"trainable": "all", "max_epochs": 6, "lr": 1e-3}]  # --weights none: one phase
    assert json.loads((run_dir / "classes.json").read_text())[1] == "Dairy product"
    assert [row["epoch"] for row in _history(run_dir)] == [str(e) for e in range(1, 7)]


def test_tiny_training_run_beats_chance(trained_run, sample_data):
    assert _accuracy(trained_run, sample_data) > 3 / 11  # chance is 1/11


def test_recipe_freezes_then_fine_tunes_only_the_tail(sample_data, tmp_path):
    initial = create_model("mobilenet_v2", 11)
    weights = tmp_path / "pretrained.pt"
    torch.save(initial.state_dict(), weights)  # stands in for ImageNet weights (none can be downloaded here)
    config = TrainConfig(data=str(sample_data), out=str(tmp_path / "run"), backbone="mobilenet_v2",
                         weights=str(weights), epochs=1, finetune_epochs=1, image_size=32, batch_size=32, workers=0,
                         progress=False)
    run = train(config)
    assert [(r["phase"], r["trainable"]) for r in _history(run.run_dir)] == [("1", "head"), ("2", "tail")]
    # last.ckpt holds the end of phase 2 (model.pt is the best epoch, which may be phase 1's).
    last = torch.load(run.run_dir / "last.ckpt", weights_only=False)["state_dict"]
    trained = {k.removeprefix("model."): v for k, v in last.items() if k.startswith("model.")}
    tail = tuple(f"backbone.{name}." for name in run.load_model().tail_names)
    for name, before in initial.state_dict().items():
        if name.startswith("backbone.") and not name.startswith(tail):
            assert torch.equal(before, trained[name]), f"{name} should have stayed frozen"
    assert not torch.equal(initial.state_dict()["backbone.18.0.weight"], trained["backbone.18.0.weight"])


class _CrashAtEpoch(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_resume_continues_an_interrupted_run(sample_data, tmp_path):
    config = TrainConfig(data=str(sample_data), out=str(tmp_path / "run"), backbone="baseline", weights="none",
                         epochs=3, image_size=24, batch_size=32, workers=0, progress=False, patience=10)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, callbacks=[_CrashAtEpoch(2)])
    assert not (tmp_path / "run" / "model.pt").exists()  # an unfinished run is not a finished one
    with pytest.raises(RunDirError, match="missing model.pt"):
        load_run(tmp_path / "run")
    with pytest.raises(RunDirError, match="--resume"):
        train(config)
    run = train(config, resume=True)
    assert [row["epoch"] for row in _history(run.run_dir)] == ["1", "2", "3"]
    assert run.model_path.is_file()


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(RunDirError, match="nothing to resume"):
        train(TrainConfig(data="x", out=str(tmp_path)), resume=True)


def test_cli_trains_on_a_class_per_folder_dataset(tmp_path):
    for split, count in (("train", 6), ("val", 2), ("test", 2)):
        for i, name in enumerate(("cake", "salad")):
            folder = tmp_path / "photos" / split / name
            folder.mkdir(parents=True)
            for j in range(count):
                Image.new("RGB", (30, 20), (200 * i, 50 + j, 100)).save(folder / f"{j}.jpg")
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, str(REPO / "scripts/train.py"), "--data", str(tmp_path / "photos"),
                             "--out", str(out), "--backbone", "baseline", "--weights", "none", "--epochs", "1",
                             "--image-size", "16", "--workers", "0", "--no-progress"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "classes.json").read_text()) == ["cake", "salad"]
    assert load_run(out).data_config.num_classes == 2


def test_cli_bad_data_is_one_clear_line(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "scripts/train.py"), "--data", str(tmp_path),
                             "--out", str(tmp_path / "run"), "--backbone", "baseline", "--weights", "none"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "error:" in result.stderr and "training" in result.stderr and "Traceback" not in result.stderr
