"""simulations/<deployment>.json: one simulated deployment of one model (foodclf.deploy).

``foodclf simulate`` writes one file per deployment variant beside a loadtest.json, with the
time series ``<deployment>.csv`` and the plot ``<deployment>.png``; the comparison reads the
summary (the report's deployment table: CPU, memory, response time, p95, transaction rate, failures).
"""
from __future__ import annotations

import os
from pathlib import Path

from foodclf.contracts import contract, read

SCHEMA_VERSION = 2  # 2: response-time percentiles, the load (peak load, users' scale)
SIMULATIONS_DIR = "simulations"  # beside the loadtest.json whose capacity curve fed the simulation


def simulation_file(deployment: str) -> str:
    """The JSON's name for a deployment variant; the CSV and PNG share its stem."""
    return f"{deployment}.json"


def timeseries_file(deployment: str) -> str:
    return f"{deployment}.csv"


def plot_file(deployment: str) -> str:
    return f"{deployment}.png"


@contract
class SimulationSummary:
    """The whole run: means over its duration, all pods together."""
    cpu_cores: float                # mean CPU of all pods together
    memory_kb: int                  # mean Σ PSS of all pods together, KiB
    response_time_s: float | None   # mean time of the successful transactions (None: none succeeded)
    p50_s: float | None             # percentiles of the successful transactions' times
    p95_s: float | None
    p99_s: float | None
    transaction_rate: float         # successes / run seconds
    successes: int
    failures: int
    max_replicas: int               # the Deployment's largest desired count
    max_ready_replicas: int
    cpu_cores_peak: float           # the busiest stage's mean CPU
    memory_kb_peak: int             # the busiest stage's mean memory (all pods, KiB)
    replica_pss_mb_peak: float      # one replica's Σ PSS (MB) at the most requests any replica held
    availability: float | None      # successes / all transactions (None: no transaction)
    duration_s: float
    pod_seconds: float | None = None  # Σ seconds each pod was bound to a node (requests reserved); None: older file


@contract
class SimulationStage:
    """One stage of the load profile; a request counts in the stage in which it completes."""
    index: int                      # 1-based, in profile order
    duration_s: float
    users: int
    delay_s: float                  # each user waits uniform(0, delay_s) between requests
    successes: int
    failures: int
    transaction_rate: float
    response_time_s: float | None
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    cpu_cores: float
    memory_kb: int
    replicas: float                 # time-weighted mean of the desired count
    ready: float                    # time-weighted mean of the ready pods


@contract
class SimulationLoad:
    """The load the profile put on the deployment, in units of one replica's capacity.

    A stage's demand is users / (delay_s / 2 + service_time_s): the requests a second its
    closed-loop users would send if every answer took the unqueued service time."""
    peak_load_target: float | None  # --peak-load: the peak demand asked for; None: the profile's users as given
    users_scale: float              # every stage's users were multiplied by this (then rounded); 1.0 as given
    peak_load: float                # the busiest stage's demand / replica_capacity, after rounding the users
    peak_demand: float              # requests/s: the busiest stage's demand
    replica_capacity: float         # requests/s: the capacity curve's highest transaction rate (saturation)
    service_time_s: float           # 1 / the curve's rate at one user: a request's time without queueing


@contract
class Simulation:
    schema_version: int
    created: str                    # ISO 8601, UTC
    deployment: str                 # the variant: "deployment_hpa", "deployment_hpa+", "deployment_hpa-inflight"
    manifest: str                   # the kustomize overlay (or manifest file) it was read from
    model: str
    capacity_source: str            # the loadtest.json(s) of the one-replica capacity curve
    profile: str                    # "challenge" or the profile file's stem
    time_scale: float
    load: SimulationLoad
    summary: SimulationSummary
    stages: list[SimulationStage]
    timeseries_csv: str             # beside this file
    plot: str | None                # beside this file; None when written without plots


def read_simulation(path: str | os.PathLike) -> Simulation:
    """Read and validate a ``simulations/<deployment>.json``."""
    return read(path, Simulation, SCHEMA_VERSION, "rerun `foodclf simulate`")


def read_simulations(run_dir: str | os.PathLike) -> dict[str, Simulation]:
    """Every simulation of a run directory (``RUN_DIR/simulations/*.json``), by deployment name."""
    found = {}
    for path in sorted((Path(run_dir) / SIMULATIONS_DIR).glob("*.json")):
        simulation = read_simulation(path)
        found[simulation.deployment] = simulation
    return dict(sorted(found.items()))  # by deployment name, not file name ('+' sorts before '.')
