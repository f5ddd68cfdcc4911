"""Load-test a served model like siege, with locust: transaction rate, response time,
p50/p95/p99, failures, and the server's CPU cores and memory.

  foodclf loadtest --url http://127.0.0.1:8080/predictions/food --image photo.jpg \\
      --users 10 --delay 1 --duration 30s --out runs/food
  foodclf loadtest --url ... --image photo.jpg --profile challenge --time-scale 0.1
  foodclf loadtest --url ... --image photo.jpg --capacity --levels 1,2,4,8,16 --duration 20s

Only the given URL is ever requested; every run stops by itself (stage durations plus a
request timeout). Writes OUT/loadtest.json and OUT/loadtest.csv when --out is given.

exit codes:
  0  at least one request succeeded (read the summary for failures)
  2  bad input: options, URL, image, profile (one line saying what to give instead)
  3  no request succeeded: nothing answered at the URL, or every answer was an error
     (the summary and, with --out, the files are still written: they say which errors)
  4  availability below --min-availability (given as a fraction, e.g. 0.99)
"""
import argparse
import sys

from foodclf.contracts.loadtest import LoadTest
from foodclf.loadtest.profiles import Stage, parse_duration
from foodclf.loadtest.runner import CAPACITY_LEVELS, DEFAULT_TIMEOUT_S, run_capacity, run_loadtest
from foodclf.loadtest.summary import format_capacity, format_summary

EXIT_NOTHING_SUCCEEDED = 3
EXIT_BELOW_AVAILABILITY = 4


def _levels(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected user counts like 1,2,4,8,16") from None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="the prediction URL, e.g. http://127.0.0.1:8080/predictions/NAME")
    p.add_argument("--image", required=True, help="the photo every user POSTs")
    p.add_argument("--out", help="folder for loadtest.json and loadtest.csv (e.g. the run directory)")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--profile", help="'challenge' (the course's 30 one-minute stages) or a JSON/CSV file "
                                         "of duration,users,delay stages")
    load.add_argument("--capacity", action="store_true",
                      help="sweep --levels users with no delay, --duration each (the per-replica capacity curve)")
    p.add_argument("--users", type=int, default=10, help="concurrent users, siege's -c (default 10)")
    p.add_argument("--delay", type=float, default=1.0,
                   help="each user waits a random 0..DELAY seconds before each request, siege's -d (default 1)")
    p.add_argument("--duration", default="30s", help="how long the test (or each capacity level) runs: 30s, 2m, ...")
    p.add_argument("--levels", type=_levels, default=list(CAPACITY_LEVELS),
                   help=f"user counts for --capacity (default {','.join(map(str, CAPACITY_LEVELS))})")
    p.add_argument("--time-scale", type=float, default=1.0, help="shrink every profile stage (0.1: 30 min -> 3)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds before a request fails")
    p.add_argument("--server-pid", type=int, action="append", dest="server_pids",
                   help="a TorchServe PID to sample (repeatable; default: whoever listens on a loopback URL's port)")
    p.add_argument("--sample-interval", type=float, default=1.0,
                   help="seconds between samples of the server's CPU and memory (Σ PSS)")
    p.add_argument("--min-availability", type=float, default=None,
                   help="fail (exit 4) when successes / requests falls below this fraction, e.g. 0.99 "
                        "(default: failures are reported, only a run without any success fails)")
    args = p.parse_args(argv)
    if args.min_availability is not None and not 0 <= args.min_availability <= 1:
        p.error(f"--min-availability {args.min_availability}: give a fraction between 0 and 1")
    return args


def nothing_succeeded(report: LoadTest) -> str:
    """The one-line error for a run without a single success, naming the URL and what failed."""
    kinds = ", ".join(f"{kind} {n}" for kind, n in report.overall.errors.items()) or "no request completed"
    return (f"error: no request to {report.url} succeeded ({kinds}); is the server up, and is this its "
            "prediction URL?")


def main(argv=None) -> int:
    args = parse_args(argv)
    common = dict(out_dir=args.out, server_pids=args.server_pids, timeout_s=args.timeout,
                  sample_interval_s=args.sample_interval)
    if args.capacity:
        report = run_capacity(args.url, args.image, args.levels, parse_duration(args.duration), **common)
    elif args.profile:
        report = run_loadtest(args.url, args.image, args.profile, time_scale=args.time_scale, **common)
    else:
        stage = Stage(parse_duration(args.duration), args.users, args.delay)
        report = run_loadtest(args.url, args.image, [stage], time_scale=args.time_scale, **common)
    print(format_summary(report))
    if report.capacity:
        print("\n" + format_capacity(report))
    if args.out:
        print(f"\nwrote {args.out}/loadtest.json and loadtest.csv")
    if report.overall.successes == 0:
        print(nothing_succeeded(report), file=sys.stderr)
        return EXIT_NOTHING_SUCCEEDED
    availability = report.overall.availability
    if args.min_availability is not None and availability is not None and availability < args.min_availability:
        print(f"error: availability {availability:.2%} is below --min-availability {args.min_availability:.2%} "
              f"({report.overall.failures} failed: "
              + ", ".join(f"{kind} {n}" for kind, n in report.overall.errors.items()) + ")", file=sys.stderr)
        return EXIT_BELOW_AVAILABILITY
    return 0
