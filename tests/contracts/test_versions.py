"""Every contract's reader refuses a file of another schema_version before its fields, saying
what rewrites the file (a field-by-field error would hide that the file is simply old)."""
from __future__ import annotations

import importlib
import json

import pytest

from foodclf.errors import SchemaError

# (module, reader, file name, what the message tells the user to run)
READERS = [
    ("metrics", "read_metrics", "metrics.json", "evaluate"),
    ("data_config", "read_data_config", "data_config.json", "train"),
    ("variant", "read_variant", "variant.json", "foodclf export"),
    ("loadtest", "read_loadtest", "loadtest.json", "foodclf loadtest"),
    ("simulation", "read_simulation", "hpa.json", "foodclf simulate"),
    ("image", "read_image_check", "image.json", "check_image.py"),
    ("comparison", "read_comparison", "comparison.json", "foodclf compare"),
    ("sim_check", "read_sim_check", "check.json", "check_hpa_sim.py"),
    ("scaling", "read_scaling_check", "scaling.json", "check_hpa_sim.py"),
]


@pytest.mark.parametrize("module, reader, name, rewrite", READERS, ids=[r[0] for r in READERS])
def test_another_schema_version_is_refused_saying_what_rewrites_the_file(tmp_path, module, reader, name, rewrite):
    contract = importlib.import_module(f"foodclf.contracts.{module}")
    path = tmp_path / name
    path.write_text(json.dumps({"schema_version": contract.SCHEMA_VERSION + 1, "only": "this"}))
    with pytest.raises(SchemaError) as raised:
        getattr(contract, reader)(path)
    message = str(raised.value)
    assert str(path) in message and f"schema_version {contract.SCHEMA_VERSION + 1} is not supported" in message
    assert rewrite in message
