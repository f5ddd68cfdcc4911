"""Predict Kubernetes deployments of a model: simulate the HPA under a siege load profile.

    foodclf simulate --capacity RUN_DIR/loadtest.json --profile challenge
    foodclf simulate --capacity RUN_DIR/loadtest.json --manifest k8s/overlays/hpa+ --manifest my-deployment.yaml
    foodclf simulate --capacity RUN_DIR/loadtest.json --peak-load 8   # the busiest stage asks 8 replicas' capacity

The deployments default to the packaged kustomize overlays hpa and hpa+ (CPU scaled) and
hpa-inflight (hpa+ scaled on TorchServe's requests in flight per pod), rendered with kubectl when
it is installed, else with foodclf's own small kustomize reader.

The profile's users are used as given unless --peak-load scales them, per model, so that the
busiest stage's demand is that many times one replica's measured capacity.

Writes RUN_DIR/simulations/<deployment>.json .csv .png (or under --out) and prints the report's
table, one row per model x deployment, the load each model ran under, and which deployment wins.
See docs/kubernetes.md.
"""
import argparse
from pathlib import Path

from foodclf.deploy.capacity import load_capacity
from foodclf.deploy.cluster import Cluster, SimulationSettings
from foodclf.deploy.manifests import default_overlays, load_deployment
from foodclf.deploy.results import format_table, format_verdicts, write_simulation
from foodclf.deploy.simulation import simulate
from foodclf.deploy.spec import parse_cpu, parse_memory
from foodclf.loadtest.profiles import parse_profile


def _parser() -> argparse.ArgumentParser:
    defaults = SimulationSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capacity", action="append", required=True,
                        help="a loadtest.json with a capacity curve (or its run directory); repeat for more models")
    parser.add_argument("--manifest", action="append",
                        help="a kustomize overlay directory or a manifest file with a Deployment and its HPA; "
                             "repeat (default: the packaged overlays hpa, hpa+ and hpa-inflight)")
    parser.add_argument("--profile", default="challenge", help="'challenge' or a profile file (default: challenge)")
    parser.add_argument("--peak-load", type=float,
                        help="scale the profile's users so that its busiest stage asks this many times one "
                             "replica's capacity (default: the profile's users as given)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiply every stage's duration (the controller's timings stay real)")
    parser.add_argument("--out", help="output folder (default: simulations/ beside each loadtest.json; "
                                      "with several models, one subfolder per model)")
    parser.add_argument("--nodes", type=int, default=defaults.cluster.nodes, help="cluster nodes (default 3)")
    parser.add_argument("--node-cpu", default="4", help="allocatable CPU of a node (default 4)")
    parser.add_argument("--node-memory", default="8Gi", help="allocatable memory of a node (default 8Gi)")
    parser.add_argument("--image-pull-s", type=float, default=defaults.image_pull_s, help="seconds to pull the image")
    parser.add_argument("--model-load-s", type=float, default=defaults.model_load_s,
                        help="seconds from container start until TorchServe answers /ping")
    parser.add_argument("--metrics-interval-s", type=float, default=defaults.metrics_interval_s,
                        help="metrics-server's scrape interval")
    parser.add_argument("--timeout-s", type=float, default=defaults.timeout_s, help="the client's request timeout")
    parser.add_argument("--queue-size", type=int, default=defaults.queue_size,
                        help="requests a replica holds before it answers 503 (TorchServe job_queue_size)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)

    settings = SimulationSettings(
        cluster=Cluster(args.nodes, parse_cpu(args.node_cpu, "--node-cpu"),
                        parse_memory(args.node_memory, "--node-memory")),
        metrics_interval_s=args.metrics_interval_s, image_pull_s=args.image_pull_s, model_load_s=args.model_load_s,
        queue_size=args.queue_size, timeout_s=args.timeout_s, seed=args.seed)
    stages = parse_profile(args.profile, args.time_scale)
    profile = Path(args.profile).stem if Path(args.profile).suffix else args.profile
    specs = [load_deployment(m) for m in (args.manifest or default_overlays())]
    capacities = [load_capacity(c) for c in args.capacity]

    results = []
    for capacity, source in zip(capacities, args.capacity):
        out = _out_dir(args.out, source, capacity.model, several=len(capacities) > 1)
        for spec in specs:
            result = simulate(capacity, spec, stages, settings, profile=profile, time_scale=args.time_scale,
                              peak_load=args.peak_load)
            path = write_simulation(result, out, plot=not args.no_plot)
            print(f"{capacity.model} on {spec.name}: {path}")
            results.append(result)
    print()
    print(format_table(results))
    verdicts = format_verdicts(results)
    if verdicts:
        print()
        print(verdicts)
    return 0


def _out_dir(out: str | None, capacity_path: str, model: str, several: bool) -> Path:
    if out is None:
        source = Path(capacity_path)
        return (source if source.is_dir() else source.parent) / "simulations"
    return Path(out) / model if several else Path(out)
