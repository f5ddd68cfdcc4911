"""Compare models and deployments and write the report (table, Pareto sets, plots, recommendations).

    foodclf compare RUN_DIR... --out REPORT_DIR [--criteria FILE] [--bad-threshold 0.8]
    foodclf compare --print-criteria > my_criteria.json    # the defaults, to edit
"""
import argparse
import json

from foodclf.report.compare import compare
from foodclf.report.criteria import DEFAULT_CRITERIA


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                        help="candidate directories (each holds metrics.json, loadtest.json, simulations/)")
    parser.add_argument("--out", help="report directory to write report.html, report.md, summary.csv, plots into")
    parser.add_argument("--criteria", help="JSON or YAML file of criteria and pairs (default: the built-in ones)")
    parser.add_argument("--bad-threshold", type=float, default=None,
                        help="per-class accuracy below which a class counts as badly classified "
                             "(default: the threshold each metrics.json was written with)")
    parser.add_argument("--print-criteria", action="store_true", help="print the default criteria as JSON and exit")
    args = parser.parse_args(argv)
    if args.print_criteria:
        print(json.dumps(DEFAULT_CRITERIA, indent=2))
        return 0
    if not args.run_dirs or not args.out:
        parser.error("give one or more RUN_DIRs and --out REPORT_DIR")
    if args.bad_threshold is not None and not 0 < args.bad_threshold <= 1:
        parser.error(f"--bad-threshold must be in (0, 1], got {args.bad_threshold}")
    report = compare(args.run_dirs, args.out, criteria=args.criteria, bad_threshold=args.bad_threshold)
    print(f"report written to {report}")
    return 0
