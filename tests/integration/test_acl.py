#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""POSIX ACLs through the mount, compared with a plain directory:
setfacl -m u:USER:rw and what USER may then do, chmod updating the mask,
default ACLs inherited by new files and directories (under two umasks),
setfacl -b, and the ACLs after a remount. security.* and trusted.*
attributes are refused (EOPNOTSUPP) and never reach the cipher dir.

usage: test_acl.py VEILFS

Needs root (allow_other, setpriv) and setfacl/getfacl (package acl), and
ACL support in the filesystem holding the temp dir; skips otherwise.
"""

import errno
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq  # noqa: E402

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]

# Each step: (name, shell script run in the test directory as root). The
# output (getfacl -n, stat, what nobody could do) must match the plain dir.
STEPS = [
    ("setfacl -m u:nobody:rw on a 0600 root file; nobody writes it", r'''
umask 022
echo hi > f; chmod 600 f
setfacl -m u:nobody:rw f && echo set
getfacl -n f | grep -v '^# file'
setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c 'echo x >> f && echo nobody-appended; cat f'
'''),
    ("chmod 640 updates the mask", r'''
chmod 640 f; getfacl -n f | grep -v '^# file'; stat -c %a f
setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c 'echo y >> f && echo nobody-appended-again' 2>&1 | sed 's/.*: //'
'''),
    ("an ACL entry of --- denies what the mode allows", r'''
echo pub > g; chmod 644 g; setfacl -m u:nobody:--- g
setpriv --reuid=65534 --regid=65534 --clear-groups -- cat g 2>&1 | sed 's/.*: //'
'''),
    ("default ACL inherited by a new file and directory (umask 022)", r'''
umask 022
mkdir d; setfacl -d -m u:nobody:rwx d; setfacl -d -m g::rwx d; setfacl -d -m o::r-x d
touch d/new; mkdir d/sub; mknod d/fifo p
getfacl -n d/new d/sub d/fifo | grep -v '^# file'; stat -c '%a %n' d/new d/sub d/fifo
'''),
    ("default ACL with umask 077, and a directory without one", r'''
umask 077
touch d/new2; mkdir d/sub2; mkdir plain2; touch plain2/x
getfacl -n d/new2 d/sub2 | grep -v '^# file'; stat -c '%a %n' d/new2 d/sub2 plain2 plain2/x
'''),
    ("setfacl -b removes the ACL", r'''
setfacl -b f; getfacl -n f | grep -v '^# file'; stat -c %a f
'''),
]


def sh(cwd, script):
    r = subprocess.run(["sh", "-c", script], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    return r.stdout.decode(errors="replace")


def main():
    veilfs, _ = vfs.setup()
    if os.geteuid() != 0:
        vfs.skip_all("needs root (allow_other, setpriv)")
    for tool in ("setfacl", "getfacl", "setpriv"):
        if not shutil.which(tool):
            vfs.skip_all("needs %s (packages acl, util-linux)" % tool)
    tap = vfs.Tap()
    ws = vfs.Workspace()
    os.chmod(ws.path, 0o755)
    plain = ws.mkdir("plain")
    probe = os.path.join(plain, "probe")
    open(probe, "w").close()
    if subprocess.run(["setfacl", "-m", "u:65534:r", probe]).returncode != 0:
        vfs.skip_all("the temp dir's filesystem has no ACL support")
    os.unlink(probe)
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")
    m = vol.mount(mnt, fg=True, opts=["allow_other"])
    try:
        os.chmod(mnt, 0o755)
        for name, script in STEPS:
            def step(script=script):
                want = sh(plain, script)
                got = sh(mnt, script)
                tap.diag(want)
                check_eq(got, want, "output on the mount vs the plain dir")
            tap.run(name, step)

        def remount():
            nonlocal m
            want = sh(mnt, "getfacl -n -R . | grep -v '^# file'")
            m.unmount()
            m = vol.mount(mnt, fg=True, opts=["allow_other"])
            check_eq(sh(mnt, "getfacl -n -R . | grep -v '^# file'"), want, "ACLs after remount")
        tap.run("ACLs survive a remount", remount)

        def other_namespaces():
            f = m.p("ns")
            open(f, "w").close()
            for name in ("security.veilfs_test", "trusted.veilfs_test"):
                e = vfs.errno_of(os.setxattr, f, name, b"v")
                check_eq(e, errno.EOPNOTSUPP, "errno of setxattr %s" % name)
            for dp, dns, fns in os.walk(vol.dir):
                for n in dns + fns:
                    names = os.listxattr(os.path.join(dp, n), follow_symlinks=False)
                    check(not [x for x in names if "veilfs_test" in x],
                          "%s carries %s" % (n, names))
        tap.run("security.* and trusted.*: EOPNOTSUPP, nothing stored", other_namespaces)

        def log_clean():
            bad = vfs.unexpected_log_lines(m.log())
            check(not bad, "daemon log: %s" % bad)
        tap.run("daemon log has no warnings", log_clean)
    finally:
        m.unmount(quiet=True)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
