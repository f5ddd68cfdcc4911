"""A real evaluation of the session's trained run: the files it writes, figures that agree with
the model and each other, and one clear error (with nothing written) for each kind of bad input."""
from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from eval_support import assert_nothing_written, copy_run
from PIL import Image

from foodclf.cli import run_cli
from foodclf.contracts.metrics import read_metrics
from foodclf.data.datamodule import FoodDataModule
from foodclf.errors import DatasetError, FoodclfError, RunDirError
from foodclf.evaluation.evaluator import evaluate, evaluate_predictor, load_eager_predictor
from foodclf.evaluation.metrics_file import CONFUSION_MATRIX_FILE, METRICS_FILE
from foodclf.machine import describe_machine
from foodclf.training.runs import load_run


def copy_split(sample_data: Path, dest: Path, split: str = "evaluation") -> Path:
    shutil.copytree(Path(sample_data) / split, dest / split)
    return dest


def test_evaluate_writes_metrics_and_confusion_matrix(evaluated, sample_data):
    run_dir, metrics = evaluated
    saved = read_metrics(run_dir)
    assert saved == metrics
    assert (run_dir / CONFUSION_MATRIX_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = saved.model
    assert (model.name, model.backbone, model.variant) == ("baseline", "baseline", "eager")
    assert model.model_file == "model.pt"
    assert model.parameters == sum(p.numel() for p in load_run(run_dir).load_model().parameters())
    assert saved.split == "evaluation"
    assert saved.dataset.path == str(Path(sample_data).resolve())
    assert saved.dataset.num_images == 44  # 4 images of each of the 11 classes
    assert saved.dataset.classes == load_run(run_dir).classes
    here = describe_machine()
    assert (saved.machine.cpu, saved.machine.isa, saved.machine.torch) == (here.cpu, here.isa, torch.__version__)


def test_evaluate_metrics_agree_with_the_model_and_each_other(evaluated, sample_data):
    run_dir, metrics = evaluated
    opt = metrics.optimizing
    matrix = torch.tensor(opt.confusion_matrix)
    assert matrix.sum() == 44 and matrix.sum(dim=1).tolist() == [4] * 11
    assert opt.accuracy == pytest.approx(matrix.trace().item() / 44)
    assert [c.support for c in opt.per_class] == [4] * 11
    for i, c in enumerate(opt.per_class):
        assert c.accuracy == pytest.approx(matrix[i, i].item() / 4)
    assert [b.name for b in opt.bad_classes] == [c.name for c in sorted(opt.per_class, key=lambda c: c.accuracy)
                                                 if c.accuracy < 0.8]
    # The same images through training's own data module give the same loss and accuracy.
    run = load_run(run_dir)
    model = run.load_model()
    loader = FoodDataModule(sample_data, run.data_config, batch_size=44).test_dataloader()
    with torch.inference_mode():
        images, labels = next(iter(loader))
        logits = model(images)
    assert opt.loss == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)
    assert opt.accuracy == pytest.approx((logits.argmax(1) == labels).float().mean().item())


def test_evaluate_operational_figures_are_positive_and_plausible(evaluated):
    run_dir, metrics = evaluated
    ops = metrics.operational
    assert ops.disk_mb == pytest.approx((run_dir / "model.pt").stat().st_size / 1e6, abs=1e-3)
    assert 0 < ops.memory_mb < 1000  # a 32-px baseline model
    assert ops.process_rss_mb > ops.memory_mb + 50  # the child's python and torch come on top
    assert ops.threads == 1
    assert ops.latency_ms.runs == 10
    assert 0 < ops.latency_ms.median <= ops.latency_ms.p95 <= ops.latency_ms.p99 < 10_000
    assert ops.throughput.batch_size == 8 and ops.throughput.runs == 2 and ops.throughput.images_per_s > 0


# ----------------------------------------------------------------------------- bad input

def test_bad_options_are_refused_before_the_model_is_loaded(tmp_path):
    with pytest.raises(FoodclfError, match="batch size must be at least 1"):
        evaluate(tmp_path / "no-run", tmp_path, batch_size=0)  # not "run directory not found"


def test_missing_run_file_is_one_clear_error(trained_run, sample_data, tmp_path):
    run_dir = copy_run(trained_run, tmp_path / "run")
    (run_dir / "classes.json").unlink()
    with pytest.raises(RunDirError, match="missing classes.json"):
        evaluate(run_dir, sample_data, progress=False)
    assert_nothing_written(run_dir)


def test_class_names_differing_from_the_model_are_named(trained_run, sample_data, tmp_path):
    run_dir = copy_run(trained_run, tmp_path / "run")
    classes = json.loads((run_dir / "classes.json").read_text())
    classes[1] = "Cheese"
    (run_dir / "classes.json").write_text(json.dumps(classes))
    with pytest.raises(DatasetError) as error:
        evaluate(run_dir, sample_data, progress=False)
    assert "missing ['Cheese']" in str(error.value)
    assert "unexpected ['Dairy product']" in str(error.value)
    assert str(run_dir / "classes.json") in str(error.value)
    assert_nothing_written(run_dir)


def test_class_count_differing_from_the_model_is_named(trained_run, tmp_path):
    run_dir = copy_run(trained_run, tmp_path / "run")
    for name in ("Bread", "Soup", "Sushi"):
        (tmp_path / "data" / "evaluation" / name).mkdir(parents=True)
        Image.new("RGB", (16, 16), "white").save(tmp_path / "data" / "evaluation" / name / "1.jpg")
    with pytest.raises(DatasetError, match="3 classes, expected 11") as error:
        evaluate(run_dir, tmp_path / "data", progress=False)
    assert "unexpected ['Sushi']" in str(error.value)
    assert_nothing_written(run_dir)


def test_empty_split_is_one_clear_error(trained_run, tmp_path):
    run_dir = copy_run(trained_run, tmp_path / "run")
    (tmp_path / "data" / "evaluation").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images found") as error:
        evaluate(run_dir, tmp_path / "data", progress=False)
    assert str(tmp_path / "data" / "evaluation") in str(error.value)
    assert_nothing_written(run_dir)


def test_unreadable_image_is_named(trained_run, sample_data, tmp_path):
    run_dir = copy_run(trained_run, tmp_path / "run")
    data = copy_split(sample_data, tmp_path / "data")
    broken = sorted((data / "evaluation").iterdir())[5]
    broken.write_bytes(b"not a jpeg at all")
    with pytest.raises(DatasetError, match="1 unreadable image") as error:
        evaluate(run_dir, data, progress=False)
    assert str(broken) in str(error.value)
    assert_nothing_written(run_dir)


def failing_predictor(run_dir):
    """The eager model, failing on its second batch: an evaluation interrupted half-way."""
    model, calls = load_eager_predictor(run_dir), []

    def predict(images):
        calls.append(len(images))
        if len(calls) == 2:
            raise RuntimeError("killed half-way")
        return model(images)
    return predict


def test_failure_half_way_leaves_the_previous_metrics_untouched(trained_run, sample_data, tmp_path):
    run = load_run(copy_run(trained_run, tmp_path / "run"))
    (run.run_dir / METRICS_FILE).write_text('{"previous": true}')
    with pytest.raises(RuntimeError, match="killed half-way"):
        evaluate_predictor(partial(failing_predictor, run.run_dir), run.model_path, run.run_dir, sample_data,
                           run.data_config, run.classes, batch_size=8, progress=False)
    assert (run.run_dir / METRICS_FILE).read_text() == '{"previous": true}'
    assert not (run.run_dir / CONFUSION_MATRIX_FILE).exists()


# ----------------------------------------------------------------------------- the command

def test_command_prints_one_line_on_bad_input(tmp_path, capsys, load_script):
    script = load_script("evaluate")
    code = run_cli(script.main, [str(tmp_path / "nowhere"), "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "run directory not found" in err and err.count("\n") == 1


def test_command_rejects_bad_options(trained_run, sample_data, tmp_path, capsys, load_script):
    script = load_script("evaluate")
    run_dir = copy_run(trained_run, tmp_path / "run")
    code = run_cli(script.main, [str(run_dir), "--data", str(sample_data), "--bad-threshold", "80"])
    assert code == 2 and "between 0 and 1" in capsys.readouterr().err
    assert_nothing_written(run_dir)
