"""Load-test a served model: siege's measurements, from locust, with percentiles and server CPU/RSS.

    report = run_loadtest("http://127.0.0.1:8080/predictions/food", "photo.jpg",
                          [Stage(30, users=10, delay_s=1)], out_dir="runs/food")
    print(format_summary(report))

Closed-loop users (locust ``FastHttpUser``, run headless in a child process, see
foodclf/locust_child.py) POST one photo to the URL through a list of stages (foodclf.loadtest.profiles).
Every completed request is kept, so the statistics are exact rather than locust's rounded
buckets. A request belongs to the stage in which it *completed*; requests still in flight when
the last stage ends are abandoned and not counted. A request succeeds when the server answers
2xx within the request timeout; anything else (connection refused, 4xx, 5xx, timeout) is a
failure, so a server that is down gives a report full of failures rather than an exception.

The report's formulas (DESIGN.md): transaction rate = Σ successes / Σ seconds, response time =
Σ(successes × mean time) / Σ successes. Latency statistics (response time, p50/p95/p99, longest)
are over successful transactions. On the server side, the TorchServe frontend and its worker
processes (the given PIDs and their descendants, or whoever listens on a loopback URL's port)
are sampled with psutil: CPU cores used (CPU seconds per wall second) and summed RSS. The load
generator's own CPU cores are recorded per stage too (``client_cpu_cores``): locust's users share
one core, so a figure near 1.0 means the client, not the server, set the pace (a warning says so).

Files (in ``out_dir``): loadtest.json (schema in docs/contracts.md and docs/loadtest.md,
checked by ``load_loadtest``) and loadtest.csv (one row per second).
"""
from __future__ import annotations

import bisect
import csv
import io
import ipaddress
import json
import logging
import mimetypes
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

import numpy as np
import psutil

from foodclf.errors import FoodclfError, SchemaError
from foodclf.io import atomic_write_json, atomic_write_text, read_json, require_fields
from foodclf.loadtest.profiles import CHALLENGE_PROFILE, Stage, parse_duration, parse_profile, total_duration

log = logging.getLogger(__name__)

__all__ = [
    "CHALLENGE_PROFILE", "CAPACITY_LEVELS", "Stage", "parse_profile", "run_loadtest", "run_capacity",
    "load_loadtest", "summarize", "combine_stages", "format_summary", "write_loadtest",
]

SCHEMA_VERSION = 1
LOADTEST_JSON = "loadtest.json"
LOADTEST_CSV = "loadtest.csv"
CAPACITY_LEVELS = (1, 2, 4, 8, 16)
DEFAULT_TIMEOUT_S = 30.0  # siege's default; TorchServe itself gives up after 120 s
CHILD_START_S = 60.0  # slack for the locust child to start and write its results
CLIENT_SATURATED_CORES = 0.9  # locust's users share one thread: near one core, the client is the limit
CSV_FIELDS = ["t_s", "stage", "users", "successes", "failures", "response_time_s", "cpu_cores", "rss_mb"]
_CHILD = Path(__file__).with_name("locust_child.py")


# ---------------------------------------------------------------- statistics (pure functions)

def summarize(latencies_s: Sequence[float], failures: int, duration_s: float) -> dict:
    """One stage's figures from its successful transactions' times, its failure count and length.

    transaction_rate = successes / duration_s; response_time_s is the mean time of the successes;
    percentiles use linear interpolation (numpy's default). Times are None without successes,
    availability is None when nothing was sent.
    """
    times = np.asarray(latencies_s, dtype=float)
    successes = int(times.size)
    attempts = successes + int(failures)
    has = successes > 0
    return {
        "duration_s": _r(duration_s), "successes": successes, "failures": int(failures),
        "availability": _r(successes / attempts) if attempts else None,
        "transaction_rate": _r(successes / duration_s) if duration_s > 0 else 0.0,
        "response_time_s": _r(times.mean()) if has else None,
        "p50_s": _r(np.percentile(times, 50)) if has else None,
        "p95_s": _r(np.percentile(times, 95)) if has else None,
        "p99_s": _r(np.percentile(times, 99)) if has else None,
        "longest_s": _r(times.max()) if has else None,
    }


def combine_stages(stages: Sequence[dict], all_latencies_s: Sequence[float] | None = None) -> dict:
    """The overall figures by the report's formulas:

    transaction rate = Σ successes / Σ seconds,
    response time    = Σ(successes × mean time) / Σ successes.
    Percentiles and the longest time need the pooled times (``all_latencies_s``); without
    them they are None.
    """
    seconds = sum(s["duration_s"] for s in stages)
    successes = sum(s["successes"] for s in stages)
    failures = sum(s["failures"] for s in stages)
    weighted = sum(s["successes"] * s["response_time_s"] for s in stages if s["successes"])
    pooled = summarize(all_latencies_s, failures, seconds) if all_latencies_s is not None else {}
    return {
        "duration_s": _r(seconds), "successes": successes, "failures": failures,
        "availability": _r(successes / (successes + failures)) if successes + failures else None,
        "transaction_rate": _r(successes / seconds) if seconds > 0 else 0.0,
        "response_time_s": _r(weighted / successes) if successes else None,
        **{k: pooled.get(k) for k in ("p50_s", "p95_s", "p99_s", "longest_s")},
    }


def failure_kind(status: int, error: str) -> str:
    """connection, timeout, http_4xx, http_5xx or other: what went wrong with one request."""
    if status >= 500:
        return "http_5xx"
    if status >= 400:
        return "http_4xx"
    text = error.lower()
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "refused" in text or "connection" in text or "reset" in text or "unreachable" in text:
        return "connection"
    return "other"


def _r(x: float) -> float:
    return round(float(x), 6)


# ---------------------------------------------------------------- the server side (psutil)

class ServerSampler:
    """Samples CPU cores used and summed RSS of some processes and their descendants, in a thread.

    CPU cores = Δ(user + system CPU seconds) / Δ wall seconds, summed over the processes seen in
    two consecutive samples (a worker that restarts is picked up from its second sample).
    """

    def __init__(self, pids: Iterable[int], interval_s: float = 1.0):
        self.root_pids = sorted(set(int(p) for p in pids))
        self.interval_s = interval_s
        self.samples: list[tuple[float, float, float]] = []  # (time, cpu_cores, rss_mb)
        self.seen_pids: set[int] = set()
        self._last: tuple[float, dict[int, float]] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="server-sampler", daemon=True)

    def __enter__(self) -> "ServerSampler":
        self.sample()  # the baseline for the first CPU delta
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def processes(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for pid in self.root_pids:
            try:
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)]:
                    found[proc.pid] = proc
            except psutil.Error:
                continue  # the server is gone: it contributes nothing
        return list(found.values())

    def sample(self) -> None:
        now = time.time()
        cpu: dict[int, float] = {}
        rss = 0
        for proc in self.processes():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu[proc.pid] = times.user + times.system
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue
        self.seen_pids.update(cpu)
        if self._last is not None and cpu:
            then, last_cpu = self._last
            used = sum(cpu[pid] - last_cpu[pid] for pid in cpu if pid in last_cpu)
            if now > then:
                self.samples.append((now, max(0.0, used / (now - then)), rss / 2**20))
        self._last = (now, cpu)

    def summary(self) -> dict:
        cores = [c for _, c, _ in self.samples]
        rss = [m for _, _, m in self.samples]
        if not self.samples:
            return empty_server_summary()
        return {"cpu_cores_mean": _r(np.mean(cores)), "cpu_cores_max": _r(max(cores)),
                "rss_mb_mean": _r(np.mean(rss)), "rss_mb_max": _r(max(rss)),
                "samples": len(self.samples), "pids": sorted(self.seen_pids)}


def empty_server_summary() -> dict:
    return {"cpu_cores_mean": None, "cpu_cores_max": None, "rss_mb_mean": None, "rss_mb_max": None,
            "samples": 0, "pids": []}


def listening_pids(port: int) -> list[int]:
    """PIDs listening on a local TCP port (empty if none, or if the OS will not tell us)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return []
    return sorted({c.pid for c in conns if c.status == psutil.CONN_LISTEN and c.laddr
                   and c.laddr.port == port and c.pid})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------- running a load test

def check_url(url: str) -> str:
    """An http(s) URL with a host; the only thing a load test ever sends requests to."""
    if not url:
        raise FoodclfError("no URL: give --url http://HOST:PORT/predictions/NAME (a load test targets only that URL)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FoodclfError(f"URL {url!r}: expected http://HOST:PORT/predictions/NAME")
    try:
        parts.port
    except ValueError:
        raise FoodclfError(f"URL {url!r}: bad port") from None
    return url


def model_name(url: str) -> str:
    """NAME from .../predictions/NAME[/VERSION], else the last path segment."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if "predictions" in segments and segments.index("predictions") + 1 < len(segments):
        return segments[segments.index("predictions") + 1]
    return segments[-1] if segments else ""


def server_pids_for(url: str, server_pids: Iterable[int] | None) -> list[int]:
    """The given PIDs, or whoever listens on a loopback URL's port; none for a remote URL."""
    if server_pids:
        return sorted(set(int(p) for p in server_pids))
    parts = urlsplit(url)
    if not is_loopback(parts.hostname or ""):
        return []
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return listening_pids(port)


def run_locust(url: str, image: Path, stages: Sequence[Stage], timeout_s: float,
               seed: int | None = None) -> dict:
    """Drive the stages with locust in a child process; its raw per-request results."""
    with tempfile.TemporaryDirectory(prefix="foodclf-locust-") as tmp:
        spec = {"url": url, "image": str(image.resolve()), "timeout_s": float(timeout_s), "seed": seed,
                "content_type": mimetypes.guess_type(image.name)[0] or "application/octet-stream",
                "stages": [s.as_dict() for s in stages], "out": str(Path(tmp) / "requests.json")}
        (Path(tmp) / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        limit = total_duration(stages) + timeout_s + CHILD_START_S
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


def run_loadtest(url: str, image: str | os.PathLike, stages: Sequence[Stage] | str,
                 out_dir: str | os.PathLike | None = None, server_pids: Iterable[int] | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, sample_interval_s: float = 1.0,
                 time_scale: float = 1.0, profile: str | None = None, seed: int | None = None,
                 model: str | None = None) -> dict:
    """Run the stages against ``url`` and return the loadtest.json content (written to out_dir too).

    ``stages`` is a list of Stage, or anything ``parse_profile`` reads ("challenge", a file);
    ``time_scale`` shrinks every stage. ``server_pids``: the TorchServe frontend (and worker)
    PIDs to sample; by default whoever listens on a loopback URL's port, nothing for a remote URL.
    """
    if isinstance(stages, (str, os.PathLike)):
        profile = profile or Path(str(stages)).name
    stages = parse_profile(stages if isinstance(stages, (str, os.PathLike)) else list(stages), time_scale)
    mode = "fixed" if len(stages) == 1 and profile is None else "profile"
    report, timeseries = _measure(url, image, stages, mode, profile, time_scale, server_pids, timeout_s,
                                  sample_interval_s, seed, model)
    if out_dir is not None:
        write_loadtest(report, timeseries, out_dir)
    return report


def run_capacity(url: str, image: str | os.PathLike, levels: Sequence[int] = CAPACITY_LEVELS,
                 duration_s: float = 30.0, out_dir: str | os.PathLike | None = None,
                 server_pids: Iterable[int] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 sample_interval_s: float = 1.0, seed: int | None = None, model: str | None = None) -> dict:
    """Sweep the user counts with no delay, ``duration_s`` each: the per-replica capacity curve.

    Returns the loadtest.json content in capacity mode: one stage per level plus ``capacity``,
    one row per level with throughput, latency and the server's CPU and RSS.
    """
    if not levels or any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in levels):
        raise FoodclfError(f"capacity levels {list(levels)!r}: give whole numbers of users, 1 or more")
    stages = parse_profile([Stage(parse_duration(duration_s), u, 0.0) for u in levels])
    report, timeseries = _measure(url, image, stages, "capacity", None, 1.0, server_pids, timeout_s,
                                  sample_interval_s, seed, model)
    report["capacity"] = [
        {"users": s["users"], "transaction_rate": s["transaction_rate"], "response_time_s": s["response_time_s"],
         "p50_s": s["p50_s"], "p95_s": s["p95_s"], "p99_s": s["p99_s"], "failures": s["failures"],
         "cpu_cores": s["cpu_cores"], "rss_mb": s["rss_mb"], "client_cpu_cores": s["client_cpu_cores"]}
        for s in report["stages"]]
    if out_dir is not None:
        write_loadtest(report, timeseries, out_dir)
    return report


def _measure(url, image, stages, mode, profile, time_scale, server_pids, timeout_s, sample_interval_s,
             seed, model) -> tuple[dict, list[dict]]:
    url = check_url(url)
    image = Path(image)
    if not image.is_file():
        raise FoodclfError(f"image {image}: no such file; give --image PHOTO (a JPEG or PNG the model accepts)")
    if not timeout_s > 0:
        raise FoodclfError(f"request timeout must be more than 0 s, got {timeout_s}")
    pids = server_pids_for(url, server_pids)
    if not pids:
        log.info("no server processes to sample for %s: server CPU and memory will be null", url)
    log.info("load test of %s: %d stage(s), %.0f s", url, len(stages), total_duration(stages))

    sampler = ServerSampler(pids, sample_interval_s) if pids else None
    if sampler:
        with sampler:
            raw = run_locust(url, image, stages, timeout_s, seed)
    else:
        raw = run_locust(url, image, stages, timeout_s, seed)
    samples = sampler.samples if sampler else []

    stage_reports, timeseries, all_ok = analyse(raw, stages, samples)
    warn_if_client_saturated(stage_reports)
    report = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "url": url, "model": model or model_name(url), "image": image.name,
        "mode": mode, "profile": profile, "time_scale": time_scale, "request_timeout_s": timeout_s,
        "stages": stage_reports,
        "overall": {**combine_stages(stage_reports, all_ok), **_server_means(samples, raw["stage_starts"][0], raw["end"]),
                    "client_cpu_cores": client_cpu_cores(raw, 0, len(stages)), "errors": _sum_errors(stage_reports)},
        "server": sampler.summary() if sampler else empty_server_summary(),
        "timeseries_csv": LOADTEST_CSV,
    }
    return report, timeseries


def analyse(raw: dict, stages: Sequence[Stage], samples: Sequence[tuple[float, float, float]]):
    """Per-stage reports, the per-second time series and all successful times from the raw run."""
    starts, end = raw["stage_starts"], raw["end"]
    bounds = list(zip(starts, [*starts[1:], end]))
    # (completion time, seconds, ok, error kind); a request completing after the end is dropped.
    done = sorted((start + secs, secs, 200 <= status < 300 and not error, failure_kind(status, error))
                  for start, secs, status, error in raw["requests"] if start + secs <= end)
    reports, all_ok = [], []
    for index, ((lo, hi), stage) in enumerate(zip(bounds, stages), start=1):
        mine = _completed_between(done, lo, hi, end)
        ok = [secs for _, secs, good, _ in mine if good]
        errors: dict[str, int] = {}
        for _, _, good, kind in mine:
            if not good:
                errors[kind] = errors.get(kind, 0) + 1
        all_ok.extend(ok)
        reports.append({"index": index, "users": stage.users, "delay_s": stage.delay_s,
                        **summarize(ok, len(mine) - len(ok), hi - lo),
                        **_server_means(samples, lo, hi), "client_cpu_cores": client_cpu_cores(raw, index - 1, index),
                        "errors": dict(sorted(errors.items()))})
    return reports, timeseries_rows(done, bounds, stages, samples, end), all_ok


def warn_if_client_saturated(stage_reports: Sequence[dict]) -> None:
    for s in stage_reports:
        if (s.get("client_cpu_cores") or 0) >= CLIENT_SATURATED_CORES:
            log.warning("stage %d: the load generator used %.2f cores; locust runs its users on one core, "
                        "so it may have set the pace, not the server (fewer users, or a client machine of its own)",
                        s["index"], s["client_cpu_cores"])


def client_cpu_cores(raw: dict, first: int, stop: int) -> float | None:
    """CPU cores the load generator itself used over stages [first, stop): locust runs its users
    in one thread, so near 1.0 it, not the server, was the limit."""
    cpu = [*raw.get("cpu_s_at_stage_starts", []), raw.get("cpu_s_end")]
    wall = [*raw["stage_starts"], raw["end"]]
    if len(cpu) != len(wall) or None in cpu or wall[stop] <= wall[first]:
        return None
    return _r((cpu[stop] - cpu[first]) / (wall[stop] - wall[first]))


def timeseries_rows(done, bounds, stages, samples, end: float) -> list[dict]:
    """One row per second from the first stage's start; the last row runs to the end."""
    start = bounds[0][0]
    rows = []
    seconds = max(1, round(end - start))
    for second in range(seconds):
        lo = start + second
        hi = end if second == seconds - 1 else lo + 1
        middle = (lo + hi) / 2  # a second straddling a stage change belongs to the stage holding most of it
        stage = next((i for i, (a, b) in enumerate(bounds, start=1) if a <= middle < b), len(bounds))
        mine = _completed_between(done, lo, hi, end)
        ok = [secs for _, secs, good, _ in mine if good]
        server = _server_means(samples, lo, hi)
        rows.append({"t_s": second, "stage": stage, "users": stages[stage - 1].users,
                     "successes": len(ok), "failures": len(mine) - len(ok),
                     "response_time_s": _r(np.mean(ok)) if ok else "",
                     "cpu_cores": "" if server["cpu_cores"] is None else server["cpu_cores"],
                     "rss_mb": "" if server["rss_mb"] is None else server["rss_mb"]})
    return rows


def _completed_between(done: list[tuple], lo: float, hi: float, end: float) -> list[tuple]:
    """The requests (sorted by completion time) that completed in [lo, hi), or [lo, end] at the end."""
    first = bisect.bisect_left(done, (lo,))
    last = bisect.bisect_right(done, (hi, float("inf"))) if hi >= end else bisect.bisect_left(done, (hi,))
    return done[first:last]


def _server_means(samples, lo: float, hi: float) -> dict:
    """Mean CPU cores and RSS of the samples taken in (lo, hi]: each sample covers the interval
    before it. A window shorter than the sampling interval gets the first sample after it."""
    inside = [(c, m) for t, c, m in samples if lo < t <= hi]
    if not inside and samples:
        # a window shorter than the sampling interval: use the first sample after it
        after = [(c, m) for t, c, m in samples if t > hi]
        inside = after[:1]
    if not inside:
        return {"cpu_cores": None, "rss_mb": None}
    return {"cpu_cores": _r(np.mean([c for c, _ in inside])), "rss_mb": _r(np.mean([m for _, m in inside]))}


def _sum_errors(stages: Sequence[dict]) -> dict:
    total: dict[str, int] = {}
    for s in stages:
        for kind, n in s["errors"].items():
            total[kind] = total.get(kind, 0) + n
    return dict(sorted(total.items()))


# ---------------------------------------------------------------- files

def write_loadtest(report: dict, timeseries: Sequence[dict] | None, out_dir: str | os.PathLike) -> Path:
    """loadtest.json (validated before it is written) and loadtest.csv into ``out_dir``."""
    out_dir = Path(out_dir)
    validate_loadtest(report, str(out_dir / LOADTEST_JSON))
    if timeseries is not None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(timeseries)
        atomic_write_text(out_dir / LOADTEST_CSV, buf.getvalue())
    return atomic_write_json(out_dir / LOADTEST_JSON, report)


NUM = (int, float)
OPT_NUM = (int, float, type(None))
_STAGE_FIELDS = {"index": int, "duration_s": NUM, "users": int, "delay_s": NUM, "successes": int,
                 "failures": int, "availability": OPT_NUM, "transaction_rate": NUM, "response_time_s": OPT_NUM,
                 "p50_s": OPT_NUM, "p95_s": OPT_NUM, "p99_s": OPT_NUM, "longest_s": OPT_NUM,
                 "cpu_cores": OPT_NUM, "rss_mb": OPT_NUM}
_OVERALL_FIELDS = {k: v for k, v in _STAGE_FIELDS.items() if k not in ("index", "users", "delay_s")}
_SERVER_FIELDS = {"cpu_cores_mean": OPT_NUM, "cpu_cores_max": OPT_NUM, "rss_mb_mean": OPT_NUM,
                  "rss_mb_max": OPT_NUM, "samples": int}
_CAPACITY_FIELDS = {"users": int, "transaction_rate": NUM, "response_time_s": OPT_NUM, "p95_s": OPT_NUM,
                    "cpu_cores": OPT_NUM, "rss_mb": OPT_NUM}
MODES = ("fixed", "profile", "capacity")


def validate_loadtest(data: Any, where: str) -> dict:
    """Check loadtest.json content; a bad field raises SchemaError naming ``where`` and the field."""
    require_fields(data, {"schema_version": int, "created": str, "url": str, "model": str, "image": str,
                          "mode": str, "stages": list, "overall": dict, "server": dict}, where)
    if data["schema_version"] != SCHEMA_VERSION:
        raise SchemaError(f"{where}: schema_version {data['schema_version']} is not {SCHEMA_VERSION}; "
                          "rerun scripts/loadtest.py")
    if data["mode"] not in MODES:
        raise SchemaError(f"{where}: field 'mode' must be one of {', '.join(MODES)}, got {data['mode']!r}")
    if not data["stages"]:
        raise SchemaError(f"{where}: field 'stages' is empty")
    for i, stage in enumerate(data["stages"]):
        require_fields(stage, _STAGE_FIELDS, f"{where}: stages[{i}]")
    require_fields(data["overall"], _OVERALL_FIELDS, f"{where}: overall")
    for name, part in [*((f"stages[{i}]", s) for i, s in enumerate(data["stages"])), ("overall", data["overall"])]:
        if "client_cpu_cores" in part:  # added later: files written before it lack it
            require_fields(part, {"client_cpu_cores": OPT_NUM}, f"{where}: {name}")
    require_fields(data["server"], _SERVER_FIELDS, f"{where}: server")
    if data["mode"] == "capacity" or "capacity" in data:
        require_fields(data, {"capacity": list}, where)
        if not data["capacity"]:
            raise SchemaError(f"{where}: field 'capacity' is empty")
        for i, row in enumerate(data["capacity"]):
            require_fields(row, _CAPACITY_FIELDS, f"{where}: capacity[{i}]")
    return data


def load_loadtest(path: str | os.PathLike) -> dict:
    """Read and validate a loadtest.json (a file, or a run directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / LOADTEST_JSON
    return validate_loadtest(read_json(path), str(path))


# ---------------------------------------------------------------- the summary a person reads

def format_summary(report: dict) -> str:
    """siege's summary lines, then percentiles, errors and the server side."""
    o, server = report["overall"], report["server"]

    def num(value, fmt: str) -> str:
        width = fmt.split(".")[0]
        return f"{'-':>{width or 1}}" if value is None else f"{value:{fmt}}"

    lines = [
        f"Transactions:              {o['successes']:>10} hits",
        f"Availability:              {num(None if o['availability'] is None else 100 * o['availability'], '10.2f')} %",
        f"Elapsed time:              {o['duration_s']:10.2f} secs",
        f"Response time:             {num(o['response_time_s'], '10.2f')} secs",
        f"Transaction rate:          {o['transaction_rate']:10.2f} trans/sec",
        f"Successful transactions:   {o['successes']:>10}",
        f"Failed transactions:       {o['failures']:>10}",
        f"Longest transaction:       {num(o['longest_s'], '10.2f')}",
        f"p50 / p95 / p99:           {num(o['p50_s'], '.3f')} / {num(o['p95_s'], '.3f')} / {num(o['p99_s'], '.3f')} secs",
    ]
    if o.get("errors"):
        lines.append("Failures by kind:          " + ", ".join(f"{k} {v}" for k, v in o["errors"].items()))
    if server["samples"]:
        lines.append(f"Server CPU:                {server['cpu_cores_mean']:10.2f} cores (max {server['cpu_cores_max']:.2f})")
        lines.append(f"Server memory (RSS):       {server['rss_mb_mean']:10.1f} MB (max {server['rss_mb_max']:.1f})")
    else:
        lines.append("Server CPU and memory:     not sampled (no local server process found)")
    if o.get("client_cpu_cores") is not None:
        lines.append(f"Load generator CPU:        {o['client_cpu_cores']:10.2f} cores (locust: one core at most)")
    if len(report["stages"]) > 1:
        lines.append("")
        lines.append("stage users delay   secs    ok  fail  trans/s  resp s   p95 s  cores    MB")
        for s in report["stages"]:
            lines.append(f"{s['index']:>5} {s['users']:>5} {s['delay_s']:>5g} {s['duration_s']:>6.1f} {s['successes']:>5} "
                         f"{s['failures']:>5} {s['transaction_rate']:>8.2f} {num(s['response_time_s'], '7.3f'):>7} "
                         f"{num(s['p95_s'], '7.3f'):>7} {num(s['cpu_cores'], '6.2f'):>6} {num(s['rss_mb'], '6.0f'):>6}")
    return "\n".join(lines)
