"""foodclf.loadtest.siege with the real siege against a local server (skipped where siege is absent:
Debian's siege package)."""
import os
import shutil

import pytest

from foodclf.errors import FoodclfError
from foodclf.loadtest import siege
from foodclf.loadtest.memory import Replica
from foodclf.loadtest.siege import run_siege

pytestmark = pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed (apt-get install siege)")


def test_siege_posts_the_photo_and_the_replica_is_sampled(ok_server, photo):
    # 2 s, not 1: once in a full suite run siege's 1 s timer ended with no transaction counted
    result = run_siege(ok_server.url, users=2, seconds=2, body=photo, replica=Replica.tree([os.getpid()]))
    assert result["successes"] > 0 and result["failures"] == 0 and result["transaction_rate"] > 0, result
    assert ok_server.bodies >= result["successes"]  # every transaction was a POST with the photo
    assert result["memory"].pss_mb_peak > 0 and result["memory"].peak_processes[0].pid == os.getpid()


def test_failed_answers_are_counted(busy_server, photo):
    result = run_siege(busy_server.url, users=1, seconds=1, body=photo)
    assert result["failures"] > 0 or result["successes"] == 0


def siege_that_fails_first(folder, monkeypatch, failures: int, how: str):
    """A ``siege`` ahead of the real one on PATH: its first ``failures`` runs end as ``how`` (a shell
    line: a crash or a hang, as siege 4.0.7's own runs now and then end), the later ones are siege."""
    real = shutil.which("siege")
    shim = folder / "siege"
    shim.write_text(f"""#!/bin/sh
n=$(cat {folder}/runs 2>/dev/null || echo 0); echo $((n + 1)) > {folder}/runs
if [ "$n" -lt {failures} ]; then {how}; fi
exec {real} "$@"
""")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder / "runs"


def test_a_crashed_siege_run_is_started_again(ok_server, photo, tmp_path, monkeypatch, caplog):
    runs = siege_that_fails_first(tmp_path, monkeypatch, failures=1, how="kill -SEGV $$")
    result = run_siege(ok_server.url, users=1, seconds=1, body=photo)
    assert result["successes"] > 0, result
    assert runs.read_text().strip() == "2" and "attempt 2 of 3" in caplog.text


def test_a_hung_siege_run_is_stopped_and_started_again(ok_server, photo, tmp_path, monkeypatch):
    monkeypatch.setattr(siege, "HANG_GRACE_S", 2.0)
    runs = siege_that_fails_first(tmp_path, monkeypatch, failures=1, how="exec sleep 60")
    assert run_siege(ok_server.url, users=1, seconds=1, body=photo)["successes"] > 0
    assert runs.read_text().strip() == "2"


def test_siege_crashing_every_time_is_a_clear_error(ok_server, photo, tmp_path, monkeypatch):
    runs = siege_that_fails_first(tmp_path, monkeypatch, failures=9, how="kill -SEGV $$")
    with pytest.raises(FoodclfError, match="after 3 attempt"):
        run_siege(ok_server.url, users=1, seconds=1, body=photo)
    assert runs.read_text().strip() == "3"
