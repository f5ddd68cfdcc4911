#!/usr/bin/env python
"""How much of the model's raw speed survives TorchServe, measured in one run.

  python scripts/bench_serve.py                                    # MobileNetV2, 224 px, default grid
  python scripts/bench_serve.py --grid 1,2,8,20 --duration 20s     # one setting, longer
  python scripts/bench_serve.py --backbone baseline --image-size 64 --duration 3s   # a quick smoke run

For each serving setting (workers, torch threads per worker, batch size, max batch delay ms),
TorchServe starts with that archive, is warmed up (--warmup of saturated load: the Java frontend's
JIT, the workers' allocator and oneDNN's caches settle), and then, --rounds times, in turn:
  raw     the same model, image, processes and threads without TorchServe: as many processes
          as workers, each with the setting's threads, the handler's decode + preprocessing +
          model call on batches of the setting's batch size at the same time; images per second, summed;
  served  the server saturated by closed-loop users with no delay (2 x workers x batch size of
          them, at least 4), transactions per second counted after a 1 s ramp;
The medians of the rounds give the ratio served / raw; each round's own ratio shows its spread.
Last, at 10 users with siege's 1 s delay: the single-replica transaction rate and response time
beside the report's 7.45 trans/s and 1.11 s, and the replica's memory as foodclf.loadtest.memory
defines it (Σ PSS over the frontend and the workers; Σ RSS and Σ USS beside it), peak of that
run, process by process.

Where the difference goes, in CPU milliseconds per image: raw's processes; TorchServe's
workers and its frontend; the load generator (locust, in the steady part), which shares the
machine with the server here but runs elsewhere in a real deployment. "ratio w/o client" divides
served by raw scaled to the cores the load generator leaves:
raw x min(1, (cores - client cores) / min(cores, workers x threads)).

--side-by-side instead: the archive's defaults (or --setting) under --users siege users with no
delay (siege, Debian's package, as the report measured), against the in-process limit: the cores
divided by the CPU time per image of decode + preprocess + inference in one process with one
thread; the replica's peak Σ PSS, process by process. --reference-url measures another server
answering the same photo (e.g. the report's Flask + Keras stack: GET) with the same siege load
right after, its memory from --reference-pid: the ratios of rate and memory come from one run.
--variant serves an exported variant of the random-weights run instead of the eager model.

Both sides run with the same allocator setting as TorchServe's workers (foodclf.serve.settings.MALLOC_TUNABLES;
--malloc default measures glibc's own). The model has random weights (speed does not depend on
them). On a shared machine the figures are noisy: compare ratios, not absolutes.
"""
import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import torch

from foodclf.cli import run_cli
from foodclf.contracts import to_json
from foodclf.data.data_config import DataConfig
from foodclf.data.images import DEFAULT_MAX_PIXELS
from foodclf.data.preprocess import EvalArrays
from foodclf.io import atomic_write_json
from foodclf.loadtest.memory import Replica, torchserve_replica
from foodclf.loadtest.profiles import Stage, parse_duration
from foodclf.loadtest.runner import run_loadtest
from foodclf.loadtest.siege import run_siege
from foodclf.machine import machine_line
from foodclf.models.predictors import EAGER, MODEL_FILES, load_runner
from foodclf.serve.archive import DEFAULT_BATCH_SIZE, DEFAULT_MIN_SIDE, archive_run
from foodclf.serve.handler import softmax
from foodclf.serve.server import TorchServe
from foodclf.serve.settings import MALLOC_ENV, MALLOC_TUNABLES
from foodclf.training.runs import random_weights_run

REPORT_RATE, REPORT_RESPONSE_S = 7.45, 1.11  # the report's MobileNetV2 on one replica (siege, 10 users)
# Each saturated measurement starts with this long uncounted: the users start and the first
# batches fill, which raw's steady loop never pays. Completions are counted from then on.
RAMP_S = 1.0


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
    p.add_argument("--rounds", type=int, default=5, help="raw and saturated measurements per setting (medians)")
    p.add_argument("--warmup", default="30s", help="saturated load before measuring (JIT, caches)")
    p.add_argument("--malloc", choices=["tuned", "default"], default="tuned",
                   help="tuned: foodclf's allocator setting on both sides (what serving uses); "
                        "default: glibc's own")
    p.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of foodclf/serve/config.properties, e.g. 'vmargs=' for the JVM's own "
                        "flags or number_of_netty_threads=1 (repeatable)")
    p.add_argument("--variant", default=EAGER, choices=list(MODEL_FILES),
                   help="the model served: eager, or a variant exported from the random-weights run")
    p.add_argument("--side-by-side", action="store_true",
                   help="instead of the grid: the archive's defaults under --users siege users with no delay, the "
                        "in-process limit (cores / CPU time per image of decode + preprocess + inference, one "
                        "thread), the replica's peak PSS, and the --reference-url server measured the same way")
    p.add_argument("--users", type=int, default=10, help="siege users of --side-by-side")
    p.add_argument("--setting", help="workers,threads,batch,delay_ms of --side-by-side (default: the archive's)")
    p.add_argument("--reference-url", help="another server answering the same photo, measured beside foodclf with "
                                           "the same siege load (e.g. the report's Flask + Keras stack)")
    p.add_argument("--reference-method", choices=["GET", "POST"], default="GET",
                   help="GET the reference URL, or POST it the photo")
    p.add_argument("--reference-pid", type=int, help="the reference server's process: its Σ PSS (with children)")
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


def parse_properties(items: list[str]) -> dict[str, str]:
    properties = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--property: {item!r} is not KEY=VALUE (e.g. vmargs=-Xmx1g)")
        properties[key.strip()] = value.strip()
    return properties


def make_photo(path: Path) -> Path:
    from PIL import Image

    Image.effect_noise((512, 384), 48).convert("RGB").save(path, quality=90)
    return path


def raw_throughput(model_dir: Path, photo: bytes, batch_size: int, threads: int, seconds: float,
                   processes: int = 1) -> tuple[float, float]:
    """(images per second, CPU ms per image) doing the handler's work outside TorchServe:
    ``processes`` processes (like the workers) of ``threads`` torch threads each decode,
    preprocess and classify batches of the photo at the same time; their rates are summed."""
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter each, like a TorchServe worker
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_raw_worker, args=(model_dir, photo, batch_size, threads, seconds, barrier, results))
             for _ in range(processes)]
    for proc in procs:
        proc.start()
    try:
        measured = [results.get(timeout=seconds + 300) for _ in procs]  # (images/s, CPU s, images)
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    images = sum(m[2] for m in measured)
    return sum(m[0] for m in measured), 1000 * sum(m[1] for m in measured) / max(1, images)


def _raw_worker(model_dir, photo, batch_size, threads, seconds, barrier, results) -> None:
    run = load_runner(model_dir, threads)
    preprocess = EvalArrays(DataConfig.load(Path(model_dir) / "data_config.json"))

    def batch():  # the handler's decoding, preprocessing and model call, with the archive's default settings
        images = [preprocess.from_bytes(photo, max_pixels=DEFAULT_MAX_PIXELS, min_side=DEFAULT_MIN_SIDE)
                  for _ in range(batch_size)]
        softmax(run(np.stack(images)))

    batch()  # warm-up
    barrier.wait()  # all processes measure at the same time, sharing the cores as workers do
    done, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        batch()
        done += batch_size
    results.put((done / (time.perf_counter() - start), time.process_time() - cpu_start, done))


def model_dir_for(args, work: Path) -> Path:
    """The random-weights run, or its --variant exported (calibrated on a few generated images)."""
    run_dir = random_weights_run(work / args.backbone, args.backbone, args.image_size,
                                 note="random weights, for bench_serve.py")
    if args.variant == EAGER:
        return run_dir
    from foodclf.data.sample import make_sample
    from foodclf.export.variants import export_variants

    data = make_sample(work / "data", {"training": 2, "validation": 1, "evaluation": 1})
    return export_variants(run_dir, [args.variant], data, calibration_images=8, evaluate=False)[0]


class CpuMeter:
    """CPU seconds used by the frontend and the workers between two readings."""

    def __init__(self, server: TorchServe, model: str):
        self.frontend = psutil.Process(server.pid)
        self.workers = [psutil.Process(pid) for pid in server.worker_pids(model)]

    def read(self) -> dict:
        return {"frontend": _cpu(self.frontend), "workers": sum(_cpu(w) for w in self.workers)}


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def measure_setting(model_dir: Path, photo: Path, setting, seconds: float, warmup: float, rounds: int,
                    work: Path, properties: dict[str, str]) -> dict:
    """Raw and saturated throughput, ``rounds`` times in turn on one warm server, and the 10-user figures."""
    workers, threads, batch, delay = setting
    store = work / f"store-{workers}-{threads}-{batch}-{delay}"
    archive_run(model_dir, "food", store, batch_size=batch, max_batch_delay=delay, workers=workers, threads=threads)
    users, photo_bytes = max(4, 2 * workers * batch), photo.read_bytes()
    raws, raw_cpu, served, cpu = [], [], [], []
    with TorchServe(store, models={"food": "food.mar"}, workdir=store / "serve", properties=properties) as server:
        url, meter = server.predictions_url("food"), CpuMeter(server, "food")
        replica = torchserve_replica(server, "food")
        run_loadtest(url, photo, [Stage(warmup, users, 0.0)], replica=replica)
        for _ in range(rounds):
            rate, cpu_ms = raw_throughput(model_dir, photo_bytes, batch, threads, seconds, processes=workers)
            raws.append(rate)
            raw_cpu.append(cpu_ms)
            before = meter.read()
            report = run_loadtest(url, photo, [Stage(RAMP_S, users, 0.0), Stage(seconds, users, 0.0)], replica=replica)
            after = meter.read()
            steady = to_json(report.stages[1])  # plain data: it goes into --out as it is
            served.append(steady)
            # The server's CPU over the whole run, per image answered in it; the load generator's
            # over the steady part (as it measures itself: its start-up is left out).
            cpu.append({k: 1000 * (after[k] - before[k]) / max(1, report.overall.successes) for k in after})
            cpu[-1]["client"] = 1000 * (steady["client_cpu_cores"] or 0.0) / max(1e-9, steady["transaction_rate"])
        ten_report = run_loadtest(url, photo, [Stage(seconds, 10, 1.0)], replica=replica)
        ten, memory = to_json(ten_report.overall), to_json(ten_report.server)
    saturated = sorted(served, key=lambda o: o["transaction_rate"])[len(served) // 2]  # the median round
    return {"users": users, "raw": statistics.median(raws), "raw_rounds": raws,
            "raw_cpu_ms": statistics.median(raw_cpu), "saturated": saturated,
            "served_rounds": [o["transaction_rate"] for o in served],
            "cpu_ms": {k: statistics.median(c[k] for c in cpu) for k in cpu[0]}, "ten_users": ten,
            "memory": memory}


def main(argv=None) -> int:
    args = parse_args(argv)
    grid, seconds, warmup = parse_grid(args.grid), parse_duration(args.duration), parse_duration(args.warmup)
    properties = parse_properties(args.property)
    if args.rounds < 1:
        raise SystemExit("--rounds must be 1 or more")
    # Set before any process starts: the raw processes and TorchServe's workers inherit it.
    os.environ[MALLOC_ENV] = MALLOC_TUNABLES if args.malloc == "tuned" else ""
    cores, results = max(1, torch.get_num_threads()), []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        model_dir = model_dir_for(args, work)
        photo = Path(args.image) if args.image else make_photo(work / "photo.jpg")
        print(f"{args.backbone} ({args.variant}) at {args.image_size} px, random weights; photo {photo.name} "
              f"({photo.stat().st_size // 1024} KB); {args.rounds} x {seconds:g} s per side after {warmup:g} s "
              f"warm-up; {cores} cores; malloc {args.malloc}"
              + "".join(f"; {k}={v!r}" for k, v in properties.items()))
        print(machine_line())
        if args.side_by_side:
            figures = side_by_side(args, model_dir, photo, seconds, warmup, cores, work, properties)
            if args.out:
                atomic_write_json(args.out, {"backbone": args.backbone, "variant": args.variant,
                                             "image_size": args.image_size, "machine": machine_line(), **figures})
            return 0
        print("workers threads batch delay_ms |  raw img/s | served trans/s  ratio  w/o client "
              "| CPU ms/img: raw  workers frontend client | 10 users: trans/s  resp s")
        for setting in grid:
            m = measure_setting(model_dir, photo, setting, seconds, warmup, args.rounds, work, properties)
            results.append(row(setting, m, cores))
            print_row(results[-1])
    best = max(results, key=lambda r: r["served_transaction_rate"])
    print(f"\nbest served setting: workers {best['workers']}, threads {best['threads']}, batch {best['batch_size']}, "
          f"delay {best['max_batch_delay_ms']} ms: {best['served_transaction_rate']:.2f} trans/s = "
          f"{100 * best['ratio']:.0f}% of raw {best['raw_images_per_s']:.2f} img/s (goal: 90%); "
          f"{100 * best['ratio_without_client']:.0f}% without the load generator's CPU; "
          f"rounds {min(best['ratio_rounds']):.0%}..{max(best['ratio_rounds']):.0%}")
    print(f"single replica, 10 users, 1 s delay: {best['ten_users_transaction_rate']:.2f} trans/s, "
          f"{_f(best['ten_users_response_time_s'], '.3f')} s response time "
          f"(report: {REPORT_RATE} trans/s, {REPORT_RESPONSE_S} s)")
    if args.out:
        atomic_write_json(args.out, {"backbone": args.backbone, "image_size": args.image_size, "seconds": seconds,
                                     "rounds": args.rounds, "warmup_s": warmup, "malloc": args.malloc,
                                     "properties": properties,
                                     "cores": cores, "results": results, "best": best})
        print(f"wrote {args.out}")
    return 0


def side_by_side(args, model_dir: Path, photo: Path, seconds: float, warmup: float, cores: int, work: Path,
                 properties: dict[str, str]) -> dict:
    """The archive's defaults under --users siege users against the in-process limit, then the
    reference server under the same load; rates, ratios and each side's peak Σ PSS."""
    _, cpu_ms = raw_throughput(model_dir, photo.read_bytes(), DEFAULT_BATCH_SIZE, 1, seconds)
    limit = cores * 1000 / cpu_ms
    print(f"in-process limit: {cpu_ms:.2f} CPU ms per image (decode + preprocess + inference, 1 thread, batch "
          f"{DEFAULT_BATCH_SIZE}) -> {cores} cores / that = {limit:.1f} images/s")
    store = work / "store-side-by-side"
    if args.setting:
        workers, threads, batch, delay = parse_grid(args.setting)[0]
        archive_run(model_dir, "food", store, batch_size=batch, max_batch_delay=delay, workers=workers, threads=threads)
    else:
        archive_run(model_dir, "food", store)
    with TorchServe(store, models={"food": "food.mar"}, workdir=store / "serve", properties=properties) as server:
        url, replica = server.predictions_url("food"), torchserve_replica(server, "food")
        run_siege(url, args.users, warmup, body=photo)  # warm-up: the JIT, the allocator, the runtime's caches
        ours = run_siege(url, args.users, seconds, body=photo, replica=replica)
    figures = {"cpu_ms_per_image": round(cpu_ms, 3), "limit_images_per_s": round(limit, 2),
               "foodclf": _siege_json(ours), "ratio_to_limit": round(ours["transaction_rate"] / limit, 4)}
    print(f"foodclf {args.variant}, {args.users} siege users, {seconds:g} s: {ours['transaction_rate']:.2f} trans/s "
          f"= {figures['ratio_to_limit']:.2f} of the limit, {ours['response_time_s']:.3f} s, "
          f"{ours['failures']} failed")
    print_memory(figures["foodclf"]["memory"])
    if args.reference_url:
        replica = Replica.tree([args.reference_pid]) if args.reference_pid else None
        body = photo if args.reference_method == "POST" else None
        run_siege(args.reference_url, args.users, min(warmup, 10), body=body)
        theirs = run_siege(args.reference_url, args.users, seconds, body=body, replica=replica)
        figures["reference"] = _siege_json(theirs)
        figures["ratio_to_reference"] = round(ours["transaction_rate"] / max(1e-9, theirs["transaction_rate"]), 3)
        print(f"reference {args.reference_url}: {theirs['transaction_rate']:.2f} trans/s, "
              f"{theirs['response_time_s']:.3f} s, {theirs['failures']} failed; foodclf / reference: "
              f"{figures['ratio_to_reference']:.2f}x the rate")
        print_memory(figures["reference"]["memory"])
        ref_pss, our_pss = theirs["memory"].pss_mb_peak, ours["memory"].pss_mb_peak
        if ref_pss and our_pss:
            print(f"peak Σ PSS foodclf / reference: {our_pss:.1f} / {ref_pss:.1f} MB = {our_pss / ref_pss:.2f}")
    return figures


def _siege_json(result: dict) -> dict:
    return {**result, "memory": to_json(result["memory"])}


def row(setting, m: dict, cores: int) -> dict:
    """One setting's figures, as printed and written to --out."""
    workers, threads, batch, delay = setting
    sat, ten, cpu = m["saturated"], m["ten_users"], m["cpu_ms"]
    rate, raw = sat["transaction_rate"], m["raw"]
    client_cores = cpu["client"] * rate / 1000
    # Raw on the cores the load generator leaves, if it needs more than those (it uses
    # workers x threads cores at most; a smaller setting leaves the client a core of its own).
    raw_left = raw * min(1.0, max(0.0, cores - client_cores) / min(cores, workers * threads))
    return {"workers": workers, "threads": threads, "batch_size": batch, "max_batch_delay_ms": delay,
            "raw_images_per_s": round(raw, 3), "raw_rounds": [round(r, 3) for r in m["raw_rounds"]],
            "served_users": m["users"], "served_transaction_rate": rate,
            "served_rounds": m["served_rounds"], "ratio": round(rate / raw, 4) if raw else 0.0,
            # each round's served / raw, measured one after the other: the spread of the ratio
            "ratio_rounds": [round(s / r, 4) if r else 0.0 for s, r in zip(m["served_rounds"], m["raw_rounds"])],
            "ratio_without_client": round(rate / raw_left, 4) if raw_left else 0.0,
            "raw_cpu_ms_per_image": round(m["raw_cpu_ms"], 2),
            "served_cpu_ms_per_image": {k: round(v, 2) for k, v in cpu.items()},
            "served_p50_s": sat["p50_s"], "served_failures": sat["failures"],
            "server_cpu_cores": sat["cpu_cores"], "server_pss_mb": sat["pss_mb"],
            # the replica's memory at 10 users (foodclf.loadtest.memory): Σ PSS mean and peak, process by process
            "replica_memory": {k: m["memory"][k] for k in ("pss_mb_mean", "pss_mb_peak", "rss_mb_peak",
                                                           "uss_mb_peak", "peak_processes")},
            "ten_users_transaction_rate": ten["transaction_rate"],
            "ten_users_response_time_s": ten["response_time_s"], "ten_users_failures": ten["failures"]}


def print_row(r: dict) -> None:
    cpu = r["served_cpu_ms_per_image"]
    print(f"{r['workers']:>7} {r['threads']:>7} {r['batch_size']:>5} {r['max_batch_delay_ms']:>8} "
          f"| {r['raw_images_per_s']:>10.2f} | {r['served_transaction_rate']:>14.2f} {r['ratio']:>6.2f} "
          f"{r['ratio_without_client']:>11.2f} | {r['raw_cpu_ms_per_image']:>15.1f} {cpu['workers']:>8.1f} "
          f"{cpu['frontend']:>8.2f} {cpu['client']:>6.2f} | {r['ten_users_transaction_rate']:>17.2f} "
          f"{_f(r['ten_users_response_time_s'], '7.3f')}", flush=True)
    print_memory(r["replica_memory"])


def print_memory(memory: dict) -> None:
    """The replica's memory at 10 users: PSS per process at the peak, and the replica's total."""
    if memory["pss_mb_peak"] is None:
        print("  replica memory: not sampled")
        return
    for p in memory["peak_processes"]:
        print(f"  {p['role']:<8} pid {p['pid']:>7} {p['name'][:15]:<15} PSS {p['pss_mb']:8.1f} MB  "
              f"(RSS {p['rss_mb']:.1f}, USS {p['uss_mb']:.1f})")
    print(f"  replica (Σ PSS): mean {memory['pss_mb_mean']:.1f} MB, peak {memory['pss_mb_peak']:.1f} MB; "
          f"Σ RSS peak {memory['rss_mb_peak']:.1f} MB, Σ USS peak {memory['uss_mb_peak']:.1f} MB", flush=True)


def _f(value, fmt: str) -> str:
    width = fmt.split(".")[0]
    return f"{'-':>{width or 1}}" if value is None else f"{value:{fmt}}"


if __name__ == "__main__":
    sys.exit(run_cli(main))
