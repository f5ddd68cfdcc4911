"""The Kubernetes image, built and run for real: `make image` (buildah) and scripts/check_image.py,
which runs the image as the Deployment does and checks the pod's answers, ports and bad inputs.

A cold build downloads torch with its CUDA libraries (gigabytes) unless the CPU wheel index is
reachable; buildah's layer cache makes later builds short. Skipped where buildah is missing.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from foodclf.contracts.image import read_image_check

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/foodclf-test-torchserve:latest"
MODEL = "foodclf_image_test"

pytestmark = [
    pytest.mark.image, pytest.mark.slow, pytest.mark.serve,
    pytest.mark.skipif(shutil.which("buildah") is None or shutil.which("podman") is None,
                       reason="needs buildah and podman (apt-get install buildah podman debootstrap)"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`make image` with a random-weights model of its own (run and archive removed afterwards)."""
    run, mar = REPO / "runs" / "image" / MODEL, REPO / "model-store" / f"{MODEL}.mar"
    # Not `setup` (-o: taken as done): the tests already run in the project's environment.
    venv = Path(sys.executable).parent.parent
    command = ["make", "-o", f"{venv}/.installed", "image", f"MODEL={MODEL}", f"IMAGE={IMAGE}",
               f"VENV={venv}", f"PY={sys.executable}"]
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=3600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield run
    finally:
        mar.unlink(missing_ok=True)
        shutil.rmtree(run, ignore_errors=True)
        subprocess.run(["buildah", "rmi", IMAGE], capture_output=True)


def test_the_image_serves_as_the_deployment_runs_it(built):
    done = subprocess.run([sys.executable, "scripts/check_image.py", IMAGE, "--run", str(built),
                           "--load-duration", "8s"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "image check: passed" in done.stdout
    assert re.search(r"ready \(/ping 200\) after [\d.]+ s", done.stdout)
    assert re.search(r"torch \d+\.\d+", done.stdout)
    # image.json in the run: the replica under 10 users, as the comparison reads it.
    check = read_image_check(built)
    assert check.image == IMAGE and check.problems == [] and check.load.users == 10
    assert check.load.transaction_rate > 0 and check.load.failures == 0
    assert check.memory.pss_mb_peak >= check.memory.pss_mb_ready > 100  # a JVM and a worker
    assert {p.name for p in check.memory.processes} >= {"java"}
    assert f"{check.memory.pss_mb_peak:.0f} MB peak under 10 users" in done.stdout
    # Nothing of the check is left running or stored.
    containers = subprocess.run(["buildah", "containers", "--format", "{{.ImageName}}"],
                                capture_output=True, text=True, check=True).stdout
    assert IMAGE not in containers.split()
