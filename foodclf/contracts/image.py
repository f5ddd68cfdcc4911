"""image.json: the Kubernetes image run as its Deployment runs it, and what one replica of it holds.

Written by ``scripts/check_image.py IMAGE --run RUN_DIR`` into the run (candidate) directory. The
comparison takes the deployments' replica memory from it where it is present: a replica measured
inside the image (its own torch, its own libraries) is what a pod holds, where the load test's
figure is the same server measured on the host.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from foodclf.contracts import contract, file_in, read
from foodclf.contracts.loadtest import ProcessUsage
from foodclf.contracts.machine import Machine

IMAGE_FILE = "image.json"
SCHEMA_VERSION = 1


@contract
class ImageLoad:
    """The closed-loop load the replica's memory was read under (users with no delay)."""
    users: int
    duration_s: float
    transaction_rate: float         # successes per second
    failures: int


@contract
class ImageMemory:
    """The replica's memory inside the image: Σ PSS over the image command's processes (MB)."""
    pss_mb_ready: float             # once /ping answered and one photo was served
    pss_mb_peak: float              # the largest sample under the load
    processes: list[ProcessUsage]   # each process at the peak sample


@contract
class ImageCheck:
    schema_version: Literal[SCHEMA_VERSION]   # 1
    created: str                    # ISO 8601, UTC
    image: str                      # the name checked, e.g. foodclf-torchserve:0.1.0
    image_size_bytes: int
    torch: str                      # torch's version inside the image
    overlay: str                    # the packaged deployment whose Deployment the check followed
    ready_s: float                  # container start to /ping answering 200
    load: ImageLoad
    memory: ImageMemory
    problems: list[str]             # the checks that failed; empty when the image passed
    machine: Machine                # the machine the check ran on


def image_path(path_or_dir: str | os.PathLike) -> Path:
    return file_in(path_or_dir, IMAGE_FILE)


def read_image_check(path_or_dir: str | os.PathLike) -> ImageCheck:
    """Read and validate an image.json (a file, or the run directory holding one)."""
    return read(image_path(path_or_dir), ImageCheck, SCHEMA_VERSION,
                "check the image again (scripts/check_image.py IMAGE --run RUN_DIR) to rewrite it")
