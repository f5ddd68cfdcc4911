"""data_config.json's contract: DataConfig saves and loads itself through it, and a bad file or
a bad value is one SchemaError naming the file and the field."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from foodclf.contracts.data_config import DATA_CONFIG_FILE, DataConfig, read_data_config
from foodclf.errors import SchemaError


def test_a_saved_config_loads_equal(tmp_path):
    config = DataConfig("baseline", 11, image_size=32, interpolation="bicubic", mean=[0.5, 0.5, 0.5])
    path = config.save(tmp_path / DATA_CONFIG_FILE)
    assert DataConfig.load(path) == config == read_data_config(tmp_path)
    assert config.mean == (0.5, 0.5, 0.5)  # lists become tuples, as the file's arrays do
    assert json.loads(path.read_text())["schema_version"] == 1


@pytest.mark.parametrize("change, message", [
    ({"image_size": 4}, "image_size 4 is too small"),
    ({"interpolation": "area"}, "field 'interpolation': input should be 'bilinear', 'bicubic' or 'nearest'"),
    ({"num_classes": True}, "field 'num_classes': input should be a valid integer"),
    ({"num_classes": 1}, "num_classes 1 must be at least 2"),
    ({"std": [0.2, 0.2, 0.0]}, "std positive"),
    ({"mean": [0.5, 0.5]}, "field 'mean.2': field required"),
    ({"crop": 0.9}, "field 'crop': unknown field"),
    ({"schema_version": 2}, "schema_version 2 is not supported (expected 1)"),
])
def test_a_bad_file_names_the_file_and_the_field(tmp_path, change, message):
    path = DataConfig("baseline", 11).save(tmp_path / DATA_CONFIG_FILE)
    path.write_text(json.dumps(json.loads(path.read_text()) | change))
    with pytest.raises(SchemaError) as error:
        DataConfig.load(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_a_bad_value_in_code_is_a_schema_error_too():
    with pytest.raises(SchemaError, match="image_size 2 is too small"):
        DataConfig("baseline", 11, image_size=2)


def test_importing_it_imports_no_torch():
    code = "import sys, foodclf.data.data_config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
