#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""'veilfs mount --ro': everything reads, every change fails with EROFS,
and the cipher dir is left exactly as it was.

usage: test_ro.py VEILFS
"""

import errno
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")
    data = os.urandom(3 * 4096 + 5)

    def populate():
        m = vol.mount(mnt, fg=True)
        try:
            write_file(m.p("f"), data)
            os.mkdir(m.p("d"))
            write_file(m.p("d", "inner"), b"inner")
            os.mkdir(m.p("empty"))
            os.symlink("f", m.p("l"))
            os.setxattr(m.p("f"), "user.k", b"v")
        finally:
            m.unmount()
    if not tap.run("populate", populate):
        sys.exit(tap.done())
    snap = vfs.snapshot(vol.dir)

    for fg in (True, False):
        kind = "-f" if fg else "background"
        m = None

        def do_mount():
            return vol.mount(mnt, fg=fg, ro=True)
        m = tap.run("mount --ro (%s)" % kind, do_mount)
        if not m:
            continue
        try:
            def reads():
                e = vfs.mount_entry(mnt)
                check("ro" in e[3].split(","), "mount options without ro: %s" % e[3])
                check_eq(read_file(m.p("f")), data, "content")
                check_eq(read_file(m.p("d", "inner")), b"inner", "inner")
                check_eq(os.readlink(m.p("l")), "f", "readlink")
                check_eq(os.getxattr(m.p("f"), "user.k"), b"v", "xattr")
                check_eq(sorted(os.listdir(mnt)), ["d", "empty", "f", "l"], "listing")
                check_eq(os.statvfs(mnt).f_flag & os.ST_RDONLY, os.ST_RDONLY, "statvfs ST_RDONLY")
            tap.run("--ro (%s): reads, readlink, xattrs, listing, statvfs" % kind, reads)

            j = m.p

            def opn(path, flags):
                os.close(os.open(path, flags, 0o644))
            ops = [
                ("open O_WRONLY", lambda: opn(j("f"), os.O_WRONLY)),
                ("open O_RDWR", lambda: opn(j("f"), os.O_RDWR)),
                ("open O_TRUNC", lambda: opn(j("f"), os.O_RDONLY | os.O_TRUNC)),
                ("create", lambda: opn(j("new"), os.O_WRONLY | os.O_CREAT)),
                ("mkdir", lambda: os.mkdir(j("newdir"))),
                ("rmdir", lambda: os.rmdir(j("empty"))),
                ("unlink", lambda: os.unlink(j("f"))),
                ("rename", lambda: os.rename(j("f"), j("g"))),
                ("link", lambda: os.link(j("f"), j("g"))),
                ("symlink", lambda: os.symlink("x", j("s"))),
                ("mkfifo", lambda: os.mkfifo(j("fifo"))),
                ("mknod", lambda: os.mknod(j("node"), 0o600 | stat.S_IFREG)),
                ("chmod", lambda: os.chmod(j("f"), 0o600)),
                ("chown", lambda: os.chown(j("f"), 1, 1)),
                ("utime", lambda: os.utime(j("f"), (1, 1))),
                ("truncate", lambda: os.truncate(j("f"), 0)),
                ("setxattr", lambda: os.setxattr(j("f"), "user.n", b"x")),
                ("removexattr", lambda: os.removexattr(j("f"), "user.k")),
            ]
            for desc, fn in ops:
                def one(fn=fn, desc=desc):
                    e = vfs.errno_of(fn)
                    check_eq(vfs.errno_name(e), vfs.errno_name(errno.EROFS), desc)
                tap.run("--ro (%s): %s fails with EROFS" % (kind, desc), one)
        finally:
            m.unmount(quiet=True)

        def unchanged():
            check_eq(vfs.snapshot(vol.dir), snap, "cipher dir after the read-only mount")
        tap.run("--ro (%s): cipher dir unchanged" % kind, unchanged)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
