#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The reverse view is read-only: every write, create, unlink, rename,
mkdir, rmdir, symlink, link, chmod, utimes, truncate and setxattr fails
with EROFS (on real and virtual entries alike) and the plaintext is left
exactly as it was; .veilfs-reverse.conf is not shown (nor reachable by its
plaintext name), the view's veilfs.conf is the volume header; the mount is
listed read-only.

Usage: test_readonly.py VEILFS
"""
import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rlib import (REVERSE_CONF, Rev, Tap, Workspace, check, check_eq, cipher_path_of,  # noqa: E402
                  describe, mount_entry, read_file, setup, write_file)

veilfs = setup()
tap = Tap()
ws = Workspace()
rv = Rev(veilfs, ws)
plain = os.path.join(ws.path, "plain")
os.makedirs(os.path.join(plain, "dir"))
write_file(os.path.join(plain, "file"), b"some content\n" * 1000)
write_file(os.path.join(plain, "dir", "inner"), b"inner\n")
os.symlink("file", os.path.join(plain, "link"))
os.setxattr(os.path.join(plain, "file"), "user.x", b"1")
rv.init_reverse(plain)
before = describe(plain)
conf_bytes = read_file(os.path.join(plain, REVERSE_CONF))


def errno_of(fn, *a, **kw):
    try:
        fn(*a, **kw)
        return 0
    except OSError as e:
        return e.errno


def t_erofs():
    with rv.mount_reverse(plain) as m:
        f = m.p(cipher_path_of(plain, m.path, "file"))
        d = m.p(cipher_path_of(plain, m.path, "dir"))
        ln = m.p(cipher_path_of(plain, m.path, "link"))
        inner = os.path.join(d, os.path.basename(cipher_path_of(plain, m.path, "dir/inner")))
        diriv = m.p("veilfs.diriv")
        conf = m.p("veilfs.conf")
        ops = {
            "open O_WRONLY": lambda: os.close(os.open(f, os.O_WRONLY)),
            "open O_RDWR": lambda: os.close(os.open(f, os.O_RDWR)),
            "open O_TRUNC": lambda: os.close(os.open(f, os.O_RDONLY | os.O_TRUNC)),
            "open O_APPEND": lambda: os.close(os.open(f, os.O_WRONLY | os.O_APPEND)),
            "create": lambda: os.close(os.open(m.p("newfile"), os.O_WRONLY | os.O_CREAT, 0o644)),
            "create in subdir": lambda: os.close(os.open(os.path.join(d, "n"), os.O_WRONLY | os.O_CREAT)),
            "mknod fifo": lambda: os.mkfifo(m.p("fifo")),
            "mkdir": lambda: os.mkdir(m.p("newdir")),
            "rmdir": lambda: os.rmdir(d),
            "unlink file": lambda: os.unlink(f),
            "unlink inner": lambda: os.unlink(inner),
            "unlink symlink": lambda: os.unlink(ln),
            "unlink veilfs.diriv": lambda: os.unlink(diriv),
            "unlink veilfs.conf": lambda: os.unlink(conf),
            "rename": lambda: os.rename(f, m.p("renamed")),
            "rename into dir": lambda: os.rename(f, os.path.join(d, "x")),
            "symlink": lambda: os.symlink("t", m.p("newlink")),
            "link": lambda: os.link(f, m.p("newhard")),
            "chmod": lambda: os.chmod(f, 0o600),
            "chmod dir": lambda: os.chmod(d, 0o700),
            "chown": lambda: os.chown(f, 1, 1),
            "utime": lambda: os.utime(f, (1, 1)),
            "utime symlink": lambda: os.utime(ln, (1, 1), follow_symlinks=False),
            "truncate": lambda: os.truncate(f, 0),
            "truncate diriv": lambda: os.truncate(diriv, 0),
            "write diriv": lambda: os.close(os.open(diriv, os.O_WRONLY)),
            "write conf": lambda: os.close(os.open(conf, os.O_WRONLY)),
            "setxattr": lambda: os.setxattr(f, "user.new", b"v"),
            "removexattr": lambda: os.removexattr(f, os.listxattr(f)[0]),
            "setxattr dir": lambda: os.setxattr(d, "user.new", b"v"),
        }
        bad = []
        for what, fn in ops.items():
            e = errno_of(fn)
            if e != errno.EROFS:
                bad.append("%s: %s" % (what, errno.errorcode.get(e, e) if e else "succeeded"))
        check(not bad, "not EROFS: " + "; ".join(bad))


def t_untouched():
    check_eq(describe(plain), before, "plaintext tree after the write attempts")
    check(read_file(os.path.join(plain, REVERSE_CONF)) == conf_bytes, "reverse header changed")


def t_conf_hidden():
    with rv.mount_reverse(plain) as m:
        names = os.listdir(m.path)
        check(REVERSE_CONF not in names, "listed: %r" % names)
        check(not os.path.lexists(m.p(REVERSE_CONF)), "reachable by its plaintext name")
        check_eq(sorted(n for n in names if n.startswith("veilfs.")), ["veilfs.conf", "veilfs.diriv"],
                 "virtual entries of the root")
        check(read_file(m.p("veilfs.conf")) == conf_bytes, "veilfs.conf is not the reverse header")
        # Only one entry per plaintext entry (3) plus the 2 virtual files.
        check_eq(len(names), 5, "root entries: %r" % names)
        sub = m.p(cipher_path_of(plain, m.path, "dir"))
        check("veilfs.conf" not in os.listdir(sub), "veilfs.conf in a subdirectory")
        check(not os.path.lexists(os.path.join(sub, "veilfs.conf")), "veilfs.conf reachable in a subdir")


def t_mount_ro():
    with rv.mount_reverse(plain) as m:
        e = mount_entry(m.path)
        check(e is not None, "not in mountinfo")
        check("ro" in e[3].split(","), "mount options: %s" % e[3])


def t_config_outside():
    # Header kept outside the plaintext folder: nothing is added to it, and
    # the view still carries the header as veilfs.conf.
    p2 = os.path.join(ws.path, "plain2")
    os.mkdir(p2)
    write_file(os.path.join(p2, "f"), b"hello\n")
    conf = os.path.join(ws.path, "outside.conf")
    rv.init_reverse(p2, config=conf)
    check_eq(os.listdir(p2), ["f"], "plaintext folder after init --config")
    with rv.mount_reverse(p2, config=conf) as m:
        check(read_file(m.p("veilfs.conf")) == read_file(conf), "veilfs.conf is not the header")
        check_eq(len(os.listdir(m.path)), 3, "root entries")
        copy = os.path.join(ws.path, "copy2")
        os.mkdir(copy)
        for n in os.listdir(m.path):
            with open(os.path.join(copy, n), "wb") as f:
                f.write(read_file(m.p(n)))
    r = rv.cmd("cat", copy, "f")
    check_eq((r.returncode, r.stdout), (0, "hello\n"), "veilfs cat of the copy")


tap.run("writes, creates, unlinks, renames, metadata changes in the view fail with EROFS", t_erofs)
tap.run("the plaintext tree is unchanged after the attempts", t_untouched)
tap.run(".veilfs-reverse.conf is neither listed nor reachable; veilfs.conf is the header", t_conf_hidden)
tap.run("the view is mounted read-only", t_mount_ro)
tap.run("init/mount --reverse --config FILE: header outside the folder, view still complete",
        t_config_outside)
sys.exit(tap.done())
