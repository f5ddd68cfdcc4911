"""Evaluation: metrics against hand-computed values, metrics.json round trip and validation, and
the clear errors (with no metrics.json left behind) on bad input."""
from __future__ import annotations

import json
import math
import shutil
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from foodclf.data.datamodule import FoodDataModule
from foodclf.errors import DatasetError, RunDirError, SchemaError
from foodclf.evaluation.optimizing import (
    CONFUSION_MATRIX_FILE, METRICS_FILE, evaluate, evaluate_predictor, format_summary, load_eager_predictor,
    load_metrics, metrics_json, optimizing_metrics,
)
from foodclf.training.runs import REQUIRED_FILES, load_run

# A fixed prediction set: 8 images of classes A, B, C; D is predicted once but never appears,
# E neither appears nor is predicted. The predicted class gets probability 0.6, the others 0.1.
CLASSES = ["A", "B", "C", "D", "E"]
TARGETS = [0, 0, 0, 1, 1, 2, 2, 2]
PREDICTED = [0, 0, 1, 1, 3, 2, 2, 2]
PROBABILITIES = torch.full((8, 5), 0.1).scatter_(1, torch.tensor(PREDICTED)[:, None], 0.6)
# 6 right (p = 0.6 for the true class), 2 wrong (p = 0.1).
EXPECTED_LOSS = -(6 * math.log(0.6) + 2 * math.log(0.1)) / 8


def copy_run(run, dest: Path) -> Path:
    """The run's required files only: the shared fixture stays untouched, and no checkpoints are copied."""
    dest.mkdir(parents=True)
    for name in REQUIRED_FILES:
        shutil.copy(run.run_dir / name, dest / name)
    return dest


def copy_split(sample_data: Path, dest: Path, split: str = "evaluation") -> Path:
    shutil.copytree(Path(sample_data) / split, dest / split)
    return dest


def assert_nothing_written(run_dir: Path) -> None:
    assert not (run_dir / METRICS_FILE).exists()
    assert not (run_dir / CONFUSION_MATRIX_FILE).exists()
    assert not list(run_dir.glob(".*.tmp")) and not list(run_dir.glob(".*.png"))


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


# ----------------------------------------------------------------------------- a real evaluation

@pytest.fixture(scope="module")
def evaluated(trained_run, sample_data, tmp_path_factory):
    run_dir = copy_run(trained_run, tmp_path_factory.mktemp("eval") / "baseline")
    threads_before = torch.get_num_threads()
    metrics = evaluate(run_dir, sample_data, batch_size=8, latency_runs=10, threads=1, progress=False,
                       throughput_runs=2)
    assert torch.get_num_threads() == threads_before  # the thread setting does not leak
    return run_dir, metrics


def test_evaluate_writes_metrics_and_confusion_matrix(evaluated, sample_data):
    run_dir, metrics = evaluated
    saved = load_metrics(run_dir / METRICS_FILE)
    assert saved == json.loads(json.dumps(metrics.to_dict()))
    assert (run_dir / CONFUSION_MATRIX_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved["model"] == {"name": "baseline", "backbone": "baseline", "variant": "eager",
                              "model_file": "model.pt", "parameters": saved["model"]["parameters"]}
    assert saved["model"]["parameters"] == sum(p.numel() for p in load_run(run_dir).load_model().parameters())
    assert saved["split"] == "evaluation"
    assert saved["dataset"]["path"] == str(Path(sample_data).resolve())
    assert saved["dataset"]["num_images"] == 44  # 4 images of each of the 11 classes
    assert saved["dataset"]["classes"] == load_run(run_dir).classes


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
    assert ops.throughput.batch_size == 8 and ops.throughput.images_per_s > 0
    assert metrics.machine.cores >= 1 and metrics.machine.torch == torch.__version__


def test_summary_names_the_bad_classes(evaluated):
    _, metrics = evaluated
    summary = format_summary(metrics)
    assert f"accuracy {metrics.optimizing.accuracy:.2f}, loss {metrics.optimizing.loss:.2f}" in summary
    for bad in metrics.optimizing.bad_classes:
        assert f"{bad.name} ({bad.accuracy:.2f})" in summary
    assert "latency median" in summary and "1 threads" in summary
    assert format_summary(load_metrics(evaluated[0])) == summary


def test_metrics_json_holds_null_never_nan(evaluated):
    _, metrics = evaluated
    d = metrics.to_dict()
    d["optimizing"]["per_class"][0].update(accuracy=None, recall=None, precision=None, f1=None, support=0)
    text = metrics_json(d)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in metrics.json"))
    assert json.loads(text) == d
    assert '"confusion_matrix": [\n      [' in text  # one matrix row a line


# ----------------------------------------------------------------------------- load_metrics

def _mutations():
    def drop(section, key):
        return lambda d: d[section].pop(key)
    return {
        "operational: missing field 'memory_mb'": drop("operational", "memory_mb"),
        "optimizing: missing field 'loss'": drop("optimizing", "loss"),
        "top level: missing field 'machine'": lambda d: d.pop("machine"),
        "operational.latency_ms: missing field 'p99'": lambda d: d["operational"]["latency_ms"].pop("p99"),
        "optimizing.per_class[2]: field 'accuracy' must be": lambda d: d["optimizing"]["per_class"][2].update(
            accuracy="high"),
        "optimizing.bad_classes[0]: missing field 'accuracy'": lambda d: d["optimizing"].update(
            bad_classes=[{"name": "Bread"}]),
        "model: field 'parameters' must be": lambda d: d["model"].update(parameters="many"),
        "dataset: field 'num_images' must be int, got a boolean": lambda d: d["dataset"].update(num_images=True),
        "confusion_matrix must be 11 rows": lambda d: d["optimizing"]["confusion_matrix"].pop(),
        "per_class must list dataset.classes": lambda d: d["optimizing"]["per_class"].reverse(),
        "schema_version 2 is not supported": lambda d: d.update(schema_version=2),
        "operational: field 'process_rss_mb' must be": lambda d: d["operational"].update(process_rss_mb="a lot"),
    }


@pytest.mark.parametrize("message, mutate", list(_mutations().items()), ids=list(_mutations()))
def test_load_metrics_names_the_file_and_the_bad_field(evaluated, tmp_path, message, mutate):
    data = json.loads((evaluated[0] / METRICS_FILE).read_text())
    mutate(data)
    path = tmp_path / METRICS_FILE
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError) as error:
        load_metrics(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_load_metrics_accepts_contract_files_without_the_added_fields(evaluated, tmp_path):
    data = json.loads((evaluated[0] / METRICS_FILE).read_text())
    del data["operational"]["process_rss_mb"], data["operational"]["throughput"]["runs"]
    data["model"]["parameters"] = None
    (tmp_path / METRICS_FILE).write_text(json.dumps(data))
    assert load_metrics(tmp_path) == data  # a folder is read as its metrics.json


def test_load_metrics_rejects_missing_and_malformed_files(tmp_path):
    with pytest.raises(SchemaError, match="file not found"):
        load_metrics(tmp_path / METRICS_FILE)
    (tmp_path / METRICS_FILE).write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_metrics(tmp_path / METRICS_FILE)


# ----------------------------------------------------------------------------- bad input

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
    assert "not in the dataset: ['Cheese']" in str(error.value)
    assert "not known to the model: ['Dairy product']" in str(error.value)
    assert str(run_dir / "classes.json") in str(error.value)
    assert_nothing_written(run_dir)


def test_class_count_differing_from_the_model_is_named(trained_run, tmp_path):
    run_dir = copy_run(trained_run, tmp_path / "run")
    for name in ("Bread", "Soup", "Sushi"):
        (tmp_path / "data" / "evaluation" / name).mkdir(parents=True)
        Image.new("RGB", (16, 16), "white").save(tmp_path / "data" / "evaluation" / name / "1.jpg")
    with pytest.raises(DatasetError, match="the dataset has 3 classes, the model 11") as error:
        evaluate(run_dir, tmp_path / "data", progress=False)
    assert "Sushi" in str(error.value)
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


def test_script_prints_one_line_on_bad_input(trained_run, tmp_path, capsys, load_script):
    script = load_script("evaluate")
    from foodclf.cli import run_cli
    code = run_cli(script.main, [str(tmp_path / "nowhere"), "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "run directory not found" in err and err.count("\n") == 1


def test_script_rejects_bad_options(trained_run, sample_data, tmp_path, capsys, load_script):
    script = load_script("evaluate")
    from foodclf.cli import run_cli
    run_dir = copy_run(trained_run, tmp_path / "run")
    code = run_cli(script.main, [str(run_dir), "--data", str(sample_data), "--bad-threshold", "80"])
    assert code == 2 and "between 0 and 1" in capsys.readouterr().err
    assert_nothing_written(run_dir)
