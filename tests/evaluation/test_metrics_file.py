"""metrics.json and its PNG: written through the contract, read back as the dataclass or as the
validated JSON, printed as the report's summary."""
from __future__ import annotations

import dataclasses
import json

import pytest

from foodclf.contracts import to_json
from foodclf.contracts.metrics import read_metrics
from foodclf.errors import SchemaError
from foodclf.evaluation.metrics_file import (
    CONFUSION_MATRIX_FILE,
    METRICS_FILE,
    format_summary,
    load_metrics,
    write_metrics,
)


def test_load_metrics_is_the_validated_json_of_the_file(evaluated):
    run_dir, metrics = evaluated
    data = load_metrics(run_dir)  # a folder is read as its metrics.json
    assert data == json.loads((run_dir / METRICS_FILE).read_text()) == to_json(metrics)
    assert list(data) == ["schema_version", "created", "model", "split", "dataset", "machine", "optimizing",
                          "operational"]
    assert data["schema_version"] == 2 and data["machine"]["isa"] == metrics.machine.isa


def test_summary_names_the_bad_classes_and_the_machine(evaluated):
    run_dir, metrics = evaluated
    summary = format_summary(metrics)
    assert f"accuracy {metrics.optimizing.accuracy:.2f}, loss {metrics.optimizing.loss:.2f}" in summary
    for bad in metrics.optimizing.bad_classes:
        assert f"{bad.name} ({bad.accuracy:.2f})" in summary
    assert "latency median" in summary and "1 threads" in summary
    assert f"{metrics.machine.cores} cores, {' '.join(metrics.machine.isa) or 'no AVX2'}" in summary
    assert format_summary(load_metrics(run_dir)) == summary  # the dict a reader holds prints the same


def test_undefined_figures_are_null_in_the_file_and_dashes_in_the_summary(evaluated, tmp_path):
    _, metrics = evaluated
    first = dataclasses.replace(metrics.optimizing.per_class[0], support=0, accuracy=None, recall=None,
                                precision=None, f1=None)
    optimizing = dataclasses.replace(metrics.optimizing, per_class=[first, *metrics.optimizing.per_class[1:]])
    undefined = dataclasses.replace(metrics, optimizing=optimizing)
    write_metrics(undefined, tmp_path)
    text = (tmp_path / METRICS_FILE).read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in metrics.json"))
    assert read_metrics(tmp_path) == undefined
    row = next(line for line in format_summary(undefined).splitlines() if line.strip().startswith(first.name))
    assert row.split()[-5:] == ["0", "-", "-", "-", "-"]


def test_the_writer_cannot_write_a_broken_file(evaluated, tmp_path):
    _, metrics = evaluated
    broken = dataclasses.replace(metrics, split=7)  # a writer's bug: not a string
    with pytest.raises(SchemaError, match="field 'split'"):
        write_metrics(broken, tmp_path)
    assert not (tmp_path / METRICS_FILE).exists()
    assert (tmp_path / CONFUSION_MATRIX_FILE).exists()  # the PNG comes first; metrics.json marks completion
