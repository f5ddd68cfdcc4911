"""A CPU quota for a process tree, as the kubelet enforces a pod's CPU limit: a cgroup of its own.

    with CpuGroup("replica-1", cores=0.4) as group:
        subprocess.Popen([*group.launch_prefix(), "torchserve", ...])  # born in the group
        group.add(pid)            # or move a running process in (its later children follow)
        group.usage_s()           # CPU seconds the group's processes used so far

cgroup v2 (``cpu.max``, usage from ``cpu.stat``) where the machine has it with the cpu controller,
else v1 (``cpu.cfs_quota_us`` in the ``cpu`` hierarchy; usage from ``cpuacct.usage`` in the
``cpuacct`` one, which may be mounted apart). Needs root, or a delegated cgroup. On exit the
group's remaining processes go back to the parent group and the folders are removed.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from foodclf.errors import FoodclfError

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000  # the kubelet's CFS period


class CgroupError(FoodclfError):
    """No writable cgroup CPU controller, or a group that cannot be made or filled."""


def cgroup_version(root: Path = ROOT) -> str | None:
    """"v2" or "v1": which CPU controller this machine lets us write; None: neither."""
    controllers = root / "cgroup.controllers"
    if controllers.is_file() and "cpu" in controllers.read_text().split():
        return "v2" if os.access(root, os.W_OK) else None
    cpu = root / "cpu"
    if (cpu / "cpu.cfs_quota_us").is_file() and os.access(cpu, os.W_OK):
        return "v1"
    return None


def cgroup_unavailable_reason(root: Path = ROOT) -> str | None:
    """Why CPU quotas cannot be set here (a test's skip reason), or None when they can."""
    if cgroup_version(root) is None:
        return (f"no writable cgroup CPU controller under {root} (cgroup v2 with cpu in cgroup.controllers, "
                "or v1's cpu/cpu.cfs_quota_us): CPU quotas need root or a delegated cgroup")
    return None


class CpuGroup:
    """A cgroup limiting its processes to ``cores`` CPU cores (quota = cores × period)."""

    def __init__(self, name: str, cores: float, root: Path = ROOT):
        if cores <= 0:
            raise CgroupError(f"CPU quota of group {name!r}: must be more than 0 cores, got {cores}")
        self.version = cgroup_version(root)
        if self.version is None:
            raise CgroupError(cgroup_unavailable_reason(root))
        self.name, self.cores, self.root = name, cores, root
        if self.version == "v2":
            self.folders = [root / name]
        else:  # cpu and cpuacct may share one hierarchy ("cpu,cpuacct") or not
            self.folders = list(dict.fromkeys([(root / "cpu").resolve() / name, (root / "cpuacct").resolve() / name]))

    def __enter__(self) -> CpuGroup:
        return self.create()

    def __exit__(self, *exc) -> None:
        self.remove()

    @property
    def quota_us(self) -> int:
        return round(self.cores * PERIOD_US)

    def create(self) -> CpuGroup:
        try:
            for folder in self.folders:
                folder.mkdir(exist_ok=True)
            if self.version == "v2":
                _enable_cpu_controller(self.root)
            else:
                (self.folders[0] / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            self._write_quota(self.quota_us)
        except OSError as e:
            self.remove()
            raise CgroupError(f"cannot make CPU group {self.folders[0]} ({e}); quotas need root") from e
        log.info("CPU group %s: %.2f cores", self.folders[0], self.cores)
        return self

    @contextmanager
    def quota_lifted(self) -> Iterator[CpuGroup]:
        """Within the block the group's processes may use every core; then the quota again.
        (How a replica serves with CPU to spare, which a quota's budget allows for a moment.)"""
        self._write_quota(None)
        try:
            yield self
        finally:
            self._write_quota(self.quota_us)

    def _write_quota(self, quota_us: int | None) -> None:
        """``quota_us`` per period, or no quota (None)."""
        if self.version == "v2":
            (self.folders[0] / "cpu.max").write_text(f"{'max' if quota_us is None else quota_us} {PERIOD_US}")
        else:
            (self.folders[0] / "cpu.cfs_quota_us").write_text(str(-1 if quota_us is None else quota_us))

    def add(self, pid: int) -> None:
        """Move ``pid`` (all its threads) into the group; processes it forks afterwards are born here."""
        for folder in self.folders:
            try:
                (folder / "cgroup.procs").write_text(str(pid))
            except ProcessLookupError:
                return  # it exited meanwhile
            except OSError as e:
                raise CgroupError(f"cannot put process {pid} into {folder}: {e}") from e

    def launch_prefix(self) -> list[str]:
        """A command prefix that starts its command inside this group (foodclf.deploy.local.enter_group)."""
        return [sys.executable, "-m", "foodclf.deploy.local.enter_group", *map(str, self.folders), "--"]

    def pids(self) -> set[int]:
        """The processes in the group now."""
        try:
            return {int(x) for x in (self.folders[0] / "cgroup.procs").read_text().split()}
        except OSError:
            return set()

    def quota_file(self) -> str:
        """The quota as the kernel holds it: ``cpu.max``'s text, or v1's ``quota period``."""
        if self.version == "v2":
            return (self.folders[0] / "cpu.max").read_text().strip()
        quota = (self.folders[0] / "cpu.cfs_quota_us").read_text().strip()
        return f"{quota} {(self.folders[0] / 'cpu.cfs_period_us').read_text().strip()}"

    def usage_s(self) -> float:
        """CPU seconds used by the group's processes since it was made (what cAdvisor reads)."""
        if self.version == "v2":
            for line in (self.folders[0] / "cpu.stat").read_text().splitlines():
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) / 1e6
            raise CgroupError(f"{self.folders[0] / 'cpu.stat'}: no usage_usec")
        return int((self.folders[-1] / "cpuacct.usage").read_text()) / 1e9

    def throttled(self) -> tuple[int, int]:
        """(periods, throttled periods) so far: how often the quota held the group back."""
        stat = dict(line.split() for line in (self.folders[0] / "cpu.stat").read_text().splitlines())
        return int(stat.get("nr_periods", 0)), int(stat.get("nr_throttled", 0))

    def remove(self, timeout_s: float = 5.0) -> None:
        """Move any process left back to the parent group and delete the folders; safe to call twice."""
        for folder in self.folders:
            if not folder.is_dir():
                continue
            deadline = time.monotonic() + timeout_s
            while True:
                self._empty(folder)
                try:
                    folder.rmdir()
                    break
                except OSError as e:  # EBUSY while a process is still on its way out
                    if time.monotonic() > deadline:
                        log.warning("cannot remove CPU group %s: %s", folder, e)
                        break
                    time.sleep(0.1)

    @staticmethod
    def _empty(folder: Path) -> None:
        try:
            pids = (folder / "cgroup.procs").read_text().split()
        except OSError:
            return
        for pid in pids:
            try:
                (folder.parent / "cgroup.procs").write_text(pid)
            except OSError:
                pass  # exited meanwhile


def _enable_cpu_controller(root: Path) -> None:
    """cgroup v2 gives a child the cpu files only when the parent delegates the controller."""
    try:
        (root / "cgroup.subtree_control").write_text("+cpu")
    except OSError as e:  # already on, or refused: creating the group says which
        log.debug("cannot enable the cpu controller in %s: %s", root, e)
