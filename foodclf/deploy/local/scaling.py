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
from dataclasses import asdict, replace
from pathlib import Path

from foodclf.contracts.loadtest import LoadTest
from foodclf.deploy.capacity import Capacity
from foodclf.deploy.cluster import SimulationSettings
from foodclf.deploy.local.autoscaler import Autoscaler, Tick
from foodclf.deploy.local.replicas import ReplicaSet
from foodclf.deploy.simulation import SimulationResult, simulate
from foodclf.deploy.spec import DeploymentSpec, Probe, ScalingPolicy, ScalingRules
from foodclf.io import atomic_write_json
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


def compare_scaling(ticks: list[Tick], measured: LoadTest, simulated: SimulationResult) -> dict:
    """Per controller tick the real and simulated replica counts; per stage and overall the
    real and simulated transaction rate and response time, with relative errors."""
    times = [row["t_s"] for row in simulated.rows]
    tick_rows = []
    for tick in ticks:
        i = bisect.bisect_right(times, tick.t_s) - 1
        sim = simulated.rows[max(i, 0)]
        tick_rows.append({**asdict(tick), "simulated_replicas": sim["replicas"], "simulated_ready": sim["ready"],
                          "difference": tick.replicas - sim["replicas"]})
    stages = [{"index": real.index, "users": real.users, "delay_s": real.delay_s,
               "measured_transaction_rate": real.transaction_rate, "simulated_transaction_rate": sim.transaction_rate,
               "transaction_rate_error": _relative(sim.transaction_rate, real.transaction_rate),
               "measured_response_time_s": real.response_time_s, "simulated_response_time_s": sim.response_time_s,
               "measured_failures": real.failures, "simulated_failures": sim.failures}
              for real, sim in zip(measured.stages, simulated.stages)]
    real_rate, sim_rate = measured.overall.transaction_rate, simulated.summary.transaction_rate
    return {
        "ticks": tick_rows, "stages": stages,
        "largest_replica_difference": max((abs(r["difference"]) for r in tick_rows), default=0),
        "ticks_within_one": sum(abs(r["difference"]) <= 1 for r in tick_rows),
        "overall": {"measured_transaction_rate": real_rate, "simulated_transaction_rate": sim_rate,
                    "transaction_rate_error": _relative(sim_rate, real_rate),
                    "measured_response_time_s": measured.overall.response_time_s,
                    "simulated_response_time_s": simulated.summary.response_time_s,
                    "measured_failures": measured.overall.failures, "simulated_failures": simulated.summary.failures},
    }


def write_scaling(comparison: dict, out: Path, extra: dict) -> Path:
    """scaling.json and scaling.png (replicas over time, real against simulated) in ``out``."""
    atomic_write_json(out / "scaling.json", {**extra, **comparison})
    plot_scaling(comparison["ticks"], out / "scaling.png")
    return out / "scaling.json"


def plot_scaling(tick_rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    t = [r["t_s"] for r in tick_rows]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.step(t, [r["replicas"] for r in tick_rows], where="post", label="real: desired")
    ax.step(t, [r["ready"] for r in tick_rows], where="post", linestyle=":", label="real: ready")
    ax.step(t, [r["simulated_replicas"] for r in tick_rows], where="post", linestyle="--", label="simulated: desired")
    ax.step(t, [r["simulated_ready"] for r in tick_rows], where="post", linestyle="-.", label="simulated: ready")
    ax.set_xlabel("time (s, time-scaled run)")
    ax.set_ylabel("replicas")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _relative(simulated: float | None, measured: float | None) -> float | None:
    if simulated is None or not measured:
        return None
    return round((simulated - measured) / measured, 4)
