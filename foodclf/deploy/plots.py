"""The simulation's figure (users and replicas, throughput and response time, CPU and memory
against time) and the scaling run's (real against simulated replicas). matplotlib is imported
here only, and only when a plot is drawn."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from foodclf.contracts.scaling import TickCheck
from foodclf.deploy.simulation import SimulationResult
from foodclf.io import atomic_save


def plot_simulation(result: SimulationResult, path: str | os.PathLike) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.rows
    t = [r["t_s"] / 60 for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    ax = axes[0]
    ax.plot(t, [r["users"] for r in rows], color="grey", label="users")
    ax.set_ylabel("users")
    twin = ax.twinx()
    twin.step(t, [r["replicas"] for r in rows], where="post", label="replicas (desired)")
    twin.step(t, [r["ready"] for r in rows], where="post", label="ready")
    twin.set_ylabel("replicas")
    twin.legend(loc="upper left", fontsize=8)
    ax = axes[1]
    ax.plot(t, _smooth([r["throughput"] for r in rows]), label="transactions/s (10 s mean)")
    ax.plot(t, _smooth([r["failures"] for r in rows]), color="red", label="failures/s")
    ax.set_ylabel("per second")
    twin = ax.twinx()
    twin.plot(t, _smooth([r["response_time_s"] or 0.0 for r in rows]), color="purple", label="response time")
    twin.set_ylabel("response time (s)")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[2]
    ax.plot(t, [r["cpu_cores"] for r in rows], label="CPU (cores)")
    ax.set_ylabel("CPU cores")
    twin = ax.twinx()
    twin.plot(t, [r["memory_mb"] / 1024 for r in rows], color="green", label="memory (GiB)")
    twin.set_ylabel("memory (GiB)")
    ax.set_xlabel("minutes")
    fig.suptitle(f"{result.model} on {result.deployment}: {result.profile} profile (simulated)")
    fig.tight_layout()
    try:
        return atomic_save(path, lambda p: fig.savefig(p, format="png", dpi=90))
    finally:
        plt.close(fig)


def plot_scaling(ticks: list[TickCheck], path: str | os.PathLike) -> Path:
    """Desired and ready replicas at each controller tick, real against simulated."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r.t_s for r in ticks]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.step(t, [r.replicas for r in ticks], where="post", label="real: desired")
    ax.step(t, [r.ready for r in ticks], where="post", linestyle=":", label="real: ready")
    ax.step(t, [r.simulated_replicas for r in ticks], where="post", linestyle="--", label="simulated: desired")
    ax.step(t, [r.simulated_ready for r in ticks], where="post", linestyle="-.", label="simulated: ready")
    ax.set_xlabel("time (s, time-scaled run)")
    ax.set_ylabel("replicas")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        return atomic_save(path, lambda p: fig.savefig(p, format="png", dpi=100))
    finally:
        plt.close(fig)


def _smooth(values: Sequence[float], width: int = 10) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= width:
            total -= values[i - width]
        out.append(total / min(i + 1, width))
    return out

