"""What this machine offers: the CPU's model and instruction sets, and the cores a process may use.

Machines of one kind come with different CPUs (an AVX2-only AMD EPYC, an Intel Xeon with
AVX-512, VNNI and AMX): the same model runs different kernels on them, and some runtimes pick a
lower precision where the CPU has bf16 instructions. Every figure is printed or stored beside
``describe_machine()``, and only ratios measured in one run are compared.
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from foodclf.contracts.machine import Machine

# The flags (as /proc/cpuinfo names them) that change which kernels run: AVX2 is the floor here;
# VNNI does INT8 dot products without 16-bit saturation; bf16 and AMX run reduced precision fast.
ISA_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
INT8_DOT_FEATURES = ("avx512_vnni", "avx_vnni", "amx_int8")
BF16_FEATURES = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")
PROC_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform knows."""
    for key, value in _cpuinfo_fields():
        if key in ("model name", "hardware", "cpu model"):
            return value
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags() -> set[str]:
    """Every flag the kernel reports for the first CPU (empty where /proc/cpuinfo is absent)."""
    for key, value in _cpuinfo_fields():
        if key in ("flags", "features"):
            return set(value.split())
    return set()


def cpu_features() -> list[str]:
    """The flags of ISA_FEATURES this CPU has, in that order."""
    flags = cpu_flags()
    return [feature for feature in ISA_FEATURES if feature in flags]


def has_int8_dot_product() -> bool:
    """VNNI or AMX: INT8 x INT8 sums without the AVX2 path's 16-bit saturation."""
    return bool(set(INT8_DOT_FEATURES) & cpu_flags())


def has_bf16() -> bool:
    """Native bf16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    return bool(set(BF16_FEATURES) & cpu_flags())


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup CPU quota (a container's
    or a Kubernetes pod's limit: cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, int(quota)))
    return max(1, cores)


def cgroup_cpu_quota(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota of this process's cgroup in cores (None: unlimited or unknown)."""
    for group in _own_cgroups(proc_cgroup, root):
        try:
            if group[0] == "v2":
                quota, period = (group[1] / "cpu.max").read_text().split()[:2]
                if quota != "max":
                    return int(quota) / int(period)
            else:
                quota = int((group[1] / "cpu.cfs_quota_us").read_text())
                if quota > 0:
                    return quota / int((group[1] / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
    return None


def describe_machine() -> Machine:
    """This machine, as metrics.json and the benchmarks record it."""
    torch = sys.modules.get("torch")  # its version only where the caller already uses it
    return Machine(cpu=cpu_model(), isa=cpu_features(), cores=usable_cores(),
                   torch=getattr(torch, "__version__", None), python=platform.python_version())


def machine_line() -> str:
    """One line for a benchmark's output: 'CPU: NAME; ISA: avx2 avx512f ...; N usable cores'."""
    m = describe_machine()
    return f"CPU: {m.cpu}; ISA: {' '.join(m.isa) or 'none of ' + ', '.join(ISA_FEATURES)}; {m.cores} usable cores"


def _cpuinfo_fields():
    try:
        text = CPUINFO.read_text()
    except OSError:
        return
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            yield key.strip().lower(), value.strip()


def _own_cgroups(proc_cgroup: Path, root: Path):
    """('v2', folder) or ('v1', folder) of this process's CPU cgroup, from /proc/self/cgroup."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            yield "v2", root / path.lstrip("/")
            yield "v2", root  # inside a container the own cgroup is mounted as the root
        elif "cpu" in controllers.split(","):
            for mount in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                yield "v1", mount / path.lstrip("/")
                yield "v1", mount
