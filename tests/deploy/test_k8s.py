"""The Kubernetes manifests, the image's TorchServe config and foodclf.deploy.manifests.

The manifests are validated offline against Kubernetes' own schemas (kubernetes-validate ships
them), then their cross-references are checked: the things kubectl would accept but that would
leave a Service with no endpoints or an HPA scaling nothing.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from foodclf.errors import SchemaError
from foodclf.deploy.manifests import (DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, Probe, load_deployment, parse_quantity,
                               read_documents)
from foodclf.serve.server import DEFAULT_CONFIG, DEFAULT_LOG_CONFIG, MALLOC_ENV, MALLOC_TUNABLES, read_properties

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
MANIFESTS = [K8S / "deployment_hpa.yaml", K8S / "deployment_hpa+.yaml"]
INTERNAL_PORTS = {8081, 8082, 7070, 7071}  # management, metrics, gRPC: never published


def objects(path: Path) -> dict[str, dict]:
    return {d["kind"]: d for d in read_documents(path)}


def pod_spec(path: Path) -> dict:
    return objects(path)["Deployment"]["spec"]["template"]["spec"]


def container(path: Path) -> dict:
    return pod_spec(path)["containers"][0]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_document_validates_against_the_kubernetes_schema(path):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")  # dev dependency: the schemas, offline
    docs = read_documents(path)
    assert sorted(d["kind"] for d in docs) == ["Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "Service"]
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_validator_rejects_a_broken_manifest():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    deployment = objects(MANIFESTS[0])["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["request"] = {"cpu": "1"}  # typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_labels_selectors_and_the_hpa_target_agree(path):
    obj = objects(path)
    deployment, service, policy, hpa = obj["Deployment"], obj["Service"], obj["NetworkPolicy"], obj["HorizontalPodAutoscaler"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"], service["spec"]["selector"],
                     policy["spec"]["podSelector"]["matchLabels"]):
        assert selector and selector.items() <= pod_labels.items()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment",
                                                                      deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 40}}}]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_service_publishes_only_the_inference_port(path):
    obj = objects(path)
    ports = container(path)["ports"]
    (service_port,) = obj["Service"]["spec"]["ports"]
    assert obj["Service"]["spec"]["type"] == "LoadBalancer"
    assert (service_port["port"], service_port["nodePort"]) == (6000, 32000)
    target = [p for p in ports if service_port["targetPort"] in (p["name"], p["containerPort"])]
    assert len(target) == 1
    inference = read_properties(K8S / "config.properties")["inference_address"]
    assert target[0]["containerPort"] == int(inference.rsplit(":", 1)[1])
    assert not INTERNAL_PORTS & {p["containerPort"] for p in ports}
    (rule,) = obj["NetworkPolicy"]["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [target[0]["containerPort"]]
    assert obj["NetworkPolicy"]["spec"]["egress"] == []  # the pods open no connections


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_probes_suit_torchserve(path):
    c = container(path)
    port_names = {p["name"] for p in c["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/ping"
        assert c[probe]["httpGet"]["port"] in port_names
    spec = load_deployment(path)
    # The report's readiness probe; model loading (VGG16 included) gets minutes, not seconds.
    assert spec.readiness == Probe(initial_delay_s=5, period_s=5, success_threshold=3, failure_threshold=3)
    assert spec.startup.failure_threshold * spec.startup.period_s >= 120
    liveness = c["livenessProbe"]
    assert liveness["failureThreshold"] * liveness["periodSeconds"] >= 60  # a busy pod is not killed
    assert liveness["timeoutSeconds"] >= 5


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_pods_run_unprivileged_as_the_images_user(path):
    assert pod_spec(path)["securityContext"]["runAsNonRoot"] is True
    assert pod_spec(path)["securityContext"]["runAsUser"] == 1000
    assert container(path)["securityContext"]["allowPrivilegeEscalation"] is False
    dockerfile = (K8S / "Dockerfile").read_text()
    assert "--uid 1000" in dockerfile and "\nUSER model-server" in dockerfile


def test_the_two_variants_differ_only_in_max_replicas_and_memory_request():
    hpa, plus = (read_documents(p) for p in MANIFESTS)
    assert objects(MANIFESTS[0])["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 5
    assert objects(MANIFESTS[1])["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 10
    for docs in (hpa, plus):
        for doc in docs:
            if doc["kind"] == "HorizontalPodAutoscaler":
                doc["spec"]["maxReplicas"] = None
            if doc["kind"] == "Deployment":
                doc["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] = None
    assert hpa == plus


def test_load_deployment_reads_the_reports_figures():
    hpa, plus = (load_deployment(p) for p in MANIFESTS)
    assert (hpa.name, plus.name) == ("deployment_hpa", "deployment_hpa+")
    assert (hpa.cpu_request, hpa.memory_request_bytes, hpa.cpu_limit, hpa.memory_limit_bytes) == (1, 2 * 2**30, 2, 4 * 2**30)
    assert plus.memory_request_bytes == 2**30
    assert (hpa.min_replicas, hpa.max_replicas, plus.max_replicas) == (1, 5, 10)
    assert hpa.target_cpu_utilization == 40
    assert (hpa.scale_up, hpa.scale_down) == (DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN)  # written-out defaults


def test_the_image_config_is_the_serving_config_with_three_keys_changed():
    image = read_properties(K8S / "config.properties")
    local = read_properties(DEFAULT_CONFIG)
    changed = {k for k in image.keys() | local.keys() if image.get(k) != local.get(k)}
    assert changed <= {"inference_address", "model_store", "load_models"}
    assert image["inference_address"] == "http://0.0.0.0:8080"
    assert image["management_address"].startswith("http://127.0.0.1:")
    assert image["metrics_address"].startswith("http://127.0.0.1:")
    # Token auth guards /ping (probes fail with 400): off only together with the model API off.
    assert image["disable_token_authorization"] == "true" and image["enable_model_api"] == "false"


def test_the_dockerfile_uses_that_config_and_a_model_store_archive():
    text = (K8S / "Dockerfile").read_text()
    assert "COPY --chown=model-server:model-server k8s/config.properties /home/model-server/config.properties" in text
    assert "model-store/${MODEL_NAME}.mar" in text
    assert '"--ts-config", "/home/model-server/config.properties"' in text and '"--foreground"' in text
    model_store = read_properties(K8S / "config.properties")["model_store"]
    assert f"{model_store}/" in text
    ignore = (K8S / "Dockerfile.dockerignore").read_text().split()
    assert "*" in ignore and "!model-store/*.mar" in ignore and "!k8s/config.properties" in ignore


def test_the_image_serves_with_the_allocator_setting_and_log_config_of_foodclf_serving():
    text = (K8S / "Dockerfile").read_text()
    assert f"ENV {MALLOC_ENV}={MALLOC_TUNABLES}\n" in text
    assert "COPY --chown=model-server:model-server foodclf/serve/log4j2.xml /home/model-server/log4j2.xml" in text
    assert '"--log-config", "/home/model-server/log4j2.xml"' in text
    assert "!foodclf/serve/log4j2.xml" in (K8S / "Dockerfile.dockerignore").read_text().split()
    assert DEFAULT_LOG_CONFIG.relative_to(REPO).as_posix() == "foodclf/serve/log4j2.xml"


# ---- foodclf.deploy.manifests on hand-written files ------------------------------------------------
REPORT_STYLE = """
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: ml-app-hpa}
spec:
  maxReplicas: 10
  minReplicas: 1
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ml-app-hpa}
  targetCPUUtilizationPercentage: 40
---
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


def test_the_reports_autoscaling_v1_manifest_is_read(tmp_path):
    path = tmp_path / "report_hpa.yaml"
    path.write_text(REPORT_STYLE)
    spec = load_deployment(path)
    assert (spec.cpu_request, spec.memory_request_bytes, spec.max_replicas, spec.target_cpu_utilization) == (0.5, 2**30, 10, 40)
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
                                         ("1G", 1e9), ("512Mi", 512 * 2**20), ("1e3", 1000.0), ("128974848", 128974848.0)])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == pytest.approx(value)


def test_parse_quantity_rejects_nonsense():
    with pytest.raises(SchemaError, match="quantity"):
        parse_quantity("2 GB")
