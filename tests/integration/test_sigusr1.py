#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SIGUSR1 before the session loop runs (docs/veilfs.1, REQUEST COUNTERS).

The --extpass command sends SIGUSR1 to the veilfs process that runs it,
i.e. while the mount is still unlocking (before the KDF, the mount and,
without -f, the fork). The daemon must survive it, come up and work, and
log the counters once its loop starts. The command also records its own
signal mask and ignored set (grep reads its own, /proc/self: the shell's
own mask changes while it waits): a child must start with SIGUSR1 neither
blocked nor ignored.

usage: test_sigusr1.py VEILFS
"""

import os
import re
import shlex
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq  # noqa: E402

USR1_BIT = 1 << (signal.SIGUSR1 - 1)
HEADER = re.compile(r"^veilfs: veilfs-counters 1$", re.M)


def extpass(vol, status_file):
    return "kill -USR1 $PPID; grep -E '^Sig(Blk|Ign):' /proc/self/status > %s; echo %s" % (
        shlex.quote(status_file), shlex.quote(vol.passphrase))


def check_child(status_file):
    with open(status_file) as f:
        sets = dict(ln.split(":") for ln in f.read().split("\n") if ln)
    check_eq(sorted(sets), ["SigBlk", "SigIgn"], "status lines of the --extpass command")
    for k, v in sets.items():
        check(int(v.strip(), 16) & USR1_BIT == 0,
              "SIGUSR1 is in %s of the --extpass command (%s)" % (k, v.strip()))


def wait_log(m, pattern, count, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(pattern.findall(m.log())) < count:
        time.sleep(0.05)
    return len(pattern.findall(m.log()))


def use(m):
    vfs.write_file(m.p("f"), b"after SIGUSR1\n")
    vfs.check_bytes(vfs.read_file(m.p("f")), b"after SIGUSR1\n")
    os.unlink(m.p("f"))


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)

    def foreground():
        st = ws.unique("status")
        m = vol.mount(fg=True, extra=["--extpass", extpass(vol, st)])
        try:
            check(m.alive(), "daemon alive")
            use(m)
            check(wait_log(m, HEADER, 1) >= 1,
                  "the early SIGUSR1 was not logged once the loop ran: %s" % m.log()[-1500:])
            # poll() is not restarted by SA_RESTART: an idle loop still wakes.
            os.kill(m.proc.pid, signal.SIGUSR1)
            check(wait_log(m, HEADER, 2) >= 2,
                  "no counters logged for a SIGUSR1 to the idle loop: %s" % m.log()[-1500:])
            use(m)
            check_child(st)
        finally:
            m.unmount()
        check_eq(m.exit_status, 0, "exit status of mount -f")
    tap.run("mount -f: SIGUSR1 during unlock is logged, not fatal; an idle loop wakes for it", foreground)

    def background():
        st = ws.unique("status")
        m = vol.mount(fg=False, extra=["--extpass", extpass(vol, st)])
        try:
            check(m.alive(), "daemon alive")
            use(m)
            check_child(st)
        finally:
            m.unmount()
    tap.run("mount (background): SIGUSR1 during unlock, mount comes up and works", background)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
