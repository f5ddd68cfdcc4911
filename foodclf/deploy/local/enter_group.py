"""Enter cgroups, then become a command: ``python -m foodclf.deploy.local.enter_group FOLDER... -- CMD ARGS...``

What ``cgexec`` does, without cgroup-tools: the process puts itself into each cgroup folder (its
``cgroup.procs``) and then execs the command, so the command and everything it forks are born
under the group's limits, with no window in which a child starts outside. A parent that is
multithreaded cannot do this between fork and exec (``preexec_fn`` is unsafe with threads): it
runs this instead (foodclf.deploy.local.cgroups.CpuGroup.launch_prefix).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: python -m foodclf.deploy.local.enter_group FOLDER... -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    split = argv.index("--")
    folders, command = argv[:split], argv[split + 1:]
    if not folders or not command:
        print("enter_group: give at least one cgroup folder and a command", file=sys.stderr)
        return 2
    for folder in folders:
        try:
            (Path(folder) / "cgroup.procs").write_text(str(os.getpid()))
        except OSError as e:
            print(f"enter_group: cannot enter cgroup {folder}: {e} (does it exist, and are you root?)",
                  file=sys.stderr)
            return 2
    os.execvp(command[0], command)  # does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
