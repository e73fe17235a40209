#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Directory listings with attributes (READDIRPLUS) and what follows them.

An entry of a READDIRPLUS reply is looked up by the backing name read from
the listing, without opening it: a file the daemon does not know yet gets
a node without an fd, opened by name when first used and accepted only if
the name still holds the same object. Checks, on a fresh mount each time:

- a directory of 1,500 entries (short names, long names stored with a
  sidecar, hard links, a subdirectory, a symlink), listed with a stat of
  every entry as 'ls -l' does, so that the kernel asks for attributes in
  several replies that each end with an entry that did not fit: every name
  exactly once, the inode number of the listing equal to lstat's, sizes,
  link counts and the symlink's target right;
- a listing alone leaves no file fd open in the daemon ('fds' counter);
- every listed file then reads back its own contents, also with a fd cache
  of 16 (opened by name, most of them evicted again at once);
- a file whose backing name another program renames over another listed
  file's (as a sync tool does) between the listing and the open: the open
  of the replaced name gives the new object's contents and inode number,
  never the old one's, and the old name is gone.

usage: test_listing.py VEILFS
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402

NFILES = 1500
LONG_EVERY = 10  # every 10th name is long enough for a sidecar


def fname(i):
    if i % LONG_EVERY == 0:
        return "long-%05d-" % i + "x" * 200
    return "f%05d" % i


def content(i):
    return (b"file %d;" % i) * (1 + i % 37)


def counters(veilfs, mnt):
    r = vfs.run([veilfs, "info", "--mounted", mnt])
    check_eq(r.returncode, 0, "exit code of info --mounted (stderr: %s)" % r.stderr)
    values, ops = {}, {}
    for ln in r.stdout.splitlines()[1:]:
        m = re.match(r"^op ([A-Z_0-9]+) (\d+) \d+$", ln)
        if m:
            ops[m.group(1)] = int(m.group(2))
        else:
            k, v = ln.split(" ")
            values[k] = int(v)
    return values, ops


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")
    state = {}

    m = vol.mount(mnt, fg=True)
    try:
        def create():
            d = m.p("d")
            os.mkdir(d)
            for i in range(NFILES):
                write_file(os.path.join(d, fname(i)), content(i))
            os.link(os.path.join(d, fname(1)), os.path.join(d, "hardlink"))
            os.mkdir(os.path.join(d, "sub"))
            write_file(os.path.join(d, "sub", "inner"), b"inner")
            os.symlink("f00002", os.path.join(d, "symlink"))
            state["ino"] = {n: os.lstat(os.path.join(d, n)).st_ino for n in os.listdir(d)}
            check_eq(len(state["ino"]), NFILES + 3, "entries after create")
        tap.run("create %d files (every %dth with a long name), a link, a dir, a symlink"
                % (NFILES, LONG_EVERY), create)
    finally:
        m.unmount(quiet=True)

    def expected(name):
        if name == "hardlink":
            return content(1)
        if name.startswith("long-"):
            return content(int(name[5:10]))
        return content(int(name[1:]))

    m = vol.mount(mnt, fg=True)
    try:
        def list_stat():
            d = m.p("d")
            _, before = counters(veilfs, m.path)
            seen = {}
            for e in os.scandir(d):
                check(e.name not in seen, "%s listed twice" % e.name)
                st = e.stat(follow_symlinks=False)
                seen[e.name] = True
                check_eq(st.st_ino, e.inode(), "lstat and listing inode of %s" % e.name[:20])
                check_eq(st.st_ino, state["ino"][e.name], "inode of %s" % e.name[:20])
                if e.name == "sub":
                    check(e.is_dir(follow_symlinks=False), "sub is a directory")
                elif e.name == "symlink":
                    check(e.is_symlink(), "symlink is a symlink")
                    check_eq(st.st_size, len("f00002"), "symlink size")
                else:
                    check(e.is_file(follow_symlinks=False), "%s is a file" % e.name[:20])
                    check_eq(st.st_size, len(expected(e.name)), "size of %s" % e.name[:20])
                    want = 2 if e.name in ("hardlink", fname(1)) else 1
                    check_eq(st.st_nlink, want, "link count of %s" % e.name[:20])
            check_eq(sorted(seen), sorted(state["ino"]), "names listed")
            check_eq(os.readlink(os.path.join(d, "symlink")), "f00002", "symlink target")
            _, after = counters(veilfs, m.path)
            plus = after.get("READDIRPLUS", 0) - before.get("READDIRPLUS", 0)
            # 1,503 entries of 150-360 bytes each do not fit one reply: the
            # last entry of each full reply did not fit and comes next time.
            check(plus >= 3, "READDIRPLUS replies for the listing: %d, want >= 3" % plus)
        tap.run("list with a stat of every entry: names once, inode numbers, sizes, links",
                list_stat)
    finally:
        m.unmount(quiet=True)

    m = vol.mount(mnt, fg=True)
    try:
        def list_only():
            names = os.listdir(m.p("d"))
            check_eq(len(names), NFILES + 3, "entries listed")
            values, ops = counters(veilfs, m.path)
            check(ops.get("READDIRPLUS", 0) >= 1, "the first reply carried attributes")
            # The entries of that reply were looked up without opening them.
            check(values["fds"] <= 5, "file fds open after a listing: %d" % values["fds"])
        tap.run("a listing opens no file", list_only)

        def read_all():
            d = m.p("d")
            for name in sorted(state["ino"]):
                p = os.path.join(d, name)
                if name in ("sub", "symlink"):
                    continue
                check_eq(read_file(p), expected(name), "content of %s" % name[:20])
                with open(p, "rb") as f:
                    check_eq(os.fstat(f.fileno()).st_ino, state["ino"][name],
                             "inode of the open %s" % name[:20])
            check_eq(read_file(os.path.join(d, "sub", "inner")), b"inner", "file in sub")
        tap.run("every listed file reads back its contents", read_all)
    finally:
        m.unmount(quiet=True)

    m = vol.mount(mnt, fg=True, extra=("--fd-cache", "16"))
    try:
        def small_cache():
            d = m.p("d")
            for e in os.scandir(d):
                e.stat(follow_symlinks=False)
            # Open in another order than listed: most fds were closed again.
            for name in sorted(state["ino"], reverse=True):
                if name in ("sub", "symlink"):
                    continue
                p = os.path.join(d, name)
                with open(p, "rb") as f:
                    check_eq(f.read(), expected(name), "content of %s" % name[:20])
                    check_eq(os.fstat(f.fileno()).st_ino, state["ino"][name],
                             "inode of %s" % name[:20])
            values, _ = counters(veilfs, m.path)
            check(values["fds"] <= 16, "fds %d beyond the cache of 16" % values["fds"])
        tap.run("listed files read back with --fd-cache 16", small_cache)

        def replaced():
            d = m.p("d")
            a, b = fname(3), fname(4)
            names = os.listdir(d)  # readdirplus: both known, neither opened
            check(a in names and b in names, "both listed")
            by_ino = {os.lstat(vol.c(n)).st_ino: n for n in os.listdir(vol.c())
                      if not n.startswith("veilfs.")}
            check(by_ino, "cipher root lists the directory")
            sub = by_ino[os.lstat(d).st_ino]
            cdir = vol.c(sub)
            back = {os.lstat(os.path.join(cdir, n)).st_ino: n for n in os.listdir(cdir)}
            ba, bb = back[state["ino"][a]], back[state["ino"][b]]
            # Another program renames a's backing file over b's.
            os.rename(os.path.join(cdir, ba), os.path.join(cdir, bb))
            check_eq(read_file(os.path.join(d, b)), content(3), "content under the replaced name")
            with open(os.path.join(d, b), "rb") as f:
                check_eq(os.fstat(f.fileno()).st_ino, state["ino"][a], "inode under the replaced name")
            check_eq(os.lstat(os.path.join(d, b)).st_ino, state["ino"][a], "lstat inode")
            time.sleep(1.2)  # the kernel's entry for the old name times out after 1 s
            check(not os.path.exists(os.path.join(d, a)), "the renamed name is gone")
            check(b in os.listdir(d) and a not in os.listdir(d), "listing after the rename")
        tap.run("a listed name replaced behind the daemon's back opens the new object",
                replaced)
    finally:
        m.unmount(quiet=True)
    log = m.log()
    tap.ok(not vfs.unexpected_log_lines(log), "daemon log has no warnings", log[-2000:])
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
