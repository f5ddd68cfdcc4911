"""Shared fixtures: a small sample dataset and a tiny trained run, made once per session."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from foodclf import TrainConfig, make_sample, train

SMALL_COUNTS = {"training": 12, "validation": 4, "evaluation": 4}


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory):
    """A Food-11-layout sample: 11 classes, 12/4/4 images a class, 32-64 px JPEGs."""
    return make_sample(tmp_path_factory.mktemp("sample"), SMALL_COUNTS, seed=0, min_size=32, max_size=64)


@pytest.fixture(scope="session")
def trained_run(sample_data, tmp_path_factory):
    """A baseline model trained for 6 epochs at 32 px: a complete run directory (foodclf.training.runs.Run)."""
    out = tmp_path_factory.mktemp("runs") / "baseline"
    config = TrainConfig(data=str(sample_data), out=str(out), backbone="baseline", weights="none",
                         epochs=6, image_size=32, batch_size=16, workers=0, progress=False)
    return train(config)


SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture
def load_script():
    """``load_script("evaluate")`` imports scripts/evaluate.py as a module, to call its main()."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


def pytest_collection_modifyitems(config, items):
    """Tests that start TorchServe need Java: without it they skip, saying why."""
    if shutil.which("java") is None:
        skip = pytest.mark.skip(reason="TorchServe's frontend needs Java 11+ (java not found on PATH)")
        for item in items:
            if "serve" in item.keywords:
                item.add_marker(skip)
