"""comparison.json as a contract: what compare writes reads back, and a bad file names the field."""
import json

import pytest
from stage_files import make_run

from foodclf.contracts import to_json
from foodclf.contracts.comparison import COMPARISON_FILE, SCHEMA_VERSION, Comparison, read_comparison
from foodclf.errors import SchemaError
from foodclf.report.compare import compare


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("comparison")
    runs = [make_run(root / "runs", "vgg16"), make_run(root / "runs", "mobilenet_v2", stages=("metrics",))]
    compare(runs, root / "report")
    return root / "report" / COMPARISON_FILE


def test_what_compare_writes_is_the_contract(written):
    doc = read_comparison(written.parent)            # the report directory, or the file itself
    assert isinstance(doc, Comparison) and doc.schema_version == SCHEMA_VERSION
    assert to_json(doc) == json.loads(written.read_text())
    vgg = next(c for c in doc.candidates if c.name == "vgg16")
    assert (vgg.scope, vgg.deployment, vgg.bad_threshold) == ("models", None, 0.8)
    assert [b.name for b in vgg.bad_classes] == ["Dairy product", "Bread", "Egg"]
    assert vgg.values["accuracy"] == 0.8491 and vgg.values["p95_s"] == pytest.approx(1.08 * 1.3)
    mobilenet = next(c for c in doc.candidates if c.name == "mobilenet_v2")
    assert mobilenet.values["response_time_s"] is None          # no loadtest.json: measured nothing
    assert [c.name for c in doc.criteria][:3] == ["accuracy", "loss", "bad_classes"]


def edited(written, tmp_path, change):
    data = json.loads(written.read_text())
    change(data)
    path = tmp_path / COMPARISON_FILE
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(schema_version=2), r"schema_version 2 is not supported.*rerun `foodclf compare`"),
    (lambda d: d.pop("missing"), "field 'missing': field required"),
    (lambda d: d["candidates"][0].update(scope="cluster"), r"field 'candidates\.0\.scope'"),
    (lambda d: d["candidates"][0]["values"].update(accuracy=True), r"candidates\.0\.values\.accuracy"),
    (lambda d: d["criteria"][0].update(colour="red"), r"field 'criteria\.0\.colour'"),
    (lambda d: d["pareto"]["models"]["both"].pop("efficient"), r"pareto\.models\.both\.efficient"),
])
def test_a_bad_comparison_file_names_the_field(written, tmp_path, change, message):
    path = edited(written, tmp_path, change)
    with pytest.raises(SchemaError, match=message) as caught:
        read_comparison(path)
    assert str(path) in str(caught.value)
