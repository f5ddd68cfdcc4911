"""Train a food classifier with the report's recipe.

  foodclf train --backbone vgg16 --data food11 --out runs/vgg16
  foodclf train --backbone mobilenet_v2 --data my_photos --weights none --epochs 20
  foodclf train --out runs/vgg16 --resume
"""
import argparse

from lightning.pytorch.utilities import rank_zero_only

from foodclf.commands.options import add_dataclass_options, config_from_args
from foodclf.training.config import TrainConfig
from foodclf.training.recipe import train


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_options(p, TrainConfig)  # every training option, from TrainConfig's fields
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.ckpt")
    args = p.parse_args(argv)
    if not args.resume and not args.data:
        p.error("--data is required (unless --resume)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    run = train(config_from_args(TrainConfig, args, data=args.data or ""), resume=args.resume)
    if rank_zero_only.rank != 0:  # under DDP every rank returns the run; one of them says so
        return 0
    print(f"trained {run.data_config.backbone} on {len(run.classes)} classes: {run.run_dir}")
    print(f"  model: {run.model_path}  data config: {run.run_dir / 'data_config.json'}")
    return 0
