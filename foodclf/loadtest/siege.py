"""siege (Debian's ``siege`` package) as a closed-loop load with no delay, the server's memory
sampled meanwhile: how the report measured its stack (``siege -c 10 -t 30S``), so that foodclf and
another server answering the same photo are measured by the same client in one run.

    result = run_siege("http://127.0.0.1:8080/predictions/food", users=10, seconds=30,
                       body=Path("photo.jpg"), replica=torchserve_replica(server, "food"))
    result["transaction_rate"], result["memory"].pss_mb_peak

GET when ``body`` is None, else POST of the file's bytes with its content type (TorchServe's
frontend rejects siege's default form encoding).

siege 4.0.7 (Debian 12's package) ends a timed run by cancelling its user threads, and now and then
one is cancelled inside malloc: siege then crashes (SIGSEGV) or hangs at exit, before its summary
(2 runs in 100 of ``-t 1S`` against a local server answering 503, measured here). Such a run is started again,
up to ``ATTEMPTS`` times in all, each retry logged; a run is taken as hung when it outlives its
time by ``HANG_GRACE_S``.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from foodclf.errors import FoodclfError
from foodclf.loadtest.memory import Replica
from foodclf.loadtest.sampler import ServerSampler

# siege reads its settings from a file: its defaults (a connection per request, as the report's
# runs had), the JSON summary, no fetching of what an answer links to, no log file.
SIEGE_RC = "json_output = true\nparser = false\nlogging = false\n"
ATTEMPTS = 3
HANG_GRACE_S = 30.0

log = logging.getLogger(__name__)


def run_siege(url: str, users: int, seconds: float, body: Path | None = None,
              content_type: str = "image/jpeg", replica: Replica | None = None,
              sample_interval_s: float = 0.5) -> dict:
    """siege's figures for ``users`` users with no delay during ``seconds`` (whole seconds), and the
    memory of ``replica`` (ServerUsage) sampled meanwhile; FoodclfError when siege is missing or fails."""
    if shutil.which("siege") is None:
        raise FoodclfError("siege is not installed: apt-get install siege (Debian), or leave out the "
                           "side-by-side measurement")
    with tempfile.TemporaryDirectory(prefix="siege-") as tmp:
        rc = Path(tmp) / "siegerc"
        rc.write_text(SIEGE_RC, encoding="utf-8")
        target = url if body is None else f"{url} POST <{Path(body).resolve()}"
        command = ["siege", f"--rc={rc}", "-b", "-c", str(users), "-t", f"{max(1, round(seconds))}S",
                   *([] if body is None else ["-H", f"Content-Type: {content_type}"]), target]
        # the sampler spans every attempt: a retry loads the same server the same way
        with ServerSampler(replica or Replica(), interval_s=sample_interval_s) as sampler:
            figures = _run_until_figures(command, {**os.environ, "HOME": tmp}, seconds + HANG_GRACE_S, url)
            sampler.sample()  # a reading at the end too: a short run may fall between two samples
    return {"transaction_rate": figures["transaction_rate"], "response_time_s": figures["response_time"],
            "successes": figures["successful_transactions"], "failures": figures["failed_transactions"],
            "memory": sampler.usage()}


def _run_until_figures(command: list[str], env: dict, timeout_s: float, url: str) -> dict:
    """siege's summary from the first of ``ATTEMPTS`` runs that ends with one; FoodclfError when none
    does, or at once when siege itself refused the run (a bad URL, a missing file: a retry fails alike)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            problem = f"siege hung {timeout_s:.0f} s after starting"
        else:
            figures = _parse(result.stdout)
            if figures is not None:
                return figures
            if result.returncode >= 0:
                raise FoodclfError(f"siege gave no figures for {url} (exit {result.returncode}): "
                                   f"{(result.stderr or result.stdout).strip()[-1000:]}")
            problem = f"siege was killed by signal {-result.returncode}"
        if attempt < ATTEMPTS:
            log.warning("%s against %s; starting it again (attempt %d of %d)", problem, url, attempt + 1, ATTEMPTS)
    raise FoodclfError(f"{problem} against {url}, after {ATTEMPTS} attempts; siege 4.0.7 crashes now and "
                       "then as its timer ends a run: run it again, or use a newer siege")


def _parse(stdout: str) -> dict | None:
    """siege's JSON summary (the last JSON object it prints)."""
    start = stdout.rfind("{")
    try:
        return json.loads(stdout[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        return None
