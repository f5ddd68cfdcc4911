"""Evaluate a trained run: accuracy, loss, per-class figures and the classes below a threshold,
then disk size, memory, latency and throughput on this machine.

Writes RUN_DIR/metrics.json and RUN_DIR/confusion_matrix.png (see docs/evaluate.md).

  python scripts/evaluate.py runs/mobilenet_v2 --data food11
  python scripts/evaluate.py runs/vgg16 --data food11 --split validation --threads 2 --batch-size 16
"""
import argparse
import sys

from foodclf.cli import run_cli
from foodclf.evaluation.optimizing import METRICS_FILE, evaluate, format_summary
from foodclf.evaluation.operational import THROUGHPUT_RUNS


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="run directory written by scripts/train.py")
    p.add_argument("--data", required=True, help="dataset folder (Food-11 layout or one folder per class)")
    p.add_argument("--split", default="evaluation", choices=("training", "validation", "evaluation"))
    p.add_argument("--bad-threshold", type=float, default=0.8,
                   help="a class whose accuracy is below this did not do well (default 0.8, as the report)")
    p.add_argument("--batch-size", type=int, default=32, help="evaluation batch, and the batch throughput is measured at")
    p.add_argument("--latency-runs", type=int, default=50, help="timed single-image runs (after 5 warm-up runs)")
    p.add_argument("--throughput-runs", type=int, default=THROUGHPUT_RUNS, help="timed batches (after 1 warm-up)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    p.add_argument("--workers", type=int, default=0, help="data-loading processes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    metrics = evaluate(args.run_dir, args.data, split=args.split, bad_threshold=args.bad_threshold,
                       batch_size=args.batch_size, latency_runs=args.latency_runs, threads=args.threads,
                       progress=not args.no_progress, workers=args.workers, throughput_runs=args.throughput_runs)
    print(format_summary(metrics))
    print(f"\nwrote {args.run_dir}/{METRICS_FILE} and the confusion matrix beside it")
    return 0
