"""The simulation's files: the JSON through its contract (foodclf.contracts.simulation), the CSV
time series, the PNG, the report's table, and `foodclf simulate` writing them from the package's
overlays."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

import foodclf
from foodclf.contracts.simulation import Simulation, read_simulation, read_simulations
from foodclf.deploy.cluster import SimulationSettings
from foodclf.deploy.manifests import load_deployment, overlay_dir
from foodclf.deploy.results import simulate_to_files, write_simulation
from foodclf.deploy.simulation import simulate
from foodclf.errors import SchemaError
from foodclf.loadtest.profiles import parse_profile


@pytest.fixture
def written(capacity, tmp_path):
    spec = load_deployment(overlay_dir("hpa+"))
    result = simulate(capacity, spec, parse_profile("challenge", 0.05), profile="challenge", time_scale=0.05)
    return result, write_simulation(result, tmp_path)


def test_the_written_json_reads_back_as_the_contract(written, tmp_path):
    result, path = written
    assert path == tmp_path / "deployment_hpa+.json"
    simulation = read_simulation(path)
    assert isinstance(simulation, Simulation) and foodclf.load_simulation(path) == simulation
    assert (simulation.deployment, simulation.model, simulation.time_scale) == ("deployment_hpa+", "tiny", 0.05)
    assert simulation.summary == result.summary and simulation.stages == result.stages
    assert simulation.manifest == str(overlay_dir("hpa+"))
    with open(tmp_path / simulation.timeseries_csv) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.rows) and {"replicas", "ready", "users", "throughput", "response_time_s",
                                              "cpu_cores", "memory_mb"} <= rows[0].keys()
    assert (tmp_path / simulation.plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(read_simulations(tmp_path.parent / "missing")) == []


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["summary"].update(failures="none"), "summary.failures"),
    (lambda d: d["summary"].update(failures=True), "summary.failures"),    # a boolean is no count
    (lambda d: d["summary"].pop("cpu_cores_peak"), "summary.cpu_cores_peak"),
    (lambda d: d["stages"][0].update(replica=1), "stages.0.replica"),       # misspelt: rejected, not dropped
    (lambda d: d.update(schema_version=9), "schema_version 9"),
])
def test_a_broken_simulation_file_names_the_field(written, tmp_path, edit, field):
    doc = json.loads(written[1].read_text())
    edit(doc)
    (tmp_path / "broken.json").write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match=field.replace(".", r"\.")):
        read_simulation(tmp_path / "broken.json")


def test_the_contract_reader_loads_no_model_libraries():
    code = ("import sys; import foodclf.contracts.simulation, foodclf.deploy.manifests; "
            "print([m for m in ('torch', 'sklearn', 'matplotlib') if m in sys.modules])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_simulate_command_uses_the_packaged_overlays(capacity_file, capsys, load_script):
    script = load_script("simulate_hpa")
    assert script.main(["--capacity", str(capacity_file), "--profile", "challenge", "--time-scale", "0.05",
                        "--no-plot"]) == 0
    out = capsys.readouterr().out
    sims = capacity_file.parent / "simulations"
    assert {p.name for p in sims.iterdir()} == {f"deployment_{v}.{ext}" for v in ("hpa", "hpa+", "hpa-inflight")
                                                for ext in ("json", "csv")}
    assert "deployment_hpa-inflight" in out and "Trans. rate" in out and "Pod-s" in out
    found = read_simulations(capacity_file.parent)
    assert list(found) == ["deployment_hpa", "deployment_hpa+", "deployment_hpa-inflight"]
    assert all(s.summary.pod_seconds > 0 for s in found.values())
    assert found["deployment_hpa"].plot is None
    assert found["deployment_hpa"].summary.max_replicas <= 5 and found["deployment_hpa+"].summary.max_replicas <= 10


def test_simulations_in_several_processes_give_the_same_results_and_files(capacity, tmp_path):
    """The demo simulates every model x deployment in as many processes as there are cores."""
    specs = [load_deployment(overlay_dir(v)) for v in ("hpa", "hpa-inflight")]
    stages = parse_profile("challenge", 0.05)
    serial, parallel = (simulate_to_files([(capacity, spec, tmp_path / out) for spec in specs], stages,
                                          SimulationSettings(), "challenge", 0.05, 3.0, workers)
                        for out, workers in (("serial", 1), ("parallel", 2)))
    assert [(r.deployment, r.summary, r.rows) for r in parallel] == [(r.deployment, r.summary, r.rows) for r in serial]
    assert sorted(p.name for p in (tmp_path / "parallel").iterdir()) == sorted(
        p.name for p in (tmp_path / "serial").iterdir())
