"""A load profile measured against one replica's capacity, and scaled to a chosen peak load.

The course's challenge profile is written in absolute users; a fast model serves its busiest stage
with one replica and a slow one needs several, so the same profile tests different things.
``--peak-load X`` scales the profile's users so that its busiest stage asks X times what one
replica can serve, whatever the model:

* **service time** S: 1 / the capacity curve's rate at one user (linear from 0 to its first
  level): a request's time when nothing else is queued;
* **a stage's demand**: users / (delay / 2 + S) requests a second: each closed-loop user waits
  uniform(0, delay), i.e. delay / 2 on average, then sends, and would get its answer after S
  if nothing queued;
* **replica capacity** C: the curve's highest transaction rate, its saturation;
* **peak load**: the busiest stage's demand / C. Every stage's users are multiplied by
  X / (the profile's own peak load) and rounded (at least 1 user): the shape stays, only the
  height changes. After rounding the peak load is close to X, and recorded as it is.
"""
from __future__ import annotations

from collections.abc import Sequence

from foodclf.contracts.simulation import SimulationLoad
from foodclf.deploy.capacity import Capacity
from foodclf.deploy.cluster import SimulationError
from foodclf.loadtest.profiles import Stage


def service_time_s(capacity: Capacity) -> float:
    return 1.0 / capacity.rate(1)


def replica_capacity(capacity: Capacity) -> float:
    return max(p.transaction_rate for p in capacity.points)


def stage_demand(stage: Stage, service_s: float) -> float:
    """Requests a second the stage's users would send if every answer took ``service_s``."""
    return stage.users / (stage.delay_s / 2.0 + service_s)


def peak_demand(stages: Sequence[Stage], service_s: float) -> float:
    return max(stage_demand(stage, service_s) for stage in stages)


def describe_load(stages: Sequence[Stage], capacity: Capacity, target: float | None = None,
                  users_scale: float = 1.0) -> SimulationLoad:
    """The load ``stages`` put on replicas of ``capacity`` (``target`` and ``users_scale``: how
    they were scaled, for the record)."""
    service, rate = service_time_s(capacity), replica_capacity(capacity)
    peak = peak_demand(stages, service)
    return SimulationLoad(peak_load_target=target, users_scale=round(users_scale, 4),
                          peak_load=round(peak / rate, 3), peak_demand=round(peak, 3),
                          replica_capacity=round(rate, 3), service_time_s=round(service, 5))


def scale_to_peak_load(stages: Sequence[Stage], capacity: Capacity,
                       peak_load: float) -> tuple[list[Stage], SimulationLoad]:
    """``stages`` with every stage's users scaled so that the busiest stage's demand is
    ``peak_load`` × one replica's capacity; and the load they put."""
    if not peak_load > 0:
        raise SimulationError(f"the peak load must be more than 0 (times one replica's capacity), got {peak_load!r}")
    if not stages:
        raise SimulationError("the load profile has no stages")
    scale = peak_load * replica_capacity(capacity) / peak_demand(stages, service_time_s(capacity))
    scaled = [Stage(st.duration_s, max(1, round(st.users * scale)), st.delay_s) for st in stages]
    return scaled, describe_load(scaled, capacity, target=peak_load, users_scale=scale)


def load_line(load: SimulationLoad) -> str:
    """One line saying which load was used: the printed table's caption."""
    where = (f"peak demand {load.peak_demand:.1f}/s = {load.peak_load:.2f} x one replica's capacity "
             f"{load.replica_capacity:.1f}/s (service time {load.service_time_s * 1000:.0f} ms)")
    if load.peak_load_target is None:
        return f"load: the profile's users as given; {where}"
    return f"load: --peak-load {load.peak_load_target:g}: users x {load.users_scale:.3g}; {where}"
