#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reverse mode and file systems mounted inside PLAINDIR.

PLAINDIR is a tmpfs holding hard links a, a2; another tmpfs is mounted at
PLAINDIR/mnt holding hard links b, b2. Each tmpfs numbers its own inodes,
so a and b are different files with the same inode number: the case where
a file ID derived from the inode number alone made two files share one ID
(their blocks could be swapped) and one view inode number ('rsync -H' of
the view kept only one of them).

- By default the view stays on PLAINDIR's file system: mnt is an empty
  directory (its dir IV only), logged once; a, a2 stay hard links.
- With --cross-mounts, b and b2 are shown as single-link files: no two
  distinct files share a file ID or a view inode number, 'rsync -aH' of the
  view restores all four contents, and a second mount gives the same bytes.

Needs root (to mount tmpfs); skips otherwise.

Usage: test_mounts.py VEILFS
"""
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rlib import (HEADER_BYTES, Rev, Tap, Workspace, check, check_eq, read_file, run,  # noqa: E402
                  setup, skip_all, start_mount, walk)

veilfs = setup()
if os.geteuid() != 0:
    skip_all("needs root to mount tmpfs")
tap = Tap()
ws = Workspace()
rv = Rev(veilfs, ws)
plain = os.path.join(ws.path, "plain")
os.mkdir(plain)
ours = []  # tmpfs mounts made here, unmounted innermost first


def tmpfs(path):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "veilfs-test", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        skip_all("cannot mount tmpfs: " + r.stderr.decode(errors="replace").strip())
    ours.append(path)


def unmount_ours():
    while ours:
        subprocess.run(["umount", ours.pop()])


def pair(d, first, second, data):
    with open(os.path.join(d, first), "wb") as f:
        f.write(data)
    os.link(os.path.join(d, first), os.path.join(d, second))


CONTENT = {"a": b"file a on PLAINDIR's file system\n" * 300,
           "mnt/b": b"file b on the file system mounted at mnt\n" * 200}
CONTENT["a2"] = CONTENT["a"]
CONTENT["mnt/b2"] = CONTENT["mnt/b"]

try:
    tmpfs(plain)
    pair(plain, "a", "a2", CONTENT["a"])
    os.mkdir(os.path.join(plain, "mnt"))
    tmpfs(os.path.join(plain, "mnt"))
    pair(os.path.join(plain, "mnt"), "b", "b2", CONTENT["mnt/b"])
    rv.init_reverse(plain)

    def t_precondition():
        sa = os.stat(os.path.join(plain, "a"))
        sb = os.stat(os.path.join(plain, "mnt", "b"))
        check(sa.st_dev != sb.st_dev, "a and mnt/b are on one file system")
        check_eq((sb.st_ino, sb.st_nlink), (sa.st_ino, 2), "inode number and link count of mnt/b")

    def cpath(view, rel):
        r = run([veilfs, "path", "--passfile", rv.passfile, view, rel], check_rc=0)
        return os.path.join(view, r.stdout.strip())

    def t_default():
        with rv.mount_reverse(plain) as m:
            vmnt = cpath(m.path, "mnt")
            check_eq(sorted(os.listdir(vmnt)), ["veilfs.diriv"], "the mount point in the view")
            check_eq(sorted(os.listdir(vmnt)), ["veilfs.diriv"], "the mount point, listed again")
            va, va2 = cpath(m.path, "a"), cpath(m.path, "a2")
            sa, sa2 = os.lstat(va), os.lstat(va2)
            check_eq((sa.st_ino, sa.st_nlink), (sa2.st_ino, 2), "a2 in the view (a hard link of a)")
            check_eq(read_file(va)[:HEADER_BYTES], read_file(va2)[:HEADER_BYTES],
                     "file header of a and a2")
            log = m.log()
        lines = [ln for ln in log.splitlines() if "another file system" in ln]
        check_eq(len(lines), 1, "log lines about the mount point (log: %r)" % log[-1000:])
        check("--cross-mounts" in lines[0], "the log line names --cross-mounts: %r" % lines[0])

    def cross_view(m):
        out = {}
        for rel in ("a", "a2", "mnt/b", "mnt/b2"):
            p = cpath(m.path, rel)
            st = os.lstat(p)
            out[rel] = (st.st_ino, st.st_nlink, hashlib.sha256(read_file(p)).hexdigest(),
                        read_file(p)[:HEADER_BYTES])
        return out

    state = {}

    def t_cross():
        with start_mount(veilfs, ws, ["--reverse", "--cross-mounts", plain], ws.mkdir("view"),
                         rv.pw) as m:
            v = cross_view(m)
            backup = os.path.join(ws.path, "backup")
            r = run(["rsync", "-aH", m.path + "/", backup + "/"], timeout=120)
            check_eq(r.returncode, 0, "rsync -aH of the view (stderr %s)" % r.stderr[-500:])
            check("another file system" not in m.log(), "mount point logged with --cross-mounts")
        state["v1"] = v
        check_eq(v["a"][0], v["a2"][0], "view inode numbers of a and a2")
        check_eq(v["a"][3], v["a2"][3], "file headers of a and a2")
        check_eq((v["mnt/b"][1], v["mnt/b2"][1]), (1, 1), "link counts of mnt/b, mnt/b2")
        inos = [v[k][0] for k in ("a", "mnt/b", "mnt/b2")]
        check_eq(len(set(inos)), 3, "distinct view inode numbers of a, mnt/b, mnt/b2 %s" % inos)
        ids = [v[k][3] for k in ("a", "mnt/b", "mnt/b2")]
        check_eq(len(set(ids)), 3, "distinct file IDs of a, mnt/b, mnt/b2")
        for rel, want in sorted(CONTENT.items()):
            r = run([veilfs, "cat", "--passfile", rv.passfile, backup, rel])
            check_eq((r.returncode, r.stderr), (0, ""), "veilfs cat %s of the rsync copy" % rel)
            got = subprocess.run([veilfs, "cat", "--passfile", rv.passfile, backup, rel],
                                 stdout=subprocess.PIPE).stdout
            check_eq(got, want, "content of %s in the rsync -aH copy" % rel)

    def t_cross_again():
        if "v1" not in state:
            raise AssertionError("first --cross-mounts mount failed")
        with start_mount(veilfs, ws, ["--reverse", "--cross-mounts", plain], ws.mkdir("view"),
                         rv.pw) as m:
            v = cross_view(m)
            every = sorted(walk(m.path))
        check_eq({k: x[2] for k, x in v.items()}, {k: x[2] for k, x in state["v1"].items()},
                 "cipher bytes (sha256) of the second mount")
        check("veilfs.diriv" in [os.path.basename(p) for p in every], "self-check of the walk")

    tap.run("precondition: a and mnt/b are distinct files with one inode number", t_precondition)
    tap.run("default: a mount point is an empty directory, logged once; hard links kept",
            t_default)
    tap.run("--cross-mounts: distinct IDs and inode numbers; rsync -aH copy restores all",
            t_cross)
    tap.run("--cross-mounts: a second mount gives byte-identical ciphertext", t_cross_again)
finally:
    unmount_ours()
    ws.remove()
sys.exit(tap.done())
