"""loadtest.json as a contract (foodclf.contracts.loadtest) and the files a load test writes."""
import json

import pytest

from foodclf.contracts import to_json, validate
from foodclf.contracts.loadtest import LoadTest, read_loadtest
from foodclf.errors import SchemaError
from foodclf.loadtest.files import CSV_FIELDS, load_loadtest, write_loadtest


def test_written_and_read_back_unchanged(tmp_path, loadtest_data):
    report = validate(loadtest_data, LoadTest, "test")
    rows = [{"t_s": 0, "stage": 1, "users": 1, "successes": 2, "failures": 1, "response_time_s": 0.5,
             "cpu_cores": "", "pss_mb": ""}]
    write_loadtest(report, rows, tmp_path)
    assert read_loadtest(tmp_path) == report == read_loadtest(tmp_path / "loadtest.json")
    assert load_loadtest(tmp_path) == json.loads((tmp_path / "loadtest.json").read_text()) == to_json(report)
    assert (tmp_path / "loadtest.csv").read_text().splitlines() == [",".join(CSV_FIELDS), "0,1,1,2,1,0.5,,"]


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the broken field, as expected
def test_a_writer_cannot_write_a_broken_file(tmp_path, loadtest_data):
    report = validate(loadtest_data, LoadTest, "test")
    report.stages[0].successes = "4"
    with pytest.raises(SchemaError, match="successes"):
        write_loadtest(report, None, tmp_path)
    assert not (tmp_path / "loadtest.json").exists()


def _capacity_mode(d):
    d["mode"] = "capacity"


@pytest.mark.parametrize("breaks, field", [
    (lambda d: d.pop("overall"), "overall"),
    (lambda d: d["stages"][0].update(successes="4"), "successes"),
    (lambda d: d["stages"][0].update(successes=True), "successes"),               # a boolean is not a number
    (lambda d: d.update(mode="burst"), "mode"),
    (lambda d: d.update(schema_version=1), "schema_version"),                     # files from before http_<status>
    (lambda d: d.update(schema_version=2), "schema_version"),                     # RSS files, from before PSS
    (_capacity_mode, "capacity"),                                                 # capacity mode needs the curve
    (lambda d: d.update(capacity=[]), "capacity"),
    (lambda d: d["server"].pop("samples"), "samples"),
    (lambda d: d["overall"].update(client_cpu_cores="0.1"), "client_cpu_cores"),
    (lambda d: d["overall"]["errors"].update(http_503=1.5), "errors"),
    (lambda d: d.update(stages=[]), "stages"),
    (lambda d: d.update(unknown=1), "unknown"),
])
def test_a_bad_file_names_itself_and_the_field(tmp_path, loadtest_data, breaks, field):
    path = tmp_path / "loadtest.json"
    breaks(loadtest_data)
    path.write_text(json.dumps(loadtest_data))
    with pytest.raises(SchemaError, match=f"loadtest.json.*{field}"):
        read_loadtest(path)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(SchemaError, match="loadtest.json"):
        read_loadtest(tmp_path)
