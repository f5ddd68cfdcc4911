"""Stage files as the earlier stages write them, carrying the course report's own figures:
metrics.json, loadtest.json and simulations/<deployment>.json for three models and two deployments."""
import json
from pathlib import Path

from PIL import Image

CLASSES = ["Bread", "Dairy product", "Dessert", "Egg", "Fried food", "Meat", "Noodles/Pasta", "Rice",
           "Seafood", "Soup", "Vegetable/Fruit"]
# The report's models: accuracy, loss, per-class accuracies below 0.8, disk MB, memory MB, response time, rate.
MODELS = {
    "previous": (0.7622, 0.7037, {"Dairy product": 0.41, "Seafood": 0.62, "Bread": 0.63, "Dessert": 0.64,
                                  "Egg": 0.71, "Meat": 0.72}, 9.27, 843, 1.17, 7.21),
    "vgg16": (0.8491, 0.5321, {"Dairy product": 0.62, "Bread": 0.72, "Egg": 0.78}, 110, 973, 1.08, 7.71),
    "mobilenet_v2": (0.8312, 0.5205, {"Dairy product": 0.60, "Dessert": 0.74, "Egg": 0.75, "Bread": 0.78,
                                      "Fried food": 0.79}, 63.1, 1018, 1.11, 7.45),
}
# A served replica's memory (Σ PSS peak, MB): measured by the load test, never the in-process figure above.
REPLICA_PSS_PEAK = {"previous": 1010.0, "vgg16": 1290.0, "mobilenet_v2": 1060.0}
# The report's deployment tables: CPU cores, memory KB, response time, transaction rate.
DEPLOYMENTS = {
    "deployment_hpa": {"previous": (2.379, 5041017, 0.37, 13.28), "vgg16": (2.425, 6425222, 0.46, 13.82),
                       "mobilenet_v2": (2.361, 4841846, 0.48, 12.87)},
    "deployment_hpa+": {"previous": (2.504, 7994066, 0.42, 14.14), "vgg16": (2.499, 7210982, 0.43, 14.15),
                        "mobilenet_v2": (2.512, 6284285, 0.42, 14.22)},
}

# Σ seconds each pod was bound to a node over the 30-minute run (the simulation's, not the report's).
POD_SECONDS = {"deployment_hpa": 7560.0, "deployment_hpa+": 9360.0}


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def metrics_doc(name: str) -> dict:
    accuracy, loss, bad, disk, memory, _, _ = MODELS[name]
    per_class = [{"name": c, "support": 100, "accuracy": bad.get(c, 0.9), "precision": 0.8, "recall": bad.get(c, 0.9),
                  "f1": 0.8} for c in CLASSES]
    # Rows = true class: the diagonal holds the correct ones, the rest go to the next class.
    matrix = [[0] * len(CLASSES) for _ in CLASSES]
    for i, row in enumerate(per_class):
        matrix[i][i] = round(row["accuracy"] * 100)
        matrix[i][(i + 1) % len(CLASSES)] = 100 - matrix[i][i]
    return {
        "schema_version": 2, "created": "2026-11-29T07:30:00+00:00",
        "model": {"name": name, "backbone": name, "variant": "eager", "model_file": "model.pt", "parameters": 1000},
        "split": "evaluation", "dataset": {"path": "/data/food11", "num_images": 1100, "classes": CLASSES},
        "machine": {"cpu": "test", "isa": ["avx2"], "cores": 2, "torch": "2.14.1", "python": "3.11"},
        "optimizing": {"accuracy": accuracy, "loss": loss, "bad_threshold": 0.8, "per_class": per_class,
                       "bad_classes": [{"name": n, "accuracy": a} for n, a in sorted(bad.items(), key=lambda x: x[1])],
                       "confusion_matrix": matrix},
        "operational": {"disk_mb": disk, "memory_mb": memory, "process_rss_mb": memory + 300, "threads": 2,
                        "latency_ms": {"median": 30.0, "p95": 35.0, "p99": 40.0, "runs": 50},
                        "throughput": {"batch_size": 32, "images_per_s": 100.0, "runs": 5}},
    }


def loadtest_doc(name: str) -> dict:
    rt, rate = MODELS[name][5:]
    overall = {"duration_s": 60.0, "successes": round(rate * 60), "failures": 0, "availability": 1.0,
               "transaction_rate": rate, "response_time_s": rt, "p50_s": rt, "p95_s": rt * 1.3, "p99_s": rt * 1.5,
               "longest_s": rt * 2, "cpu_cores": 1.8, "pss_mb": 950.0, "pss_mb_peak": 990.0, "client_cpu_cores": 0.2,
               "errors": {}}
    processes = [{"pid": 100, "role": "frontend", "name": "java", "pss_mb": 400.0, "rss_mb": 420.0, "uss_mb": 390.0},
                 {"pid": 101, "role": "worker", "name": "python", "pss_mb": REPLICA_PSS_PEAK[name] - 400.0,
                  "rss_mb": 700.0, "uss_mb": 500.0}]
    return {"schema_version": 3, "created": "2026-11-29T07:40:00+00:00",
            "url": f"http://127.0.0.1:8080/predictions/{name}", "model": name, "image": "photo.jpg", "mode": "fixed",
            "profile": None, "time_scale": 1.0, "request_timeout_s": 30.0,
            "stages": [{"index": 1, "users": 10, "delay_s": 1.0, **overall}], "overall": overall,
            "server": {"cpu_cores_mean": 1.8, "cpu_cores_max": 2.0, "pss_mb_mean": 950.0,
                       "pss_mb_peak": REPLICA_PSS_PEAK[name], "rss_mb_peak": 1120.0, "uss_mb_peak": 890.0,
                       "samples": 60, "pids": [100, 101], "peak_processes": processes},
            "timeseries_csv": "loadtest.csv"}


def simulation_doc(name: str, deployment: str) -> dict:
    cpu, memory_kb, rt, rate = DEPLOYMENTS[deployment][name]
    stage = {"index": 1, "duration_s": 1800.0, "users": 50, "delay_s": 1.0, "successes": round(rate * 1800),
             "failures": 0, "transaction_rate": rate, "response_time_s": rt, "p50_s": rt, "p95_s": rt * 1.5,
             "p99_s": rt * 2, "cpu_cores": cpu, "memory_kb": memory_kb, "replicas": 4.2, "ready": 4.0}
    return {"schema_version": 2, "created": "2026-11-29T07:50:00+00:00", "deployment": deployment,
            "manifest": f"k8s/{deployment}.yaml", "model": name, "capacity_source": "loadtest.json",
            "profile": "challenge", "time_scale": 1.0,
            "load": {"peak_load_target": None, "users_scale": 1.0, "peak_load": 7.0, "peak_demand": 52.5,
                     "replica_capacity": 7.5, "service_time_s": 0.13},
            "summary": {"cpu_cores": cpu, "memory_kb": memory_kb, "response_time_s": rt, "p50_s": rt,
                        "p95_s": rt * 1.5, "p99_s": rt * 2, "transaction_rate": rate,
                        "successes": round(rate * 1800), "failures": 0, "max_replicas": 5, "max_ready_replicas": 5,
                        "cpu_cores_peak": cpu, "memory_kb_peak": memory_kb, "replica_pss_mb_peak": 800.0,
                        "availability": 1.0, "duration_s": 1800.0, "pod_seconds": POD_SECONDS[deployment]},
            "stages": [stage], "timeseries_csv": f"{deployment}.csv", "plot": f"{deployment}.png"}


# A replica measured inside the Kubernetes image (image.json, scripts/check_image.py), MB.
IMAGE_PSS_PEAK = 700.0


def image_doc(problems=()) -> dict:
    processes = [{"pid": 200, "role": "process", "name": "java", "pss_mb": 180.0, "rss_mb": 200.0, "uss_mb": 170.0},
                 {"pid": 201, "role": "process", "name": "python3", "pss_mb": IMAGE_PSS_PEAK - 180.0,
                  "rss_mb": 600.0, "uss_mb": 480.0}]
    return {"schema_version": 1, "created": "2026-11-30T12:00:00+00:00", "image": "foodclf-torchserve:0.1.0",
            "image_size_bytes": 1_500_000_000, "torch": "2.13.0+cpu", "overlay": "hpa", "ready_s": 3.1,
            "load": {"users": 10, "duration_s": 20.0, "transaction_rate": 41.5, "failures": 0},
            "memory": {"pss_mb_ready": 640.0, "pss_mb_peak": IMAGE_PSS_PEAK, "processes": processes},
            "problems": list(problems),
            "machine": {"cpu": "AMD EPYC", "isa": ["avx2"], "cores": 2, "torch": "2.14.1", "python": "3.11.7"}}


def make_run(root: Path, name: str, stages=("metrics", "loadtest", "simulations")) -> Path:
    """A candidate directory holding the chosen stages' files, as the earlier stages write them."""
    run = root / name
    run.mkdir(parents=True)
    if "metrics" in stages:
        write_json(run / "metrics.json", metrics_doc(name))
        # The evaluation writes its confusion-matrix figure beside metrics.json; the report copies it.
        Image.new("RGB", (400, 400), "white").save(run / "confusion_matrix.png")
    if "loadtest" in stages:
        write_json(run / "loadtest.json", loadtest_doc(name))
    if "simulations" in stages:
        for deployment in DEPLOYMENTS:
            write_json(run / "simulations" / f"{deployment}.json", simulation_doc(name, deployment))
    if "image" in stages:
        write_json(run / "image.json", image_doc())
    return run
