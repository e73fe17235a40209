#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A network backing store: the cipher directory on sshfs.

An sshd started here (127.0.0.1, a throwaway host key and user key, the
internal SFTP server) serves a directory; sshfs mounts it; veilfs keeps its
cipher directory there. SFTP carries no inode numbers and no link counts:
sshfs numbers inodes itself, per path, and may renumber a path once the
kernel forgot it; every name of a hard link shows as a separate inode with
st_nlink 1 -- on sshfs itself, before veilfs.

So hard links cannot work on sshfs: after a write through one name, the
other (its size cached by sshfs) reads a cut-off cipher file. Checked:
- on sshfs with its default options 'veilfs mount' refuses, exit 7, with a
  message naming 'sshfs -o disable_hardlink', and leaves nothing behind;
- on sshfs -o disable_hardlink it mounts; link(2) fails with EPERM;
  renames, open-unlinked files and two opens of the same file work;
- a reduced differential run against a plain directory (no hard links).

Needs the Debian packages sshfs and openssh-server (skips without them).
Usage: test_sshfs.py VEILFS
"""
import errno
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import slib  # noqa: E402
from slib import Skip, Sshd, check, check_eq  # noqa: E402
from rlib import Rev, Tap, Workspace, read_file, setup, write_file  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import test_differential as td  # noqa: E402

veilfs = setup()
tap = Tap()
ws = Workspace(prefix="veilfs-sshfs-")
rv = Rev(veilfs, ws)
state = {}


def t_start():
    sshd = Sshd(ws)
    state["sshd"] = sshd
    sshd.start()
    store = ws.mkdir("store")
    mnt = ws.mkdir("sshfs")
    state.update(store=store, mnt=mnt)
    state["sshfs"] = sshd.sshfs(store, mnt)
    state["cipher0"] = os.path.join(mnt, "cipher")
    rv.init_forward(state["cipher0"])
    check(os.path.exists(os.path.join(store, "cipher", "veilfs.conf")), "header on the server")


def t_refused():
    if "cipher0" not in state:
        raise Skip("sshd/sshfs setup failed or skipped")
    before = sorted(os.listdir(os.path.join(state["store"], "cipher")))
    try:
        m = rv.mount_forward(state["cipher0"])
    except slib.rlib.MountError as e:
        check(e.rc == 7, "exit %s, want 7" % e.rc)
        check("sshfs -o disable_hardlink" in e.log, "message: %r" % e.log)
        check(len(e.log.strip().splitlines()) == 1, "one line: %r" % e.log)
    else:
        m.unmount(quiet=True)
        raise AssertionError("veilfs mounted a cipher dir on sshfs with hard links on")
    check_eq(sorted(os.listdir(os.path.join(state["store"], "cipher"))), before,
             "cipher dir after the refused mount")
    state["sshfs"].unmount()
    state["sshfs"] = state["sshd"].sshfs(state["store"], state["mnt"], ["disable_hardlink"])
    state["cipher"] = state["cipher0"]


def need():
    if "cipher" not in state:
        raise Skip("sshd/sshfs setup failed or skipped")
    return state["cipher"]


def t_posix_bits():
    cipher = need()
    with rv.mount_forward(cipher) as m:
        p = m.p
        write_file(p("a"), b"A" * 10000)
        os.rename(p("a"), p("b"))
        check_eq(read_file(p("b")), b"A" * 10000, "renamed")
        os.mkdir(p("d"))
        os.rename(p("b"), p("d", "c"))
        os.rename(p("d"), p("e"))
        check_eq(read_file(p("e", "c")), b"A" * 10000, "renamed into a renamed dir")
        # Two opens of the same file.
        f1 = os.open(p("e", "c"), os.O_RDWR)
        f2 = os.open(p("e", "c"), os.O_RDWR)
        try:
            os.pwrite(f1, b"one", 4094)
            check_eq(os.pread(f2, 8, 4092), b"AAoneAAA", "second fd sees the first's write")
            os.pwrite(f2, b"two", 9000)
            check_eq(os.pread(f1, 5, 8999), b"AtwoA", "first fd sees the second's write")
        finally:
            os.close(f1)
            os.close(f2)
        # Open-unlinked.
        fd = os.open(p("e", "c"), os.O_RDWR)
        try:
            os.unlink(p("e", "c"))
            check(not os.path.exists(p("e", "c")), "unlinked")
            os.pwrite(fd, b"after unlink", 20000)
            check_eq(os.pread(fd, 12, 20000), b"after unlink", "open-unlinked file readable")
            check_eq(os.fstat(fd).st_size, 20012, "open-unlinked size")
        finally:
            os.close(fd)
        check_eq(sorted(os.listdir(m.path)), ["e"], "listing after the unlinked file closed")
        # Hard links: refused as on a filesystem without them.
        write_file(p("h1"), b"linked\n")
        try:
            os.link(p("h1"), p("h2"))
        except OSError as e:
            check_eq(e.errno, errno.EPERM, "link(2) errno")
        else:
            raise AssertionError("link(2) succeeded on sshfs -o disable_hardlink")
        check(not os.path.lexists(p("h2")), "no second name left behind")
        check_eq(read_file(p("h1")), b"linked\n", "the file after the refused link")


class NoLinks(td.Runner):
    """The differential runner without link(2) (refused on this store)."""

    def op(self):
        while True:
            k = super().op()
            if k != "link":
                return k


def differential(seed, nops, extra=()):
    cipher = need()
    plain = ws.mkdir("plain")
    mnt = ws.mkdir("mnt")
    td.MOUNT_EXTRA = tuple(extra)
    m = rv.mount_forward(cipher, mnt) if not extra else \
        slib.rlib.start_mount(veilfs, ws, list(extra) + [cipher], mnt, rv.pw)
    try:
        os.chmod(plain, os.stat(mnt).st_mode & 0o7777)
        # Start from an empty tree.
        for x in os.listdir(mnt):
            slib.run(["rm", "-rf", "--", os.path.join(mnt, x)], check_rc=0)
        r = NoLinks(seed, plain, mnt)
        t0 = time.monotonic()
        try:
            for i in range(nops):
                r.step(i)
                if (i + 1) % 250 == 0:
                    r.full_compare("after op %d" % i)
            r.full_compare("at the end")
        except td.Divergence as e:
            raise AssertionError("%s\nlast operations:\n%s" % (e, "\n".join(r.history[-20:])))
        finally:
            r.close_all()
        tap.diag("seed %d: %d operations on sshfs in %.1f s" % (seed, nops,
                                                               time.monotonic() - t0))
    finally:
        m.unmount(quiet=True)


def t_diff():
    differential(31, 1500)


try:
    tap.run("sshd on 127.0.0.1 + sshfs; veilfs init on the sshfs mount", t_start)
    tap.run("sshfs with hard links on: mount refused, naming -o disable_hardlink", t_refused)
    tap.run("sshfs -o disable_hardlink: renames, two opens, open-unlinked; link EPERM",
            t_posix_bits)
    tap.run("differential run on sshfs", t_diff)
finally:
    for m in reversed(list(slib.rlib._mounts)):
        m.unmount(quiet=True)
    if "sshfs" in state:
        state["sshfs"].unmount()
    if "sshd" in state:
        state["sshd"].stop()
sys.exit(tap.done())
