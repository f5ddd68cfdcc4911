"""The summary a person reads after a load test: siege's lines, then percentiles, failures by
kind, the server side (CPU; the replica's memory, process by process), the load generator and,
for several stages, one line per stage."""
from __future__ import annotations

from foodclf.contracts.loadtest import LoadTest


def format_summary(report: LoadTest) -> str:
    """siege's summary lines, then percentiles, errors, the server side and the stages."""
    lines = _overall_lines(report) + _resource_lines(report)
    if len(report.stages) > 1:
        lines += ["", *_stage_table(report)]
    return "\n".join(lines)


def format_capacity(report: LoadTest) -> str:
    """The capacity curve: users -> transactions/s and response time, one line per level."""
    lines = ["capacity: users -> trans/s, response time s"]
    for row in report.capacity or []:
        lines.append(f"  {row.users:>3} -> {row.transaction_rate:8.2f}, {_num(row.response_time_s, '.3f')}")
    return "\n".join(lines)


def _num(value: float | None, fmt: str) -> str:
    """A number in ``fmt``, or a dash as wide as the format for a figure that does not exist."""
    width = fmt.split(".")[0]
    return f"{'-':>{width or 1}}" if value is None else f"{value:{fmt}}"


def _overall_lines(report: LoadTest) -> list[str]:
    o = report.overall
    availability = None if o.availability is None else 100 * o.availability
    lines = [
        f"Transactions:              {o.successes:>10} hits",
        f"Availability:              {_num(availability, '10.2f')} %",
        f"Elapsed time:              {o.duration_s:10.2f} secs",
        f"Response time:             {_num(o.response_time_s, '10.2f')} secs",
        f"Transaction rate:          {o.transaction_rate:10.2f} trans/sec",
        f"Successful transactions:   {o.successes:>10}",
        f"Failed transactions:       {o.failures:>10}",
        f"Longest transaction:       {_num(o.longest_s, '10.2f')}",
        f"p50 / p95 / p99:           {_num(o.p50_s, '.3f')} / {_num(o.p95_s, '.3f')} / {_num(o.p99_s, '.3f')} secs",
    ]
    if o.errors:
        lines.append("Failures by kind:          " + ", ".join(f"{k} {v}" for k, v in o.errors.items()))
    return lines


def _resource_lines(report: LoadTest) -> list[str]:
    server, lines = report.server, []
    if server.samples:
        lines.append(f"Server CPU:                {server.cpu_cores_mean:10.2f} cores (max {server.cpu_cores_max:.2f})")
        lines.append(f"Replica memory (Σ PSS):    {server.pss_mb_mean:10.1f} MB (peak {server.pss_mb_peak:.1f})")
        lines.append(f"Σ RSS / Σ USS, peaks:      {server.rss_mb_peak:10.1f} / {server.uss_mb_peak:.1f} MB")
        lines += [f"  at the PSS peak: {p.role:<8} {p.pid:>7} {p.name[:15]:<15} PSS {p.pss_mb:7.1f}  "
                  f"RSS {p.rss_mb:7.1f}  USS {p.uss_mb:7.1f} MB" for p in server.peak_processes]
    else:
        lines.append("Server CPU and memory:     not sampled (no local server process found)")
    if report.overall.client_cpu_cores is not None:
        lines.append(f"Load generator CPU:        {report.overall.client_cpu_cores:10.2f} cores "
                     "(locust: one core at most)")
    return lines


def _stage_table(report: LoadTest) -> list[str]:
    lines = ["stage users delay   secs    ok  fail  trans/s  resp s   p95 s  cores PSS MB"]
    for s in report.stages:
        lines.append(f"{s.index:>5} {s.users:>5} {s.delay_s:>5g} {s.duration_s:>6.1f} {s.successes:>5} "
                     f"{s.failures:>5} {s.transaction_rate:>8.2f} {_num(s.response_time_s, '7.3f'):>7} "
                     f"{_num(s.p95_s, '7.3f'):>7} {_num(s.cpu_cores, '6.2f'):>6} {_num(s.pss_mb, '6.0f'):>6}")
    return lines
