"""foodclf.loadtest.sampler: a real process sampled with psutil, and the stage windows of samples."""
import os
import subprocess
import sys
import time

import pytest

from foodclf.loadtest.sampler import Sample, ServerSampler, is_loopback, server_means, server_pids_for


def test_sampling_a_busy_process_sees_its_cpu_and_memory():
    """A process of its own, busy and childless (the test process may have children of earlier
    tests, a multiprocessing resource tracker say, which the sampler would rightly count)."""
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 60\n"
                             "while time.time() < end: sum(range(1000))"])
    try:
        with ServerSampler([busy.pid], interval_s=0.1) as sampler:
            while len(sampler.samples) < 4:
                time.sleep(0.05)
    finally:
        busy.kill()
        busy.wait()
    usage = sampler.usage()
    assert usage.samples == len(sampler.samples) >= 4 and usage.pids == [busy.pid]
    assert usage.cpu_cores_max > 0 and usage.cpu_cores_mean <= usage.cpu_cores_max
    assert usage.pss_mb_mean > 1  # a Python interpreter's own pages at least
    assert usage.uss_mb_peak <= usage.pss_mb_peak <= usage.rss_mb_peak
    (it,) = usage.peak_processes     # the reading at the peak, process by process
    assert (it.pid, it.role) == (busy.pid, "process") and it.pss_mb == pytest.approx(usage.pss_mb_peak)


def test_a_process_that_is_gone_gives_no_samples_not_an_error():
    with ServerSampler([2**22 + 12345], interval_s=0.05) as sampler:  # above Linux's default pid_max
        time.sleep(0.2)
    usage = sampler.usage()
    assert usage.samples == 0 and usage.cpu_cores_mean is None and usage.pids == []
    assert usage.pss_mb_peak is None and usage.peak_processes == []


def test_stage_windows_take_the_samples_inside_or_the_next_one():
    samples = [Sample(1.0, 1.0, 100.0, 150.0, 50.0), Sample(2.0, 3.0, 300.0, 350.0, 250.0),
               Sample(3.0, 5.0, 500.0, 550.0, 450.0)]
    nothing = {"cpu_cores": None, "pss_mb": None, "pss_mb_peak": None}
    assert server_means(samples, 0.0, 2.0) == {"cpu_cores": 2.0, "pss_mb": 200.0, "pss_mb_peak": 300.0}  # (0, 2]
    assert server_means(samples, 2.2, 2.4) == {"cpu_cores": 5.0, "pss_mb": 500.0, "pss_mb_peak": 500.0}  # short
    assert server_means(samples, 3.0, 4.0) == nothing        # nothing at or after it
    assert server_means([], 0.0, 1.0) == nothing


def test_the_server_is_whoever_listens_on_a_loopback_port(ok_server):
    assert server_pids_for(ok_server.url, None) == [os.getpid()]   # the fixture's server thread is this process
    assert server_pids_for(ok_server.url, [7, 7, 3]) == [3, 7]     # given PIDs win
    assert server_pids_for("http://192.0.2.1:8080/predictions/food", None) == []   # remote: not sampled
    assert is_loopback("localhost") and is_loopback("::1") and not is_loopback("example.org")
