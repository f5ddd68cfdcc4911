"""The main job end to end: scripts/demo.py on the sample, one epoch per model (CI runs it)."""
import csv
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from foodclf.contracts.simulation import read_simulations

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.serve
def test_demo_runs_every_stage_and_stops_its_server(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts/demo.py"), "--out", str(out), "--epochs", "1", "--workers", "0",
         "--model-store", str(tmp_path / "model-store")],
        capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"report: {out / 'report' / 'report.html'}" in result.stdout
    for name in ("baseline", "mobilenet_v2", "vgg16"):
        run = out / name
        for path in ("metrics.json", "loadtest.json", "capacity/loadtest.json",
                     "simulations/deployment_hpa.json", "simulations/deployment_hpa+.json",
                     "simulations/deployment_hpa-inflight.json"):
            assert (run / path).is_file(), f"{name}/{path}"
        assert (tmp_path / "model-store" / f"{name}.mar").is_file()
        variant = run / "variants" / f"{name}-int8"
        for path in ("metrics.json", "loadtest.json", "simulations/deployment_hpa.json"):
            assert (variant / path).is_file(), f"{variant.name}/{path}"
    html = (out / "report" / "report.html").read_text()
    assert all(name in html for name in ("baseline", "mobilenet_v2", "vgg16", "vgg16-int8", "deployment_hpa+"))
    # The sample's models are fast: the profile scaled to a peak load of 8 replicas' capacity
    # saturates hpa (max 5) and not hpa+ (max 10), so the two deployments' rows differ.
    with (out / "report" / "summary.csv").open(newline="") as f:
        rows = {row.pop("Candidate"): row for row in csv.DictReader(f)}
    for name in ("baseline", "mobilenet_v2", "vgg16"):
        sims = read_simulations(out / name)
        hpa, plus = sims["deployment_hpa"], sims["deployment_hpa+"]
        assert hpa.load == plus.load and hpa.load.peak_load_target == 8.0
        assert hpa.summary.max_replicas == 5 and plus.summary.max_replicas > 5, name
        figures = [{k: v for k, v in rows[f"{name} + {d}"].items() if k != "Deployment"}
                   for d in ("deployment_hpa", "deployment_hpa+")]
        assert figures[0] != figures[1], name
        assert rows[f"{name} + deployment_hpa"]["p95 latency (s)"] != "", name
        # The third deployment, hpa+ scaled on requests in flight: a row of its own in the report.
        inflight = sims["deployment_hpa-inflight"]
        assert inflight.load == hpa.load and inflight.summary.pod_seconds > 0, name
        assert rows[f"{name} + deployment_hpa-inflight"]["p95 latency (s)"] != "", name
    # hpa+ or hpa-inflight, whichever fails least and answers fastest, wins over hpa.
    assert re.search(r"deployment_hpa(\+|-inflight) wins over deployment_hpa:", result.stdout)
    serving = [p for p in psutil.process_iter(["cmdline"]) if str(out) in " ".join(p.info["cmdline"] or [])]
    assert not serving, "the demo left TorchServe running"
