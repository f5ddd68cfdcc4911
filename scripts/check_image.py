#!/usr/bin/env python
"""Run the Kubernetes image the way its Deployment runs it, and check what the pod would do.

  python scripts/check_image.py foodclf-torchserve:0.1.0 --run runs/image/mobilenet_v2

The container runs the image's own command as the Deployment's user, with the Deployment's TS_*
environment (read from the packaged manifests, foodclf.deploy.manifests). It runs with
``buildah run --isolation chroot`` (where podman's runtime cannot start a container), which shares
this machine's network: every address keeps its host but gets a free port (inference the
Deployment's 0.0.0.0, management and metrics those of the image's config.properties). Checks:

- /ping (the startup probe's path) answers 200 within the startup probe's budget;
- a PNG photo gets 200 with the top classes and probabilities (within 1e-4) that the same run gives
  in this process (load_predictor + open_rgb + EvalPreset);
- the management and metrics ports listen on 127.0.0.1 only;
- the serving tests' bad inputs (tests/support.py) get a 400 naming the problem, and afterwards the
  same processes still answer /ping and the photo.

Then it loads the replica for a while (--users closed-loop users with no delay, --load-duration; 10
users as the report's siege) and reads its memory as the cluster counts it: Σ PSS over the image
command's processes (foodclf.loadtest.memory), peak and per process. It prints the image's size, the
time to ready, the replica's memory and the torch version in the image, and writes them to
RUN_DIR/image.json (or --out), where `foodclf compare` takes the deployments' replica memory from;
exit status 1 when a check fails. Everything it starts is stopped, and its container removed.
"""
import argparse
import io
import ipaddress
import json
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import requests
import torch
from PIL import Image

from foodclf.contracts import created_now, write
from foodclf.contracts.data_config import DATA_CONFIG_FILE
from foodclf.contracts.image import ImageCheck, ImageLoad, ImageMemory, image_path
from foodclf.data.data_config import DataConfig
from foodclf.data.images import open_rgb
from foodclf.data.transforms import EvalPreset
from foodclf.deploy.manifests import overlay_dir, render
from foodclf.loadtest.memory import Replica, replica_memory
from foodclf.loadtest.profiles import Stage, parse_duration
from foodclf.loadtest.runner import run_loadtest
from foodclf.machine import describe_machine, machine_line
from foodclf.models.predictors import load_predictor
from foodclf.serve.launch import free_port
from foodclf.serve.properties import read_properties

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4
# Addresses of the image's config that get a free port here; their hosts stay the file's.
LOOPBACK_KEYS = ("management_address", "metrics_address")
GRPC_PORT_KEYS = ("grpc_inference_port", "grpc_management_port")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", help="the image, e.g. foodclf-torchserve:0.1.0 (make image builds it)")
    p.add_argument("--run", required=True, help="the run directory archived into the image's .mar")
    p.add_argument("--overlay", default="hpa", help="the packaged deployment whose Deployment to follow")
    p.add_argument("--users", type=int, default=10, help="closed-loop users of the memory load (default 10)")
    p.add_argument("--load-duration", default="20s", help="how long the memory load lasts (default 20s)")
    p.add_argument("--out", help="where image.json goes: a directory or a file (default: the --run directory)")
    args = p.parse_args(argv)
    if args.users < 1:
        p.error("--users must be 1 or more")
    return args


# ---- what the Deployment and the image say -------------------------------------------------------
def pod_spec(overlay: str) -> dict:
    """The Deployment's container and pod security context, as kustomize renders them."""
    [deployment] = [d for d in render(overlay_dir(overlay)) if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    return {"container": pod["containers"][0], "security": pod.get("securityContext") or {}}


def image_config(image: str) -> dict:
    out = subprocess.run(["buildah", "inspect", "--type", "image", image], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["OCIv1"]["config"]


def image_size(image: str) -> int:
    out = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", image],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def in_container(container: str, *command: str) -> str:
    """A short command in the container (as its image's user); its stdout."""
    return subprocess.run(["buildah", "run", "--isolation", "chroot", container, "--", *command],
                          capture_output=True, text=True, check=True).stdout


def with_port(address: str, port: int) -> str:
    parts = urlsplit(address)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def pod_env(container: dict, image_properties: dict[str, str]) -> dict[str, str]:
    """The Deployment's env, every address on a free port of its own host."""
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    env["TS_INFERENCE_ADDRESS"] = with_port(env["TS_INFERENCE_ADDRESS"], free_port())
    for key in LOOPBACK_KEYS:
        env[f"TS_{key.upper()}"] = with_port(image_properties[key], free_port())
    for key in GRPC_PORT_KEYS:
        env[f"TS_{key.upper()}"] = str(free_port())
    return env


# ---- the server ------------------------------------------------------------------------------------
@contextmanager
def container_of(image: str):
    name = subprocess.run(["buildah", "from", "--pull=never", image], capture_output=True, text=True,
                          check=True).stdout.strip()
    try:
        yield name
    finally:
        subprocess.run(["buildah", "rm", name], capture_output=True)


@contextmanager
def serving(container: str, command: list[str], user: str, env: dict[str, str], log_path: Path):
    """The image's command running in the container; every process of it stopped afterwards."""
    options = [f"--env={k}={v}" for k, v in env.items()]
    with open(log_path, "wb") as log:
        launcher = subprocess.Popen(["buildah", "run", "--isolation", "chroot", "--user", user, *options,
                                     container, "--", *command], stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    try:
        yield launcher
    finally:
        stop_tree(launcher)


def stop_tree(launcher: subprocess.Popen) -> None:
    """SIGTERM to buildah and everything under it (TorchServe's launcher, the JVM, the workers),
    then SIGKILL to whatever is left after 30 s."""
    try:
        tree = [psutil.Process(launcher.pid), *psutil.Process(launcher.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for process in tree:
        with _gone():
            process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=30)
    for process in alive:
        with _gone():
            process.kill()
    launcher.wait(timeout=30)


@contextmanager
def _gone():
    try:
        yield
    except psutil.NoSuchProcess:
        pass


def server_processes(launcher: subprocess.Popen, command: list[str]) -> list[psutil.Process]:
    """The pod's processes: the image's command and everything it started. buildah's chroot helper
    (memfd:buildah-chroot) carries the same command line and is the command's parent: the innermost
    process whose command line ends with the command is the command itself."""
    matches = []
    for process in psutil.Process(launcher.pid).children(recursive=True):
        with _gone():
            if process.cmdline()[-len(command) + 1:] == command[1:]:
                matches.append(process)
    if not matches:
        raise RuntimeError(f"the image's command {command} is not running")
    innermost = matches[-1]
    for process in matches:
        with _gone():
            if not {c.pid for c in process.children(recursive=True)} & {m.pid for m in matches}:
                innermost = process
                break
    return [innermost, *innermost.children(recursive=True)]


def wait_ready(url: str, probe: dict, launcher: subprocess.Popen) -> float:
    """Seconds until the startup probe's GET answers 200, polled every period as the kubelet does;
    RuntimeError past its budget (initial delay + period x failure threshold) or if the server exits."""
    period, timeout = probe.get("periodSeconds", 10), probe.get("timeoutSeconds", 1)
    budget = probe.get("initialDelaySeconds", 0) + period * probe.get("failureThreshold", 3)
    start = time.monotonic()
    while time.monotonic() - start < budget:
        if launcher.poll() is not None:
            raise RuntimeError(f"the container exited ({launcher.returncode}) before {url} answered")
        try:
            if requests.get(url, timeout=timeout).status_code == 200:
                return time.monotonic() - start
        except requests.RequestException:
            pass
        time.sleep(min(1.0, period))
    raise RuntimeError(f"{url} did not answer 200 within the startup probe's {budget} s")


# ---- the checks ------------------------------------------------------------------------------------
def photo_png() -> bytes:
    """A PNG (the handler's draft-mode JPEG decoding would differ from open_rgb's): a gradient and a square."""
    image = Image.linear_gradient("L").resize((96, 80)).convert("RGB")
    image.paste((200, 40, 30), (24, 20, 48, 40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def expected_probabilities(run: Path, data: bytes) -> torch.Tensor:
    image = EvalPreset(DataConfig.load(run / DATA_CONFIG_FILE))(open_rgb(data))
    with torch.no_grad():
        return torch.softmax(load_predictor(run)(image.unsqueeze(0)), dim=1)[0]


def check_probes(base: str, container: dict) -> list[str]:
    """Every probe of the container answers 200 on its path within its own timeout."""
    problems = []
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(kind)
        if probe:
            url = base + probe["httpGet"]["path"]
            try:
                status = requests.get(url, timeout=probe.get("timeoutSeconds", 1)).status_code
            except requests.RequestException as e:
                status = e
            if status != 200:
                problems.append(f"{kind}: {url} answered {status}")
    return problems


def check_photo(url: str, data: bytes, expected: torch.Tensor) -> list[str]:
    response = requests.put(url, data=data, timeout=60, headers={"Content-Type": "application/octet-stream"})
    if response.status_code != 200:
        return [f"photo: {response.status_code} {response.text[:200]}"]
    served = response.json()["predictions"]
    top = expected.topk(len(served))
    problems = []
    if [p["index"] for p in served] != top.indices.tolist():
        problems.append(f"photo: top classes {[p['index'] for p in served]}, in process {top.indices.tolist()}")
    worst = max(abs(p["probability"] - expected[p["index"]].item()) for p in served)
    if worst > TOLERANCE:
        problems.append(f"photo: probabilities differ from the in-process ones by {worst:.2e} (> {TOLERANCE})")
    return problems


def check_loopback(env: dict[str, str], pids: set[int]) -> list[str]:
    """Management and metrics: listening, by the server, on 127.0.0.1 only."""
    problems = []
    listening = [c for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    for key in LOOPBACK_KEYS:
        port = urlsplit(env[f"TS_{key.upper()}"]).port
        hosts = {ipv4(c.laddr.ip) for c in listening if c.laddr.port == port and c.pid in pids}
        if hosts != {"127.0.0.1"}:
            problems.append(f"{key}: port {port} listens on {sorted(hosts) or 'nothing'}, not on 127.0.0.1 only")
    return problems


def ipv4(address: str) -> str:
    """An IPv4 address as Java's dual-stack sockets show it (::ffff:127.0.0.1), as IPv4."""
    ip = ipaddress.ip_address(address)
    return str(ip.ipv4_mapped) if ip.version == 6 and ip.ipv4_mapped else str(ip)


def bad_inputs() -> dict[str, tuple[bytes, str]]:
    """The serving tests' bad inputs (tests/support.py), so that the image is held to the same."""
    sys.path.insert(0, str(REPO / "tests"))
    from support import bad_images

    return bad_images()


def check_bad_inputs(url: str) -> list[str]:
    problems = []
    for kind, (data, phrase) in bad_inputs().items():
        response = requests.put(url, data=data, timeout=60, headers={"Content-Type": "application/octet-stream"})
        message = response.json().get("message", "") if response.status_code == 400 else ""
        if phrase not in message:
            problems.append(f"bad input {kind}: {response.status_code} {response.text[:200]} "
                            f"(expected 400 naming '{phrase}')")
    return problems


def memory_under_load(url: str, photo: bytes, pids: list[int], users: int, duration_s: float,
                      workdir: Path) -> tuple[ImageLoad, float, list]:
    """The replica (the image command's process tree) under ``users`` closed-loop users with no
    delay: the load, its peak Σ PSS and the processes at that peak."""
    image = workdir / "photo.png"
    image.write_bytes(photo)
    report = run_loadtest(url, image, [Stage(duration_s, users, 0.0)], server_pids=pids)
    load = ImageLoad(users=users, duration_s=duration_s, transaction_rate=report.overall.transaction_rate,
                     failures=report.overall.failures)
    return load, report.server.pss_mb_peak, report.server.peak_processes


# ---- the whole check ---------------------------------------------------------------------------
def check(args: argparse.Namespace, workdir: Path) -> tuple[dict, list[str]]:
    spec, config = pod_spec(args.overlay), image_config(args.image)
    container, run = spec["container"], Path(args.run)
    user = f"{spec['security'].get('runAsUser', 1000)}:{spec['security'].get('runAsGroup', 1000)}"
    figures = {"image_size_bytes": image_size(args.image)}
    with container_of(args.image) as name:
        figures["torch"] = in_container(name, "python3", "-c", "import torch; print(torch.__version__)").strip()
        model = in_container(name, "ls", "model-store").split()[0].removesuffix(".mar")
        (workdir / "config.properties").write_text(in_container(name, "cat", config["Cmd"][config["Cmd"].index(
            "--ts-config") + 1]))
        env = pod_env(container, read_properties(workdir / "config.properties"))
        base, probe = env["TS_INFERENCE_ADDRESS"].replace("0.0.0.0", "127.0.0.1"), container["startupProbe"]
        predictions, photo = f"{base}/predictions/{model}", photo_png()
        with serving(name, config["Cmd"], user, env, workdir / "container.log") as launcher:
            figures["ready_s"] = wait_ready(base + probe["httpGet"]["path"], probe, launcher)
            expected = expected_probabilities(run, photo)
            pids = {p.pid for p in server_processes(launcher, config["Cmd"])}
            problems = check_probes(base, container) + check_photo(predictions, photo, expected)
            problems += check_loopback(env, pids)
            processes = server_processes(launcher, config["Cmd"])
            ready = replica_memory(Replica.tree([processes[0].pid]))   # the replica as the load test reads it
            figures["pss_mb_ready"], figures["processes"] = ready.pss_mb, len(ready.processes)
            problems += [f"process {p.pid} ({p.name()}) runs as uid {p.uids().real}, not {user}"
                         for p in processes if f"{p.uids().real}:{p.gids().real}" != user]
            problems += check_bad_inputs(predictions)
            problems += [f"after the bad inputs: {p}" for p in
                         check_probes(base, container) + check_photo(predictions, photo, expected)]
            if {p.pid for p in server_processes(launcher, config["Cmd"])} != pids:
                problems.append("after the bad inputs: the server's processes changed (a worker restarted)")
            figures["load"], figures["pss_mb_peak"], figures["peak_processes"] = memory_under_load(
                predictions, photo, sorted(pids), args.users, parse_duration(args.load_duration), workdir)
    return figures, problems


def image_check(args: argparse.Namespace, figures: dict, problems: list[str]) -> ImageCheck:
    """What image.json records of this check."""
    created = created_now()
    return ImageCheck(
        schema_version=1, created=created, image=args.image, image_size_bytes=figures["image_size_bytes"],
        torch=figures["torch"], overlay=args.overlay, ready_s=figures["ready_s"], load=figures["load"],
        memory=ImageMemory(pss_mb_ready=figures["pss_mb_ready"], pss_mb_peak=figures["pss_mb_peak"],
                           processes=figures["peak_processes"]),
        problems=problems, machine=describe_machine())


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="check-image-") as tmp:
        try:
            figures, problems = check(args, Path(tmp))
        except (RuntimeError, subprocess.CalledProcessError) as e:
            log = Path(tmp) / "container.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            print(f"FAILED: {e}\n{tail}", file=sys.stderr)
            return 1
    print(machine_line())
    print(f"image {args.image}: {figures['image_size_bytes'] / 1e9:.2f} GB, torch {figures['torch']}")
    print(f"ready (/ping 200) after {figures['ready_s']:.1f} s")
    load = figures["load"]
    print(f"replica memory (Σ PSS over the image command's {figures['processes']} processes): "
          f"{figures['pss_mb_ready']:.0f} MB ready, {figures['pss_mb_peak']:.0f} MB peak under {load.users} users "
          f"for {load.duration_s:.0f} s ({load.transaction_rate:.1f} transactions/s, {load.failures} failed)")
    for process in figures["peak_processes"]:
        print(f"  {process.role:8} {process.name:12} PSS {process.pss_mb:7.1f} MB  (RSS {process.rss_mb:.0f}, "
              f"USS {process.uss_mb:.0f})")
    print(f"wrote {write(image_path(args.out or args.run), image_check(args, figures, problems))}")
    for problem in problems:
        print(f"FAILED: {problem}")
    print("image check: " + ("FAILED" if problems else "passed"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
