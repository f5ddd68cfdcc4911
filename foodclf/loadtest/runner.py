"""Load-test a served model: siege's measurements, from locust, with percentiles and server CPU/RSS.

    report = run_loadtest("http://127.0.0.1:8080/predictions/food", "photo.jpg",
                          [Stage(30, users=10, delay_s=1)], out_dir="runs/food")
    print(format_summary(report))              # foodclf.loadtest.summary

Closed-loop users (locust ``FastHttpUser``, run headless in a child process, see
foodclf/loadtest/locust_child.py) POST one photo to the URL through a list of stages
(foodclf.loadtest.profiles). Every completed request is kept, so the statistics
(foodclf.loadtest.stats) are exact rather than locust's rounded buckets. A request succeeds when
the server answers 2xx within the request timeout; anything else is a failure, so a server that
is down gives a report full of failures rather than an exception (the ``foodclf loadtest``
command then exits non-zero). Meanwhile the replica's processes are sampled
(foodclf.loadtest.sampler) for CPU and memory (Σ PSS, as foodclf.loadtest.memory defines it).
The load generator's own CPU cores are recorded per stage too
(``client_cpu_cores``): locust's users share one core, so a figure near 1.0 means the client, not
the server, set the pace (a warning says so).

The result is the loadtest.json contract (foodclf.contracts.loadtest.LoadTest), written with
loadtest.csv (one row per second) into ``out_dir`` when given (foodclf.loadtest.files).
"""
from __future__ import annotations

import json
import logging
import mimetypes
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from foodclf.contracts import created_now
from foodclf.contracts.loadtest import LOADTEST_CSV, SCHEMA_VERSION, CapacityLevel, LoadTest
from foodclf.errors import FoodclfError
from foodclf.loadtest.files import write_loadtest
from foodclf.loadtest.memory import Replica
from foodclf.loadtest.profiles import Stage, parse_duration, parse_profile, total_duration
from foodclf.loadtest.sampler import ServerSampler, not_sampled, server_pids_for
from foodclf.loadtest.stats import completed_requests, overall_result, stage_results, timeseries_rows

log = logging.getLogger(__name__)

__all__ = ["CAPACITY_LEVELS", "DEFAULT_TIMEOUT_S", "run_loadtest", "run_capacity", "check_url", "model_name"]

CAPACITY_LEVELS = (1, 2, 4, 8, 16)
DEFAULT_TIMEOUT_S = 30.0  # siege's default; TorchServe itself gives up after 120 s
CHILD_START_S = 60.0  # slack for the locust child to start and write its results
CLIENT_SATURATED_CORES = 0.9  # locust's users share one thread: near one core, the client is the limit
_CHILD = Path(__file__).with_name("locust_child.py")


@dataclass(frozen=True)
class Target:
    """What every request of a run goes to and carries, and how the run is labelled."""
    url: str
    image: Path
    timeout_s: float
    server_pids: Sequence[int] | None = None
    replica: Replica | None = None    # wins over server_pids: e.g. one model of a shared TorchServe
    sample_interval_s: float = 1.0
    seed: int | None = None
    model: str | None = None
    clock_file: Path | None = None    # the load's time 0 (epoch seconds) is written there at its start


def run_loadtest(url: str, image: str | os.PathLike, stages: Sequence[Stage] | str,
                 out_dir: str | os.PathLike | None = None, server_pids: Iterable[int] | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, sample_interval_s: float = 1.0,
                 time_scale: float = 1.0, profile: str | None = None, seed: int | None = None,
                 model: str | None = None, replica: Replica | None = None,
                 clock_file: str | os.PathLike | None = None) -> LoadTest:
    """Run the stages against ``url``; the loadtest.json contract (written to out_dir too).

    ``stages`` is a list of Stage, or anything ``parse_profile`` reads ("challenge", a file);
    ``time_scale`` shrinks every stage. ``server_pids``: processes to sample with all their
    descendants (a TorchServe serving this one model); ``replica``: the processes of one model
    of a TorchServe holding several (``foodclf.loadtest.memory.torchserve_replica``). By
    default whoever listens on a loopback URL's port, nothing for a remote URL. ``clock_file``:
    the load generator writes its time 0 there (epoch seconds, ``time.time()``) as the first
    stage starts, so that a controller running beside the load can keep the profile's time.
    """
    if isinstance(stages, (str, os.PathLike)):
        profile = profile or Path(str(stages)).name
    stages = parse_profile(stages if isinstance(stages, (str, os.PathLike)) else list(stages), time_scale)
    mode = "fixed" if len(stages) == 1 and profile is None else "profile"
    target = _target(url, image, timeout_s, server_pids, sample_interval_s, seed, model, replica, clock_file)
    report, timeseries = measure(target, stages, mode=mode, profile=profile, time_scale=time_scale)
    if out_dir is not None:
        write_loadtest(report, timeseries, out_dir)
    return report


def run_capacity(url: str, image: str | os.PathLike, levels: Sequence[int] = CAPACITY_LEVELS,
                 duration_s: float = 30.0, out_dir: str | os.PathLike | None = None,
                 server_pids: Iterable[int] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 sample_interval_s: float = 1.0, seed: int | None = None, model: str | None = None,
                 replica: Replica | None = None) -> LoadTest:
    """Sweep the user counts with no delay, ``duration_s`` each: the per-replica capacity curve.

    The loadtest.json contract in capacity mode: one stage per level plus ``capacity``, one row
    per level with throughput, latency and the replica's CPU and memory (Σ PSS, mean and peak).
    """
    if not levels or any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in levels):
        raise FoodclfError(f"capacity levels {list(levels)!r}: give whole numbers of users, 1 or more")
    stages = parse_profile([Stage(parse_duration(duration_s), u, 0.0) for u in levels])
    target = _target(url, image, timeout_s, server_pids, sample_interval_s, seed, model, replica)
    report, timeseries = measure(target, stages, mode="capacity")
    if out_dir is not None:
        write_loadtest(report, timeseries, out_dir)
    return report


def measure(target: Target, stages: Sequence[Stage], mode: str, profile: str | None = None,
            time_scale: float = 1.0) -> tuple[LoadTest, list[dict]]:
    """Drive the stages with locust while sampling the server; the report and its time series."""
    replica = target.replica or Replica.tree(server_pids_for(target.url, target.server_pids))
    if replica.empty:
        log.info("no server processes to sample for %s: server CPU and memory will be null", target.url)
    log.info("load test of %s: %d stage(s), %.0f s", target.url, len(stages), total_duration(stages))
    sampler = ServerSampler(replica, target.sample_interval_s) if not replica.empty else None
    with sampler or nullcontext():
        raw = run_locust(target, stages)
    samples = sampler.samples if sampler else []

    done = completed_requests(raw["requests"], raw["end"])
    results = stage_results(raw, stages, samples, done)
    warn_if_client_saturated(results)
    created = created_now()
    report = LoadTest(
        schema_version=SCHEMA_VERSION, created=created,
        url=target.url, model=target.model or model_name(target.url), image=target.image.name,
        mode=mode, profile=profile, time_scale=time_scale, request_timeout_s=target.timeout_s,
        stages=results, overall=overall_result(raw, results, samples, done),
        server=sampler.usage() if sampler else not_sampled(), timeseries_csv=LOADTEST_CSV,
        capacity=capacity_levels(results) if mode == "capacity" else None)
    return report, timeseries_rows(raw, stages, samples, done)


def capacity_levels(results: Sequence) -> list[CapacityLevel]:
    return [CapacityLevel(users=s.users, transaction_rate=s.transaction_rate, response_time_s=s.response_time_s,
                          p50_s=s.p50_s, p95_s=s.p95_s, p99_s=s.p99_s, failures=s.failures,
                          cpu_cores=s.cpu_cores, pss_mb=s.pss_mb, pss_mb_peak=s.pss_mb_peak,
                          client_cpu_cores=s.client_cpu_cores)
            for s in results]


def run_locust(target: Target, stages: Sequence[Stage]) -> dict:
    """Drive the stages with locust in a child process; its raw per-request results."""
    with tempfile.TemporaryDirectory(prefix="foodclf-locust-") as tmp:
        spec = {"url": target.url, "image": str(target.image.resolve()), "timeout_s": float(target.timeout_s),
                "seed": target.seed, "stages": [s.as_dict() for s in stages], "out": str(Path(tmp) / "requests.json"),
                "content_type": mimetypes.guess_type(target.image.name)[0] or "application/octet-stream",
                "clock_file": str(target.clock_file) if target.clock_file else None}
        (Path(tmp) / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        limit = total_duration(stages) + target.timeout_s + CHILD_START_S
        with open(Path(tmp) / "locust.log", "w+", encoding="utf-8") as logf:
            try:
                proc = subprocess.run([sys.executable, str(_CHILD), str(Path(tmp) / "spec.json")],
                                      stdout=logf, stderr=subprocess.STDOUT, timeout=limit, cwd=tmp)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"the locust process ran past {limit:.0f} s and was killed") from None
            logf.seek(0)
            child_log = logf.read()
        if proc.returncode != 0 or not Path(spec["out"]).is_file():
            raise RuntimeError(f"the locust process failed (exit {proc.returncode}):\n{child_log[-2000:]}")
        for line in child_log.splitlines():
            log.debug("locust: %s", line)
        return json.loads(Path(spec["out"]).read_text(encoding="utf-8"))


def warn_if_client_saturated(results: Sequence) -> None:
    for s in results:
        if (s.client_cpu_cores or 0) >= CLIENT_SATURATED_CORES:
            log.warning("stage %d: the load generator used %.2f cores; locust runs its users on one core, "
                        "so it may have set the pace, not the server (fewer users, or a client machine of its own)",
                        s.index, s.client_cpu_cores)


def check_url(url: str) -> str:
    """An http(s) URL with a host; the only thing a load test ever sends requests to."""
    if not url:
        raise FoodclfError("no URL: give --url http://HOST:PORT/predictions/NAME (a load test targets only that URL)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FoodclfError(f"URL {url!r}: expected http://HOST:PORT/predictions/NAME")
    try:
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        raise FoodclfError(f"URL {url!r}: bad port") from None
    return url


def model_name(url: str) -> str:
    """NAME from .../predictions/NAME[/VERSION], else the last path segment."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if "predictions" in segments and segments.index("predictions") + 1 < len(segments):
        return segments[segments.index("predictions") + 1]
    return segments[-1] if segments else ""


def _target(url, image, timeout_s, server_pids, sample_interval_s, seed, model, replica=None,
            clock_file=None) -> Target:
    """The run's Target, its inputs checked before anything starts."""
    url = check_url(url)
    image = Path(image)
    if not image.is_file():
        raise FoodclfError(f"image {image}: no such file; give --image PHOTO (a JPEG or PNG the model accepts)")
    if not timeout_s > 0:
        raise FoodclfError(f"request timeout must be more than 0 s, got {timeout_s}")
    return Target(url, image, float(timeout_s), list(server_pids) if server_pids else None,
                  replica, sample_interval_s, seed, model, Path(clock_file) if clock_file is not None else None)
