#!/usr/bin/env python
"""How much of the model's raw speed survives TorchServe, measured in one run.

  python scripts/bench_serve.py                                    # MobileNetV2, 224 px, default grid
  python scripts/bench_serve.py --grid 1,2,8,20 --duration 20s     # one setting, longer
  python scripts/bench_serve.py --backbone baseline --image-size 64 --duration 3s   # a quick smoke run

For each serving setting (workers, torch threads per worker, batch size, max batch delay ms):
  raw     the same model, image, processes and threads without TorchServe: as many processes
          as workers, each with the setting's torch threads, decode + EvalPreset + forward on
          batches of the setting's batch size at the same time; images per second, summed;
  served  TorchServe with that archive, saturated by closed-loop users with no delay
          (2 x workers x batch size of them, at least 4), transactions per second;
then the ratio served / raw, and, at 10 users with siege's 1 s delay, the single-replica
transaction rate and response time beside the report's 7.45 trans/s and 1.11 s.

The model has random weights (speed does not depend on them). The load generator (locust)
runs on the same machine and takes CPU from the server, so on a small machine the ratio is
a lower bound; on a shared machine the figures are noisy: compare ratios, not absolutes.
"""
import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import torch

from foodclf.archive import archive_run
from foodclf.cli import run_cli
from foodclf.datasets import FOOD11_CLASSES
from foodclf.images import open_rgb
from foodclf.io import atomic_write_json
from foodclf.loadtest import run_loadtest
from foodclf.models import create_model, default_data_config
from foodclf.profiles import Stage, parse_duration
from foodclf.runs import load_run, write_run_files
from foodclf.serving import TorchServe
from foodclf.transforms import EvalPreset

REPORT_RATE, REPORT_RESPONSE_S = 7.45, 1.11  # the report's MobileNetV2 on one replica (siege, 10 users)


def default_grid() -> str:
    """One worker with one thread and with all cores, batched or not, and one worker per core:
    on a crowded machine several torch threads per process can be far slower than one."""
    cores = max(1, torch.get_num_threads())
    grid = [(1, 1, 1, 0), (1, 1, 4, 10), (1, cores, 1, 0), (1, cores, 4, 10), (cores, 1, 4, 10)]
    return ";".join(",".join(map(str, g)) for g in dict.fromkeys(grid))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="mobilenet_v2")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--image", help="the photo to send (default: a generated 512x384 JPEG)")
    p.add_argument("--grid", default=default_grid(),
                   help="settings 'workers,threads,batch,delay_ms;...' (default: %(default)s)")
    p.add_argument("--duration", default="10s", help="length of each measurement (raw, saturated, 10 users)")
    p.add_argument("--warmup", default="3s", help="served warm-up before measuring")
    p.add_argument("--out", help="write the figures to this JSON file")
    return p.parse_args(argv)


def parse_grid(text: str) -> list[tuple[int, int, int, int]]:
    grid = []
    for item in text.split(";"):
        values = [int(v) for v in item.split(",")]
        if len(values) != 4 or min(values[:3]) < 1 or values[3] < 0:
            raise SystemExit(f"--grid: {item!r} is not workers,threads,batch,delay_ms (each >= 1, delay >= 0)")
        grid.append(tuple(values))
    return grid


def make_run(run_dir: Path, backbone: str, image_size: int) -> Path:
    """A complete run directory with random weights."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save(create_model(backbone, len(FOOD11_CLASSES)).state_dict(), run_dir / "model.pt")
    data_config = default_data_config(backbone, len(FOOD11_CLASSES), image_size=image_size)
    write_run_files(run_dir, data_config, list(FOOD11_CLASSES), {"note": "random weights, for bench_serve.py"})
    return run_dir


def make_photo(path: Path) -> Path:
    from PIL import Image

    Image.effect_noise((512, 384), 48).convert("RGB").save(path, quality=90)
    return path


def raw_throughput(run_dir: Path, photo: bytes, batch_size: int, threads: int, seconds: float,
                   processes: int = 1) -> float:
    """Images per second doing the handler's work outside TorchServe: ``processes`` processes
    (like the workers) of ``threads`` torch threads each decode, preprocess and classify
    batches of the photo at the same time; their rates are summed."""
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter each, like a TorchServe worker
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_raw_worker, args=(run_dir, photo, batch_size, threads, seconds, barrier, results))
             for _ in range(processes)]
    for proc in procs:
        proc.start()
    try:
        rates = [results.get(timeout=seconds + 300) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    return sum(rates)


def _raw_worker(run_dir, photo, batch_size, threads, seconds, barrier, results) -> None:
    torch.set_num_threads(threads)
    run = load_run(run_dir)
    model, transform = run.load_model(), EvalPreset(run.data_config)

    def batch():
        tensors = [transform(open_rgb(photo)) for _ in range(batch_size)]
        with torch.inference_mode():
            torch.softmax(model(torch.stack(tensors)), dim=1)

    batch()  # warm-up
    barrier.wait()  # all processes measure at the same time, sharing the cores as workers do
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch()
        done += batch_size
    results.put(done / (time.perf_counter() - start))


def served(run_dir: Path, photo: Path, setting, seconds: float, warmup: float, work: Path) -> dict:
    """Saturated throughput and the 10-user figures of TorchServe with one setting."""
    workers, threads, batch, delay = setting
    store = work / f"store-{workers}-{threads}-{batch}-{delay}"
    archive_run(run_dir, "food", store, batch_size=batch, max_batch_delay=delay, workers=workers, threads=threads)
    users = max(4, 2 * workers * batch)
    with TorchServe(store, models={"food": "food.mar"}, workdir=store / "serve") as server:
        url, pids = server.predictions_url("food"), server.process_pids()
        run_loadtest(url, photo, [Stage(warmup, users, 0.0)], server_pids=pids)
        saturated = run_loadtest(url, photo, [Stage(seconds, users, 0.0)], server_pids=pids)["overall"]
        ten = run_loadtest(url, photo, [Stage(seconds, 10, 1.0)], server_pids=pids)["overall"]
    return {"users": users, "saturated": saturated, "ten_users": ten}


def main(argv=None) -> int:
    args = parse_args(argv)
    grid, seconds, warmup = parse_grid(args.grid), parse_duration(args.duration), parse_duration(args.warmup)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        run_dir = make_run(work / args.backbone, args.backbone, args.image_size)
        photo = Path(args.image) if args.image else make_photo(work / "photo.jpg")
        photo_bytes = photo.read_bytes()
        print(f"{args.backbone} at {args.image_size} px, random weights; photo {photo.name} "
              f"({len(photo_bytes) // 1024} KB); {seconds:g} s per measurement; {torch.get_num_threads()} cores")
        print("workers threads batch delay_ms |  raw img/s | served trans/s  ratio  p50 s  cores   RSS MB "
              "| 10 users: trans/s  resp s")
        for setting in grid:
            workers, threads, batch, _ = setting
            raw = raw_throughput(run_dir, photo_bytes, batch, threads, seconds, processes=workers)
            s = served(run_dir, photo, setting, seconds, warmup, work)
            sat, ten = s["saturated"], s["ten_users"]
            ratio = sat["transaction_rate"] / raw if raw else 0.0
            results.append({"workers": workers, "threads": threads, "batch_size": batch, "max_batch_delay_ms": setting[3],
                            "raw_images_per_s": round(raw, 3), "served_users": s["users"],
                            "served_transaction_rate": sat["transaction_rate"], "ratio": round(ratio, 4),
                            "served_p50_s": sat["p50_s"], "served_failures": sat["failures"],
                            "server_cpu_cores": sat["cpu_cores"], "server_rss_mb": sat["rss_mb"],
                            "ten_users_transaction_rate": ten["transaction_rate"],
                            "ten_users_response_time_s": ten["response_time_s"], "ten_users_failures": ten["failures"]})
            print(f"{workers:>7} {threads:>7} {batch:>5} {setting[3]:>8} | {raw:>10.2f} | {sat['transaction_rate']:>14.2f} "
                  f"{ratio:>6.2f} {_f(sat['p50_s'], '6.3f')} {_f(sat['cpu_cores'], '6.2f')} {_f(sat['rss_mb'], '8.0f')} "
                  f"| {ten['transaction_rate']:>17.2f} {_f(ten['response_time_s'], '7.3f')}")
    best = max(results, key=lambda r: r["served_transaction_rate"])
    print(f"\nbest served setting: workers {best['workers']}, threads {best['threads']}, batch {best['batch_size']}, "
          f"delay {best['max_batch_delay_ms']} ms: {best['served_transaction_rate']:.2f} trans/s = "
          f"{100 * best['ratio']:.0f}% of raw {best['raw_images_per_s']:.2f} img/s (goal: 90%)")
    print(f"single replica, 10 users, 1 s delay: {best['ten_users_transaction_rate']:.2f} trans/s, "
          f"{_f(best['ten_users_response_time_s'], '.3f')} s response time "
          f"(report: {REPORT_RATE} trans/s, {REPORT_RESPONSE_S} s)")
    if args.out:
        atomic_write_json(args.out, {"backbone": args.backbone, "image_size": args.image_size, "seconds": seconds,
                                     "cores": torch.get_num_threads(), "results": results, "best": best})
        print(f"wrote {args.out}")
    return 0


def _f(value, fmt: str) -> str:
    width = fmt.split(".")[0]
    return f"{'-':>{width or 1}}" if value is None else f"{value:{fmt}}"


if __name__ == "__main__":
    sys.exit(run_cli(main))
