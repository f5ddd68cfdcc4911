"""Starting and stopping a real TorchServe: for tests, benchmarks, load tests and the demo.

    from foodclf.serve.server import TorchServe

    with TorchServe("model-store", models={"food": "food.mar"}, workdir="runs/serve") as server:
        requests.post(server.predictions_url("food"), data=jpeg_bytes)
        server.process_pids()        # frontend + workers, for CPU/RSS sampling

On entry the server is running and every model has its ready workers; on exit (or on any
error, including a failed start) the whole process group is stopped. Each server gets free
loopback ports and its own working directory (config.properties, logs, tmp dir with the pid
file and worker sockets), so several can run side by side.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from foodclf.serve.errors import ServeError
from foodclf.serve.launch import check_models, free_port, torchserve_command
from foodclf.serve.processes import kill, process_name, stop_group
from foodclf.serve.properties import DEFAULT_CONFIG, DEFAULT_LOG_CONFIG, write_properties
from foodclf.serve.settings import THREADS_ENV, serving_env, threads_per_worker

__all__ = ["ServeError", "TorchServe", "load_failures"]

log = logging.getLogger(__name__)

# TorchServe restarts a worker whose handler fails to load, with back-off, for ever. The same
# failure this many times is no passing hiccup: starting stops there and says why.
LOAD_ATTEMPTS = 2
# Unix domain socket paths (the workers' sockets live in the tmp dir) are limited to 107 bytes.
MAX_SOCKET_DIR = 80


def http_json(method: str, url: str, timeout: float = 10.0) -> Any:
    """The decoded JSON answer of a small request; HTTP errors raise urllib.error.HTTPError."""
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


class TorchServe:
    """A TorchServe subprocess on free 127.0.0.1 ports, stopped on exit.

    Args:
        model_store: folder holding the .mar files.
        models: model name -> .mar file name in ``model_store`` (loaded at start).
        workdir: where config.properties, logs/ and tmp/ go (default: a new temp dir, removed
            on exit; a given workdir is kept so its logs can be read).
        inference_port, management_port, metrics_port: fixed ports; None picks free ones.
        workers: workers per model; None keeps the archive's minWorkers (or the config's
            default_workers_per_model). Given, each worker also gets usable cores // workers
            torch threads ($FOODCLF_TORCH_THREADS) unless ``env`` sets it.
        config: the base config.properties (default: the one inside the package, foodclf/serve/).
        properties: more config.properties keys to override, e.g. {"job_queue_size": 500}.
        env: extra environment variables for the frontend and its workers (the allocator
            setting, GLIBC_TUNABLES, is added unless this or the environment sets it).
        log_config: the frontend's log4j2.xml (default: foodclf/serve/log4j2.xml; None: TorchServe's).
        launch_prefix: a command the launcher is started through, which must exec its arguments:
            e.g. one that enters a cgroup first (foodclf.deploy.local.cgroups.CpuGroup.launch_prefix),
            so that the frontend and the workers are born under its limits.
        startup_timeout: seconds to wait for /ping and ready workers. A model whose handler fails to
            load in its worker LOAD_ATTEMPTS times stops the start at once, with the reason.
    """

    def __init__(
        self,
        model_store: str | os.PathLike,
        models: Mapping[str, str] | None = None,
        workdir: str | os.PathLike | None = None,
        inference_port: int | None = None,
        management_port: int | None = None,
        metrics_port: int | None = None,
        workers: int | None = None,
        config: str | os.PathLike = DEFAULT_CONFIG,
        properties: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 240.0,
        log_config: str | os.PathLike | None = DEFAULT_LOG_CONFIG,
        launch_prefix: Sequence[str] = (),
    ):
        self.model_store = Path(model_store).resolve()
        self.models = dict(models or {})
        self._workdir_arg = workdir
        self.workdir: Path | None = None
        self.inference_port = inference_port
        self.management_port = management_port
        self.metrics_port = metrics_port
        self.workers = workers
        self.config = Path(config)
        self.properties = dict(properties or {})
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.log_config = log_config
        self.launch_prefix = list(launch_prefix)
        self.process: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._launcher_log = None
        self._known_pids: set[int] = set()
        self._model_log_start = 0
        self._short_tmp: Path | None = None
        self.tmp_dir: Path | None = None

    # ---- addresses ---------------------------------------------------------------------
    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.inference_port}"

    @property
    def model_log(self) -> Path:
        """What the workers print (handler logs, tracebacks): logs/model_log.log in the workdir."""
        return self.workdir / "logs" / "model_log.log"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def predictions_url(self, model: str) -> str:
        return f"{self.inference_url}/predictions/{model}"

    # ---- processes ---------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The Java frontend's PID (the launcher's child), or None before it started."""
        launcher = self._launcher()
        if launcher is None:
            return None
        try:
            children = launcher.children()
        except psutil.Error:
            return None
        java = [c for c in children if "java" in process_name(c)]
        return java[0].pid if java else None

    def process_pids(self) -> list[int]:
        """PIDs of the frontend and all its workers: what a load test samples for CPU and RSS."""
        pid = self.pid
        if pid is None:
            return []
        try:
            return [pid] + [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:  # it exited just now
            return []

    def worker_pids(self, model: str) -> list[int]:
        """The PIDs of the model's workers, as the management API reports them."""
        return [w["pid"] for w in self.describe(model)["workers"] if w.get("pid")]

    def describe(self, model: str) -> dict:
        """The management API's description of ``model`` (workers, batch size, ...)."""
        return http_json("GET", f"{self.management_url}/models/{model}")[0]

    # ---- life cycle --------------------------------------------------------------------
    def __enter__(self) -> TorchServe:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> TorchServe:
        if self.process is not None:
            raise ServeError("this TorchServe is already started")
        try:
            self._prepare_workdir()
            config_path = self._write_config()
            self._launch(config_path)
            self._wait_until_ready()
            if self.workers is not None:
                self._scale_workers(self.workers)
        except BaseException:
            self.stop()
            raise
        log.info("TorchServe pid %s serving %s on %s", self.pid, ", ".join(self.models) or "no models",
                 self.inference_url)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the frontend and every worker (the whole process group); safe to call twice."""
        if self.process is not None:
            self._known_pids.update(self.process_pids())
            stop_group(self.process, timeout)
            for pid in self._known_pids:  # a worker that left the group must not outlive us
                kill(pid)
            self.process = None
        if self._launcher_log is not None:
            self._launcher_log.close()
            self._launcher_log = None
        if self._short_tmp is not None:
            shutil.rmtree(self._short_tmp, ignore_errors=True)
            self._short_tmp = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines TorchServe printed (frontend and worker logs)."""
        if self.workdir is None:
            return ""
        path = self.workdir / "torchserve.out"
        if not path.is_file():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    # ---- internals ---------------------------------------------------------------------
    def _prepare_workdir(self) -> None:
        check_models(self.model_store, self.models)
        if self._workdir_arg is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="torchserve-")
            self.workdir = Path(self._tmp.name)
        else:
            self.workdir = Path(self._workdir_arg).resolve()
            self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self.tmp_dir = self.workdir / "tmp"
        if len(str(self.tmp_dir)) > MAX_SOCKET_DIR:  # worker sockets need a short path
            self.tmp_dir = self._short_tmp = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
        self.tmp_dir.mkdir(exist_ok=True)

    def _write_config(self) -> Path:
        self.inference_port = self.inference_port or free_port()
        self.management_port = self.management_port or free_port()
        self.metrics_port = self.metrics_port or free_port()
        overrides = {
            "inference_address": self.inference_url,
            "management_address": self.management_url,
            "metrics_address": self.metrics_url,
            "grpc_inference_address": "127.0.0.1",
            "grpc_management_address": "127.0.0.1",
            "grpc_inference_port": free_port(),
            "grpc_management_port": free_port(),
            "model_store": self.model_store,
        }
        if self.models:
            overrides["load_models"] = ",".join(f"{name}={mar}" for name, mar in self.models.items())
        overrides.update(self.properties)
        return write_properties(self.config, overrides, self.workdir / "config.properties")

    def _launch(self, config_path: Path) -> None:
        env = dict(os.environ)
        bin_dir = str(Path(sys.executable).parent)
        env.update({
            # The venv's python runs the workers; foodclf must be importable there.
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
            # TorchServe's pid file lives in the temp dir: one per server, or a second server
            # refuses to start ("TorchServe is already running").
            "TMPDIR": str(self.tmp_dir), "TEMP": str(self.tmp_dir),
            "LOG_LOCATION": str(self.workdir / "logs"), "METRICS_LOCATION": str(self.workdir / "logs"),
        })
        if self.workers is not None:  # scaled workers share the cores instead of each taking all
            env[THREADS_ENV] = str(threads_per_worker(self.workers))
        env = serving_env({**env, **self.env})
        # No --models: the config's load_models names them.
        command = [*self.launch_prefix, *torchserve_command(config_path, self.model_store, log_config=self.log_config)]
        self._launcher_log = open(self.workdir / "torchserve.out", "ab")
        # In a reused workdir, earlier runs' lines stay out of the load-failure check.
        self._model_log_start = self.model_log.stat().st_size if self.model_log.exists() else 0
        log.info("starting TorchServe in %s: %s", self.workdir, " ".join(command))
        # Its own session: stop() signals the launcher, the Java frontend and the workers at once.
        self.process = subprocess.Popen(command, cwd=self.workdir, env=env, stdout=self._launcher_log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServeError(f"TorchServe exited with code {self.process.returncode} while starting; "
                                 f"log tail ({self.workdir / 'torchserve.out'}):\n{self.log_tail()}")
            if self._ready():
                self._known_pids.update(self.process_pids())
                return
            self._raise_if_a_model_cannot_load()
            time.sleep(0.5)
        raise ServeError(f"TorchServe did not become ready within {self.startup_timeout:.0f} s; "
                         f"log tail ({self.workdir / 'torchserve.out'}):\n{self.log_tail()}")

    def _raise_if_a_model_cannot_load(self) -> None:
        for name in self.models:
            failures = load_failures(self.model_log, name, self._model_log_start)
            if len(failures) >= LOAD_ATTEMPTS:
                raise ServeError(f"model '{name}' cannot load in its worker ({len(failures)} tries): {failures[-1]}\n"
                                 f"the traceback is in {self.model_log}")

    def _ready(self) -> bool:
        try:
            if http_json("GET", f"{self.inference_url}/ping", timeout=2).get("status") != "Healthy":
                return False
            for name in self.models:
                description = self.describe(name)
                wanted = max(1, description.get("minWorkers", 1))
                if sum(w.get("status") == "READY" for w in description["workers"]) < wanted:
                    return False
            return True
        except (OSError, ValueError, KeyError, IndexError):  # not listening yet, or loading
            return False

    def _scale_workers(self, workers: int) -> None:
        for name in self.models:
            url = f"{self.management_url}/models/{name}?min_worker={workers}&max_worker={workers}&synchronous=true"
            try:
                http_json("PUT", url, timeout=self.startup_timeout)
            except (OSError, ValueError) as e:
                raise ServeError(f"cannot scale '{name}' to {workers} workers ({e}); "
                                 f"log tail:\n{self.log_tail()}") from e
        self._wait_until_ready()

    def _launcher(self) -> psutil.Process | None:
        if self.process is None or self.process.poll() is not None:
            return None
        try:
            return psutil.Process(self.process.pid)
        except psutil.Error:
            return None


def load_failures(model_log: Path, model: str, offset: int = 0) -> list[str]:
    """The reason of every failed load of ``model`` in the workers' log after byte ``offset``,
    oldest first: TorchServe's "Failed to load model NAME, exception ..." line with the lines
    after it, up to the traceback."""
    try:
        with open(model_log, "rb") as f:
            if offset <= os.fstat(f.fileno()).st_size:  # a rolled-over log starts again at 0
                f.seek(offset)
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:  # not written yet
        return []
    messages = [line.split(" MODEL_LOG - ", 1)[1] for line in lines if " MODEL_LOG - " in line]
    start, failures = f"Failed to load model {model}, exception ", []
    for i, message in enumerate(messages):
        if message.startswith(start):
            reason = [message[len(start):]]
            for more in messages[i + 1:i + 6]:
                if more.startswith(("Traceback", "Failed to load model ")):
                    break
                reason.append(more.strip())
            failures.append(" ".join(reason))
    return failures
