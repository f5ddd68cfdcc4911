"""The export tests' helpers: copies of the trained run, eager answers, and posing as the other
kind of CPU (the flags foodclf.machine reads)."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch

from foodclf import machine
from foodclf.training.runs import REQUIRED_FILES

CALIBRATION_IMAGES = 64
# /proc/cpuinfo flags of this project's two kinds of machine (the ones foodclf.machine looks at).
AVX2_ONLY = {"sse4_2", "avx", "avx2", "fma"}
XEON_AMX = AVX2_ONLY | {"avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}


# Why a bf16 check is skipped on this CPU: no tolerance is taken from a CPU that would emulate bf16.
NO_BF16 = (f"openvino-bf16 needs bf16 instructions ({' or '.join(machine.BF16_FEATURES)}); this CPU "
           f"({machine.cpu_model()}) has: {' '.join(machine.cpu_features()) or 'none of them'}")


def copy_run(run, dest: Path) -> Path:
    """The run's required files only, so the shared fixture's folder gets no variants/."""
    dest.mkdir(parents=True)
    for name in REQUIRED_FILES:
        shutil.copy(run.run_dir / name, dest / name)
    return dest


def pose_as(monkeypatch, flags: set[str], model: str) -> None:
    """Make foodclf.machine report another CPU (its flags and name) for the rest of the test."""
    monkeypatch.setattr(machine, "cpu_flags", lambda: set(flags))
    monkeypatch.setattr(machine, "cpu_model", lambda: model)


def eager_probabilities(run, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.softmax(run.load_model()(images), dim=1)


def predictor_warnings(caplog) -> list[str]:
    """The warnings foodclf.models.predictors logged during the test."""
    return [r.getMessage() for r in caplog.records
            if r.name == "foodclf.models.predictors" and r.levelno >= logging.WARNING]
