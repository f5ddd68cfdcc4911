"""A wheel of this repository is enough to serve: built with pip, installed into a folder, and run
from an empty folder with nothing of the checkout on sys.path (the venv gives the dependencies).

Every Python process here, TorchServe's workers included, runs with PYTHONSAFEPATH (no current or
script folder on sys.path) and PYTHONPATH=the install folder, ahead of the venv's site-packages;
the venv's editable install of the checkout comes after both, so a module or a data file that the
wheel lacks fails the import, or shows up in the files checked below.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from serve_support import processes_using

from foodclf.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# In the installed package: a server from its own config.properties and log4j2.xml, one photo.
SERVE = """
import json, sys, urllib.request
import foodclf
from foodclf.serve.server import TorchServe
store, workdir, photo = sys.argv[1:4]
with TorchServe(store, models={"food": "food.mar"}, workdir=workdir) as server:
    request = urllib.request.Request(server.predictions_url("food"), data=open(photo, "rb").read(), method="PUT",
                                     headers={"Content-Type": "image/jpeg"})  # urllib would say: a form
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = {"status": response.status, "body": json.loads(response.read())}
    files = [str(server.config), str(server.log_config)]
print(json.dumps({**answer, "files": [foodclf.__file__, *files], "model_log": str(server.model_log)}))
"""
# Every foodclf module the interpreter imported, with the command's own.
IMPORTED = "import json, sys; print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() " \
           "if n.split('.')[0] == 'foodclf' and getattr(m, '__file__', None))))"


def copy_source(dest: Path) -> Path:
    """The files git would commit (tracked, or new and not ignored), as they are in the working tree."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listing.split(b"\0")):
        source, target = REPO / os.fsdecode(name), dest / os.fsdecode(name)
        if not os.path.lexists(source):  # deleted in the working tree, not yet in git
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():  # handlers/ link into the package
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """foodclf's wheel installed into its own folder, an empty working folder, and the environment."""
    root = tmp_path_factory.mktemp("wheel")
    source = copy_source(root / "source")  # a build writes build/ and *.egg-info: not into the checkout
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist", source], check=True)
    [wheel] = (root / "dist").glob("foodclf-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", root / "target", wheel], check=True)
    (root / "empty").mkdir()
    env = {**os.environ, "PYTHONPATH": str(root / "target"), "PYTHONSAFEPATH": "1"}
    yield SimpleNamespace(root=root, target=root / "target", cwd=root / "empty", env=env)
    leftover = processes_using(root)
    for process in leftover:
        process.kill()
    assert not leftover, f"left running: {[p.info['cmdline'] for p in leftover]}"


def python(installed, *args: str, timeout: float = 600) -> str:
    """Run the venv's python in the empty folder with the installed package; its stdout."""
    result = subprocess.run([sys.executable, *args], cwd=installed.cwd, env=installed.env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"python {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def assert_installed(installed, files):
    outside = [f for f in files if not Path(f).resolve().is_relative_to(installed.target.resolve())]
    assert files and not outside, f"not from the wheel: {outside}"


def test_the_command_lists_every_stage_from_the_installed_package(installed):
    usage = python(installed, "-m", "foodclf", "--help")
    assert all(f"  {name}" in usage for name in COMMANDS)
    assert_installed(installed, json.loads(python(installed, "-c", "import foodclf.cli, foodclf.serve.server; "
                                                  + IMPORTED)))


@pytest.mark.serve
def test_a_model_trained_archived_and_served_from_the_wheel_answers_a_photo(installed):
    work = installed.root / "work"
    python(installed, "-m", "foodclf", "sample", str(work / "sample"), "--train", "2", "--val", "1", "--eval", "1")
    python(installed, "-m", "foodclf", "train", "--data", str(work / "sample"), "--out", str(work / "run"),
           "--backbone", "baseline", "--weights", "none", "--epochs", "1", "--image-size", "32",
           "--batch-size", "16", "--workers", "0", "--no-progress")
    python(installed, "-m", "foodclf", "archive", str(work / "run"), "--name", "food",
           "--export-path", str(work / "store"), "--workers", "1", "--threads", "1")
    photo = sorted((work / "sample" / "evaluation").rglob("*.jpg"))[0]
    served = json.loads(python(installed, "-c", SERVE, str(work / "store"), str(work / "serve"), str(photo))
                        .strip().splitlines()[-1])
    assert served["status"] == 200 and len(served["body"]["predictions"]) == 5
    classes = json.loads((work / "run" / "classes.json").read_text())
    assert all(p["label"] == classes[p["index"]] for p in served["body"]["predictions"])
    assert_installed(installed, served["files"])  # foodclf, config.properties, log4j2.xml
    # The worker says which foodclf it imported (the handler's start-up line).
    assert f"foodclf from {installed.target / 'foodclf'}," in Path(served["model_log"]).read_text()


# In the installed package: serve the archive and load-test it with `foodclf loadtest --capacity`.
SERVE_AND_LOADTEST = """
import subprocess, sys
from foodclf.serve.server import TorchServe
store, workdir, photo, out = sys.argv[1:5]
with TorchServe(store, models={"food": "food.mar"}, workdir=workdir) as server:
    subprocess.run([sys.executable, "-m", "foodclf", "loadtest", "--url", server.predictions_url("food"),
                    "--image", photo, "--capacity", "--levels", "1,2", "--duration", "3s", "--out", out],
                   check=True)
"""


@pytest.mark.serve
def test_every_stage_runs_from_the_wheel(installed):
    """sample -> train -> evaluate -> export -> archive -> serve + loadtest -> simulate -> compare,
    each as `python -m foodclf STAGE` of the installed package, from an empty folder."""
    work = installed.root / "pipeline"
    run = work / "run"
    stage = lambda *args: python(installed, "-m", "foodclf", *map(str, args))  # noqa: E731
    stage("sample", work / "sample", "--train", "2", "--val", "1", "--eval", "1")
    stage("train", "--data", work / "sample", "--out", run, "--backbone", "baseline", "--weights", "none",
          "--epochs", "1", "--image-size", "32", "--batch-size", "16", "--workers", "0", "--no-progress")
    stage("evaluate", run, "--data", work / "sample", "--latency-runs", "2", "--throughput-runs", "1")
    stage("export", run, "--data", work / "sample", "--format", "onnx", "--calibration-images", "4",
          "--latency-runs", "2")
    stage("archive", run, "--name", "food", "--export-path", work / "store", "--workers", "1", "--threads", "1")
    photo = sorted((work / "sample" / "evaluation").rglob("*.jpg"))[0]
    python(installed, "-c", SERVE_AND_LOADTEST, str(work / "store"), str(work / "serve"), str(photo),
           str(run / "capacity"))
    stage("simulate", "--capacity", run / "capacity" / "loadtest.json", "--time-scale", "0.05",
          "--out", run / "simulations", "--no-plot")
    stage("compare", run, run / "variants" / "run-onnx", "--out", work / "report")
    assert (run / "metrics.json").is_file() and (run / "variants" / "run-onnx" / "metrics.json").is_file()
    simulated = sorted(p.name for p in (run / "simulations").glob("*.json"))
    assert simulated == ["deployment_hpa+.json", "deployment_hpa-inflight.json", "deployment_hpa.json"]
    report = (work / "report" / "report.html").read_text()
    assert "run-onnx" in report and "deployment_hpa+" in report
