"""The simulation's files (simulations/<deployment>.json .csv .png) and the report's table.

The JSON is the contract foodclf.contracts.simulation: written through it, read back through it.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from foodclf import contracts
from foodclf.contracts.simulation import (
    SCHEMA_VERSION,
    Simulation,
    plot_file,
    read_simulation,
    simulation_file,
    timeseries_file,
)
from foodclf.deploy.engine import CSV_FIELDS
from foodclf.deploy.simulation import SimulationResult
from foodclf.io import atomic_write_text


def write_simulation(result: SimulationResult, out_dir: str | os.PathLike, plot: bool = True) -> Path:
    """``<deployment>.json``, ``.csv`` and (with ``plot``) ``.png`` in ``out_dir``; returns the JSON's path."""
    out_dir = Path(out_dir)
    name = result.deployment
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.rows)
    atomic_write_text(out_dir / timeseries_file(name), buf.getvalue())
    if plot:
        from foodclf.deploy.plots import plot_simulation  # matplotlib only when a plot is wanted

        plot_simulation(result, out_dir / plot_file(name))
    simulation = Simulation(
        schema_version=SCHEMA_VERSION, created=datetime.now(UTC).isoformat(timespec="seconds"),
        deployment=name, manifest=result.manifest, model=result.model, capacity_source=result.capacity_source,
        profile=result.profile, time_scale=result.time_scale, summary=result.summary, stages=result.stages,
        timeseries_csv=timeseries_file(name), plot=plot_file(name) if plot else None)
    return contracts.write(out_dir / simulation_file(name), simulation)


def load_simulation(path: str | os.PathLike) -> Simulation:
    """Read and validate a ``simulations/<deployment>.json`` (foodclf.contracts.simulation.read_simulation)."""
    return read_simulation(path)


def format_table(results: Sequence[SimulationResult | Simulation]) -> str:
    """The report's deployment table: one row per model × deployment."""
    head = (f"{'model':<16} {'deployment':<18} {'CPU (cores)':>11} {'Memory (KB)':>12} {'Resp. (s)':>9} "
            f"{'Trans. rate':>11} {'Failed':>7} {'Max pods':>8}")
    lines = [head, "-" * len(head)]
    for r in results:
        s = r.summary
        rt = "-" if s.response_time_s is None else f"{s.response_time_s:.2f}"
        lines.append(f"{r.model:<16} {r.deployment:<18} {s.cpu_cores:>11.3f} {s.memory_kb:>12.0f} {rt:>9} "
                     f"{s.transaction_rate:>11.2f} {s.failures:>7d} {s.max_replicas:>8d}")
    return "\n".join(lines)
