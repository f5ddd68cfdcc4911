"""The simulation's files (simulations/<deployment>.json .csv .png), the report's table and
which deployment wins.

The JSON is the contract foodclf.contracts.simulation: written through it, read back through it.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from foodclf import contracts
from foodclf.contracts import created_now
from foodclf.contracts.simulation import (
    SCHEMA_VERSION,
    Simulation,
    plot_file,
    read_simulation,
    simulation_file,
    timeseries_file,
)
from foodclf.deploy.capacity import Capacity
from foodclf.deploy.cluster import SimulationSettings
from foodclf.deploy.engine import CSV_FIELDS
from foodclf.deploy.load import load_line
from foodclf.deploy.simulation import SimulationResult, simulate
from foodclf.deploy.spec import DeploymentSpec
from foodclf.io import atomic_write_csv
from foodclf.loadtest.profiles import Stage


def write_simulation(result: SimulationResult, out_dir: str | os.PathLike, plot: bool = True) -> Path:
    """``<deployment>.json``, ``.csv`` and (with ``plot``) ``.png`` in ``out_dir``; returns the JSON's path."""
    out_dir = Path(out_dir)
    name = result.deployment
    atomic_write_csv(out_dir / timeseries_file(name), CSV_FIELDS, result.rows)
    if plot:
        from foodclf.deploy.plots import plot_simulation  # matplotlib only when a plot is wanted

        plot_simulation(result, out_dir / plot_file(name))
    simulation = Simulation(
        schema_version=SCHEMA_VERSION, created=created_now(),
        deployment=name, manifest=result.manifest, model=result.model, capacity_source=result.capacity_source,
        profile=result.profile, time_scale=result.time_scale, load=result.load, summary=result.summary,
        stages=result.stages,
        timeseries_csv=timeseries_file(name), plot=plot_file(name) if plot else None)
    return contracts.write(out_dir / simulation_file(name), simulation)


def simulate_to_files(jobs: Sequence[tuple[Capacity, DeploymentSpec, Path]], stages: Sequence[Stage],
                      settings: SimulationSettings, profile: str, time_scale: float, peak_load: float | None,
                      workers: int = 1) -> list[SimulationResult]:
    """Simulate each (capacity, deployment, output folder) under ``stages`` and write its files;
    the results in ``jobs``' order. With ``workers`` > 1 the simulations run in that many
    processes: each is independent and deterministic for its seed, so the results are those of
    one after another, in a fraction of the time."""
    calls = [(capacity, spec, stages, settings, profile, time_scale, peak_load, out_dir)
             for capacity, spec, out_dir in jobs]
    if workers <= 1 or len(calls) <= 1:
        return [_simulate_and_write(*call) for call in calls]
    # spawn: the caller may hold threads (torch's) that a forked child would inherit locked.
    with ProcessPoolExecutor(min(workers, len(calls)), mp_context=get_context("spawn")) as pool:
        return list(pool.map(_simulate_and_write, *zip(*calls)))


def _simulate_and_write(capacity: Capacity, spec: DeploymentSpec, stages: Sequence[Stage],
                        settings: SimulationSettings, profile: str, time_scale: float, peak_load: float | None,
                        out_dir: Path) -> SimulationResult:
    result = simulate(capacity, spec, stages, settings, profile=profile, time_scale=time_scale, peak_load=peak_load)
    write_simulation(result, out_dir)
    return result


def load_simulation(path: str | os.PathLike) -> Simulation:
    """Read and validate a ``simulations/<deployment>.json`` (foodclf.contracts.simulation.read_simulation)."""
    return read_simulation(path)


def format_table(results: Sequence[SimulationResult | Simulation]) -> str:
    """The report's deployment table: one row per model × deployment, then the load each model's
    simulations ran under (foodclf.deploy.load)."""
    head = (f"{'model':<16} {'deployment':<23} {'CPU (cores)':>11} {'Memory (KB)':>12} {'Resp. (s)':>9} "
            f"{'p95 (s)':>8} {'Trans. rate':>11} {'Failed':>7} {'Max pods':>8} {'Pod-s':>7}")
    lines = [head, "-" * len(head)]
    for r in results:
        s = r.summary
        rt, p95 = (_seconds(x) for x in (s.response_time_s, s.p95_s))
        lines.append(f"{r.model:<16} {r.deployment:<23} {s.cpu_cores:>11.3f} {s.memory_kb:>12.0f} {rt:>9} "
                     f"{p95:>8} {s.transaction_rate:>11.2f} {s.failures:>7d} {s.max_replicas:>8d} "
                     f"{_pod_seconds(s.pod_seconds):>7}")
    loads = {r.model: r.load for r in results}  # one load per model: its deployments share it
    lines += [""] + [f"{model}: {load_line(load)}" for model, load in loads.items()]
    return "\n".join(lines)


def format_verdicts(results: Sequence[SimulationResult | Simulation]) -> str:
    """Per model, which deployment wins and by how much, at what cost in pods and memory: the
    winner fails least, then answers fastest at p95; each other deployment is set against it."""
    by_model: dict[str, list] = {}
    for r in results:
        by_model.setdefault(r.model, []).append(r)
    lines = []
    for model, group in by_model.items():
        ranked = sorted(group, key=lambda r: (r.summary.failures, _or_inf(r.summary.p95_s)))
        best = ranked[0]
        for other in ranked[1:]:
            lines.append(f"{model}: {_verdict(best, other)}")
    return "\n".join(lines)


def _verdict(best, other) -> str:
    b, o = best.summary, other.summary
    same = (b.failures, b.p95_s, b.response_time_s) == (o.failures, o.p95_s, o.response_time_s)
    head = (f"{best.deployment} and {other.deployment} serve alike" if same
            else f"{best.deployment} wins over {other.deployment}")
    return (f"{head}: p95 {_seconds(b.p95_s)} vs {_seconds(o.p95_s)} s{_change(b.p95_s, o.p95_s)}, "
            f"mean {_seconds(b.response_time_s)} vs {_seconds(o.response_time_s)} s, "
            f"failures {b.failures} vs {o.failures}; at most {b.max_replicas} vs {o.max_replicas} pods, "
            f"{_pod_seconds(b.pod_seconds)} vs {_pod_seconds(o.pod_seconds)} pod-seconds"
            f"{_change(b.pod_seconds, o.pod_seconds)}, "
            f"mean memory {b.memory_kb / 2**20:.2f} vs {o.memory_kb / 2**20:.2f} GiB"
            f"{_change(b.memory_kb, o.memory_kb)}")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pod_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def _change(new: float | None, old: float | None) -> str:
    """`` (-81%)``: ``new`` against ``old``; empty when either is missing or ``old`` is 0."""
    if new is None or not old:
        return ""
    return f" ({(new - old) / old:+.0%})"
