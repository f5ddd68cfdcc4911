"""The Kubernetes manifests: the packaged kustomize overlays rendered by a real kubectl, validated
offline against Kubernetes' schemas (kubernetes-validate), checked for the report's numbers and
their cross-references; the in-flight overlay's metric path (HPA, prometheus-adapter rule, metrics
port); foodclf's own reader against kubectl; foodclf.deploy.manifests."""
from __future__ import annotations

import configparser
import copy
import subprocess
from dataclasses import replace
from pathlib import Path

import kubernetes_validate
import pytest
import ts
import yaml

from foodclf.deploy.manifests import k8s_dir, load_deployment, overlay_dir, render
from foodclf.deploy.spec import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, PodsMetric, Probe, parse_quantity
from foodclf.errors import SchemaError
from foodclf.serve.properties import DEFAULT_CONFIG, read_properties

REPO = Path(__file__).resolve().parents[2]
INTERNAL_PORTS = {8081, 8082, 7070, 7071}  # management, metrics, gRPC: never published
# The report's deployments: (max replicas, memory request).
REPORT = {"hpa": (5, "2Gi"), "hpa+": (10, "1Gi")}


def by_kind(objects: list[dict]) -> dict[str, dict]:
    assert len({o["kind"] for o in objects}) == len(objects)
    return {o["kind"]: o for o in objects}


@pytest.fixture(scope="module", params=sorted(REPORT))
def variant(request):
    return request.param


@pytest.fixture(scope="module")
def objects(variant, kubectl) -> dict[str, dict]:
    """The overlay as `kubectl kustomize` renders it."""
    return by_kind(render(overlay_dir(variant), kubectl))


def container(objects: dict) -> dict:
    (c,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    return c


def test_every_rendered_object_validates_against_the_kubernetes_schema(objects):
    assert sorted(objects) == ["Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "Service"]
    for obj in objects.values():
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)


def test_the_validator_rejects_a_broken_manifest(objects):
    deployment = copy.deepcopy(objects["Deployment"])
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["request"] = {"cpu": "1"}  # typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def test_the_overlays_carry_the_reports_numbers(objects, variant):
    max_replicas, memory_request = REPORT[variant]
    hpa = objects["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, max_replicas)
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 40}}}]
    resources = container(objects)["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": memory_request}, "limits": {"cpu": "2", "memory": "4Gi"}}
    readiness = container(objects)["readinessProbe"]
    assert (readiness["initialDelaySeconds"], readiness["periodSeconds"], readiness["successThreshold"]) == (5, 5, 3)
    (port,) = objects["Service"]["spec"]["ports"]
    assert (objects["Service"]["spec"]["type"], port["port"], port["nodePort"]) == ("LoadBalancer", 6000, 32000)


def test_labels_selectors_and_the_hpa_target_agree(objects):
    deployment, service, policy = objects["Deployment"], objects["Service"], objects["NetworkPolicy"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"], service["spec"]["selector"],
                     policy["spec"]["podSelector"]["matchLabels"]):
        assert selector and selector.items() <= pod_labels.items()
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment",
                                                                      deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"]  # the HPA owns the count


def test_torchserve_listens_where_the_service_sends_and_nowhere_else(objects):
    """The image serves with foodclf/serve/config.properties; the Deployment's TS_* variables are
    its only differences, and each must name a key TorchServe reads from that file."""
    env = {e["name"]: e["value"] for e in container(objects)["env"]}
    config = read_properties(DEFAULT_CONFIG)
    assert config["enable_envvars_config"] == "true"
    assert set(env) == {"TS_INFERENCE_ADDRESS", "TS_MODEL_STORE", "TS_LOAD_MODELS"}
    # TS_<KEY> is TorchServe's key <key>; load_models is unset in the file (local serving passes it).
    assert {name[len("TS_"):].lower() for name in env} <= set(config) | {"load_models"}
    assert env["TS_INFERENCE_ADDRESS"].startswith("http://0.0.0.0:")
    assert config["management_address"].startswith("http://127.0.0.1:")
    assert config["metrics_address"].startswith("http://127.0.0.1:")
    # Token auth guards /ping (probes fail with 400): off only together with the model API off.
    assert config["disable_token_authorization"] == "true" and config["enable_model_api"] == "false"
    ports = container(objects)["ports"]
    (service_port,) = objects["Service"]["spec"]["ports"]
    (target,) = [p for p in ports if service_port["targetPort"] in (p["name"], p["containerPort"])]
    assert target["containerPort"] == int(env["TS_INFERENCE_ADDRESS"].rsplit(":", 1)[1])
    assert not INTERNAL_PORTS & {p["containerPort"] for p in ports}
    (rule,) = objects["NetworkPolicy"]["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [target["containerPort"]]
    assert objects["NetworkPolicy"]["spec"]["egress"] == []  # the pods open no connections


def test_probes_suit_torchserve(objects, variant, kubectl):
    c = container(objects)
    port_names = {p["name"] for p in c["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/ping"
        assert c[probe]["httpGet"]["port"] in port_names
    spec = load_deployment(overlay_dir(variant), kubectl)
    # The report's readiness probe; model loading (VGG16 included) gets minutes, not seconds.
    assert spec.readiness == Probe(initial_delay_s=5, period_s=5, success_threshold=3, failure_threshold=3)
    assert spec.startup.failure_threshold * spec.startup.period_s >= 120
    liveness = c["livenessProbe"]
    assert liveness["failureThreshold"] * liveness["periodSeconds"] >= 60  # a busy pod is not killed
    assert liveness["timeoutSeconds"] >= 5


def test_pods_run_unprivileged(objects):
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 1000
    assert container(objects)["securityContext"]["allowPrivilegeEscalation"] is False
    assert container(objects)["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_the_two_variants_differ_only_in_max_replicas_and_memory_request(kubectl):
    hpa, plus = (by_kind(render(overlay_dir(v), kubectl)) for v in ("hpa", "hpa+"))
    for objects in (hpa, plus):
        objects["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] = None
        container(objects)["resources"]["requests"]["memory"] = None
    assert hpa == plus


# ---- foodclf's reader without kubectl, and where the manifests live ---------------------------
def key(obj: dict) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


@pytest.mark.parametrize("directory", ["base", "overlays/hpa", "overlays/hpa+", "overlays/hpa-inflight"])
def test_the_reader_without_kubectl_renders_what_kubectl_renders(directory, kubectl):
    ours = sorted(render(k8s_dir() / directory, kubectl=None), key=key)
    assert ours == sorted(render(k8s_dir() / directory, kubectl), key=key)


def test_load_deployment_reads_the_reports_figures_with_and_without_kubectl(kubectl):
    hpa, plus = (load_deployment(overlay_dir(v), kubectl=None) for v in ("hpa", "hpa+"))
    assert (hpa.name, plus.name) == ("deployment_hpa", "deployment_hpa+")
    assert (hpa.cpu_request, hpa.memory_request_bytes) == (1, 2 * 2**30)
    assert (hpa.cpu_limit, hpa.memory_limit_bytes) == (2, 4 * 2**30)
    assert plus.memory_request_bytes == 2**30
    assert (hpa.min_replicas, hpa.max_replicas, plus.max_replicas) == (1, 5, 10)
    assert hpa.target_cpu_utilization == 40
    assert (hpa.scale_up, hpa.scale_down) == (DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN)  # written-out defaults
    assert [hpa, plus] == [load_deployment(overlay_dir(v), kubectl) for v in ("hpa", "hpa+")]


def test_the_checkout_applies_the_packaged_overlays(kubectl):
    """k8s/base and k8s/overlays link into the package: `kubectl apply -k k8s/overlays/hpa+` and
    the simulation read the same files."""
    assert (REPO / "k8s" / "overlays").resolve() == (k8s_dir() / "overlays").resolve()
    assert (REPO / "k8s" / "base").resolve() == (k8s_dir() / "base").resolve()
    done = subprocess.run([kubectl, "kustomize", "k8s/overlays/hpa+"], cwd=REPO, capture_output=True, text=True,
                          check=True)
    assert done.stdout == subprocess.run([kubectl, "kustomize", str(overlay_dir("hpa+"))], capture_output=True,
                                         text=True, check=True).stdout


def test_the_wheel_ships_every_manifest():
    """setup.cfg's package_data globs cover every file of foodclf/deploy/k8s/ (else `foodclf
    simulate` from a wheel would miss them)."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    globs = [g.strip() for g in config["options.package_data"]["foodclf.deploy"].split(",")]
    package = REPO / "foodclf" / "deploy"
    shipped = {p for g in globs for p in package.glob(g)}
    assert shipped == {p for p in (package / "k8s").rglob("*") if p.is_file()}


# ---- foodclf.deploy.manifests on hand-written files ---------------------------------------------
REPORT_HPA = """
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: ml-app-hpa}
spec:
  maxReplicas: 10
  minReplicas: 1
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ml-app-hpa}
  targetCPUUtilizationPercentage: 40
"""
REPORT_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: ml-app-hpa}
spec:
  selector: {matchLabels: {app: ml-app-hpa}}
  replicas: 1
  template:
    metadata: {labels: {app: ml-app-hpa}}
    spec:
      containers:
      - name: ml-app
        image: node-0:5000/ml-app:0.0.1
        readinessProbe:
          httpGet: {path: /test, port: 5000}
          periodSeconds: 5
          initialDelaySeconds: 5
          successThreshold: 3
        resources:
          limits: {cpu: "2", memory: "4Gi"}
          requests: {cpu: "500m", memory: "1Gi"}
"""
REPORT_STYLE = REPORT_HPA + "---" + REPORT_DEPLOYMENT


def test_the_reports_autoscaling_v1_manifest_is_read(tmp_path):
    path = tmp_path / "report_hpa.yaml"
    path.write_text(REPORT_STYLE)
    spec = load_deployment(path)
    assert (spec.cpu_request, spec.memory_request_bytes) == (0.5, 2**30)
    assert (spec.max_replicas, spec.target_cpu_utilization) == (10, 40)
    assert spec.readiness == Probe(5, 5, 3, 3) and spec.startup is None
    assert spec.scale_down.stabilization_window_s == 300  # v1 has no behavior: Kubernetes' defaults


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("kind: Deployment, name: ml-app-hpa", "kind: Deployment, name: other"), "scaleTargetRef"),
    (lambda t: t.replace('requests: {cpu: "500m", memory: "1Gi"}', 'requests: {memory: "1Gi"}'), "requests.cpu"),
    (lambda t: t.replace('cpu: "500m"', 'cpu: "lots"'), "requests.cpu"),
    (lambda t: t.replace("minReplicas: 1", "minReplicas: 11"), "minReplicas"),
    (lambda t: t.split("---")[1], "HorizontalPodAutoscaler"),
    (lambda t: t + "\n  - : [", "not valid YAML"),
])
def test_a_bad_manifest_names_what_is_wrong(tmp_path, edit, message):
    path = tmp_path / "bad.yaml"
    path.write_text(edit(REPORT_STYLE))
    with pytest.raises(SchemaError, match=message):
        load_deployment(path)


@pytest.mark.parametrize("text, value", [("500m", 0.5), ("2", 2.0), (2, 2.0), ("1.5", 1.5), ("2Gi", 2 * 2**30),
                                         ("1G", 1e9), ("512Mi", 512 * 2**20), ("1e3", 1000.0),
                                         ("128974848", 128974848.0)])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == pytest.approx(value)


def test_parse_quantity_rejects_nonsense():
    with pytest.raises(SchemaError, match="quantity"):
        parse_quantity("2 GB")


# ---- hpa-inflight: scaled on requests in flight (a Pods metric served by prometheus-adapter) -----
INFLIGHT_METRIC = "torchserve_inflight_requests"


@pytest.fixture(scope="module")
def inflight(kubectl) -> list[dict]:
    return render(overlay_dir("hpa-inflight"), kubectl)


def adapter_rules(objects: list[dict]) -> list[dict]:
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap"]
    return yaml.safe_load(config_map["data"]["config.yaml"])["rules"]


def test_the_inflight_overlay_validates_and_scales_on_the_adapters_metric(inflight):
    assert sorted(o["kind"] for o in inflight) == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler",
                                                   "NetworkPolicy", "Service"]
    for obj in inflight:
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)
    objects = {o["kind"]: o for o in inflight}
    (metric,) = objects["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert metric == {"type": "Pods", "pods": {"metric": {"name": INFLIGHT_METRIC},
                                               "target": {"type": "AverageValue", "averageValue": "1"}}}
    (rule,) = [r for r in adapter_rules(inflight) if r["name"]["as"] == INFLIGHT_METRIC]
    # The series is a counter TorchServe exports, in microseconds (its own metrics config says so).
    ts_config = yaml.safe_load((Path(ts.__file__).parent / "configs" / "metrics.yaml").read_text())
    counters = {c["name"]: c["unit"] for c in ts_config["ts_metrics"]["counter"]}
    assert counters["ts_inference_latency_microseconds"] == "Microseconds"
    assert rule["seriesQuery"].startswith("ts_inference_latency_microseconds{")
    # A rate over a window, per pod, in seconds: never the raw counter, which only grows.
    assert rule["metricsQuery"] == "sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>) / 1000000"
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}


def test_the_inflight_overlay_is_hpa_plus_with_its_metrics_port_open_to_prometheus_only(inflight, kubectl):
    plus = by_kind(render(overlay_dir("hpa+"), kubectl))
    objects = by_kind([o for o in inflight if o["kind"] != "ConfigMap"])
    c = container(objects)
    env = {e["name"]: e["value"] for e in c["env"]}
    port = int(env.pop("TS_METRICS_ADDRESS").rsplit(":", 1)[1])
    assert read_properties(DEFAULT_CONFIG)["metrics_mode"] == "prometheus"
    (declared,) = [p for p in c["ports"] if p["name"] == "metrics"]
    assert declared["containerPort"] == port == 8082
    annotations = objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                           "prometheus.io/path": "/metrics"}
    service_rule, metrics_rule = objects["NetworkPolicy"]["spec"]["ingress"]
    assert metrics_rule == {"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"protocol": "TCP", "port": port}]}
    (service_port,) = objects["Service"]["spec"]["ports"]
    assert service_port["targetPort"] == "inference"  # the metrics port is never published
    # Everything else is hpa+ as it is.
    objects["HorizontalPodAutoscaler"]["spec"]["metrics"] = plus["HorizontalPodAutoscaler"]["spec"]["metrics"]
    c["env"] = [e for e in c["env"] if e["name"] != "TS_METRICS_ADDRESS"]
    c["ports"].remove(declared)
    del objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    objects["NetworkPolicy"]["spec"]["ingress"] = [service_rule]
    assert objects == plus


def test_load_deployment_reads_the_inflight_target_with_and_without_kubectl(kubectl):
    spec = load_deployment(overlay_dir("hpa-inflight"), kubectl)
    plus = load_deployment(overlay_dir("hpa+"), kubectl)
    assert spec == replace(plus, name="deployment_hpa-inflight", path=str(overlay_dir("hpa-inflight")),
                           target_cpu_utilization=None,
                           pods_metric=PodsMetric(name=INFLIGHT_METRIC, target=1.0, rate_window_s=60.0))
    assert load_deployment(overlay_dir("hpa-inflight"), kubectl=None) == spec


# The report-style Deployment scaled by a Pods metric with its prometheus-adapter rule.
INFLIGHT_STYLE = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ml-app-hpa}
spec:
  maxReplicas: 10
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ml-app-hpa}
  metrics:
  - type: Pods
    pods:
      metric: {name: inflight}
      target: {type: AverageValue, averageValue: 1500m}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: rules}
data:
  config.yaml: |
    rules:
    - seriesQuery: 'ts_inference_latency_microseconds{pod!=""}'
      name: {as: inflight}
      metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[30s])) by (<<.GroupBy>>) / 1e6'
""" + "---" + REPORT_DEPLOYMENT


def test_a_pods_metric_is_read_with_its_adapter_rule(tmp_path):
    path = tmp_path / "inflight.yaml"
    path.write_text(INFLIGHT_STYLE)
    spec = load_deployment(path)
    assert spec.pods_metric == PodsMetric(name="inflight", target=1.5, rate_window_s=30.0)
    assert spec.target_cpu_utilization is None


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("name: {as: inflight}", "name: {as: other}"), "no prometheus-adapter rule"),
    (lambda t: t.replace("sum(rate(<<.Series>>{<<.LabelMatchers>>}[30s]))", "sum(<<.Series>>{<<.LabelMatchers>>})"),
     "requests in flight"),
    (lambda t: t.replace("ts_inference_latency_microseconds", "ts_queue_latency_microseconds"), "requests in flight"),
    (lambda t: t.replace(" / 1e6", ""), "requests in flight"),
    (lambda t: t.replace("type: AverageValue, averageValue: 1500m", "type: Value, value: 2"), "AverageValue"),
    (lambda t: t.replace("averageValue: 1500m", "averageValue: 0"), "more than 0"),
    (lambda t: t.replace("type: Pods\n    pods:", "type: External\n    external:"), "neither a CPU"),
])
def test_a_bad_pods_metric_names_what_is_wrong(tmp_path, edit, message):
    path = tmp_path / "bad.yaml"
    path.write_text(edit(INFLIGHT_STYLE))
    with pytest.raises(SchemaError, match=message):
        load_deployment(path)
