"""The machine a figure was measured on: part of metrics.json and of every benchmark's output."""
from __future__ import annotations

from foodclf.contracts import contract


@contract
class Machine:
    cpu: str              # the CPU's model name (/proc/cpuinfo)
    isa: list[str]        # the instruction sets that change numbers or speed here (foodclf.machine.ISA_FEATURES)
    cores: int            # CPUs this process may use: affinity, capped by a cgroup CPU quota
    torch: str | None     # torch's version (None where torch was not imported)
    python: str
