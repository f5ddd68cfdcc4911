"""The main job end to end: scripts/demo.py on the sample, one epoch per model (CI runs it)."""
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

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
                     "simulations/deployment_hpa.json", "simulations/deployment_hpa+.json"):
            assert (run / path).is_file(), f"{name}/{path}"
        assert (tmp_path / "model-store" / f"{name}.mar").is_file()
        variant = run / "variants" / f"{name}-int8"
        for path in ("metrics.json", "loadtest.json", "simulations/deployment_hpa.json"):
            assert (variant / path).is_file(), f"{variant.name}/{path}"
    html = (out / "report" / "report.html").read_text()
    assert all(name in html for name in ("baseline", "mobilenet_v2", "vgg16", "vgg16-int8", "deployment_hpa+"))
    serving = [p for p in psutil.process_iter(["cmdline"]) if str(out) in " ".join(p.info["cmdline"] or [])]
    assert not serving, "the demo left TorchServe running"
