"""Evaluate a trained run: accuracy, loss, per-class figures and the classes below a threshold,
then disk size, memory, latency and throughput on this machine.

Writes RUN_DIR/metrics.json and RUN_DIR/confusion_matrix.png (see docs/evaluate.md).

  foodclf evaluate runs/mobilenet_v2 --data food11
  foodclf evaluate runs/vgg16 --data food11 --split validation --threads 2 --batch-size 16
"""
import argparse
from dataclasses import asdict

from foodclf.commands.options import add_dataclass_options, config_from_args
from foodclf.evaluation.evaluator import evaluate
from foodclf.evaluation.metrics_file import METRICS_FILE, format_summary
from foodclf.evaluation.options import EvalOptions


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="run directory written by foodclf train")
    p.add_argument("--data", required=True, help="dataset folder (Food-11 layout or one folder per class)")
    add_dataclass_options(p, EvalOptions)  # --split, --batch-size, ... --no-progress: EvalOptions' fields
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    options = config_from_args(EvalOptions, args)  # checked here, before the model is loaded
    metrics = evaluate(args.run_dir, args.data, **asdict(options))
    print(format_summary(metrics))
    print(f"\nwrote {args.run_dir}/{METRICS_FILE} and the confusion matrix beside it")
    return 0
