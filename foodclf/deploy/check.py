"""The simulation against reality: fixed replicas under each stage of a real load test.

The claim that one machine can check: for N replicas (one, or several behind a balancer, each
under its CPU quota: foodclf.deploy.local) under the same closed-loop load, the simulation's
transaction rate, response time and failures match the measured ones (scripts/check_hpa_sim.py).
"""
from __future__ import annotations

from foodclf.contracts.loadtest import LoadTest, StageResult
from foodclf.contracts.sim_check import CurvePoint, StageCheck
from foodclf.contracts.simulation import SimulationStage
from foodclf.deploy.capacity import Capacity
from foodclf.deploy.cluster import SimulationSettings
from foodclf.deploy.simulation import simulate
from foodclf.deploy.spec import fixed_replicas
from foodclf.loadtest.profiles import Stage


def compare_with_loadtest(capacity: Capacity, measured: LoadTest, settings: SimulationSettings = SimulationSettings(),
                          cpu_limit: float | None = None, replicas: int = 1) -> list[StageCheck]:
    """Simulate ``replicas`` fixed replicas under each stage of a real load test (same users,
    delay and duration) and give, per stage, the measured and simulated transaction rate,
    response time and failures, with the relative errors ((simulated - measured) / measured)."""
    comparisons = []
    for stage in measured.stages:
        one = Stage(stage.duration_s, stage.users, stage.delay_s)
        result = simulate(capacity, fixed_replicas(replicas, cpu_limit), [one], settings, profile="fixed")
        comparisons.append(stage_check(stage, result.stages[0], replicas))
    return comparisons


def stage_check(real: StageResult, sim: SimulationStage, replicas: int | None) -> StageCheck:
    """A measured stage beside its simulation, with the relative errors (``replicas`` None: the HPA set them)."""
    return StageCheck(
        index=real.index, replicas=replicas, users=real.users, delay_s=real.delay_s, duration_s=real.duration_s,
        measured_transaction_rate=real.transaction_rate, simulated_transaction_rate=sim.transaction_rate,
        transaction_rate_error=relative_error(sim.transaction_rate, real.transaction_rate),
        measured_response_time_s=real.response_time_s, simulated_response_time_s=sim.response_time_s,
        response_time_error=relative_error(sim.response_time_s, real.response_time_s),
        measured_failures=real.failures, simulated_failures=sim.failures)


def largest_error(stages: list[StageCheck]) -> float:
    """The largest |relative error| of rate and response time over the stages (0 when none is known)."""
    return max((abs(e) for s in stages for e in (s.transaction_rate_error, s.response_time_error) if e is not None),
               default=0.0)


def curve_points(capacity: Capacity) -> list[CurvePoint]:
    """A capacity curve as check.json and scaling.json hold it."""
    return [CurvePoint(p.users, p.transaction_rate, p.cpu_cores, p.pss_mb, p.pss_mb_peak) for p in capacity.points]


def relative_error(simulated: float | None, measured: float | None) -> float | None:
    """(simulated - measured) / measured, to 4 places; None when either is unknown or nothing was measured."""
    if simulated is None or not measured:
        return None
    return round((simulated - measured) / measured, 4)
