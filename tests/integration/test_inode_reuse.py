#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A backing inode number reused for an object of another type.

A listing gives a file the daemon did not know a vnode without an open
fd, so nothing pins its backing inode. When another program deletes that
file's cipher file, ext4 hands the inode number out again at once. Here
it goes to a new directory that takes the place of a volume directory:
the next lookup of the directory must not be answered with the old file's
vnode (the daemon used to, and everything made in the directory then
failed with ENOTDIR until a remount).

The cipher dir lives on a small ext4 image of its own (loop mount, root
only), whose single block group makes the reuse of the lowest free inode
number deterministic; the test is skipped where that cannot be set up.

usage: test_inode_reuse.py VEILFS
"""
import errno
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402


def loop_image(ws):
    """Mount a fresh 32 MiB ext4 image under the workspace; its mount point, or a skip reason."""
    if os.geteuid() != 0:
        return None, "needs root (loop mount)"
    for prog in ("mkfs.ext4", "mount", "umount"):
        if shutil.which(prog) is None:
            return None, "no " + prog
    img = ws.unique("ext4", ".img")
    with open(img, "wb") as f:
        f.truncate(32 << 20)
    r = subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-N", "64", img],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        return None, "mkfs.ext4 failed: " + r.stderr.decode(errors="replace").strip()
    mnt = ws.mkdir("ext4")
    r = subprocess.run(["mount", "-o", "loop", img, mnt],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        return None, "loop mount failed: " + r.stderr.decode(errors="replace").strip()
    return mnt, None


def main():
    veilfs, _ = vfs.setup()
    ws = vfs.Workspace()
    ext4, why = loop_image(ws)
    if ext4 is None:
        vfs.skip_all(why)
    tap = vfs.Tap()
    try:
        vol = vfs.Volume(ws, veilfs, name=os.path.relpath(os.path.join(ext4, "cipher"), ws.path))
        pw = vol.passfile()

        def cipher_of(name):
            r = vfs.run([veilfs, "path", "--passfile", pw, vol.dir, name])
            check_eq(r.returncode, 0, "veilfs path %s (stderr %r)" % (name, r.stderr))
            return vol.c(r.stdout.strip())

        def listing(m):
            # scandir + lstat: READDIRPLUS, then the attributes it gave
            return {e.name: e.stat(follow_symlinks=False) for e in os.scandir(m.p())}

        def dir_takes_file_inode():
            m = vol.mount(fg=True)
            try:
                write_file(m.p("h"), b"the file whose inode goes")
                os.mkdir(m.p("e"))
                write_file(m.p("e", "old"), b"in the old e")
            finally:
                m.unmount()
            ch, ce = cipher_of("h"), cipher_of("e")
            ino = os.lstat(ch).st_ino
            m = vol.mount(fg=True)
            try:
                # h is listed, never opened: its vnode holds no fd.
                check_eq(sorted(listing(m)), ["e", "h"], "names listed")
                # Another program replaces e by a new directory that gets h's inode.
                os.unlink(ch)
                tmp = vol.c("newdir")
                os.mkdir(tmp)
                if os.lstat(tmp).st_ino != ino:
                    raise vfs.Skip("ext4 did not reuse inode %d" % ino)
                shutil.copy2(os.path.join(ce, "veilfs.diriv"), os.path.join(tmp, "veilfs.diriv"))
                os.rename(ce, vol.c("old-e"))
                os.rename(tmp, ce)
                check_eq(os.lstat(ce).st_ino, ino, "the new e's inode number")
                time.sleep(1.5)  # past the entry and attribute timeouts (1 s)
                names = listing(m)
                check_eq(sorted(names), ["e"], "names listed after the swap")
                check(os.path.isdir(m.p("e")), "e is a directory")
                check_eq(os.listdir(m.p("e")), [], "the new e is empty")
                write_file(m.p("e", "newfile"), b"made in the new e")
                os.mkdir(m.p("e", "sub"))
                check_eq(sorted(os.listdir(m.p("e"))), ["newfile", "sub"], "the new e's names")
                check_eq(read_file(m.p("e", "newfile")), b"made in the new e", "newfile")
                check_eq(vfs.errno_of(os.lstat, m.p("h")), errno.ENOENT, "h is gone")
            finally:
                m.unmount()
            r = subprocess.run([veilfs, "cat", "--passfile", pw, vol.dir, "e/newfile"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            check_eq((r.returncode, r.stdout), (0, b"made in the new e"), "veilfs cat e/newfile")
        tap.run("a directory given a listed file's reused inode number works as a directory",
                dir_takes_file_inode)
    finally:
        subprocess.run(["umount", ext4])
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
