"""The evaluation's shared fixture: the session's trained run, copied and evaluated once."""
from __future__ import annotations

import pytest
import torch
from eval_support import copy_run

from foodclf.evaluation.evaluator import evaluate


@pytest.fixture(scope="session")
def evaluated(trained_run, sample_data, tmp_path_factory):
    """(run directory, Metrics) of the baseline run evaluated on the sample's evaluation split."""
    run_dir = copy_run(trained_run, tmp_path_factory.mktemp("eval") / "baseline")
    threads_before = torch.get_num_threads()
    metrics = evaluate(run_dir, sample_data, batch_size=8, latency_runs=10, threads=1, progress=False,
                       throughput_runs=2)
    assert torch.get_num_threads() == threads_before  # the thread setting does not leak
    return run_dir, metrics
