"""The world around the pods: the cluster's nodes, the controllers' flags, and how long a new pod
takes to turn Ready (the kubelet's probes on their schedule)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from foodclf.deploy.spec import Probe
from foodclf.errors import FoodclfError
from foodclf.loadtest.runner import DEFAULT_TIMEOUT_S


class SimulationError(FoodclfError):
    """The simulation's inputs cannot describe a working deployment (e.g. probes that give up)."""


@dataclass(frozen=True)
class Cluster:
    nodes: int = 3
    node_cpu: float = 4.0
    node_memory_bytes: float = 8 * 2.0**30


def probe_success_s(after_s: float, probe: Probe) -> float:
    """The first time (from container start) at which ``probe`` runs and finds the server up."""
    if after_s <= probe.initial_delay_s:
        return probe.initial_delay_s
    return probe.initial_delay_s + math.ceil((after_s - probe.initial_delay_s) / probe.period_s - 1e-9) * probe.period_s


def ready_delay_s(server_up_s: float, readiness: Probe | None, startup: Probe | None = None) -> float:
    """Seconds from container start until the pod is Ready.

    The startup probe, if any, must see the server up within failure_threshold × period (else
    Kubernetes restarts the container for ever: SimulationError); readiness probes run after it,
    every period from the initial delay, and success_threshold of them in a row turn it Ready.
    """
    started = 0.0
    if startup is not None:
        started = probe_success_s(server_up_s, startup)
        gives_up = startup.initial_delay_s + startup.failure_threshold * startup.period_s
        if started >= gives_up:
            raise SimulationError(f"the startup probe gives up after {gives_up:.0f} s but TorchServe needs "
                                  f"{server_up_s:.0f} s to start: raise startupProbe.failureThreshold")
    if readiness is None:
        return started
    first = probe_success_s(max(server_up_s, started), readiness)
    return first + (readiness.success_threshold - 1) * readiness.period_s


def place_pod(free: Sequence[tuple[float, float]], cpu: float, memory: float) -> int | None:
    """The node a pod's requests fit on (the least allocated, as kube-scheduler prefers), or None."""
    fits = [i for i, (c, m) in enumerate(free) if c >= cpu - 1e-9 and m >= memory]
    return max(fits, key=lambda i: (free[i][0], free[i][1], -i)) if fits else None


@dataclass(frozen=True)
class SimulationSettings:
    """The parts of the world that the manifests and the capacity curve do not say."""
    cluster: Cluster = Cluster()
    sync_period_s: float = 15.0        # --horizontal-pod-autoscaler-sync-period
    tolerance: float = 0.1             # --horizontal-pod-autoscaler-tolerance
    cpu_init_period_s: float = 300.0   # --horizontal-pod-autoscaler-cpu-initialization-period
    metrics_interval_s: float = 15.0   # metrics-server --metric-resolution
    metrics_offset_s: float = 7.5      # scrapes fall half an interval before each sync
    image_pull_s: float = 10.0
    model_load_s: float = 20.0         # container start to TorchServe answering /ping
    queue_size: int = 100              # TorchServe job_queue_size: requests a replica holds
    timeout_s: float = DEFAULT_TIMEOUT_S
    record_interval_s: float = 1.0
    seed: int = 0
