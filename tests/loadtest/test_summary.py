"""foodclf.loadtest.summary: what a person reads, for a full report and one where nothing worked."""
import copy

from foodclf.contracts import validate
from foodclf.contracts.loadtest import LoadTest
from foodclf.loadtest.summary import format_capacity, format_summary


def test_siege_lines_then_failures_by_status(loadtest_data):
    text = format_summary(validate(loadtest_data, LoadTest, "test"))
    lines = text.splitlines()
    assert lines[0].split() == ["Transactions:", "4", "hits"]
    assert "Availability:                   80.00 %" in lines
    assert "Failures by kind:          http_503 1" in lines
    assert "Server CPU and memory:     not sampled (no local server process found)" in lines
    assert "stage users" not in text  # one stage: no stage table


def test_nothing_answered_prints_dashes_not_errors(loadtest_data):
    data = copy.deepcopy(loadtest_data)
    for part in (data["stages"][0], data["overall"]):
        part.update(successes=0, failures=3, availability=0.0, transaction_rate=0.0, response_time_s=None,
                    p50_s=None, p95_s=None, p99_s=None, longest_s=None, errors={"connection": 3})
    text = format_summary(validate(data, LoadTest, "test"))
    assert "Response time:                      - secs" in text.splitlines()
    assert "p50 / p95 / p99:           - / - / - secs" in text.splitlines()
    assert "Failures by kind:          connection 3" in text.splitlines()


def test_several_stages_get_a_table_and_capacity_a_curve(loadtest_data):
    data = copy.deepcopy(loadtest_data)
    second = {**data["stages"][0], "index": 2, "users": 4, "cpu_cores": 1.5, "pss_mb": 900.0, "pss_mb_peak": 950.0}
    data.update(mode="capacity", stages=[data["stages"][0], second], capacity=[
        {"users": u, "transaction_rate": r, "response_time_s": t, "p50_s": t, "p95_s": t, "p99_s": t, "failures": 0,
         "cpu_cores": 1.0, "pss_mb": 900.0, "pss_mb_peak": 950.0,
         "client_cpu_cores": 0.1} for u, r, t in [(1, 9.5, 0.105), (4, 20.0, None)]])
    report = validate(data, LoadTest, "test")
    table = format_summary(report).split("\n\n")[1].splitlines()
    assert table[0].split()[:3] == ["stage", "users", "delay"] and len(table) == 3
    assert table[2].split() == ["2", "4", "0", "2.0", "4", "1", "2.00", "0.500", "0.500", "1.50", "900"]
    assert format_capacity(report).splitlines()[1:] == ["    1 ->     9.50, 0.105", "    4 ->    20.00, -"]
