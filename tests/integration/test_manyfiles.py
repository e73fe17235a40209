#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Many files: more inodes than the daemon may keep fds open for.

Every inode the kernel caches is a vnode in the daemon, and file vnodes
keep an O_PATH fd only while they fit in the fd cache; the others are
reopened by name. With --fd-cache 64 and 3,000 files in 30 directories
(cached by the kernel all at once by 'ls -lR'), every file must still
stat, read, rename, link and unlink correctly, and the daemon must log no
'Too many open files'.

usage: test_manyfiles.py VEILFS
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402

NDIRS, PER_DIR = 30, 100


def content(d, i):
    return (b"%d/%d " % (d, i)) * (1 + (d * PER_DIR + i) % 50)


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")
    m = vol.mount(mnt, fg=True, extra=("--fd-cache", "64"))
    try:
        def create():
            for d in range(NDIRS):
                os.mkdir(m.p("d%d" % d))
                for i in range(PER_DIR):
                    write_file(m.p("d%d" % d, "f%d" % i), content(d, i))
        tap.run("create %d files in %d directories" % (NDIRS * PER_DIR, NDIRS), create)

        def stat_all():
            n = 0
            for d in range(NDIRS):
                for e in os.scandir(m.p("d%d" % d)):
                    st = e.stat(follow_symlinks=False)
                    i = int(e.name[1:])
                    check_eq(st.st_size, len(content(d, i)), "size of d%d/%s" % (d, e.name))
                    n += 1
            check_eq(n, NDIRS * PER_DIR, "entries listed")
        tap.run("list and stat every file", stat_all)

        def read_all():
            for d in range(NDIRS):
                for i in range(PER_DIR):
                    check_eq(read_file(m.p("d%d" % d, "f%d" % i)), content(d, i),
                             "content of d%d/f%d" % (d, i))
        tap.run("read every file back (fds reopened by name)", read_all)

        def churn():
            # Renames, hard links, unlinks of files whose fds were evicted.
            for d in range(NDIRS):
                a, b = m.p("d%d" % d, "f0"), m.p("d%d" % d, "renamed")
                os.rename(a, b)
                os.link(b, m.p("d%d" % d, "link"))
                os.unlink(m.p("d%d" % d, "f1"))
                with open(m.p("d%d" % d, "link"), "ab") as f:
                    f.write(b"+appended")
            for d in range(NDIRS):
                want = content(d, 0) + b"+appended"
                check_eq(read_file(m.p("d%d" % d, "renamed")), want, "renamed d%d" % d)
                check_eq(os.stat(m.p("d%d" % d, "renamed")).st_nlink, 2, "link count")
                check(not os.path.exists(m.p("d%d" % d, "f1")), "unlinked stays gone")
                check(not os.path.exists(m.p("d%d" % d, "f0")), "old name gone")
        tap.run("rename, link, unlink and append after eviction", churn)

        def open_unlinked():
            p = m.p("d0", "f50")
            fd = os.open(p, os.O_RDWR)
            try:
                os.unlink(p)
                # push the unlinked file's vnode out of any cache position
                for d in range(NDIRS):
                    os.stat(m.p("d%d" % d, "f60"))
                os.pwrite(fd, b"still here", 0)
                check_eq(os.pread(fd, 10, 0), b"still here", "read after unlink")
                check_eq(os.fstat(fd).st_nlink, 0, "link count of the unlinked file")
            finally:
                os.close(fd)
        tap.run("an open unlinked file keeps working", open_unlinked)
    finally:
        m.unmount(quiet=True)
    log = m.log()
    tap.ok("Too many open files" not in log and not vfs.unexpected_log_lines(log),
           "daemon log has no fd exhaustion or other warnings", log[-2000:])
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
