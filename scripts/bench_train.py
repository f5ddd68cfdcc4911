#!/usr/bin/env python
"""Training speed: foodclf's Lightning module against a plain PyTorch loop, in one run.

Same model (FoodNet), data (one fixed set of batches in memory, so data loading is out of the
picture), batch size, optimiser and schedule; it prints images per second of each side and the
ratio. Goal: Lightning overhead under 10 % for MobileNetV2 at 64 px on a 2-core CPU.

    python scripts/bench_train.py [--backbone mobilenet_v2] [--image-size 64] [--steps 40] [--repeats 3] [--threads 1]
"""
import argparse
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


def lightning_images_per_second(backbone, batches, steps, warmup):
    torch.manual_seed(0)
    module = FoodClassifier(backbone, 11)
    loader = DataLoader(TensorDataset(*batches), batch_size=len(batches[1]) // steps, shuffle=False)
    timer = _SteadyTimer(warmup)
    trainer = pl.Trainer(max_steps=steps, max_epochs=1, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, limit_val_batches=0, callbacks=[PhaseFreezing("all"), timer])
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="mobilenet_v2")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for both sides (1 keeps OpenMP stalls on a shared machine out of the ratio)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    n = args.steps * args.batch_size
    batches = (torch.randn(n, 3, args.image_size, args.image_size, generator=generator),
               torch.randint(0, 11, (n,), generator=generator))
    print(machine_line())
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
