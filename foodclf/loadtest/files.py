"""A load test's files in its output folder: loadtest.json (the contract
foodclf.contracts.loadtest) and loadtest.csv (one row per second)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from foodclf.contracts import to_json, write
from foodclf.contracts.loadtest import LOADTEST_CSV, LOADTEST_FILE, LoadTest, read_loadtest
from foodclf.io import atomic_write_csv

CSV_FIELDS = ["t_s", "stage", "users", "successes", "failures", "response_time_s", "cpu_cores", "pss_mb"]


def write_loadtest(report: LoadTest, timeseries: Sequence[dict] | None, out_dir: str | os.PathLike) -> Path:
    """loadtest.json (validated before it is written) and, when given, loadtest.csv into ``out_dir``."""
    out_dir = Path(out_dir)
    if timeseries is not None:
        atomic_write_csv(out_dir / LOADTEST_CSV, CSV_FIELDS, timeseries)
    return write(out_dir / LOADTEST_FILE, report)


def load_loadtest(path_or_dir: str | os.PathLike) -> dict:
    """A validated loadtest.json as plain JSON data (dicts and lists), for code that indexes it by
    key. New code: ``foodclf.contracts.loadtest.read_loadtest``, which returns the dataclass."""
    return to_json(read_loadtest(path_or_dir))
