"""scripts/archive.py and foodclf.serve.archive: what goes into NAME.mar, and clear failures."""
import importlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from ts.utils.util import list_classes_from_module

from foodclf.errors import RunDirError
from foodclf.serve.archive import ArchiveError, archive_run, read_model_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mar(trained_run, tmp_path_factory):
    """An archive of the trained run, in an export folder that does not exist yet."""
    export = tmp_path_factory.mktemp("archive") / "store" / "nested"
    return archive_run(trained_run.run_dir, "food", export, batch_size=4, max_batch_delay=25, workers=2, threads=1)


def test_archive_holds_the_run_files_and_config(mar, trained_run):
    assert mar.name == "food.mar" and mar.is_file()
    with zipfile.ZipFile(mar) as z:
        names = set(z.namelist())
        assert {"food_model.py", "food_handler.py", "sitecustomize.py", "model.pt", "data_config.json",
                "index_to_name.json", "model-config.yaml", "MAR-INF/MANIFEST.json"} <= names
        assert z.read("data_config.json") == (trained_run.run_dir / "data_config.json").read_bytes()
        assert z.read("model.pt") == trained_run.model_path.read_bytes()
        index_to_name = json.loads(z.read("index_to_name.json"))
        config = yaml.safe_load(z.read("model-config.yaml"))
        manifest = json.loads(z.read("MAR-INF/MANIFEST.json"))
    assert [index_to_name[str(i)] for i in range(len(index_to_name))] == trained_run.classes
    assert config["batchSize"] == 4 and config["maxBatchDelay"] == 25
    assert config["minWorkers"] == config["maxWorkers"] == 2
    assert config["handler"]["torch_threads"] == 1
    assert manifest["model"] == {**manifest["model"], "modelName": "food", "handler": "food_handler.py",
                                 "modelFile": "food_model.py", "serializedFile": "model.pt"}
    assert read_model_config(mar) == config


def test_reading_the_config_of_something_else_says_which_file(tmp_path):
    not_a_mar = tmp_path / "food.mar"
    not_a_mar.write_text("hello")
    with pytest.raises(ArchiveError, match=r"food\.mar: cannot read its model-config.yaml"):
        read_model_config(not_a_mar)


def test_model_file_is_what_torchserve_can_build(mar, trained_run, tmp_path, monkeypatch):
    """TorchServe's own rule: exactly one class, built with no arguments, model.pt loaded weights_only."""
    with zipfile.ZipFile(mar) as z:
        z.extractall(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("food_model")
    try:
        classes = list_classes_from_module(module)
        assert len(classes) == 1
        model = classes[0]()
        model.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
        model.eval()
        images = torch.randn(2, 3, trained_run.data_config.image_size, trained_run.data_config.image_size)
        with torch.no_grad():
            torch.testing.assert_close(model(images), trained_run.load_model()(images))
    finally:
        sys.modules.pop("food_model", None)


def test_rearchiving_replaces_the_file_and_leaves_no_temp_files(mar, trained_run):
    before = mar.stat().st_mtime_ns
    again = archive_run(trained_run.run_dir, "food", mar.parent, batch_size=4, max_batch_delay=25, workers=2)
    assert again == mar and mar.stat().st_mtime_ns >= before
    assert sorted(p.name for p in mar.parent.iterdir()) == ["food.mar"]


def test_a_run_with_missing_files_fails_clearly(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run.run_dir, run_dir)
    (run_dir / "model.pt").unlink()
    with pytest.raises(RunDirError, match="missing model.pt"):
        archive_run(run_dir, "food", tmp_path / "store")
    assert not (tmp_path / "store" / "food.mar").exists()


def test_a_state_dict_that_does_not_fit_fails_before_archiving(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run.run_dir, run_dir)
    torch.save({"head.weight": torch.zeros(3, 3)}, run_dir / "model.pt")
    with pytest.raises(RunDirError, match="does not fit"):
        archive_run(run_dir, "food", tmp_path / "store")
    assert not list((tmp_path / "store").glob("*.mar"))


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "bad name"}, "not allowed"),
    ({"name": "food", "batch_size": 0}, "batch size must be at least 1"),
    ({"name": "food", "workers": 0}, "workers must be at least 1"),
])
def test_bad_options_fail_clearly(trained_run, tmp_path, kwargs, match):
    with pytest.raises(ArchiveError, match=match):
        archive_run(trained_run.run_dir, export_path=tmp_path, **kwargs)


def test_script_prints_one_line_for_a_missing_run(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "archive.py"), str(tmp_path / "nope"),
                             "--name", "food", "--export-path", str(tmp_path / "store")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and "run directory not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
