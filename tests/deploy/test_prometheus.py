"""PromQL's rate() as foodclf.deploy.prometheus computes it for the in-flight signal: Prometheus'
extrapolatedRate on hand-worked series."""
from __future__ import annotations

import pytest

from foodclf.deploy.prometheus import keep_window, rate


def test_a_steady_counter_gives_its_slope():
    # Scrapes every 15 s, half an interval off the minute: extrapolated to the window's edges.
    samples = [(t, 2.0 * t) for t in (7.5, 22.5, 37.5, 52.5)]
    assert rate(samples, now=60.0, window_s=60.0) == pytest.approx(2.0)


def test_a_new_series_is_not_extrapolated_below_zero_and_needs_two_samples():
    assert rate([(52.5, 10.0)], now=60.0, window_s=60.0) is None
    # From 0 to 15 in 15 s: the zero point is the first sample, the end 7.5 s away (< 1.1 steps)
    # is extrapolated: 15 x (15 + 0 + 7.5) / 15 / 60.
    assert rate([(37.5, 0.0), (52.5, 15.0)], now=60.0, window_s=60.0) == pytest.approx(22.5 / 60)
    # Samples far from the window's start are extrapolated by half a step only.
    assert rate([(37.5, 100.0), (52.5, 115.0)], now=60.0, window_s=60.0) == pytest.approx(15 * 30 / 15 / 60)


def test_the_window_is_open_on_the_left():
    samples = [(0.0, 0.0), (30.0, 30.0), (60.0, 60.0)]
    # (0, 0) is out: from (30, 30) the 30 s to the start are within 1.1 steps: extrapolated whole.
    assert rate(samples, now=60.0, window_s=60.0) == pytest.approx(30 * (30 + 30 + 0) / 30 / 60)
    assert rate([(0.0, 0.0), (30.0, 30.0)], now=60.0, window_s=60.0) is None
    assert keep_window(samples, now=60.0, window_s=60.0) == samples[1:]
