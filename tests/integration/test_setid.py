#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Set-user-ID and set-group-ID bits after a write, truncate, open with
O_TRUNC or fallocate by a user other than the owner, compared with a
plain directory on the same machine (the kernel's rule for a local
filesystem: set-user-ID always goes; set-group-ID goes when the file is
group-executable or the writer is not in the file's group; nothing goes
for a caller with CAP_FSETID).

usage: test_setid.py VEILFS

Needs root (allow_other, files owned by root, setpriv to another user);
skips otherwise.
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check_eq  # noqa: E402

MODES = [0o6666, 0o2666, 0o4666, 0o2766, 0o6777, 0o2676, 0o0666]
OPS = {
    "write": ["sh", "-c", 'printf x >> "$1"', "sh"],
    "truncate": ["truncate", "-s", "10"],
    "open O_TRUNC": ["sh", "-c", ': > "$1"', "sh"],
    "fallocate": ["fallocate", "-l", "8192"],
}
GROUP = 4242  # the files' group; "member" runs with it, "other" does not
# (who, setpriv arguments or None for root itself)
WHO = [
    ("other user", ["--reuid=65534", "--regid=65534", "--clear-groups"]),
    ("user in the file's group", ["--reuid=65534", "--regid=%d" % GROUP, "--clear-groups"]),
    ("root", None),
]


def outcome(base, who, setpriv, op, cmd, mode):
    f = os.path.join(base, "f-%s-%s-%o" % (who.replace(" ", "_"), op.replace(" ", "_"), mode))
    with open(f, "wb") as fh:
        fh.write(b"0123")
    os.chown(f, 0, GROUP)
    os.chmod(f, mode)
    full = cmd + [f]
    if setpriv:
        full = ["setpriv"] + setpriv + ["--"] + full
    r = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", timeout=60)
    return [r.returncode, oct(os.stat(f).st_mode & 0o7777)]


def main():
    veilfs, _ = vfs.setup()
    if os.geteuid() != 0:
        vfs.skip_all("needs root (allow_other, chown, setpriv)")
    for tool in ("setpriv", "fallocate", "truncate"):
        if not shutil.which(tool):
            vfs.skip_all("needs %s (util-linux, coreutils)" % tool)
    tap = vfs.Tap()
    ws = vfs.Workspace()
    os.chmod(ws.path, 0o755)
    vol = vfs.Volume(ws, veilfs)
    plain = ws.mkdir("plain")
    mnt = ws.mkdir("mnt")
    m = vol.mount(mnt, fg=True, opts=["allow_other"])
    try:
        os.chmod(mnt, 0o755)
        for who, setpriv in WHO:
            for op, cmd in OPS.items():
                def same(who=who, setpriv=setpriv, op=op, cmd=cmd):
                    want = [outcome(plain, who, setpriv, op, cmd, md) for md in MODES]
                    got = [outcome(mnt, who, setpriv, op, cmd, md) for md in MODES]
                    tap.diag("%s, %s: %s" % (who, op, " ".join(
                        "%o->%s" % (md, w[1][2:]) for md, w in zip(MODES, want))))
                    check_eq(got, want, "[exit status, mode] for modes %s" %
                             " ".join("%o" % md for md in MODES))
                    # The case the outside suite found: must not survive.
                    if who == "other user":
                        check_eq(got[1][1], "0o666", "mode 2666 after %s by a non-member" % op)
                tap.run("%s: %s keeps or clears set-id bits as a local filesystem" % (who, op),
                        same)

        def after_remount():
            nonlocal m
            m.unmount()
            m = vol.mount(mnt, fg=True, opts=["allow_other"])
            f = "f-other_user-fallocate-%o" % 0o2666
            check_eq(oct(os.stat(os.path.join(mnt, f)).st_mode & 0o7777), "0o666",
                     "mode of the fallocated 2666 file after a remount")
        tap.run("the cleared mode is on disk (remount)", after_remount)

        def log_clean():
            bad = vfs.unexpected_log_lines(m.log())
            vfs.check(not bad, "daemon log: %s" % bad)
        tap.run("daemon log has no warnings", log_clean)
    finally:
        m.unmount(quiet=True)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
