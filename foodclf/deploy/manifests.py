"""Read a Kubernetes manifest file into the numbers the HPA simulation needs.

A manifest file (``k8s/deployment_hpa.yaml``) holds several YAML documents; this module finds
the Deployment and the HorizontalPodAutoscaler that targets it and returns a
:class:`DeploymentSpec`: the container's CPU and memory requests and limits, the HPA's
min/max replicas, CPU target and scaling behavior (Kubernetes' defaults where the file says
nothing), and the startup and readiness probes' timings. ``autoscaling/v1`` (the report's
``targetCPUUtilizationPercentage``) and ``autoscaling/v2`` are both read.

The manifests' schema validity is checked by the tests (kubernetes-validate); this module
checks what the simulation relies on and names the file and field that is wrong.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

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
class DeploymentSpec:
    """What the HPA simulation reads from one manifest file."""
    name: str                       # the deployment variant: the file's stem, e.g. "deployment_hpa+"
    path: str
    cpu_request: float              # cores
    memory_request_bytes: float
    cpu_limit: float | None         # cores; None: no limit
    memory_limit_bytes: float | None
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: float  # percent of the CPU request
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN
    readiness: Probe | None = None
    startup: Probe | None = None

    def with_replicas(self, minimum: int, maximum: int) -> "DeploymentSpec":
        return replace(self, min_replicas=minimum, max_replicas=maximum)


def fixed_replicas(replicas: int = 1, cpu_limit: float | None = None, name: str = "fixed") -> DeploymentSpec:
    """A deployment that never scales and starts ready: the setting of a one-replica load test."""
    return DeploymentSpec(name=name, path="", cpu_request=1.0, memory_request_bytes=0.0, cpu_limit=cpu_limit,
                          memory_limit_bytes=None, min_replicas=replicas, max_replicas=replicas,
                          target_cpu_utilization=100.0)


def read_documents(path: str | os.PathLike) -> list[dict]:
    """The YAML documents of a manifest file (empty documents dropped)."""
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: manifest not found")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except yaml.YAMLError as e:
        raise SchemaError(f"{path}: not valid YAML ({e})") from e
    for i, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise SchemaError(f"{path}: document {i} is not a Kubernetes object (needs apiVersion and kind)")
    return docs


def load_deployment(path: str | os.PathLike) -> DeploymentSpec:
    """Read a manifest file holding a Deployment and the HPA that scales it on CPU."""
    path = Path(path)
    docs = read_documents(path)
    deployment = _only(docs, "Deployment", path)
    hpa = _only(docs, "HorizontalPodAutoscaler", path)
    name = _get(deployment, "metadata.name", path, str)
    target = _get(hpa, "spec.scaleTargetRef", path, dict)
    if target.get("kind") != "Deployment" or target.get("name") != name:
        raise SchemaError(f"{path}: the HorizontalPodAutoscaler's scaleTargetRef {target} "
                          f"does not name the Deployment '{name}'")
    containers = _get(deployment, "spec.template.spec.containers", path, list)
    if not containers:
        raise SchemaError(f"{path}: the Deployment has no containers")
    container = containers[0]
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    where = f"{path}: container '{container.get('name')}'"
    if "cpu" not in requests:
        raise SchemaError(f"{where} has no resources.requests.cpu; the HPA measures CPU utilisation "
                          "against it, so it must be set")
    min_replicas = int(hpa["spec"].get("minReplicas", 1))
    max_replicas = _get(hpa, "spec.maxReplicas", path, int)
    if not 1 <= min_replicas <= max_replicas:
        raise SchemaError(f"{path}: HPA needs 1 <= minReplicas <= maxReplicas, got {min_replicas} and {max_replicas}")
    behavior = hpa["spec"].get("behavior") or {}
    return DeploymentSpec(
        name=path.stem,
        path=str(path),
        cpu_request=parse_cpu(requests["cpu"], f"{where} requests.cpu"),
        memory_request_bytes=parse_memory(requests.get("memory", 0), f"{where} requests.memory"),
        cpu_limit=parse_cpu(limits["cpu"], f"{where} limits.cpu") if "cpu" in limits else None,
        memory_limit_bytes=parse_memory(limits["memory"], f"{where} limits.memory") if "memory" in limits else None,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_cpu_utilization=_cpu_target(hpa, path),
        scale_up=_rules(behavior.get("scaleUp"), DEFAULT_SCALE_UP, f"{path}: behavior.scaleUp"),
        scale_down=_rules(behavior.get("scaleDown"), DEFAULT_SCALE_DOWN, f"{path}: behavior.scaleDown"),
        readiness=_probe(container.get("readinessProbe")),
        startup=_probe(container.get("startupProbe")),
    )


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


# ---- helpers -----------------------------------------------------------------------------
def _only(docs: list[dict], kind: str, path: Path) -> dict:
    found = [d for d in docs if d.get("kind") == kind]
    if len(found) != 1:
        raise SchemaError(f"{path}: expected exactly one {kind}, found {len(found)}")
    return found[0]


def _get(doc: dict, dotted: str, path: Path, kind: type) -> Any:
    value: Any = doc
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SchemaError(f"{path}: {doc.get('kind')} field {dotted} must be a {kind.__name__}, got {value!r}")
    return value


def _cpu_target(hpa: dict, path: Path) -> float:
    spec = hpa["spec"]
    if "targetCPUUtilizationPercentage" in spec:  # autoscaling/v1, as in the report
        return float(spec["targetCPUUtilizationPercentage"])
    for metric in spec.get("metrics") or []:
        resource = metric.get("resource") or {}
        target = resource.get("target") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu" and target.get("type") == "Utilization":
            return float(target["averageUtilization"])
    if hpa.get("apiVersion") == "autoscaling/v1":
        return 80.0  # v1's default target when the field is absent
    raise SchemaError(f"{path}: the HPA has no CPU Utilization metric; the simulation models CPU scaling only")


def _rules(given: dict | None, default: ScalingRules, where: str) -> ScalingRules:
    if not given:
        return default
    policies = default.policies
    if given.get("policies") is not None:
        policies = tuple(ScalingPolicy(p["type"], int(p["value"]), float(p["periodSeconds"])) for p in given["policies"])
        bad = [p.kind for p in policies if p.kind not in ("Pods", "Percent")]
        if bad:
            raise SchemaError(f"{where}: policy type must be Pods or Percent, got {bad}")
    select = given.get("selectPolicy", default.select_policy)
    if select not in ("Max", "Min", "Disabled"):
        raise SchemaError(f"{where}: selectPolicy must be Max, Min or Disabled, got {select!r}")
    window = float(given.get("stabilizationWindowSeconds", default.stabilization_window_s))
    return ScalingRules(window, select, policies)


def _probe(given: dict | None) -> Probe | None:
    if not given:
        return None
    default = Probe()
    return Probe(initial_delay_s=float(given.get("initialDelaySeconds", default.initial_delay_s)),
                 period_s=float(given.get("periodSeconds", default.period_s)),
                 success_threshold=int(given.get("successThreshold", default.success_threshold)),
                 failure_threshold=int(given.get("failureThreshold", default.failure_threshold)))
