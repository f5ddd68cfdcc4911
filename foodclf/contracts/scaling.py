"""scaling.json: the project's HPA controller scaling real replicas through a time-scaled
profile, against the simulation of the same run (``scripts/check_hpa_sim.py --scaling``).

Times are those of the time-scaled run (seconds from the first stage's start).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from foodclf.contracts import contract, file_in, read
from foodclf.contracts.machine import Machine
from foodclf.contracts.sim_check import FIX, CurvePoint, StageCheck

SCALING_FILE = "scaling.json"
SCHEMA_VERSION = 1


@contract
class TickCheck:
    """One sync of the real controller beside the simulated counts at that time."""
    t_s: float
    replicas: int                   # the desired count the controller set
    ready: int                      # replicas in the balancer (answering /ping) then
    utilization: int | None         # the CPU utilisation it saw, % of requests; None: no metrics yet
    simulated_replicas: int
    simulated_ready: int
    difference: int                 # replicas - simulated_replicas


@contract
class OverallCheck:
    """The whole run."""
    measured_transaction_rate: float
    simulated_transaction_rate: float
    transaction_rate_error: float | None
    measured_response_time_s: float | None
    simulated_response_time_s: float | None
    response_time_error: float | None
    measured_failures: int
    simulated_failures: int


@contract
class ScalingComparison:
    ticks: list[TickCheck]
    stages: list[StageCheck]        # replicas is None: the controller set them
    overall: OverallCheck
    largest_replica_difference: int
    ticks_within_one: int           # ticks whose real and simulated counts differ by at most one


@contract
class ScalingCheck:
    schema_version: Literal[SCHEMA_VERSION]   # 1
    created: str                    # ISO 8601, UTC
    model: str
    profile: str                    # the load profile, e.g. "challenge"
    time_scale: float               # the profile and the controller's periods × this
    peak_load: float                # the busiest stage asked this many replicas' capacity (held curve)
    cpu_scale: float
    cpu_limit: float                # cores per replica: the Deployment's limit × cpu_scale
    cpu_request: float              # cores: the Deployment's request × cpu_scale (the HPA's 100 %)
    tolerance: float                # the largest relative rate error allowed
    replica_start_s: list[float]    # each replica's start under its quota to /ping answering
    model_load_s: float             # the simulated replicas' start: the mean of those during the run
    capacity: list[CurvePoint]      # one replica under its quota (sizes the peak load)
    free_capacity: list[CurvePoint]  # the same with the quota lifted
    comparison: ScalingComparison
    passed: bool                    # every tick within ±1 and the rate within the tolerance
    other_busy_cores: dict[str, float]   # cores busy beside the replicas, per phase
    machine: Machine


def scaling_path(path_or_dir: str | os.PathLike) -> Path:
    return file_in(path_or_dir, SCALING_FILE)


def read_scaling_check(path_or_dir: str | os.PathLike) -> ScalingCheck:
    """Read and validate a scaling.json (a file, or the folder holding one)."""
    return read(scaling_path(path_or_dir), ScalingCheck, SCHEMA_VERSION, FIX)
