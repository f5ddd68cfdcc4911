"""The whole pipeline in one command: data -> train -> evaluate -> archive -> serve -> load test
-> HPA simulation -> comparison report.

    foodclf demo                       # the embedded sample dataset, small and quick (make demo)
    foodclf demo --data /data/food11   # real Food-11 with the report's full settings
    make demo DATA=/data/food11

Everything lands under --out (default runs/demo): data/, one run directory per model (with
metrics.json, loadtest.json, capacity/, simulations/, and variants/<model>-<format>/ laid out the
same way), report/ (report.html) and the TorchServe logs; the .mar archives go to --model-store
(default model-store/). Every model and every optimised variant is a candidate in the report. A finished stage is reused
when the demo runs again (delete --out to start over); the server it starts is always stopped.
"""
import argparse
import time
from pathlib import Path

from PIL import Image

from foodclf.data.datasets import list_split
from foodclf.data.sample import make_sample
from foodclf.deploy.capacity import load_capacity
from foodclf.deploy.cluster import SimulationSettings
from foodclf.deploy.manifests import default_overlays, load_deployment
from foodclf.deploy.results import format_table, format_verdicts, simulate_to_files
from foodclf.evaluation import evaluate
from foodclf.evaluation import format_summary as metrics_summary
from foodclf.export.variants import export_variants
from foodclf.loadtest.memory import torchserve_replica
from foodclf.loadtest.profiles import Stage, parse_profile
from foodclf.loadtest.runner import run_capacity, run_loadtest
from foodclf.loadtest.summary import format_summary as loadtest_summary
from foodclf.machine import usable_cores
from foodclf.report.compare import compare
from foodclf.serve.archive import archive_run
from foodclf.serve.server import TorchServe
from foodclf.training.recipe import TrainConfig, train

BACKBONES = ("baseline", "mobilenet_v2", "vgg16")

# The sample demo: random weights, small images and few epochs so that it fits in minutes on 2 cores.
SAMPLE_SETTINGS = {
    "train": {
        "baseline": dict(weights="none", image_size=64, epochs=8, batch_size=32),
        "mobilenet_v2": dict(weights="none", image_size=64, epochs=8, batch_size=32),
        "vgg16": dict(weights="none", image_size=32, epochs=6, batch_size=32, lr=1e-4),
    },
    "variants": ("int8",),             # optimised variants exported next to each model (foodclf.export.variants)
    "workers": 1,                      # TorchServe workers per model: six models share two cores here
    "threads": 1,                      # torch threads per worker (two stall when another process holds a core)
    "request_size": 512,               # the load-test photo's side, in pixels
    "loadtest": dict(users=10, delay_s=0.0, duration_s=8.0),
    "capacity": dict(levels=(1, 2, 4, 8), duration_s=4.0),
    "time_scale": 1.0,                 # the simulation runs the whole 30-minute profile in seconds
    # The sample's models answer in milliseconds: the challenge profile as written never needs a
    # second replica. Scaled so that its busiest stage asks 8 replicas' capacity, hpa (max 5)
    # saturates and hpa+ (max 10) copes: the simulations show what the extra replicas buy, and
    # hpa-inflight (hpa+ scaled on requests in flight) what the signal changes.
    "peak_load": 8.0,
}
# Real data: the report's recipe (ImageNet weights, 224 px, 200 + 50 epochs), siege-like tests.
FULL_SETTINGS = {
    "train": {name: dict(weights="imagenet") for name in BACKBONES},
    "variants": ("int8", "openvino-int8"),
    "workers": 2,
    "threads": 0,                      # usable cores / workers
    "request_size": 1280,
    "loadtest": dict(users=10, delay_s=0.0, duration_s=30.0),
    "capacity": dict(levels=(1, 2, 4, 8, 16), duration_s=20.0),
    "time_scale": 1.0,
    "peak_load": None,                 # the report's challenge profile, its users as written
}


class Progress:
    """Numbered stage headers with elapsed time: the demo's progress display."""

    def __init__(self, total: int):
        self.total, self.step, self.started = total, 0, time.perf_counter()

    def __call__(self, message: str) -> None:
        self.step += 1
        print(f"\n[{self.step}/{self.total}] {message}  (t+{time.perf_counter() - self.started:.0f}s)", flush=True)


def train_all(args, data: Path, settings: dict, progress: Progress) -> list[Path]:
    run_dirs = []
    for backbone in args.backbones:
        progress(f"training {backbone}")
        out = Path(args.out) / backbone
        options = {**settings["train"][backbone], **({"epochs": args.epochs} if args.epochs else {})}
        if (out / "model.pt").is_file():
            print(f"reusing the finished run in {out}")
        else:
            config = TrainConfig(data=str(data), out=str(out), backbone=backbone, workers=args.workers, **options)
            train(config, resume=(out / "last.ckpt").is_file())
        run_dirs.append(out)
    return run_dirs


def request_image(data: Path, out: Path, size: int) -> Path:
    """A photo for the load test: the first evaluation image, enlarged like a phone photo."""
    path = out / f"request_{size}.jpg"
    if not path.is_file():
        first = list_split(data, "evaluation", check_images=False).samples[0][0]
        Image.open(first).convert("RGB").resize((size, size), Image.BICUBIC).save(path, quality=90)
    return path


def serve_and_load_test(args, run_dirs: list[Path], image: Path, settings: dict, progress: Progress) -> None:
    progress(f"serving {len(run_dirs)} models from one TorchServe and load-testing each")
    models = {run_dir.name: f"{run_dir.name}.mar" for run_dir in run_dirs}
    with TorchServe(args.model_store, models, workdir=Path(args.out) / "torchserve") as server:
        print(f"TorchServe up at {server.inference_url} with {', '.join(models)}")
        for run_dir in run_dirs:
            url = server.predictions_url(run_dir.name)
            # The frontend and this model's own workers: one replica of this model, not the others
            # (foodclf.loadtest.memory: the frontend counts whole for each model, as in its own pod).
            replica = torchserve_replica(server, run_dir.name)
            fixed = settings["loadtest"]
            report = run_loadtest(url, image, [Stage(fixed["duration_s"], fixed["users"], fixed["delay_s"])],
                                  out_dir=run_dir, replica=replica, model=run_dir.name)
            print(f"\n{run_dir.name}, one replica, {fixed['users']} users:\n{loadtest_summary(report)}")
            capacity = settings["capacity"]
            run_capacity(url, image, capacity["levels"], capacity["duration_s"], out_dir=run_dir / "capacity",
                         replica=replica, model=run_dir.name)
    print("TorchServe stopped")


def simulate_all(run_dirs: list[Path], time_scale: float, peak_load: float | None, progress: Progress) -> None:
    scaled = "" if peak_load is None else f", its users scaled to a peak load of {peak_load:g} replicas"
    specs = [load_deployment(m) for m in default_overlays()]  # the packaged overlays hpa, hpa+, hpa-inflight
    workers = usable_cores()
    progress(f"simulating {', '.join(spec.name for spec in specs)} under the challenge profile{scaled} "
             f"({workers} at a time)")
    stages = parse_profile("challenge", time_scale)
    jobs = [(load_capacity(run_dir / "capacity" / "loadtest.json"), spec, run_dir / "simulations")
            for run_dir in run_dirs for spec in specs]
    results = simulate_to_files(jobs, stages, SimulationSettings(), "challenge", time_scale, peak_load, workers)
    print(format_table(results))
    print()
    print(format_verdicts(results))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--data", help="a dataset folder (Food-11 or one folder per class); default: make the sample")
    p.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    p.add_argument("--model-store", default="model-store", help="where the .mar archives go")
    p.add_argument("--epochs", type=int, help="override every model's epochs (e.g. 1 for a smoke run)")
    p.add_argument("--workers", type=int, default=2, help="data-loading processes")
    p.add_argument("--quick", action="store_true", help="with --data: the sample's small settings, not the report's")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = FULL_SETTINGS if args.data and not args.quick else SAMPLE_SETTINGS
    progress = Progress(1 + 3 * len(args.backbones) + 4)

    progress("dataset")
    if args.data:
        data = Path(args.data)
        print(f"using {data}")
    else:
        data = out / "data"
        if not (data / "evaluation").is_dir():
            make_sample(data)
        print(f"sample dataset in {data}")

    run_dirs = train_all(args, data, settings, progress)
    for run_dir in run_dirs:
        progress(f"evaluating {run_dir.name}")
        metrics = evaluate(run_dir, data, latency_runs=20, progress=True)
        print(metrics_summary(metrics))
    candidates = list(run_dirs)
    for run_dir in run_dirs:
        progress(f"exporting {run_dir.name} as {', '.join(settings['variants'])} (evaluated like the model)")
        variants = export_variants(run_dir, settings["variants"], data, latency_runs=20)
        for variant in variants:
            print(f"{variant.name}: {variant}")
        candidates += variants
    progress(f"archiving {len(candidates)} candidates into {args.model_store}")
    for candidate in candidates:
        print(archive_run(candidate, candidate.name, args.model_store, workers=settings["workers"],
                          threads=settings["threads"]))
    image = request_image(data, out, settings["request_size"])
    serve_and_load_test(args, candidates, image, settings, progress)
    simulate_all(candidates, settings["time_scale"], settings["peak_load"], progress)

    progress("comparing")
    report = compare(candidates, out / "report")
    print(f"\nreport: {report.resolve()}")
    return 0
