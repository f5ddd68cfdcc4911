"""Train a food classifier with the report's recipe.

  python scripts/train.py --backbone vgg16 --data food11 --out runs/vgg16
  python scripts/train.py --backbone mobilenet_v2 --data my_photos --weights none --epochs 20
  python scripts/train.py --out runs/vgg16 --resume
"""
import argparse
import sys
from dataclasses import fields

from foodclf.models.backbones import list_backbones
from foodclf.cli import run_cli
from foodclf.training.recipe import UNFREEZE_CHOICES, TrainConfig, train

DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not f.default_factory}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="dataset folder with training/, validation/, evaluation/ (Food-11 or one folder per class)")
    p.add_argument("--out", required=True, help="run directory to write (or to continue with --resume)")
    p.add_argument("--backbone", default=DEFAULTS["backbone"], help=f"one of {', '.join(list_backbones())}")
    p.add_argument("--weights", default=DEFAULTS["weights"], help="imagenet, none (random) or PATH to a state_dict")
    p.add_argument("--unfreeze", choices=UNFREEZE_CHOICES, default=None,
                   help="what phase 2 unfreezes: the Keras-equivalent tail (default), all, or none (no phase 2)")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"], help="phase-1 epochs at most")
    p.add_argument("--finetune-epochs", type=int, default=DEFAULTS["finetune_epochs"], help="phase-2 epochs at most")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--finetune-lr", type=float, default=DEFAULTS["finetune_lr"])
    p.add_argument("--lr-decay-rate", type=float, default=DEFAULTS["lr_decay_rate"])
    p.add_argument("--lr-decay-steps", type=int, default=DEFAULTS["lr_decay_steps"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--image-size", type=int, default=None, help="square input size (default: the backbone's)")
    p.add_argument("--patience", type=int, default=DEFAULTS["patience"], help="early-stopping patience in epochs")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--workers", type=int, default=DEFAULTS["workers"], help="data-loading processes")
    p.add_argument("--skip-bad-images", action="store_true", help="leave unreadable images out with a warning")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.ckpt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    lightning = p.add_argument_group("Lightning Trainer pass-through")
    lightning.add_argument("--accelerator", default=DEFAULTS["accelerator"], help="cpu, gpu, auto, ...")
    lightning.add_argument("--devices", default=DEFAULTS["devices"], help="auto, a count, or a list like 0,1")
    lightning.add_argument("--precision", default=DEFAULTS["precision"], help="32-true, bf16-mixed, 16-mixed, ...")
    lightning.add_argument("--strategy", default=DEFAULTS["strategy"], help="auto, ddp, ...")
    lightning.add_argument("--num-nodes", type=int, default=DEFAULTS["num_nodes"])
    args = p.parse_args(argv)
    if not args.resume and not args.data:
        p.error("--data is required (unless --resume)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    config = TrainConfig(
        data=args.data or "", out=args.out, backbone=args.backbone, weights=args.weights, unfreeze=args.unfreeze,
        epochs=args.epochs, finetune_epochs=args.finetune_epochs, lr=args.lr, finetune_lr=args.finetune_lr,
        lr_decay_rate=args.lr_decay_rate, lr_decay_steps=args.lr_decay_steps, batch_size=args.batch_size,
        image_size=args.image_size, patience=args.patience, seed=args.seed, workers=args.workers,
        skip_bad_images=args.skip_bad_images, accelerator=args.accelerator, devices=args.devices,
        precision=args.precision, strategy=args.strategy, num_nodes=args.num_nodes, progress=not args.no_progress,
    )
    run = train(config, resume=args.resume)
    print(f"trained {run.data_config.backbone} on {len(run.classes)} classes: {run.run_dir}")
    print(f"  model: {run.model_path}  data config: {run.run_dir / 'data_config.json'}")
    return 0
