"""loadtest.json: what a load test of a served model measured (written by foodclf.loadtest).

    doc = read_loadtest("runs/food")            # a file, or a run directory holding loadtest.json
    doc.overall.transaction_rate, doc.capacity[0].cpu_cores

Formulas (docs/loadtest.md): transaction rate = Σ successes / Σ seconds, response time =
Σ(successes × mean time) / Σ successes; latencies are over successful transactions and are None
without any. Server figures (the replica's processes: the TorchServe frontend and the model's
workers, sampled with psutil) are None when nothing could be sampled (a remote URL). Memory is
the replica's memory as foodclf.loadtest.memory defines it: Σ PSS over its processes, in MB
(MiB). ``errors`` counts failures by kind: ``http_<status>`` (e.g. ``http_503``: TorchServe's
job queue was full), ``connection``, ``timeout`` or ``other``.

Schema 3 (from 2): memory is the replica's PSS (``pss_mb``, ``pss_mb_peak``) instead of RSS
summed over processes (``rss_mb``); the server's RSS and USS peaks and the per-process reading
at the PSS peak beside it. Schema 2 (from 1): failures by HTTP status instead of
http_4xx/http_5xx, and every field required.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import MinLen

from foodclf.contracts import contract, file_in, read

LOADTEST_FILE = "loadtest.json"
LOADTEST_CSV = "loadtest.csv"
SCHEMA_VERSION = 3
MODES = ("fixed", "profile", "capacity")


@contract
class StageResult:
    """One stage: ``users`` closed-loop users, each waiting a random 0..``delay_s`` s per request."""
    index: int                      # 1-based
    users: int
    delay_s: float
    duration_s: float               # the stage's measured length
    successes: int
    failures: int
    availability: float | None      # successes / (successes + failures); None if nothing was sent
    transaction_rate: float         # successes / duration_s
    response_time_s: float | None   # mean time of the successes
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    longest_s: float | None
    cpu_cores: float | None         # server CPU (cores), mean of the samples taken in the stage
    pss_mb: float | None            # the replica's memory (Σ PSS, MB), mean of the samples in the stage
    pss_mb_peak: float | None       # ... and the largest of them
    client_cpu_cores: float | None  # the load generator's own CPU; near 1.0 it, not the server, set the pace
    errors: dict[str, int]          # failures by kind (http_503, connection, timeout, ...)


@contract
class Overall:
    """The whole run by the report's formulas; percentiles over all its successful transactions."""
    duration_s: float
    successes: int
    failures: int
    availability: float | None
    transaction_rate: float         # Σ successes / Σ seconds
    response_time_s: float | None   # Σ(successes × mean time) / Σ successes
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    longest_s: float | None
    cpu_cores: float | None
    pss_mb: float | None
    pss_mb_peak: float | None
    client_cpu_cores: float | None
    errors: dict[str, int]


@contract
class ProcessUsage:
    """One process of the replica at the sample where the replica's PSS peaked (MB)."""
    pid: int
    role: Literal["frontend", "worker", "process"]   # process: one of a tree whose roles are unknown
    name: str
    pss_mb: float
    rss_mb: float
    uss_mb: float


@contract
class ServerUsage:
    """The replica's processes over the whole run (None everywhere when none was sampled)."""
    cpu_cores_mean: float | None
    cpu_cores_max: float | None
    pss_mb_mean: float | None       # the replica's memory: Σ PSS over its processes, mean of the samples
    pss_mb_peak: float | None       # ... the largest sample: what a memory limit must hold
    rss_mb_peak: float | None       # Σ RSS (a shared page counted in each process), largest sample
    uss_mb_peak: float | None       # Σ USS (pages no other process maps), largest sample
    samples: int
    pids: list[int]                 # every process seen (frontend and workers)
    peak_processes: list[ProcessUsage]   # process by process at the PSS peak; empty without samples


@contract
class CapacityLevel:
    """One level of a capacity sweep: ``users`` users with no delay (one replica's capacity)."""
    users: int
    transaction_rate: float
    response_time_s: float | None
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    failures: int
    cpu_cores: float | None
    pss_mb: float | None            # the replica's Σ PSS (MB), mean of the level's samples
    pss_mb_peak: float | None       # ... and the largest of them
    client_cpu_cores: float | None


@contract
class LoadTest:
    schema_version: Literal[SCHEMA_VERSION]   # 3
    created: str                    # ISO 8601, UTC
    url: str                        # the only address the test requested
    model: str                      # NAME of .../predictions/NAME, unless given
    image: str                      # the photo's file name
    mode: Literal["fixed", "profile", "capacity"]
    profile: str | None             # "challenge", a profile file's name, or None
    time_scale: float
    request_timeout_s: float
    stages: Annotated[list[StageResult], MinLen(1)]
    overall: Overall
    server: ServerUsage
    timeseries_csv: str | None      # loadtest.csv beside this file (None: not written)
    capacity: list[CapacityLevel] | None = None   # capacity mode only: one row per level

    def __post_init__(self) -> None:
        if (self.mode == "capacity") != (self.capacity is not None):
            raise ValueError("field 'capacity' is required in capacity mode and only there")
        if self.capacity is not None and not self.capacity:
            raise ValueError("field 'capacity' is empty")


def loadtest_path(path_or_dir: str | os.PathLike) -> Path:
    """The loadtest.json of a run directory, or the path itself when it names a file."""
    return file_in(path_or_dir, LOADTEST_FILE)


def read_loadtest(path_or_dir: str | os.PathLike) -> LoadTest:
    """Read and validate a loadtest.json (or a run directory holding one); SchemaError names the
    file and the field; a file of another schema_version is refused first, saying to rerun the test."""
    return read(loadtest_path(path_or_dir), LoadTest, SCHEMA_VERSION, "rerun the load test (foodclf loadtest)")
