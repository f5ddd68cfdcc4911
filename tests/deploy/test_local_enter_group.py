"""foodclf.deploy.local.enter_group: a command born inside a cgroup, and clear errors."""
from __future__ import annotations

import subprocess
import sys

import pytest

from foodclf.deploy.local.cgroups import CpuGroup, cgroup_unavailable_reason
from foodclf.deploy.local.enter_group import main


@pytest.mark.skipif(bool(cgroup_unavailable_reason()), reason=cgroup_unavailable_reason() or "")
def test_the_command_and_its_children_are_born_in_the_group():
    with CpuGroup("foodclf-test-enter", cores=0.5) as group:
        # the command reports its own cgroup membership and its child's, from inside
        script = ("import subprocess,os; child = subprocess.run(['cat', '/proc/self/cgroup'], capture_output=True, "
                  "text=True).stdout; print(open('/proc/self/cgroup').read() + child)")
        out = subprocess.run([*group.launch_prefix(), sys.executable, "-c", script], capture_output=True, text=True,
                             check=True).stdout
    entries = [line.split(":", 2) for line in out.splitlines() if line.count(":") >= 2]
    # v1: the line of the cpu hierarchy; v2: the unified one ("0::")
    cpu = [path for _, controllers, path in entries
           if ("cpu" in controllers.split(",") if group.version == "v1" else controllers == "")]
    assert cpu == ["/foodclf-test-enter"] * 2, out


def test_usage_and_a_missing_group_say_what_to_do(tmp_path, capsys):
    assert main(["echo", "hi"]) == 2
    assert "usage" in capsys.readouterr().err
    assert main([str(tmp_path / "no-such-group"), "--", "true"]) == 2
    err = capsys.readouterr().err
    assert "no-such-group" in err and "cannot enter cgroup" in err
