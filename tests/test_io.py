import json
import os

import pytest

from foodclf.errors import SchemaError
from foodclf.io import atomic_save, atomic_write_json, read_json


def test_atomic_write_leaves_no_temporary_files_and_readable_output(tmp_path):
    path = atomic_write_json(tmp_path / "sub" / "a.json", {"x": 1})
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]
    assert path.stat().st_mode & 0o044  # readable by others, not mkstemp's 0600


def test_failed_save_keeps_the_old_file_and_no_partial(tmp_path):
    path = atomic_write_json(tmp_path / "a.json", {"old": True})

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_save(path, broken)
    assert json.loads(path.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["a.json"]


def test_read_json_names_the_problem(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(SchemaError, match="m.json: not valid JSON"):
        read_json(bad)
    with pytest.raises(SchemaError, match="missing.json: file not found"):
        read_json(tmp_path / "missing.json")
