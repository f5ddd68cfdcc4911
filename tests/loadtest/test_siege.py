"""foodclf.loadtest.siege with the real siege against a local server (skipped where siege is absent:
Debian's siege package)."""
import os
import shutil

import pytest

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
