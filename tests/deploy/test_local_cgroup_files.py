"""The cgroup files a CPU group writes and reads, on a folder laid out as each version's
hierarchy (foodclf.deploy.local.cgroups). This machine kind has cgroup v1 only, so v2's files
(cpu.max, cpu.stat) are checked here against the kernel's documented formats; the real v1
quota holding a busy process is in test_local_replicas.py."""
from __future__ import annotations

import pytest

from foodclf.deploy.local.cgroups import CgroupError, CpuGroup, cgroup_unavailable_reason, cgroup_version


@pytest.fixture
def v2_root(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    return tmp_path


@pytest.fixture
def v1_root(tmp_path):
    for controller in ("cpu", "cpuacct"):
        (tmp_path / controller).mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    return tmp_path


def test_v2_quota_is_cpu_max_per_kubelet_period_and_lifts_to_max(v2_root):
    group = CpuGroup("replica-1", cores=0.3, root=v2_root).create()
    assert group.version == "v2" and group.folders == [v2_root / "replica-1"]
    assert (v2_root / "cgroup.subtree_control").read_text() == "+cpu"   # the controller delegated
    assert group.quota_file() == "30000 100000"
    with group.quota_lifted():
        assert group.quota_file() == "max 100000"
    assert group.quota_file() == "30000 100000"


def test_v2_usage_and_throttling_come_from_cpu_stat(v2_root):
    group = CpuGroup("replica-1", cores=0.5, root=v2_root).create()
    (group.folders[0] / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"
                                              "nr_periods 40\nnr_throttled 12\nthrottled_usec 900000\n")
    assert group.usage_s() == 2.5 and group.throttled() == (40, 12)
    (group.folders[0] / "cpu.stat").write_text("nr_periods 1\n")
    with pytest.raises(CgroupError, match="cpu.stat: no usage_usec"):
        group.usage_s()


def test_v1_quota_and_period_are_separate_files(v1_root):
    group = CpuGroup("replica-1", cores=0.25, root=v1_root).create()
    assert group.version == "v1" and len(group.folders) == 2   # cpu and cpuacct mounted apart
    assert group.quota_file() == "25000 100000"
    with group.quota_lifted():
        assert group.quota_file() == "-1 100000"
    (group.folders[1] / "cpuacct.usage").write_text("1500000000\n")
    assert group.usage_s() == 1.5


def test_a_machine_without_a_cpu_controller_says_why(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    assert cgroup_version(tmp_path) is None
    assert "no writable cgroup CPU controller" in cgroup_unavailable_reason(tmp_path)
    with pytest.raises(CgroupError, match="CPU quotas need root or a delegated cgroup"):
        CpuGroup("replica-1", cores=0.3, root=tmp_path)
    with pytest.raises(CgroupError, match="must be more than 0 cores"):
        CpuGroup("replica-1", cores=0, root=tmp_path)
