"""foodclf.contracts: one strict validator for every JSON file between the stages."""
import json
import subprocess
import sys

import pytest

from foodclf import contracts
from foodclf.contracts import contract
from foodclf.errors import SchemaError


@contract
class Point:
    x: float
    tags: list[str]


@contract
class Record:
    schema_version: int
    name: str
    point: Point | None
    points: dict[str, Point]


GOOD = {"schema_version": 1, "name": "a", "point": {"x": 1, "tags": []}, "points": {"p": {"x": 2.5, "tags": ["t"]}}}


def test_a_written_record_reads_back_equal_and_in_field_order(tmp_path):
    record = contracts.validate(GOOD, Record, "good.json")
    path = contracts.write(tmp_path / "record.json", record)
    assert contracts.read(path, Record) == record
    assert list(json.loads(path.read_text())) == ["schema_version", "name", "point", "points"]
    assert record.point.x == 1.0 and isinstance(record.points["p"], Point)


@pytest.mark.parametrize("change, field", [
    ({"schema_version": True}, "schema_version"),        # a boolean is no number
    ({"name": 3}, "name"),                               # no coercion to str
    ({"point": {"x": "1", "tags": []}}, "point.x"),      # nor from str
    ({"points": {"p": {"x": 1}}}, "points.p.tags"),      # a nested field is required
    ({"extra": 1}, "extra"),                             # a misspelt field is an error, not dropped
])
def test_a_bad_file_names_the_file_and_the_field(tmp_path, change, field):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**GOOD, **change}))
    with pytest.raises(SchemaError, match=rf"{path}: field '{field}'"):
        contracts.read(path, Record)


def test_a_missing_field_and_a_broken_file_are_schema_errors(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({k: v for k, v in GOOD.items() if k != "name"}))
    with pytest.raises(SchemaError, match="field 'name': field required"):
        contracts.read(path, Record)
    path.write_text("{ not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        contracts.read(path, Record)


def test_a_writer_cannot_write_a_record_that_breaks_its_contract(tmp_path):
    broken = Record(schema_version=1, name=None, point=None, points={})
    with pytest.raises(SchemaError, match="field 'name'"):
        contracts.write(tmp_path / "r.json", broken)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_field_paths_walk_nested_contracts():
    assert contracts.field_paths(Record) == ["schema_version", "name", "point", "point.x", "point.tags",
                                             "points", "points{}.x", "points{}.tags"]


def test_reading_contracts_imports_neither_torch_nor_sklearn():
    code = ("import sys, pkgutil, importlib, foodclf.contracts as c\n"
            "for m in pkgutil.iter_modules(c.__path__): importlib.import_module(f'foodclf.contracts.{m.name}')\n"
            "print(sorted({'torch', 'sklearn', 'matplotlib'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"


def test_another_schema_version_is_refused_before_the_fields_saying_what_rewrites_it(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"schema_version": 7, "name": "a"}))  # fields of another version
    with pytest.raises(SchemaError, match=r"schema_version 7 is not supported \(expected 1\); run it again"):
        contracts.read(path, Record, version=1, fix="run it again")
    assert contracts.file_in(tmp_path, "old.json") == path and contracts.file_in(path, "x.json") == path
