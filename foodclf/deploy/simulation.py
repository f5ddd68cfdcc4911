"""Predict a Kubernetes deployment: the HPA controller, the cluster and siege's users, simulated.

    capacity = load_capacity("runs/demo/mobilenet_v2/loadtest.json")   # one replica, measured
    spec = load_deployment(overlay_dir("hpa+"))                          # the packaged kustomize overlay
    result = simulate(capacity, spec, parse_profile("challenge"), profile="challenge")
    # or with the profile's users scaled so that its busiest stage asks 8 replicas' capacity:
    result = simulate(capacity, spec, parse_profile("challenge"), profile="challenge", peak_load=8)
    write_simulation(result, "runs/demo/mobilenet_v2/simulations")      # .json .csv .png

The parts, one job each: foodclf.deploy.capacity (the measured replica), .manifests (what the
rendered manifests say), .controller (the HPA's arithmetic), .cluster (nodes, probes, the
settings the manifests do not say), .load (the profile against one replica's capacity), .engine
(the events in time), .tally (what is counted), .results and .plots (files), .check (the
comparison with a real load test). docs/kubernetes.md has the reasoning and limits.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from foodclf.contracts.simulation import SimulationLoad, SimulationStage, SimulationSummary
from foodclf.deploy.capacity import Capacity
from foodclf.deploy.cluster import SimulationError, SimulationSettings
from foodclf.deploy.engine import Engine
from foodclf.deploy.load import describe_load, scale_to_peak_load
from foodclf.deploy.spec import DeploymentSpec
from foodclf.loadtest.profiles import Stage

log = logging.getLogger(__name__)


@dataclass
class SimulationResult:
    """One model on one deployment: the figures of simulations/<deployment>.json and the time series."""
    model: str
    deployment: str
    manifest: str
    capacity_source: str
    profile: str
    time_scale: float
    load: SimulationLoad              # the profile's users as given, or scaled to a peak load
    rows: list[dict]                  # one per record interval (foodclf.deploy.engine.CSV_FIELDS)
    stages: list[SimulationStage]
    summary: SimulationSummary


def simulate(capacity: Capacity, spec: DeploymentSpec, stages: Sequence[Stage],
             settings: SimulationSettings = SimulationSettings(), profile: str = "custom",
             time_scale: float = 1.0, initial_replicas: int | None = None,
             peak_load: float | None = None) -> SimulationResult:
    """Simulate ``stages`` of siege load against the deployment ``spec`` whose replicas have
    ``capacity``; the deployment starts with ``initial_replicas`` (default: min) ready pods.
    With ``peak_load``, every stage's users are first scaled so that the busiest stage asks
    ``peak_load`` times one replica's capacity (foodclf.deploy.load)."""
    if not stages:
        raise SimulationError("the load profile has no stages")
    if peak_load is None:
        load = describe_load(stages, capacity)
    else:
        stages, load = scale_to_peak_load(stages, capacity, peak_load)
    if settings.record_interval_s <= 0 or settings.sync_period_s <= 0 or settings.metrics_interval_s <= 0:
        raise SimulationError("record interval, sync period and metrics interval must be more than 0 s")
    peak_bytes = capacity.peak_pss_mb * 2**20
    if spec.memory_limit_bytes is not None and peak_bytes > spec.memory_limit_bytes:
        log.warning("%s: a replica's measured PSS peak (%.0f MiB) exceeds the memory limit (%.0f MiB): Kubernetes "
                    "would OOM-kill it, which the simulation does not model", spec.name, peak_bytes / 2**20,
                    spec.memory_limit_bytes / 2**20)
    engine = Engine(capacity, spec, stages, settings, initial_replicas)
    engine.run()
    return SimulationResult(model=capacity.model, deployment=spec.name, manifest=spec.path,
                            capacity_source=capacity.source, profile=profile, time_scale=time_scale, load=load,
                            rows=engine.rows, stages=engine.tally.stage_rows, summary=summarize(engine))


def summarize(engine: Engine) -> SimulationSummary:
    """The report's table over the whole run: mean CPU cores and memory of all pods together,
    siege's transaction rate and response time (mean, p50, p95, p99), failures, pod-seconds; the
    busiest stage's CPU and memory too."""
    tally = engine.tally
    stages = tally.stage_rows
    total_s = sum(s.duration_s for s in stages)
    successes, failures = tally.successes, tally.failures
    rows = engine.rows
    return SimulationSummary(
        cpu_cores=round(sum(s.cpu_cores * s.duration_s for s in stages) / total_s, 4),
        memory_kb=round(sum(s.memory_kb * s.duration_s for s in stages) / total_s),
        response_time_s=round(tally.time_s / successes, 4) if successes else None,
        **tally.run_percentiles(),
        transaction_rate=round(successes / total_s, 4),
        successes=successes,
        failures=failures,
        max_replicas=max([r["replicas"] for r in rows] or [engine.replicas]),
        max_ready_replicas=max([r["ready"] for r in rows] or [0]),
        cpu_cores_peak=max(s.cpu_cores for s in stages),
        memory_kb_peak=max(s.memory_kb for s in stages),
        replica_pss_mb_peak=round(engine.pss[engine.busiest_replica_jobs], 1),
        availability=round(successes / (successes + failures), 6) if successes + failures else None,
        duration_s=round(total_s, 3),
        pod_seconds=round(engine.pod_seconds(), 1),
    )
