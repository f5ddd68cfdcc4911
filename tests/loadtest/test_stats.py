"""foodclf.loadtest.stats: the report's formulas and the stage windows, checked by hand."""
import pytest

from foodclf.contracts.loadtest import StageResult
from foodclf.loadtest.profiles import Stage
from foodclf.loadtest.sampler import Sample
from foodclf.loadtest.stats import (
    client_cpu_cores,
    combine_stages,
    completed_requests,
    failure_kind,
    overall_result,
    stage_results,
    summarize,
    timeseries_rows,
)


def stage_result(duration_s, successes, failures, response_time_s) -> StageResult:
    return StageResult(index=1, users=1, delay_s=0.0, duration_s=duration_s, successes=successes, failures=failures,
                       availability=None, transaction_rate=0.0, response_time_s=response_time_s, p50_s=None,
                       p95_s=None, p99_s=None, longest_s=None, cpu_cores=None, pss_mb=None, pss_mb_peak=None,
                       client_cpu_cores=None,
                       errors={})


def test_summarize_on_a_known_sample():
    times = [0.1, 0.2, 0.3, 0.4, 1.0]
    s = summarize(times, failures=1, duration_s=2.0)
    assert s["successes"] == 5 and s["failures"] == 1
    assert s["availability"] == pytest.approx(5 / 6)
    assert s["transaction_rate"] == pytest.approx(2.5)       # 5 successes / 2 s
    assert s["response_time_s"] == pytest.approx(0.4)        # 2.0 / 5
    assert s["p50_s"] == pytest.approx(0.3)
    assert s["p95_s"] == pytest.approx(0.4 + 0.8 * 0.6)      # linear: rank 3.8 between 0.4 and 1.0
    assert s["p99_s"] == pytest.approx(0.4 + 0.96 * 0.6)
    assert s["longest_s"] == pytest.approx(1.0)


def test_summarize_without_traffic_gives_nulls_not_errors():
    s = summarize([], failures=0, duration_s=5.0)
    assert s["transaction_rate"] == 0.0
    assert s["availability"] is None and s["response_time_s"] is None and s["p95_s"] is None


def test_combine_stages_uses_the_reports_formulas():
    # Two siege runs: 60 s with 100 hits at 1.0 s, 60 s with 300 hits at 2.0 s, 20 failures.
    o = combine_stages([stage_result(60.0, 100, 0, 1.0), stage_result(60.0, 300, 20, 2.0)])
    assert o["transaction_rate"] == pytest.approx(400 / 120)
    assert o["response_time_s"] == pytest.approx((100 * 1.0 + 300 * 2.0) / 400)   # 1.75, not 1.5
    assert o["availability"] == pytest.approx(400 / 420)
    assert o["duration_s"] == 120.0 and o["failures"] == 20


@pytest.mark.parametrize("status, error, kind", [
    (503, "HTTPError: 503 Service Unavailable", "http_503"),     # TorchServe: job queue full
    (500, "HTTPError: 500", "http_500"),
    (404, "HTTPError: 404", "http_404"),
    (0, "ConnectionRefusedError: [Errno 111] Connection refused", "connection"),
    (0, "RetriesExceeded: URL x: 0, original=timed out", "timeout"),
    (0, "ValueError: odd", "other"),
])
def test_failures_are_counted_by_status_or_kind(status, error, kind):
    assert failure_kind(status, error) == kind


# A run of two stages, [0, 1) and [1, 2.5): requests as the locust child records them,
# [start, seconds, status, error].
RAW = {"stage_starts": [100.0, 101.0], "end": 102.5,
       "cpu_s_at_stage_starts": [10.0, 10.5], "cpu_s_end": 12.3,
       "requests": [[100.0, 0.2, 200, ""], [100.1, 0.5, 200, ""], [100.3, 0.4, 503, "HTTPError: 503"],
                    [100.9, 0.3, 200, ""],                          # completes at 101.2: stage 2
                    [101.0, 0.1, 0, "ConnectionResetError: reset"],
                    [102.0, 0.5, 200, ""],                          # completes exactly at the end: counted
                    [102.3, 0.4, 200, ""]]}                         # still in flight at the end: dropped
STAGES = [Stage(1.0, 2, 0.0), Stage(1.5, 3, 0.5)]
SAMPLES = [Sample(100.5, 1.0, 900.0, 1200.0, 600.0), Sample(101.0, 3.0, 910.0, 1210.0, 610.0),
           Sample(102.0, 2.0, 920.0, 1220.0, 620.0)]


def test_a_request_belongs_to_the_stage_it_completed_in():
    done = completed_requests(RAW["requests"], RAW["end"])
    first, second = stage_results(RAW, STAGES, SAMPLES, done)
    assert (first.successes, first.failures, first.errors) == (2, 1, {"http_503": 1})
    assert (second.successes, second.failures, second.errors) == (2, 1, {"connection": 1})
    assert first.response_time_s == pytest.approx(0.35) and second.response_time_s == pytest.approx(0.4)
    assert first.transaction_rate == pytest.approx(2.0) and second.transaction_rate == pytest.approx(2 / 1.5)
    assert (first.users, second.users, second.delay_s) == (2, 3, 0.5)
    # server samples in (lo, hi]: stage 1 has 100.5 and 101.0, stage 2 only 102.0
    assert (first.cpu_cores, first.pss_mb, first.pss_mb_peak, second.cpu_cores) == (2.0, 905.0, 910.0, 2.0)
    assert (first.client_cpu_cores, second.client_cpu_cores) == (0.5, pytest.approx(1.8 / 1.5))

    overall = overall_result(RAW, [first, second], SAMPLES, done)
    assert (overall.successes, overall.failures) == (4, 2)
    assert overall.errors == {"connection": 1, "http_503": 1}
    assert overall.transaction_rate == pytest.approx(4 / 2.5)
    assert overall.response_time_s == pytest.approx((0.2 + 0.5 + 0.3 + 0.5) / 4)
    assert overall.longest_s == 0.5 and overall.client_cpu_cores == pytest.approx(2.3 / 2.5)


def test_the_time_series_has_a_row_a_second_and_adds_up():
    done = completed_requests(RAW["requests"], RAW["end"])
    rows = timeseries_rows(RAW, STAGES, SAMPLES, done)
    assert [r["t_s"] for r in rows] == [0, 1]     # 2.5 s rounds to two rows, the last runs to the end
    assert [r["stage"] for r in rows] == [1, 2] and [r["users"] for r in rows] == [2, 3]
    assert sum(r["successes"] for r in rows) == 4 and sum(r["failures"] for r in rows) == 2


def test_client_cpu_is_per_stage():
    assert [client_cpu_cores(RAW, 0, 1), client_cpu_cores(RAW, 1, 2)] == [0.5, pytest.approx(1.2)]
    assert client_cpu_cores({"stage_starts": [0.0], "end": 1.0}, 0, 1) is None  # a child that did not measure
