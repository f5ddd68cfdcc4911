"""Export a trained run into faster variants (ONNX Runtime, INT8, OpenVINO fp32/INT8/bf16), each
evaluated and laid out like a run directory, so that the comparison, archive and load-test stages
take it as one more candidate.

Writes RUN_DIR/variants/<run name>-<format>/ with the model file, data_config.json,
classes.json, variant.json and (unless --no-evaluate) metrics.json. See docs/export.md.

  foodclf export runs/mobilenet_v2 --data food11
  foodclf export runs/vgg16 --data food11 --format int8 openvino-int8 --threads 2
  foodclf export runs/vgg16 --data food11 --format int8 --int8-range full   # VNNI servers only

The default formats are those this CPU can run at their precision: openvino-bf16 only where the
CPU has bf16 instructions (AVX512-BF16 or AMX).
"""
import argparse
import logging

from foodclf.contracts.variant import INT8_RANGES
from foodclf.evaluation import format_summary, load_metrics
from foodclf.export.variants import DEFAULT_CALIBRATION_IMAGES, FORMATS, ExportError, available_formats, export_variants
from foodclf.machine import machine_line


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="run directory written by foodclf train")
    p.add_argument("--data", required=True, help="dataset folder: training images calibrate INT8, "
                                                 "the --split images evaluate every variant")
    p.add_argument("--format", nargs="+", default=available_formats(), choices=FORMATS, dest="formats",
                   help=f"variants to build (default: those this CPU runs at their precision: "
                        f"{' '.join(available_formats())})")
    p.add_argument("--calibration-images", type=int, default=DEFAULT_CALIBRATION_IMAGES,
                   help="training images that calibrate the INT8 formats (default %(default)s)")
    p.add_argument("--int8-range", default="auto", choices=INT8_RANGES,
                   help="the int8 format's weights: reduced (7-bit) answers the same on every CPU; full (8-bit) "
                        "saturates ONNX Runtime on CPUs without VNNI; auto (default) = reduced (docs/export.md)")
    p.add_argument("--split", default="evaluation", choices=("training", "validation", "evaluation"))
    p.add_argument("--no-evaluate", action="store_true", help="build the variants only, no metrics.json")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every runtime while evaluating (default: torch's own choice)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--latency-runs", type=int, default=50)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for noisy in ("onnx_ir", "onnxscript", "nncf"):  # their INFO lines drown ours
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        built = export_variants(args.run_dir, args.formats, args.data, calibration_images=args.calibration_images,
                                split=args.split, evaluate=not args.no_evaluate, threads=args.threads,
                                batch_size=args.batch_size, latency_runs=args.latency_runs,
                                int8_range=args.int8_range)
    except ExportError as e:
        report(e.built, evaluated=not args.no_evaluate)
        raise
    report(built, evaluated=not args.no_evaluate)
    return 0


def report(built, evaluated: bool) -> None:
    if built and evaluated:
        print(machine_line(), end="\n\n")  # the figures below were measured on this CPU
    for folder in built:
        if evaluated:
            print(format_summary(load_metrics(folder)), end="\n\n")
        print(f"wrote {folder}")
