#!/usr/bin/env python
"""Training speed, in one run: foodclf's Lightning module against a plain PyTorch loop
(--mode overhead), or data-parallel training on 2 processes against 1 (--mode scaling).

Same model (FoodNet), data (fixed batches in memory, so data loading is out of the picture),
batch size, optimiser and schedule on every side; it prints images per second of each side.

  overhead  the plain loop and the Lightning module in this process, and their ratio. Goal:
            Lightning overhead under 10 % for MobileNetV2 at 64 px on a 2-core CPU.
  scaling   the Lightning module in 1 process, then under DDP (gloo) in --processes processes
            started as torchrun would (LOCAL_RANK, MASTER_ADDR, ...), each with --threads threads
            and its own --batch-size batch per step (the global batch grows with the processes),
            and the efficiency rate_N / (N x rate_1). With --threads-too, also 1 process with
            N x --threads threads: the same cores without DDP.

    python scripts/bench_train.py [--mode overhead|scaling] [--backbone mobilenet_v2] [--image-size 64]
                                  [--steps 40] [--repeats 3] [--threads 1] [--processes 2] [--threads-too]
"""
import argparse
import multiprocessing
import os
import queue
import socket
import sys
import time

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from foodclf.machine import machine_line
from foodclf.models.net import create_model
from foodclf.training.classifier import FoodClassifier
from foodclf.training.finetuning import PhaseFreezing


class _SteadyTimer(Callback):
    """Times the batches after the warm-up ones, as the plain loop does."""

    def __init__(self, warmup: int):
        self.warmup, self.started, self.seconds = warmup, 0.0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.warmup:
            self.started = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.started


def random_batches(args, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    n = args.steps * args.batch_size
    return (torch.randn(n, 3, args.image_size, args.image_size, generator=generator),
            torch.randint(0, 11, (n,), generator=generator))


def lightning_images_per_second(backbone, batches, steps, warmup, devices: int = 1):
    """This process's images per second; with ``devices`` > 1 it is one rank of a DDP run."""
    torch.manual_seed(0)
    module = FoodClassifier(backbone, 11)
    loader = DataLoader(TensorDataset(*batches), batch_size=len(batches[1]) // steps, shuffle=False)
    timer = _SteadyTimer(warmup)
    trainer = pl.Trainer(max_steps=steps, max_epochs=1, accelerator="cpu", devices=devices,
                         strategy="ddp" if devices > 1 else "auto", use_distributed_sampler=False,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                         callbacks=[PhaseFreezing("all"), timer])
    trainer.fit(module, train_dataloaders=loader)
    return (steps - warmup) * loader.batch_size / timer.seconds


def plain_images_per_second(backbone, batches, steps, warmup):
    torch.manual_seed(0)
    model = create_model(backbone, 11).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1 / 2000))
    images, labels = batches
    batch = len(labels) // steps
    started = 0.0
    for step in range(steps):
        if step == warmup:
            started = time.perf_counter()
        x, y = images[step * batch:(step + 1) * batch], labels[step * batch:(step + 1) * batch]
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return (steps - warmup) * batch / (time.perf_counter() - started)


def _rank(rank: int, world: int, port: int, threads: int, args, results) -> None:
    """One process of a measurement: rank ``rank`` of ``world``, with its own batches."""
    if world > 1:  # the environment torchrun gives each process: Lightning then launches nothing
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), NODE_RANK="0",
                          LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(threads)
    batches = random_batches(args, seed=rank)
    results.put(lightning_images_per_second(args.backbone, batches, args.steps, args.warmup, world))


def processes_images_per_second(world: int, threads: int, args) -> float:
    """Images per second of ``world`` fresh processes training together (DDP when world > 1).

    The ranks step in lockstep (every step all-reduces the gradients), so the slowest rank's
    rate times the number of ranks is the run's rate."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    processes = [context.Process(target=_rank, args=(rank, world, port, threads, args, results))
                 for rank in range(world)]
    for process in processes:
        process.start()
    try:
        rates = [_next_result(results, processes) for _ in processes]
    finally:
        for process in processes:  # a rank left waiting for a failed one would wait for ever
            process.join(timeout=60)
            if process.exitcode is None:
                process.kill()
    return world * min(rates)


def _next_result(results, processes) -> float:
    while True:
        try:
            return results.get(timeout=1)
        except queue.Empty:
            failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if failed:
                raise RuntimeError(f"a training process failed (exit codes {failed}); see its output above") from None


def measure_overhead(args) -> None:
    torch.set_num_threads(args.threads)
    batches = random_batches(args)
    print(f"{args.backbone} at {args.image_size} px, batch {args.batch_size}, {args.steps} steps "
          f"({args.warmup} warm-up), {torch.get_num_threads()} threads")
    plain, light = [], []
    for repeat in range(args.repeats):  # interleaved, so drift in machine load hits both sides
        plain.append(plain_images_per_second(args.backbone, batches, args.steps, args.warmup))
        light.append(lightning_images_per_second(args.backbone, batches, args.steps, args.warmup))
        print(f"  repeat {repeat + 1}: plain {plain[-1]:.1f} img/s, lightning {light[-1]:.1f} img/s")
    # Best of the repeats: interference from other processes only ever slows a side down.
    best_plain, best_light = max(plain), max(light)
    ratio = best_light / best_plain
    print(f"plain PyTorch: {best_plain:.1f} img/s   foodclf Lightning: {best_light:.1f} img/s")
    print(f"ratio {ratio:.3f} -> overhead {100 * (1 - ratio):.1f}% (goal: under 10%)")


def measure_scaling(args) -> None:
    n, t = args.processes, args.threads
    print(f"{args.backbone} at {args.image_size} px, batch {args.batch_size} per process, {args.steps} steps "
          f"({args.warmup} warm-up); DDP over gloo, {n} processes x {t} thread(s) against 1 process")
    sides = {f"1 process x {t} thread(s)": (1, t), f"{n} processes x {t} thread(s) (DDP)": (n, t)}
    if args.threads_too:
        sides[f"1 process x {n * t} threads"] = (1, n * t)
    rates = {name: [] for name in sides}
    for repeat in range(args.repeats):  # interleaved, so drift in machine load hits every side
        for name, (world, threads) in sides.items():
            rates[name].append(processes_images_per_second(world, threads, args))
        print(f"  repeat {repeat + 1}: " + ", ".join(f"{name} {r[-1]:.1f}" for name, r in rates.items()) + " img/s")
    best = {name: max(r) for name, r in rates.items()}  # interference only ever slows a side down
    for name, rate in best.items():
        print(f"{name:>36}: {rate:.1f} img/s")
    one, ddp, *threaded = best.values()
    print(f"DDP efficiency rate_{n} / ({n} x rate_1) = {ddp / (n * one):.2f}")
    if threaded:
        print(f"DDP against 1 process with the same {n * t} threads: {ddp / threaded[0]:.2f}x")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("overhead", "scaling"), default="overhead",
                   help="Lightning against a plain loop, or DDP processes against one (default: overhead)")
    p.add_argument("--backbone", default="mobilenet_v2")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32, help="images per step (per process with --mode scaling)")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per process (1 keeps OpenMP stalls on a shared machine out of the figures)")
    p.add_argument("--processes", type=int, default=2, help="DDP processes for --mode scaling")
    p.add_argument("--threads-too", action="store_true",
                   help="--mode scaling also measures 1 process with the DDP side's threads (the same cores)")
    args = p.parse_args(argv)
    print(machine_line())
    if args.mode == "overhead":
        measure_overhead(args)
    else:
        measure_scaling(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
