"""The scaling run: the HPA scaling real replicas through a time-scaled profile, and the
simulation of the same run, compared (scripts/check_hpa_sim.py --scaling).

Time scaling applies to everything the controller and the load do: the profile's stages, the
sync period, the metrics interval and offset, the CPU initialisation period and the behavior's
stabilisation windows and policy periods are all multiplied by ``time_scale``. What a replica
takes to start is not scaled: it is measured (start under the quota to /ping answering) and the
simulation gets it as model_load_s, with no image pull (the image is local) and no probe delay
(readiness is HAProxy's health check: every second, one success). CPU is scaled as for fixed replicas: the
request and the limit times the CPU scale, so the utilisation the HPA sees is the cluster's.
"""
from __future__ import annotations

import bisect
import threading
import time
from dataclasses import replace
from pathlib import Path

from foodclf.contracts import write
from foodclf.contracts.loadtest import LoadTest
from foodclf.contracts.scaling import SCALING_FILE, OverallCheck, ScalingCheck, ScalingComparison, TickCheck
from foodclf.deploy.capacity import Capacity
from foodclf.deploy.check import relative_error, stage_check
from foodclf.deploy.cluster import SimulationSettings
from foodclf.deploy.local.autoscaler import Autoscaler, Tick
from foodclf.deploy.local.replicas import ReplicaSet
from foodclf.deploy.plots import plot_scaling
from foodclf.deploy.simulation import SimulationResult, simulate
from foodclf.deploy.spec import DeploymentSpec, Probe, ScalingPolicy, ScalingRules
from foodclf.loadtest.memory import Replica
from foodclf.loadtest.profiles import Stage
from foodclf.loadtest.runner import run_loadtest

# HAProxy's health check (foodclf.deploy.local.haproxy): /ping every second, UP after one success.
BALANCER_CHECK = Probe(initial_delay_s=0.0, period_s=1.0, success_threshold=1, failure_threshold=2)


def scaled_spec(spec: DeploymentSpec, time_scale: float, cpu_scale: float, max_replicas: int) -> DeploymentSpec:
    """The Deployment as this machine plays it: CPU × cpu_scale, behavior periods × time_scale,
    at most ``max_replicas``, and the balancer's health check as the readiness probe."""
    def rules(r: ScalingRules) -> ScalingRules:
        return ScalingRules(r.stabilization_window_s * time_scale, r.select_policy,
                            tuple(ScalingPolicy(p.kind, p.value, p.period_s * time_scale) for p in r.policies))
    return replace(spec, cpu_request=spec.cpu_request * cpu_scale,
                   cpu_limit=None if spec.cpu_limit is None else spec.cpu_limit * cpu_scale,
                   max_replicas=min(spec.max_replicas, max_replicas), min_replicas=min(spec.min_replicas, max_replicas),
                   scale_up=rules(spec.scale_up), scale_down=rules(spec.scale_down), readiness=BALANCER_CHECK,
                   startup=None)


def scaled_settings(time_scale: float, model_load_s: float, base: SimulationSettings = SimulationSettings()
                    ) -> SimulationSettings:
    """The controller's and metrics' periods × time_scale; a replica's measured start, unscaled."""
    return replace(base, sync_period_s=base.sync_period_s * time_scale,
                   metrics_interval_s=base.metrics_interval_s * time_scale,
                   metrics_offset_s=base.metrics_offset_s * time_scale,
                   cpu_init_period_s=base.cpu_init_period_s * time_scale,
                   image_pull_s=0.0, model_load_s=model_load_s)


def run_scaling(replica_set: ReplicaSet, spec: DeploymentSpec, settings: SimulationSettings, stages: list[Stage],
                image: Path, out: Path) -> tuple[list[Tick], LoadTest]:
    """Drive ``stages`` through the balancer while the HPA scales the set; (ticks, load test)."""
    done = threading.Event()
    result: dict = {}
    out.mkdir(parents=True, exist_ok=True)
    clock_file = out / "scaling_loadtest.t0"
    clock_file.unlink(missing_ok=True)

    def load() -> None:
        try:
            result["loadtest"] = run_loadtest(replica_set.url, image, stages, out_dir=out / "scaling_loadtest",
                                              replica=Replica(workers=replica_set.pids), seed=0,
                                              model=replica_set.model, profile="scaling", clock_file=clock_file)
        except BaseException as e:  # noqa: BLE001 (handed to the main thread)
            result["error"] = e
        finally:
            done.set()

    thread = threading.Thread(target=load, name="load")
    thread.start()
    try:
        # The controller keeps the load's time: its time 0 is when the first stage starts (the
        # load generator writes it), as in the simulation. Waiting for the first request instead
        # would start it late by the first users' waits (up to 100 s in the challenge profile).
        while not clock_file.exists() and not done.is_set():
            time.sleep(0.01)
        start = _monotonic_of(float(clock_file.read_text())) if clock_file.exists() else time.monotonic()
        ticks = Autoscaler(replica_set, spec, settings).run(until=done.is_set, start=start)
    finally:
        thread.join()
        clock_file.unlink(missing_ok=True)
    if "error" in result:
        raise result["error"]
    return ticks, result["loadtest"]


def _monotonic_of(epoch_s: float) -> float:
    """time.monotonic()'s reading at the wall-clock time ``epoch_s``."""
    return time.monotonic() - (time.time() - epoch_s)


def simulate_scaling(capacity: Capacity, spec: DeploymentSpec, settings: SimulationSettings, stages: list[Stage],
                     time_scale: float) -> SimulationResult:
    return simulate(capacity, spec, stages, settings, profile="scaling", time_scale=time_scale, initial_replicas=1)


def compare_scaling(ticks: list[Tick], measured: LoadTest, simulated: SimulationResult) -> ScalingComparison:
    """Per controller tick the real and simulated replica counts; per stage and overall the
    real and simulated transaction rate and response time, with relative errors."""
    times = [row["t_s"] for row in simulated.rows]
    tick_rows = []
    for tick in ticks:
        sim = simulated.rows[max(bisect.bisect_right(times, tick.t_s) - 1, 0)]
        tick_rows.append(TickCheck(tick.t_s, tick.replicas, tick.ready, tick.utilization, sim["replicas"],
                                   sim["ready"], tick.replicas - sim["replicas"]))
    stages = [stage_check(real, sim, replicas=None) for real, sim in zip(measured.stages, simulated.stages)]
    real, sim = measured.overall, simulated.summary
    overall = OverallCheck(real.transaction_rate, sim.transaction_rate,
                           relative_error(sim.transaction_rate, real.transaction_rate),
                           real.response_time_s, sim.response_time_s,
                           relative_error(sim.response_time_s, real.response_time_s), real.failures, sim.failures)
    return ScalingComparison(ticks=tick_rows, stages=stages, overall=overall,
                             largest_replica_difference=max((abs(r.difference) for r in tick_rows), default=0),
                             ticks_within_one=sum(abs(r.difference) <= 1 for r in tick_rows))


def scaling_passed(comparison: ScalingComparison, tolerance: float) -> bool:
    """Every tick's count within one replica of the simulation's, the run's rate within ``tolerance``."""
    error = comparison.overall.transaction_rate_error
    return comparison.largest_replica_difference <= 1 and error is not None and abs(error) <= tolerance


def write_scaling(check: ScalingCheck, out: Path) -> Path:
    """scaling.json and scaling.png (replicas over time, real against simulated) in ``out``."""
    path = write(out / SCALING_FILE, check)
    plot_scaling(check.comparison.ticks, out / "scaling.png")
    return path
