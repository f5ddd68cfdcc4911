#!/usr/bin/env python
"""Every exported variant against eager PyTorch, measured in one run with a fixed thread count:
single-image latency (median, p95), saturated throughput (one process, batches), their ratios to
eager, and accuracy on the evaluation split with its difference to eager in points.

  python scripts/bench_inference.py                    # the demo's runs (runs/demo), their size and 224 px
  python scripts/bench_inference.py --runs runs/demo/mobilenet_v2 --sizes 224 --threads 1
  python scripts/bench_inference.py --random --sizes 64 224     # no trained runs: random weights

Each run is benchmarked at its own image size (the demo's: 64 px, vgg16 32 px) and at each of
--sizes; at another size than the run was trained at, accuracy is not shown (the model never saw
such images). With --random (or when a run is missing) the model has random weights and a sample
dataset calibrates INT8: the speed is the same, the accuracy means nothing.

Goals: MobileNetV2 at least 4x eager, VGG16 at least 2x eager, accuracy within 1 point.
On a shared machine the absolute figures are noisy; the ratios are measured side by side.
"""
import argparse
import logging
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import torch

from foodclf.cli import run_cli
from foodclf.contracts import to_json
from foodclf.data.data_config import DataConfig
from foodclf.data.datasets import FoodImageDataset, list_split
from foodclf.data.sample import make_sample
from foodclf.data.transforms import EvalPreset
from foodclf.errors import FoodclfError
from foodclf.evaluation.operational import measure_latency, measure_throughput
from foodclf.evaluation.optimizing import predict_split
from foodclf.export.variants import FORMATS, available_formats, export_variants
from foodclf.io import atomic_write_json
from foodclf.machine import describe_machine, machine_line
from foodclf.models.predictors import load_predictor
from foodclf.training.runs import CLASSES_FILE, MODEL_FILE, load_run, random_weights_run

BACKBONES = ("baseline", "mobilenet_v2", "vgg16")
DEMO_SIZES = {"baseline": 64, "mobilenet_v2": 64, "vgg16": 32}  # scripts/demo.py's sample settings
GOALS = {"mobilenet_v2": 4.0, "vgg16": 2.0}  # speed-up over eager
ACCURACY_POINTS = 1.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", default=[f"runs/demo/{b}" for b in BACKBONES],
                   help="trained run directories (default: the demo's, runs/demo/<backbone>)")
    p.add_argument("--data", default="runs/demo/data",
                   help="dataset: training images calibrate INT8, evaluation images measure accuracy")
    p.add_argument("--random", action="store_true", help="random-weight models of the demo's backbones and sizes")
    p.add_argument("--sizes", nargs="*", type=int, default=[224], help="image sizes besides each run's own")
    p.add_argument("--formats", nargs="+", default=available_formats(), choices=FORMATS,
                   help="default: the formats this CPU runs at their precision (openvino-bf16 needs bf16)")
    p.add_argument("--threads", type=int, default=2, help="threads of every runtime (default %(default)s)")
    p.add_argument("--latency-runs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16, help="batch for saturated throughput")
    p.add_argument("--throughput-runs", type=int, default=3)
    p.add_argument("--calibration-images", type=int, default=32, help="(speed does not depend on them)")
    p.add_argument("--out", help="also write the figures to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for noisy in ("foodclf", "onnx_ir", "onnxscript", "nncf"):  # the table is the output
        logging.getLogger(noisy).setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as scratch:
        scratch = Path(scratch)
        runs, data = benchmark_inputs(args, scratch)
        rows = []
        for run_dir, trained in runs:
            run = load_run(run_dir)
            for size in dict.fromkeys([run.data_config.image_size, *args.sizes]):
                at_size = resized_run(run_dir, size, scratch / f"{run.name}-{size}")
                rows += bench_run(at_size, data, args, accuracy=trained and size == run.data_config.image_size)
        print_table(rows, args)
        if args.out:
            atomic_write_json(args.out, {"machine": to_json(describe_machine()), "threads": args.threads,
                                         "load_average": os.getloadavg(), "rows": rows})
            print(f"\nwrote {args.out}")
    return 0


def benchmark_inputs(args, scratch: Path) -> tuple[list[tuple[Path, bool]], Path]:
    """(run dir, trained?) pairs and the dataset; random-weight runs stand in for missing ones."""
    data = Path(args.data)
    wanted = [] if args.random else [Path(r) for r in args.runs]
    runs = [(r, True) for r in wanted if (r / MODEL_FILE).is_file()]
    missing = [r for r in wanted if not (r / MODEL_FILE).is_file()]
    if missing:
        print(f"not found: {', '.join(map(str, missing))} (make demo writes them); using random weights instead")
    if args.random or missing:
        backbones = BACKBONES if args.random else [r.name for r in missing if r.name in BACKBONES]
        if not backbones:
            raise FoodclfError("no run to benchmark: pass --runs RUN_DIR... or --random")
        if not (data / "training").is_dir():
            data = make_sample(scratch / "data", {"training": 4, "validation": 1, "evaluation": 4})
        note = "random weights, for bench_inference"
        runs += [(random_weights_run(scratch / f"random-{b}", b, DEMO_SIZES[b], note=note), False) for b in backbones]
    return runs, data


def resized_run(run_dir: Path, size: int, out: Path) -> Path:
    """A copy of the run whose data_config says ``size`` (a CNN with global pooling takes any size)."""
    out.mkdir(parents=True)
    for name in (MODEL_FILE, CLASSES_FILE):
        shutil.copy(run_dir / name, out / name)
    replace(DataConfig.load(run_dir / "data_config.json"), image_size=size).save(out / "data_config.json")
    return out


def bench_run(run_dir: Path, data: Path, args, accuracy: bool) -> list[dict]:
    run = load_run(run_dir)
    variants = export_variants(run_dir, args.formats, data, calibration_images=args.calibration_images,
                               evaluate=False)
    transform = EvalPreset(run.data_config)
    samples = list_split(data, "evaluation").samples
    dataset = FoodImageDataset(samples, transform)
    image = dataset[0][0]
    batch = torch.stack([dataset[i % len(dataset)][0] for i in range(args.batch_size)])
    rows = []
    for name, folder in [("eager", run_dir), *((v.name.removeprefix(run.name + "-"), v) for v in variants)]:
        # Each runtime in a fresh process: thread pools left spinning by one runtime (or by the
        # export) must not slow the next one down, and eager must not pay for them either.
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            figures = pool.submit(measure, folder, args.threads, image, batch, args.latency_runs,
                                  args.throughput_runs, dataset if accuracy else None).result()
        row = {"backbone": run.data_config.backbone, "size": run.data_config.image_size, "variant": name, **figures}
        rows.append(row)
        latency, throughput = row["latency_ms"], row["images_per_s"]
        print(f"  {row['backbone']} {row['size']} px {name}: {latency:.2f} ms, {throughput:.1f} images/s", flush=True)
    eager = rows[0]
    for row in rows:
        row["latency_x"] = eager["latency_ms"] / row["latency_ms"]
        row["throughput_x"] = row["images_per_s"] / eager["images_per_s"]
        row["accuracy_points"] = (None if row["accuracy"] is None
                                  else 100 * (row["accuracy"] - eager["accuracy"]))
    return rows


def measure(folder: Path, threads: int, image: torch.Tensor, batch: torch.Tensor, latency_runs: int,
            throughput_runs: int, dataset: FoodImageDataset | None) -> dict:
    """Latency, throughput and (given a dataset) accuracy of one model folder, in this process."""
    torch.set_num_threads(threads)
    predict = load_predictor(folder, threads=threads)
    latency = measure_latency(predict, image, latency_runs)
    throughput = measure_throughput(predict, batch, throughput_runs)
    figures = {"latency_ms": latency.median, "p95_ms": latency.p95, "images_per_s": throughput.images_per_s,
               "accuracy": None}
    if dataset is not None:
        targets, logits = predict_split(predict, dataset, batch_size=32, progress=False)
        figures["accuracy"] = (logits.argmax(1) == targets).float().mean().item()
    return figures


def print_table(rows: list[dict], args) -> None:
    print(f"\n{machine_line()}")
    print(f"{args.threads} thread(s) per runtime, latency over {args.latency_runs} single images, throughput "
          f"over {args.throughput_runs} batches of {args.batch_size}; load average {os.getloadavg()[0]:.2f}\n")
    print(f"{'backbone':<13} {'px':>4} {'variant':<14} {'median ms':>9} {'p95 ms':>8} {'x eager':>7} "
          f"{'images/s':>9} {'x eager':>7} {'accuracy':>8} {'Δ points':>8}")
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
        points = "-" if r["accuracy_points"] is None else f"{r['accuracy_points']:+.1f}"
        print(f"{r['backbone']:<13} {r['size']:>4} {r['variant']:<14} {r['latency_ms']:>9.2f} {r['p95_ms']:>8.2f} "
              f"{r['latency_x']:>7.2f} {r['images_per_s']:>9.1f} {r['throughput_x']:>7.2f} {acc:>8} {points:>8}")
    print()
    for (backbone, size), group in _groups(rows).items():
        goal = GOALS.get(backbone)
        if goal is None:
            continue
        # Only variants within the accuracy goal count (accuracy unknown at a size the run was not trained at).
        fits = [r for r in group[1:] if r["accuracy_points"] is None or abs(r["accuracy_points"]) <= ACCURACY_POINTS]
        if not fits:
            print(f"{backbone} {size} px: no variant within {ACCURACY_POINTS:g} point of eager's accuracy")
            continue
        parts = []
        for figure, key in (("latency", "latency_x"), ("throughput", "throughput_x")):
            best = max(fits, key=lambda r: r[key])
            parts.append(f"{figure} {best[key]:.1f}x ({best['variant']}): {'met' if best[key] >= goal else 'NOT met'}")
        print(f"{backbone} {size} px, goal {goal:g}x eager within {ACCURACY_POINTS:g} point: " + "; ".join(parts))


def _groups(rows: list[dict]) -> dict:
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["backbone"], r["size"]), []).append(r)
    return groups


if __name__ == "__main__":
    sys.exit(run_cli(main))
