"""Pack a trained run into a TorchServe model archive: EXPORT_PATH/NAME.mar.

  foodclf archive runs/mobilenet_v2 --name mobilenet_v2
  foodclf archive runs/vgg16 --name vgg16 --export-path model-store --batch-size 8 --max-batch-delay 10

Serve it with: foodclf serve --models NAME=NAME.mar (see docs/serve.md).
"""
import argparse

from foodclf.serve.archive import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BATCH_DELAY_MS,
    DEFAULT_RESPONSE_TIMEOUT_S,
    DEFAULT_WORKERS,
    archive_run,
)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="run directory written by foodclf train (model.pt, data_config.json, classes.json), "
                                     "or a variant folder written by foodclf export")
    p.add_argument("--name", required=True, help="model name: the archive NAME.mar and the URL /predictions/NAME")
    p.add_argument("--export-path", default="model-store", help="folder for the .mar (created if missing)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="requests one inference may batch")
    p.add_argument("--max-batch-delay", type=int, default=DEFAULT_MAX_BATCH_DELAY_MS,
                   help="milliseconds a batch waits to fill up")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="worker processes (each loads the model)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads per worker (default 0: the usable cores divided by --workers)")
    p.add_argument("--response-timeout", type=int, default=DEFAULT_RESPONSE_TIMEOUT_S,
                   help="seconds before TorchServe restarts a worker that does not answer")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    path = archive_run(args.run_dir, args.name, args.export_path, batch_size=args.batch_size,
                       max_batch_delay=args.max_batch_delay, workers=args.workers, threads=args.threads,
                       response_timeout=args.response_timeout)
    print(f"wrote {path}")
    print(f"  serve it: foodclf serve --models {args.name}={path.name} --model-store {path.parent}")
    return 0
