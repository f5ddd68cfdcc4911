"""The CPU quota a process runs under, as foodclf.machine reads it from its own cgroup (the
usable-cores figure printed beside every benchmark). Folders laid out as each cgroup version's
hierarchy: this machine kind has v1 only, and a pod on a current cluster sees v2."""
from __future__ import annotations

from pathlib import Path

import pytest

from foodclf.machine import cgroup_cpu_quota


def cgroup_tree(tmp_path: Path, own: str, files: dict[str, str]) -> tuple[Path, Path]:
    """(/proc/self/cgroup holding ``own``, a cgroup root holding ``files``)."""
    proc, root = tmp_path / "cgroup", tmp_path / "fs"
    proc.write_text(own)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return proc, root


@pytest.mark.parametrize("cpu_max, cores", [("150000 100000\n", 1.5), ("max 100000\n", None)])
def test_v2_quota_comes_from_cpu_max_of_the_own_group(tmp_path, cpu_max, cores):
    proc, root = cgroup_tree(tmp_path, "0::/kubepods/pod-a/replica\n", {"kubepods/pod-a/replica/cpu.max": cpu_max})
    assert cgroup_cpu_quota(proc, root) == cores


def test_v2_inside_a_container_reads_the_root_it_sees(tmp_path):
    # a container's own cgroup is mounted as its /sys/fs/cgroup; /proc/self/cgroup still names the host's path
    proc, root = cgroup_tree(tmp_path, "0::/kubepods/pod-a/replica\n", {"cpu.max": "50000 100000\n"})
    assert cgroup_cpu_quota(proc, root) == 0.5


def test_v1_quota_is_quota_over_period_and_minus_one_is_none(tmp_path):
    own = "12:memory:/docker/abc\n5:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n"
    proc, root = cgroup_tree(tmp_path, own, {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "30000\n",
                                             "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"})
    assert cgroup_cpu_quota(proc, root) == pytest.approx(0.3)
    (root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(proc, root) is None


def test_no_readable_cgroup_means_no_quota(tmp_path):
    assert cgroup_cpu_quota(tmp_path / "missing", tmp_path) is None
    proc, root = cgroup_tree(tmp_path, "0::/a\n", {"a/cpu.max": "garbage\n"})
    assert cgroup_cpu_quota(proc, root) is None
