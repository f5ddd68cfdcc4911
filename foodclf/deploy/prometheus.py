"""What Prometheus and prometheus-adapter make of TorchServe's latency counter: the samples a
scrape keeps, and PromQL's ``rate()`` over them.

TorchServe adds each answered request's latency to ``ts_inference_latency_microseconds``; the
adapter's rule of overlay ``hpa-inflight`` serves ``rate(...[1m]) / 1e6``: seconds of requests
per second, the mean number of requests inside the pod over the last minute (Little's law).
The simulation keeps the counter in seconds, so the rate is the in-flight count directly.
"""
from __future__ import annotations

from collections.abc import Sequence


def keep_window(samples: list[tuple[float, float]], now: float, window_s: float) -> list[tuple[float, float]]:
    """The samples a later ``rate()`` at or after ``now`` can still use."""
    return [s for s in samples if s[0] > now - window_s]


def rate(samples: Sequence[tuple[float, float]], now: float, window_s: float) -> float | None:
    """PromQL ``rate(counter[window])`` evaluated at ``now`` over ascending (time, value) samples:
    Prometheus' extrapolatedRate for a counter without resets. None (no value, as Prometheus
    returns no series) with fewer than two samples in (now - window, now]."""
    inside = [s for s in samples if now - window_s < s[0] <= now]
    if len(inside) < 2:
        return None
    (t_first, first), (t_last, last) = inside[0], inside[-1]
    increase = last - first
    sampled = t_last - t_first
    step = sampled / (len(inside) - 1)
    to_start, to_end = t_first - (now - window_s), now - t_last
    # Extrapolate to the window's edges when a sample would be expected there, else by half a step.
    if to_start >= 1.1 * step:
        to_start = step / 2
    if increase > 0 and first >= 0:
        to_start = min(to_start, sampled * first / increase)  # a counter is not extrapolated below 0
    if to_end >= 1.1 * step:
        to_end = step / 2
    return increase * (sampled + to_start + to_end) / sampled / window_s
