"""check.json: the HPA simulation against real replicas under the same load, stage by stage.

Written by ``scripts/check_hpa_sim.py`` into ``--out``: one replica on the whole machine (the
default), or N replicas under scaled CPU quotas behind HAProxy (``--replicas 1,2,4``: then
``replicas`` says how they were set up). Errors are relative, (simulated - measured) / measured.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from foodclf.contracts import contract, file_in, read
from foodclf.contracts.machine import Machine

CHECK_FILE = "check.json"
SCHEMA_VERSION = 1
FIX = "run scripts/check_hpa_sim.py again to rewrite it"


@contract
class CurvePoint:
    """One point of a one-replica capacity curve as the simulation reads it (foodclf.deploy.capacity)."""
    users: int                      # closed-loop users with no delay
    transaction_rate: float         # successes per second
    cpu_cores: float                # the replica's mean CPU
    pss_mb: float                   # the replica's Σ PSS (MB), mean of the level's samples
    pss_mb_peak: float | None       # ... and the largest sample (None: not sampled apart)


@contract
class StageCheck:
    """One measured stage beside the simulation of the same users, delay and length."""
    index: int                      # 1-based, within its load test (each replica count runs its own)
    replicas: int | None            # fixed replicas; None in the scaling run (the HPA set them)
    users: int
    delay_s: float                  # each user waits uniform(0, delay_s) between requests
    duration_s: float
    measured_transaction_rate: float
    simulated_transaction_rate: float
    transaction_rate_error: float | None     # None: nothing was measured
    measured_response_time_s: float | None   # None: no request succeeded
    simulated_response_time_s: float | None
    response_time_error: float | None
    measured_failures: int
    simulated_failures: int


@contract
class ReplicaSetup:
    """``--replicas``: N replicas under scaled CPU quotas behind HAProxy."""
    replica_counts: list[int]
    cpu_limit: float                # cores per replica: the Deployment's limit × cpu_scale
    cpu_scale: float
    balance: str                    # HAProxy's balance algorithm, e.g. "random(1)"
    replica_start_s: list[float]    # each replica's start under its quota to /ping answering
    # per replica count: the mean of the capacity sweeps right before and after its stages,
    # under the quota and with it lifted (the simulation serves at the free curve while a pod's
    # CPU budget lasts, at the held one once it is spent)
    capacity_by_count: dict[str, list[CurvePoint]]
    free_capacity_by_count: dict[str, list[CurvePoint]]


@contract
class SimulationCheck:
    schema_version: Literal[SCHEMA_VERSION]   # 1
    created: str                    # ISO 8601, UTC
    model: str
    tolerance: float                # the largest relative error allowed
    capacity: list[CurvePoint]      # one replica, mean of the sweeps (under the quota with --replicas)
    capacity_drift: float           # the largest relative change between consecutive sweeps
    stages: list[StageCheck]
    largest_error: float            # the largest |error| of rate and response time over the stages
    passed: bool                    # largest_error <= tolerance (the script's exit status 0)
    other_busy_cores: dict[str, float]   # cores busy beside the replicas, per phase (load generator included)
    replicas: ReplicaSetup | None   # None: one replica on the whole machine, no quota
    machine: Machine


def check_path(path_or_dir: str | os.PathLike) -> Path:
    return file_in(path_or_dir, CHECK_FILE)


def read_sim_check(path_or_dir: str | os.PathLike) -> SimulationCheck:
    """Read and validate a check.json (a file, or the folder holding one)."""
    return read(check_path(path_or_dir), SimulationCheck, SCHEMA_VERSION, FIX)
