#!/usr/bin/env python
"""Check the HPA simulation against reality: one replica, or N replicas behind HAProxy, the same load.

    python scripts/check_hpa_sim.py RUN_DIR [--stage 10:1 --stage 4:0.2] [--stage-duration 60s]
    python scripts/check_hpa_sim.py --mar model-store/NAME.mar --replicas 1,2,4 [--cpu-scale 0.15]
    python scripts/check_hpa_sim.py --mar model-store/NAME.mar --scaling [--time-scale 0.25 --peak-load 2]

Archives the run (or takes --mar), serves it with one TorchServe on 127.0.0.1, measures its
capacity curve (users 1, 2, 4, 8 without delay), load-tests each --stage USERS:DELAY for real,
and measures the capacity again; simulates each stage with one replica fed by the mean of the two
curves and prints measured against simulated transaction rate and response time with the
relative errors, and how much the curve drifted (a busy machine makes the check meaningless). Exit status 1
when an error is beyond --tolerance (default 15 %). The measured files and check.json go to
--out (default: a temporary folder, removed).

With --replicas N1,N2,...: every replica is a TorchServe whose processes live in a cgroup with
the Deployment's CPU limit × --cpu-scale as quota (foodclf.deploy.local; needs root and
haproxy), behind HAProxy (--balance, default random(1) as kube-proxy picks). For each N, one
replica's capacity is measured through the balancer under that quota (the others drained), then
the stages run with N times their users (a --stage's users are per replica); a last sweep ends
the run. Each N is compared with the simulation of N fixed replicas under the same scaled limit,
fed by the two sweeps around its stages: rate, response time and failures, one row per N and stage.

With --scaling: the hpa overlay's HPA (foodclf.deploy.controller, as the simulation runs it)
scales such replicas during the --profile shrunk by --time-scale, its users scaled so that the
busiest stage asks --peak-load replicas' capacity (foodclf.deploy.local.scaling says what is
time-scaled and what is measured); the replica count at every controller tick, and rate and
response time per stage, are compared with the simulation of the same run (scaling.json and
scaling.png in --out). Exit status 1 when a tick's count differs by more than one replica or the
run's transaction rate by more than --tolerance.

Every replica is loaded for --warmup (default 30 s) before it is measured: a fresh TorchServe
answers its first few hundred requests slower.

BATCHING: the simulation's replica serves at the capacity curve's rate for the requests inside
it. A curve measured with users sent back to back on an archive that batches (batch size > 1)
overstates what users with delays get: back-to-back users arrive together and fill batches, users
with delays mostly do not (measured: 22-27 ms of CPU a request in the sweep, 28-32 ms in the
stages, MobileNetV2 batch 4, 0.4 cores). The check archives a run with --batch-size 1 and says
so when a --mar batches.
"""
import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from foodclf.cli import run_cli
from foodclf.contracts import created_now, write
from foodclf.contracts.loadtest import LoadTest
from foodclf.contracts.scaling import SCHEMA_VERSION as SCALING_VERSION
from foodclf.contracts.scaling import ScalingCheck
from foodclf.contracts.sim_check import CHECK_FILE, ReplicaSetup, SimulationCheck, StageCheck
from foodclf.contracts.sim_check import SCHEMA_VERSION as CHECK_VERSION
from foodclf.data.sample import draw_sample
from foodclf.deploy.capacity import capacity_drift, capacity_from_loadtest, mean_capacity
from foodclf.deploy.check import compare_with_loadtest, curve_points, largest_error
from foodclf.deploy.load import scale_to_peak_load
from foodclf.deploy.local import scaling
from foodclf.deploy.local.fixed import MachineLoad, measure_fixed, sweep_held_and_free, warm_up
from foodclf.deploy.local.replicas import CPU_SCALE, ReplicaSet, scaled_cpu
from foodclf.deploy.manifests import load_deployment, overlay_dir
from foodclf.errors import FoodclfError
from foodclf.loadtest.profiles import make_stage, parse_duration, parse_profile
from foodclf.loadtest.runner import run_capacity, run_loadtest
from foodclf.machine import describe_machine, machine_line
from foodclf.serve.archive import archive_run, read_model_config
from foodclf.serve.server import TorchServe

# Busy cores beyond the server's (load generator included) above which a miss says more about the
# machine than about the simulation: locust and HAProxy alone take about 0.1-0.3.
BUSY_CORES = 0.5


def parse_stage(text: str) -> tuple[int, float]:
    try:
        users, delay = text.split(":")
        return int(users), float(delay)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give USERS:DELAY, e.g. 10:1") from None


def parse_counts(text: str) -> list[int]:
    try:
        counts = sorted({int(x) for x in text.split(",")})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give replica counts of 1 or more, e.g. 1,2,4")
    return counts


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", help="a run directory to archive and serve")
    parser.add_argument("--mar", help="serve this .mar instead of archiving a run")
    parser.add_argument("--image", help="the photo to send (default: a 224 px sample image)")
    parser.add_argument("--levels", default="1,2,4,8", help="capacity levels, users without delay (default 1,2,4,8)")
    parser.add_argument("--level-duration", default="30s", help="length of each capacity level (default 30s)")
    parser.add_argument("--stage", type=parse_stage, action="append",
                        help="a closed-loop stage USERS:DELAY to compare; repeat (default 10:1 and 4:0.2)")
    parser.add_argument("--stage-duration", default="60s", help="length of each compared stage (default 60s)")
    parser.add_argument("--warmup", default="30s",
                        help="load every new replica this long before measuring it (default 30s: a fresh TorchServe "
                             "answers its first few hundred requests slower; 0s: none)")
    parser.add_argument("--workers", type=int, default=1, help="TorchServe workers (archive setting, default 1)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="requests one inference may batch (archive setting, default 1; see BATCHING above)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads per worker (archive setting; 0: cores / workers). On a machine shared "
                             "with other work, 1 keeps one busy core from stalling the worker's thread team")
    parser.add_argument("--tolerance", type=float, default=0.15, help="largest relative error allowed (default 0.15)")
    parser.add_argument("--out", help="keep loadtest files and check.json here")
    parser.add_argument("--replicas", type=parse_counts,
                        help="replica counts to check behind HAProxy under CPU quotas, e.g. 1,2,4 "
                             "(default: one replica served directly, no quota)")
    parser.add_argument("--cpu-scale", type=float, default=CPU_SCALE,
                        help=f"a replica's CPU quota = the Deployment's CPU limit × this (default {CPU_SCALE}: "
                             "4 replicas of a 2-CPU limit take 1.2 of 2 cores)")
    parser.add_argument("--balance", default="random(1)",
                        help="HAProxy's balance algorithm (default random(1), as kube-proxy picks an endpoint)")
    parser.add_argument("--scaling", action="store_true",
                        help="let the HPA scale real replicas through a time-scaled profile (see above)")
    parser.add_argument("--profile", default="challenge", help="with --scaling: the load profile (default challenge)")
    parser.add_argument("--time-scale", type=float, default=0.25,
                        help="with --scaling: shrink the profile and the controller's periods (default 0.25: "
                             "the 30-minute challenge in 7.5 minutes)")
    parser.add_argument("--peak-load", type=float, default=2.0,
                        help="with --scaling: the busiest stage asks this many replicas' capacity (default 2)")
    parser.add_argument("--max-replicas", type=int, default=4,
                        help="with --scaling: at most this many replicas, whatever the HPA allows (default 4)")
    args = parser.parse_args(argv)
    if bool(args.run) == bool(args.mar):
        raise FoodclfError("give a run directory or --mar (one of them)")
    args.warmup_s = parse_duration(args.warmup, allow_zero=True)  # a typo fails now, not minutes in
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    stage_duration = parse_duration(args.stage_duration)
    stages = [make_stage(stage_duration, u, d, f"--stage {u}:{d}") for u, d in (args.stage or [(10, 1.0), (4, 0.2)])]
    with tempfile.TemporaryDirectory(prefix="foodclf-check-") as tmp:
        tmp = Path(tmp)
        out = Path(args.out) if args.out else tmp / "out"
        image = Path(args.image) if args.image else _sample_photo(tmp / "photo.jpg")
        store, name = _model_store(args, tmp)
        _warn_if_batching(store / f"{name}.mar")
        if args.scaling:
            return _check_scaling(args, store, name, image, out, tmp)
        if args.replicas:
            return _check_replicas(args, stages, store, name, image, out, tmp)
        curves, measured, others = _measure(args, stages, store, name, image, out, tmp)
        return _report(args, name, curves, measured, others, out)


def _check_replicas(args, stages, store: Path, name: str, image: Path, out: Path, tmp: Path) -> int:
    """N replicas under scaled quotas behind HAProxy against the simulation of N fixed replicas."""
    limit = scaled_cpu(load_deployment(overlay_dir("hpa")).cpu_limit, args.cpu_scale)
    print(f"replicas {args.replicas} under {limit:.2f} cores each (the Deployment's limit × {args.cpu_scale}), "
          f"behind HAProxy ({args.balance}); a stage's users are per replica")
    levels = [int(x) for x in args.levels.split(",")]
    with ReplicaSet(store, name, cpu_limit=limit, workdir=tmp / "serve", slots=max(args.replicas),
                    balance=args.balance) as replica_set:
        got = measure_fixed(replica_set, args.replicas, stages, image, levels, parse_duration(args.level_duration),
                            out, warmup_s=args.warmup_s)
    rows = [row for n in args.replicas
            for row in compare_with_loadtest(got.capacity(n), got.measured[n], cpu_limit=limit, replicas=n)]
    setup = ReplicaSetup(
        replica_counts=args.replicas, cpu_limit=limit, cpu_scale=args.cpu_scale, balance=args.balance,
        replica_start_s=[round(s, 1) for s in got.start_seconds],
        capacity_by_count={str(n): curve_points(got.capacity(n).at_limit) for n in args.replicas},
        free_capacity_by_count={str(n): curve_points(got.capacity(n)) for n in args.replicas})
    print("capacity with the quota lifted (mean of the sweeps; the simulation's replicas serve so while their "
          "period's budget lasts): " + _points(mean_capacity(got.free_curves)))
    return _conclude(args, name, mean_capacity(got.curves), got.drift(), rows, got.others, out, setup,
                     label="under the quota, mean of the sweeps; each N is simulated with the two around its stages")


def _check_scaling(args, store: Path, name: str, image: Path, out: Path, tmp: Path) -> int:
    """The HPA scaling real replicas against the simulation of the same run."""
    base = load_deployment(overlay_dir("hpa"))
    spec = scaling.scaled_spec(base, args.time_scale, args.cpu_scale, args.max_replicas)
    levels = [int(x) for x in args.levels.split(",")]
    with ReplicaSet(store, name, cpu_limit=spec.cpu_limit, workdir=tmp / "serve", slots=spec.max_replicas + 2,
                    balance=args.balance) as replica_set:
        replica_set.scale_to(1)
        warm_up(replica_set.url, image, args.warmup_s, users=2)
        others: dict[str, float] = {}
        held, free = sweep_held_and_free(replica_set, replica_set.started[0], image, levels,
                                         parse_duration(args.level_duration), out, "capacity", others)
        capacity = replace(free, at_limit=held)
        stages, _ = scale_to_peak_load(parse_profile(args.profile, args.time_scale), held, args.peak_load)
        print(f"scaling run: {args.profile} × {args.time_scale} ({sum(s.duration_s for s in stages):.0f} s), "
              f"up to {max(s.users for s in stages)} users, replicas of {spec.cpu_limit:.2f} cores "
              f"(request {spec.cpu_request:.2f}), HPA target {spec.target_cpu_utilization:.0f} %")
        settings = scaling.scaled_settings(args.time_scale, model_load_s=replica_set.started[0].start_seconds)
        with MachineLoad() as during:
            ticks, measured = scaling.run_scaling(replica_set, spec, settings, stages, image, out)
        starts = [r.start_seconds for r in replica_set.started]
    # the simulation's replicas start as long as the real ones took during the run
    during_run = starts[1:] or starts
    settings = scaling.scaled_settings(args.time_scale, model_load_s=sum(during_run) / len(during_run))
    simulated = scaling.simulate_scaling(capacity, spec, settings, stages, args.time_scale)
    comparison = scaling.compare_scaling(ticks, measured, simulated)
    others["scaling"] = during.others(measured)
    check = ScalingCheck(
        schema_version=SCALING_VERSION, created=created_now(), model=name, profile=args.profile,
        time_scale=args.time_scale, peak_load=args.peak_load, cpu_scale=args.cpu_scale, cpu_limit=spec.cpu_limit,
        cpu_request=spec.cpu_request, tolerance=args.tolerance, replica_start_s=[round(s, 1) for s in starts],
        model_load_s=round(settings.model_load_s, 1), capacity=curve_points(held),
        free_capacity=curve_points(free), comparison=comparison,
        passed=scaling.scaling_passed(comparison, args.tolerance), other_busy_cores=others,
        machine=describe_machine())
    scaling.write_scaling(check, out)
    _print_scaling(check, out if args.out else None)
    return 0 if check.passed else 1


def _print_scaling(check: ScalingCheck, out: Path | None) -> None:
    print()
    print(machine_line())
    print("busy beyond the replicas (load generator included): "
          + ", ".join(f"{k} {v:.2f}" for k, v in check.other_busy_cores.items()))
    print("replica start to ready (s): " + ", ".join(f"{s:.1f}" for s in check.replica_start_s))
    c = check.comparison
    print(f"{'t (s)':>7} {'real':>5} {'ready':>5} {'sim':>4} {'ready':>5} {'util %':>6}")
    for r in c.ticks:
        print(f"{r.t_s:>7.1f} {r.replicas:>5} {r.ready:>5} {r.simulated_replicas:>4} "
              f"{r.simulated_ready:>5} {'-' if r.utilization is None else r.utilization:>6}")
    o = c.overall
    print(f"\nticks with the replica count within ±1: {c.ticks_within_one} of {len(c.ticks)} "
          f"(largest difference {c.largest_replica_difference})")
    print(f"transaction rate: real {o.measured_transaction_rate:.2f}/s, "
          f"simulated {o.simulated_transaction_rate:.2f}/s ({_pct(o.transaction_rate_error)}); "
          f"response time: real {_sec(o.measured_response_time_s)} s, simulated {_sec(o.simulated_response_time_s)} s; "
          f"failures: real {o.measured_failures}, simulated {o.simulated_failures}")
    print(f"scaling check: {'passed' if check.passed else 'FAILED'}" + (f"; files in {out}" if out else ""))


def _measure(args, stages, store: Path, name: str, image: Path, out: Path, tmp: Path):
    """(capacity curves before and after, the measured stages, the machine's other load)."""
    levels = [int(x) for x in args.levels.split(",")]
    level_s = parse_duration(args.level_duration)
    with TorchServe(store, models={name: f"{name}.mar"}, workdir=tmp / "serve") as server:
        url, pids = server.predictions_url(name), server.process_pids()
        warm_up(url, image, args.warmup_s, users=2)
        # The capacity is measured before and after the stages: their mean stands for the
        # machine during the stages, and their difference says how steady the machine was.
        curves, others = [], {}
        for when in ("before", "after"):
            if when == "after":
                print(f"load-testing {len(stages)} stage(s) of {stages[0].duration_s:.0f} s ...")
                with MachineLoad() as load:
                    measured = run_loadtest(url, image, stages, out_dir=out / "measured", server_pids=pids,
                                            seed=0, model=name, profile="check")
                others["stages"] = load.others(measured)
            print(f"measuring capacity ({when}) at {levels} users, {level_s:.0f} s each ...")
            with MachineLoad() as load:
                doc = run_capacity(url, image, levels, level_s, out_dir=out / f"capacity_{when}",
                                   server_pids=pids, seed=0, model=name)
            others[f"capacity_{when}"] = load.others(doc)
            curves.append(capacity_from_loadtest(doc, str(out / f"capacity_{when}" / "loadtest.json")))
    return curves, measured, others


def _report(args, name: str, curves, measured: LoadTest, others: dict, out: Path) -> int:
    """Write check.json, print the comparison; 0 when every error is within the tolerance."""
    capacity = mean_capacity(curves)
    return _conclude(args, name, capacity, capacity_drift(*curves), compare_with_loadtest(capacity, measured),
                     others, out, None)


def _conclude(args, name: str, capacity, drift: float, rows: list[StageCheck], others: dict, out: Path,
              setup: ReplicaSetup | None, label: str = "mean of before and after") -> int:
    """Write check.json, print the comparison; 0 when every error is within the tolerance."""
    worst = largest_error(rows)
    check = SimulationCheck(
        schema_version=CHECK_VERSION, created=created_now(), model=name, tolerance=args.tolerance,
        capacity=curve_points(capacity), capacity_drift=round(drift, 4), stages=rows, largest_error=round(worst, 4),
        passed=worst <= args.tolerance, other_busy_cores=others, replicas=setup, machine=describe_machine())
    write(out / CHECK_FILE, check)
    print()
    print(machine_line())
    print("busy beyond the server (load generator included): "
          + ", ".join(f"{k} {v:.2f}" for k, v in others.items()))
    print(f"capacity (one replica, no delay, {label}): " + _points(capacity))
    print(f"capacity drift between sweeps: {drift:.1%}")
    print(_table(rows))
    print(f"\nlargest relative error {worst:.1%}: {'within' if check.passed else 'BEYOND'} {args.tolerance:.0%}")
    if not check.passed and drift > args.tolerance:
        print("the machine's own capacity changed by more than that during the check: rerun it on a quiet machine")
    elif not check.passed and max(others.values(), default=0.0) > BUSY_CORES:
        print(f"other work kept more than {BUSY_CORES} cores busy beside the server: the machine was too busy to "
              "judge; rerun it on a quiet machine")
    if args.out:
        print(f"files in {out}")
    return 0 if check.passed else 1


def _points(capacity) -> str:
    return ", ".join(f"{p.users} users {p.transaction_rate:.2f}/s {p.cpu_cores:.2f} cores" for p in capacity.points)


def _sample_photo(path: Path) -> Path:
    draw_sample(0, np.random.default_rng(0), (224, 224)).save(path, quality=90)
    return path


def _model_store(args, tmp: Path) -> tuple[Path, str]:
    if args.mar:
        mar = Path(args.mar)
        if not mar.is_file():
            raise FoodclfError(f"{mar}: archive not found; write one with scripts/archive.py")
        return mar.parent, mar.stem
    name = Path(args.run).name.replace("-", "_") or "model"
    archive_run(args.run, name, tmp / "model-store", workers=args.workers, threads=args.threads,
                batch_size=args.batch_size)
    return tmp / "model-store", name


def _warn_if_batching(mar: Path) -> None:
    batch = read_model_config(mar).get("batchSize", 1)
    if batch > 1:
        print(f"note: {mar.name} batches up to {batch} requests. The capacity sweep's users, sent back to back, "
              "arrive together and fill batches; the stages' users, with delays, mostly do not, so each request "
              "costs more CPU there and the simulation, fed by the sweep, overestimates the rate (docs/kubernetes.md, "
              "BATCHING in --help). Archive with batch size 1 to check the simulation itself.")


def _table(rows: list[StageCheck]) -> str:
    head = (f"{'N':>2} {'users':>5} {'delay':>6} | {'rate real':>9} {'sim':>7} {'error':>7} | "
            f"{'resp. real':>10} {'sim':>7} {'error':>7} | {'fail real':>9} {'sim':>5}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.replicas:>2} {r.users:>5} {r.delay_s:>6.2f} | "
                     f"{r.measured_transaction_rate:>9.2f} {r.simulated_transaction_rate:>7.2f} "
                     f"{_pct(r.transaction_rate_error):>7} | "
                     f"{_sec(r.measured_response_time_s):>10} {_sec(r.simulated_response_time_s):>7} "
                     f"{_pct(r.response_time_error):>7} | {r.measured_failures:>9} {r.simulated_failures:>5}")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


def _sec(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


if __name__ == "__main__":
    sys.exit(run_cli(main))
