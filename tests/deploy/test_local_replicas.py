"""Real replicas behind a real HAProxy under real CPU quotas (foodclf.deploy.local).

Two TorchServe replicas of a random-weights 32 px model, each in its own cgroup with half a core,
behind HAProxy on a loopback port: both answer, a drained one gets no new request, the quota is
the kernel's and holds under load, and everything is gone afterwards.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
from support import encode, photo

from foodclf.deploy.local.cgroups import PERIOD_US, CpuGroup, cgroup_unavailable_reason
from foodclf.deploy.local.haproxy import BalancerError, haproxy_config, haproxy_unavailable_reason
from foodclf.deploy.local.replicas import ReplicaSet, scaled_cpu

QUOTA = 0.5
local_only = pytest.mark.skipif(bool(haproxy_unavailable_reason() or cgroup_unavailable_reason()),
                                reason=haproxy_unavailable_reason() or cgroup_unavailable_reason() or "")


def test_haproxy_config_balances_at_random_with_ping_checks(tmp_path):
    text = haproxy_config(8080, tmp_path / "admin.sock", 4, "random(1)", 30)
    assert "balance random(1)" in text and "option httpchk GET /ping" in text
    assert "server-template r 1-4 127.0.0.1:1 disabled" in text
    with pytest.raises(BalancerError, match="choose one of"):
        haproxy_config(8080, tmp_path / "admin.sock", 4, "source", 30)


def test_scaled_cpu_fits_four_replicas_of_the_limit_on_two_cores():
    assert scaled_cpu(2.0) * 4 <= 2.0


@local_only
def test_a_cpu_group_holds_a_busy_process_to_its_quota():
    with CpuGroup("foodclf-test-quota", cores=0.25) as group:
        busy = psutil.Popen(["python3", "-c", "while True: pass"])
        try:
            group.add(busy.pid)
            assert busy.pid in group.pids()
            assert group.quota_file() in (f"{round(0.25 * PERIOD_US)} {PERIOD_US}",)
            cores = busy_cores(group, seconds=1.5)
            with group.quota_lifted():
                free_cores = busy_cores(group, seconds=1.0)
            assert group.quota_file() == f"{round(0.25 * PERIOD_US)} {PERIOD_US}"  # back after the block
        finally:
            busy.kill()
            busy.wait()
    assert 0.15 < cores <= 0.25 * 1.1
    assert free_cores > 0.6  # one spinning thread, no quota: about a core
    assert not group.folders[0].exists()


def busy_cores(group: CpuGroup, seconds: float) -> float:
    start, used = time.monotonic(), group.usage_s()
    time.sleep(seconds)
    return (group.usage_s() - used) / (time.monotonic() - start)


@pytest.mark.serve
@local_only
def test_two_replicas_behind_haproxy_under_quotas(model_store, tmp_path):
    body = encode(photo(), "JPEG", quality=90)
    with ReplicaSet(model_store, "food", cpu_limit=QUOTA, workdir=tmp_path, slots=2) as replicas:
        replicas.scale_to(2)
        processes = {slot: r.server.process_pids() for slot, r in replicas.replicas.items()}
        groups = [r.group for r in replicas.replicas.values()]
        haproxy = replicas.balancer.process.pid
        for slot, replica in replicas.replicas.items():  # the whole tree is born under the quota
            assert replica.group.quota_file() == f"{round(QUOTA * PERIOD_US)} {PERIOD_US}"
            assert set(processes[slot]) <= replica.group.pids() and len(processes[slot]) >= 2

        cores = _load_cores(replicas, body, seconds=3.0)
        stats = replicas.balancer.stats()
        assert stats[1].requests > 0 and stats[2].requests > 0, stats  # both answered
        assert all(c <= QUOTA * 1.1 for c in cores.values()), cores   # and no more than the quota

        replicas.balancer.drain(2)
        before = replicas.balancer.stats()
        session = requests.Session()
        for _ in range(12):
            assert session.post(replicas.url, data=body, timeout=30).status_code == 200
        after = replicas.balancer.stats()
        assert after[2].requests == before[2].requests and after[2].status == "DRAIN"
        assert after[1].requests == before[1].requests + 12

        replicas.scale_to(1)  # drains and stops replica 2
        assert not any(psutil.pid_exists(p) for p in processes[2])
        assert sorted(replicas.replicas) == [1]
    pids = processes[1] + [haproxy]
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not any(folder.exists() for g in groups for folder in g.folders)


def _load_cores(replicas: ReplicaSet, body: bytes, seconds: float) -> dict[int, float]:
    """Eight clients posting through the balancer for ``seconds``: each replica's CPU cores meanwhile."""
    for slot in replicas.replicas:
        replicas.cpu_cores(slot)
    deadline = time.monotonic() + seconds

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            session.post(replicas.url, data=body, timeout=30).raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(client) for _ in range(8)]:
            future.result()
    return {slot: replicas.cpu_cores(slot) for slot in replicas.replicas}
