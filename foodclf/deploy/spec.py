"""What the HPA simulation needs to know of a deployment (DeploymentSpec), and Kubernetes quantities.

Plain values with Kubernetes' defaults; foodclf.deploy.manifests fills them from rendered
manifests, and foodclf.deploy.controller and .cluster compute with them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from foodclf.errors import SchemaError


@dataclass(frozen=True)
class ScalingPolicy:
    kind: str          # "Pods" or "Percent"
    value: int
    period_s: float


@dataclass(frozen=True)
class ScalingRules:
    """One direction of an HPA's ``behavior`` (scaleUp or scaleDown)."""
    stabilization_window_s: float
    select_policy: str  # "Max", "Min" or "Disabled"
    policies: tuple[ScalingPolicy, ...]


# Kubernetes' defaults (autoscaling/v2 HorizontalPodAutoscalerBehavior).
DEFAULT_SCALE_UP = ScalingRules(0.0, "Max", (ScalingPolicy("Percent", 100, 15.0), ScalingPolicy("Pods", 4, 15.0)))
DEFAULT_SCALE_DOWN = ScalingRules(300.0, "Max", (ScalingPolicy("Percent", 100, 15.0),))


@dataclass(frozen=True)
class Probe:
    """A probe's timing; the fields' defaults are Kubernetes' own."""
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class PodsMetric:
    """An HPA ``Pods`` metric with an ``AverageValue`` target, served by prometheus-adapter from
    TorchServe's counters. The simulation models one such signal: requests in flight per pod by
    Little's law, ``rate(ts_inference_latency_microseconds[window]) / 1e6``."""
    name: str                 # the custom metric's name, as the adapter's rule exposes it
    target: float             # the HPA's target.averageValue per pod
    rate_window_s: float      # the rule's rate() range, e.g. [1m]


@dataclass(frozen=True)
class DeploymentSpec:
    """What the HPA simulation reads from one manifest file."""
    name: str                       # the variant, e.g. "deployment_hpa+" (foodclf.deploy.manifests.variant_name)
    path: str                       # the overlay directory or manifest file it was read from
    cpu_request: float              # cores
    memory_request_bytes: float
    cpu_limit: float | None         # cores; None: no limit
    memory_limit_bytes: float | None
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: float | None  # percent of the CPU request; None: no CPU metric
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN
    readiness: Probe | None = None
    startup: Probe | None = None
    pods_metric: PodsMetric | None = None  # scaled on in-flight requests too (or instead)

    def with_replicas(self, minimum: int, maximum: int) -> DeploymentSpec:
        return replace(self, min_replicas=minimum, max_replicas=maximum)


def fixed_replicas(replicas: int = 1, cpu_limit: float | None = None, name: str = "fixed") -> DeploymentSpec:
    """A deployment that never scales and starts ready: the setting of a one-replica load test."""
    return DeploymentSpec(name=name, path="", cpu_request=1.0, memory_request_bytes=0.0, cpu_limit=cpu_limit,
                          memory_limit_bytes=None, min_replicas=replicas, max_replicas=replicas,
                          target_cpu_utilization=100.0)


# ---- Kubernetes quantities ----------------------------------------------------------------
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_SUFFIX = {None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}


def parse_quantity(value: Any, where: str = "quantity") -> float:
    """A Kubernetes quantity as a number: ``"500m"`` -> 0.5, ``"2Gi"`` -> 2147483648, ``2`` -> 2."""
    if isinstance(value, bool):
        raise SchemaError(f"{where}: expected a quantity such as 500m, 2 or 2Gi, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise SchemaError(f"{where}: expected a quantity such as 500m, 2 or 2Gi, got {value!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def parse_cpu(value: Any, where: str = "cpu") -> float:
    cores = parse_quantity(value, where)
    if cores <= 0:
        raise SchemaError(f"{where}: CPU must be more than 0, got {value!r}")
    return cores


def parse_memory(value: Any, where: str = "memory") -> float:
    size = parse_quantity(value, where)
    if size < 0:
        raise SchemaError(f"{where}: memory must not be negative, got {value!r}")
    return size

