"""The statistics of a load test: from every completed request to per-stage and overall figures.

The course report's formulas: transaction rate = Σ successes / Σ seconds, response time =
Σ(successes × mean time) / Σ successes. Latency statistics (response time, p50/p95/p99,
longest) are over successful transactions; percentiles interpolate linearly (numpy's default).
A request belongs to the stage in which it *completed*; one completing after the last stage
ended is dropped. A failure is counted by kind: ``http_<status>`` for an HTTP answer that is not
2xx (``http_503``: TorchServe's job queue was full), else ``connection``, ``timeout`` or ``other``.

The functions here are pure (no clock, no processes), so they can be checked by hand.
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from foodclf.contracts.loadtest import Overall, StageResult
from foodclf.loadtest.profiles import Stage
from foodclf.loadtest.sampler import Sample, server_means


class Request(NamedTuple):
    """One completed request, ordered by completion time (what stage windows bisect on)."""
    done_at: float
    seconds: float
    ok: bool
    kind: str       # "ok", or the failure's kind


def r6(x: float) -> float:
    """Six decimals: microseconds, enough for every figure in loadtest.json."""
    return round(float(x), 6)


def summarize(latencies_s: Sequence[float], failures: int, duration_s: float) -> dict:
    """One stage's figures from its successful transactions' times, its failure count and length.

    transaction_rate = successes / duration_s; response_time_s is the mean time of the successes.
    Times are None without successes, availability is None when nothing was sent.
    """
    times = np.asarray(latencies_s, dtype=float)
    successes = int(times.size)
    attempts = successes + int(failures)
    has = successes > 0
    return {
        "duration_s": r6(duration_s), "successes": successes, "failures": int(failures),
        "availability": r6(successes / attempts) if attempts else None,
        "transaction_rate": r6(successes / duration_s) if duration_s > 0 else 0.0,
        "response_time_s": r6(times.mean()) if has else None,
        "p50_s": r6(np.percentile(times, 50)) if has else None,
        "p95_s": r6(np.percentile(times, 95)) if has else None,
        "p99_s": r6(np.percentile(times, 99)) if has else None,
        "longest_s": r6(times.max()) if has else None,
    }


def combine_stages(stages: Sequence[StageResult], all_latencies_s: Sequence[float] | None = None) -> dict:
    """The overall figures by the report's formulas:

    transaction rate = Σ successes / Σ seconds,
    response time    = Σ(successes × mean time) / Σ successes.
    Percentiles and the longest time need the pooled times (``all_latencies_s``); without
    them they are None.
    """
    seconds = sum(s.duration_s for s in stages)
    successes = sum(s.successes for s in stages)
    failures = sum(s.failures for s in stages)
    weighted = sum(s.successes * s.response_time_s for s in stages if s.successes)
    pooled = summarize(all_latencies_s, failures, seconds) if all_latencies_s is not None else {}
    return {
        "duration_s": r6(seconds), "successes": successes, "failures": failures,
        "availability": r6(successes / (successes + failures)) if successes + failures else None,
        "transaction_rate": r6(successes / seconds) if seconds > 0 else 0.0,
        "response_time_s": r6(weighted / successes) if successes else None,
        **{k: pooled.get(k) for k in ("p50_s", "p95_s", "p99_s", "longest_s")},
    }


def failure_kind(status: int, error: str) -> str:
    """What went wrong with one request: http_<status> when the server answered (http_503,
    http_400, ...), else connection, timeout or other."""
    if status and not 200 <= status < 300:
        return f"http_{status}"
    text = error.lower()
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "refused" in text or "connection" in text or "reset" in text or "unreachable" in text:
        return "connection"
    return "other"


def completed_requests(raw_requests: Sequence[Sequence], end: float) -> list[Request]:
    """The locust child's [start, seconds, status, error] rows as Requests completed by ``end``."""
    done = []
    for start, secs, status, error in raw_requests:
        if start + secs > end:
            continue  # in flight when the test ended: abandoned, not counted
        ok = 200 <= status < 300 and not error
        done.append(Request(start + secs, secs, ok, "ok" if ok else failure_kind(status, error)))
    return sorted(done)


def completed_between(done: Sequence[Request], lo: float, hi: float, end: float) -> Sequence[Request]:
    """The requests (sorted by completion time) that completed in [lo, hi), or [lo, end] at the end."""
    first = bisect.bisect_left(done, (lo,))
    last = bisect.bisect_right(done, (hi, float("inf"))) if hi >= end else bisect.bisect_left(done, (hi,))
    return done[first:last]


def count_errors(requests: Sequence[Request]) -> dict[str, int]:
    """Failures by kind, sorted by kind."""
    errors: dict[str, int] = {}
    for request in requests:
        if not request.ok:
            errors[request.kind] = errors.get(request.kind, 0) + 1
    return dict(sorted(errors.items()))


def sum_errors(parts: Sequence[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for errors in parts:
        for kind, n in errors.items():
            total[kind] = total.get(kind, 0) + n
    return dict(sorted(total.items()))


def client_cpu_cores(raw: dict, first: int, stop: int) -> float | None:
    """CPU cores the load generator itself used over stages [first, stop): locust runs its users
    in one thread, so near 1.0 it, not the server, was the limit."""
    cpu = [*raw.get("cpu_s_at_stage_starts", []), raw.get("cpu_s_end")]
    wall = [*raw["stage_starts"], raw["end"]]
    if len(cpu) != len(wall) or None in cpu or wall[stop] <= wall[first]:
        return None
    return r6((cpu[stop] - cpu[first]) / (wall[stop] - wall[first]))


def stage_bounds(raw: dict) -> list[tuple[float, float]]:
    """Each stage's (start, end) wall times: the next stage's start, or the run's end."""
    starts = raw["stage_starts"]
    return list(zip(starts, [*starts[1:], raw["end"]]))


def stage_results(raw: dict, stages: Sequence[Stage], samples: Sequence[Sample],
                  done: Sequence[Request]) -> list[StageResult]:
    """One StageResult per stage of the locust child's run (``raw``), server samples beside it."""
    end, results = raw["end"], []
    for index, ((lo, hi), stage) in enumerate(zip(stage_bounds(raw), stages), start=1):
        mine = completed_between(done, lo, hi, end)
        ok = [r.seconds for r in mine if r.ok]
        results.append(StageResult(
            index=index, users=stage.users, delay_s=stage.delay_s,
            **summarize(ok, len(mine) - len(ok), hi - lo), **server_means(samples, lo, hi),
            client_cpu_cores=client_cpu_cores(raw, index - 1, index), errors=count_errors(mine)))
    return results


def overall_result(raw: dict, results: Sequence[StageResult], samples: Sequence[Sample],
                   done: Sequence[Request]) -> Overall:
    """The whole run: the stages combined, percentiles over every counted success."""
    all_ok = [r.seconds for r in done if r.ok]
    return Overall(**combine_stages(results, all_ok), **server_means(samples, raw["stage_starts"][0], raw["end"]),
                   client_cpu_cores=client_cpu_cores(raw, 0, len(results)),
                   errors=sum_errors([s.errors for s in results]))


def timeseries_rows(raw: dict, stages: Sequence[Stage], samples: Sequence[Sample],
                    done: Sequence[Request]) -> list[dict]:
    """One row per second from the first stage's start; the last row runs to the end."""
    bounds, end = stage_bounds(raw), raw["end"]
    start = bounds[0][0]
    rows = []
    seconds = max(1, round(end - start))
    for second in range(seconds):
        lo = start + second
        hi = end if second == seconds - 1 else lo + 1
        middle = (lo + hi) / 2  # a second straddling a stage change belongs to the stage holding most of it
        stage = next((i for i, (a, b) in enumerate(bounds, start=1) if a <= middle < b), len(bounds))
        mine = completed_between(done, lo, hi, end)
        ok = [r.seconds for r in mine if r.ok]
        server = server_means(samples, lo, hi)
        rows.append({"t_s": second, "stage": stage, "users": stages[stage - 1].users,
                     "successes": len(ok), "failures": len(mine) - len(ok),
                     "response_time_s": r6(np.mean(ok)) if ok else "",
                     "cpu_cores": "" if server["cpu_cores"] is None else server["cpu_cores"],
                     "pss_mb": "" if server["pss_mb"] is None else server["pss_mb"]})
    return rows
