"""metrics.json's contract: a file round-trips, and each kind of bad file is one SchemaError
naming the file and the field. Runs without torch: the comparison reads these files light."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from foodclf.contracts import to_json, write
from foodclf.contracts.metrics import METRICS_FILE, Metrics, read_metrics
from foodclf.errors import SchemaError

CLASSES = ["Bread", "Soup", "Rice"]
GOOD = {
    "schema_version": 2, "created": "2026-11-29T07:30:00+00:00",
    "model": {"name": "mnv2", "backbone": "mobilenet_v2", "variant": "eager", "model_file": "model.pt",
              "parameters": 2237771},
    "split": "evaluation",
    "dataset": {"path": "/data/food11", "num_images": 6, "classes": CLASSES},
    "machine": {"cpu": "AMD EPYC", "isa": ["avx2"], "cores": 2, "torch": "2.5.1", "python": "3.11.7"},
    "optimizing": {
        "accuracy": 0.5, "loss": 1.2, "bad_threshold": 0.8,
        "per_class": [{"name": c, "support": 2, "accuracy": a, "precision": a, "recall": a, "f1": a}
                      for c, a in zip(CLASSES, [1.0, 0.5, 0.0])],
        "bad_classes": [{"name": "Rice", "accuracy": 0.0}, {"name": "Soup", "accuracy": 0.5}],
        "confusion_matrix": [[2, 0, 0], [1, 1, 0], [0, 2, 0]],
    },
    "operational": {"disk_mb": 9.2, "memory_mb": 44, "process_rss_mb": 1100.5, "threads": 2,
                    "latency_ms": {"median": 31.0, "p95": 35.2, "p99": 40.1, "runs": 50},
                    "throughput": {"batch_size": 32, "images_per_s": 110.0, "runs": 5}},
}


def test_a_file_reads_as_the_dataclass_and_writes_back_the_same(tmp_path):
    (tmp_path / METRICS_FILE).write_text(json.dumps(GOOD))
    metrics = read_metrics(tmp_path)  # a folder is read as its metrics.json
    assert isinstance(metrics, Metrics) and metrics.optimizing.per_class[1].name == "Soup"
    assert metrics.operational.memory_mb == 44.0 and metrics.machine.isa == ["avx2"]
    write(tmp_path / "again.json", metrics)
    assert read_metrics(tmp_path / "again.json") == metrics
    assert to_json(metrics) == GOOD  # same fields, same values (44 == 44.0)


MUTATIONS = {
    "field 'operational.memory_mb': field required": lambda d: d["operational"].pop("memory_mb"),
    "field 'machine': field required": lambda d: d.pop("machine"),
    "field 'machine.isa': field required": lambda d: d["machine"].pop("isa"),
    "field 'operational.latency_ms.p99': field required": lambda d: d["operational"]["latency_ms"].pop("p99"),
    "field 'optimizing.per_class.2.accuracy'": lambda d: d["optimizing"]["per_class"][2].update(accuracy="high"),
    "field 'optimizing.bad_classes.0.accuracy': field required": lambda d: d["optimizing"].update(
        bad_classes=[{"name": "Rice"}]),
    "field 'dataset.num_images': input should be a valid integer": lambda d: d["dataset"].update(num_images=True),
    "field 'model.colour': unknown field": lambda d: d["model"].update(colour="red"),
    "confusion_matrix must be 3 rows of 3": lambda d: d["optimizing"]["confusion_matrix"].pop(),
    "per_class must list dataset.classes in order": lambda d: d["optimizing"]["per_class"].reverse(),
    "accuracy 1.5 is not between 0 and 1": lambda d: d["optimizing"].update(accuracy=1.5),
    "schema_version 1 is not supported (expected 2)": lambda d: d.update(schema_version=1),
}


@pytest.mark.parametrize("message", list(MUTATIONS))
def test_a_bad_file_names_the_file_and_the_field(tmp_path, message):
    data = copy.deepcopy(GOOD)
    MUTATIONS[message](data)
    path = tmp_path / METRICS_FILE
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError) as error:
        read_metrics(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(SchemaError, match="file not found"):
        read_metrics(tmp_path / METRICS_FILE)
    (tmp_path / METRICS_FILE).write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        read_metrics(tmp_path)


def test_reading_imports_neither_torch_nor_sklearn_nor_matplotlib(tmp_path):
    (tmp_path / METRICS_FILE).write_text(json.dumps(GOOD))
    code = ("import sys; from foodclf.contracts.metrics import read_metrics; "
            f"read_metrics({str(tmp_path)!r}); "
            "print(sorted(m for m in ('torch', 'sklearn', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
