"""What the server, the archive and the handler agree on: the environment a worker runs in and
the handler's defaults.

The handler imports this module in every TorchServe worker, so it stays light: no psutil, no
subprocess, no runtime.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from foodclf.machine import usable_cores

# glibc's malloc gives every block over 128 KB its own mmap and hands it back on free, so each
# forward pass page-faults its activations in afresh: a fifth of the CPU went to the kernel.
# Keeping blocks up to 256 MB in the heap (and trimming it only past 512 MB) served MobileNetV2
# 25–40 % faster for 3 % more memory (scripts/bench_serve.py --malloc default|tuned).
# A GLIBC_TUNABLES already set is left alone; an empty one gives glibc's defaults.
MALLOC_ENV = "GLIBC_TUNABLES"
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=536870912"
# Read by the handler: torch threads per worker, overriding the archive's setting.
THREADS_ENV = "FOODCLF_TORCH_THREADS"
# Smaller images carry no food to recognise (a 1x1 image is a probe, not a photo): 400.
DEFAULT_MIN_SIDE = 8


def serving_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to start TorchServe in: ``base`` (default: this process's) with the
    allocator setting for its workers, unless ``base`` sets GLIBC_TUNABLES itself."""
    env = dict(os.environ if base is None else base)
    env.setdefault(MALLOC_ENV, MALLOC_TUNABLES)
    return env


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of ``workers`` workers sharing the usable cores (affinity, cgroup
    quota): workers x threads never exceeds the cores, and each worker gets at least one."""
    return max(1, usable_cores() // max(1, workers))
