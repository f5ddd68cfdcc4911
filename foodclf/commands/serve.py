"""Run TorchServe in the foreground with foodclf's config.properties (inside the package).

  foodclf serve --models mobilenet_v2=mobilenet_v2.mar
  foodclf serve --models vgg16.mar mobilenet_v2.mar --model-store model-store
  foodclf serve --stop                  # from another shell

Then: curl -T photo.jpg http://127.0.0.1:8080/predictions/mobilenet_v2 (see docs/serve.md).
Ctrl-C stops it too.
"""
import argparse
import subprocess
from pathlib import Path

from foodclf.serve.launch import check_models, parse_models, stop_command, torchserve_command
from foodclf.serve.properties import DEFAULT_CONFIG, DEFAULT_LOG_CONFIG, read_properties
from foodclf.serve.settings import serving_env


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=[], metavar="NAME=FILE.mar",
                   help="archives to serve from the model store (FILE.mar alone serves it as FILE)")
    p.add_argument("--model-store", default="model-store", help="folder holding the .mar files")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="TorchServe config.properties")
    p.add_argument("--log-config", default=str(DEFAULT_LOG_CONFIG),
                   help="the frontend's log4j2.xml (default: %(default)s, which leaves out the lines "
                        "TorchServe logs for every request; 'torchserve' uses TorchServe's own)")
    p.add_argument("--stop", action="store_true", help="stop the TorchServe started from this machine's temp dir")
    args = p.parse_args(argv)
    if not args.stop and not args.models:
        p.error("--models is required (or --stop)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.stop:
        return subprocess.call(stop_command())
    models = parse_models(args.models)
    model_store = Path(args.model_store).resolve()
    check_models(model_store, models)
    props = read_properties(args.config)
    log_config = None if args.log_config == "torchserve" else Path(args.log_config).resolve()
    if log_config is not None and not log_config.is_file():
        raise SystemExit(f"--log-config {args.log_config}: no such file (or 'torchserve' for TorchServe's own)")
    command = torchserve_command(Path(args.config).resolve(), model_store, models, log_config=log_config)
    print(f"serving {', '.join(models)} on {props.get('inference_address')} "
          f"(management {props.get('management_address')}, metrics {props.get('metrics_address')})")
    print(" ".join(command), flush=True)
    return subprocess.call(command, env=serving_env())  # with the allocator setting for the workers
