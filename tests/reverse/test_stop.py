#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A daemon stopped while files and directories are open on its mount.

SIGTERM ends the session with the mount detached: the kernel never sends
RELEASE or RELEASEDIR for the handles still open, so the daemon itself must
close and free them when the session ends. For the reverse view and, for
comparison, the forward mount: open a file (read from), a second file and a
directory (listed), send the daemon SIGTERM, and check that it exits 0 with
nothing in its log from the sanitizers. The leak itself is seen by
LeakSanitizer, so only in the ASan build (meson test -C build-asan); the
plain build checks the clean exit.

Usage: test_stop.py VEILFS
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rlib import (Rev, Tap, Workspace, check, check_eq, cipher_path_of, is_fuse_mounted,  # noqa: E402
                  setup, write_file)

SANITIZER_WORDS = ("LeakSanitizer", "AddressSanitizer", "runtime error")

veilfs = setup()
tap = Tap()
ws = Workspace()
rv = Rev(veilfs, ws)


def stop_with_open_handles(m, files, dirs):
    """Open @files (reading a little of each) and @dirs (listing each) below
    mount @m, SIGTERM its daemon, wait for it; close the fds after."""
    fds = []
    try:
        for f in files:
            fd = os.open(m.p(f), os.O_RDONLY)
            fds.append(fd)
            check(len(os.pread(fd, 100, 0)) > 0, "%s reads" % f)
        for d in dirs:
            fd = os.open(m.p(d), os.O_RDONLY | os.O_DIRECTORY)
            fds.append(fd)
            check(len(os.listdir(fd)) > 0, "%s lists" % d)
        m.proc.send_signal(signal.SIGTERM)
        rc = m.proc.wait(timeout=60)
    finally:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
    log = m.log()
    check(not is_fuse_mounted(m.path), "the daemon detached its mount")
    m.unmount()
    bad = [w for w in SANITIZER_WORDS if w in log]
    check(not bad, "sanitizer report in the daemon's log: %s" % log[-4000:])
    check_eq(rc, 0, "daemon exit status after SIGTERM (log: %s)" % log[-2000:])


def t_reverse():
    plain = os.path.join(ws.path, "plain")
    os.makedirs(os.path.join(plain, "dir"))
    write_file(os.path.join(plain, "file"), b"reverse content\n" * 500)
    write_file(os.path.join(plain, "dir", "inner"), b"inner\n")
    rv.init_reverse(plain)
    m = rv.mount_reverse(plain)
    files = [cipher_path_of(plain, m.path, "file"), cipher_path_of(plain, m.path, "dir/inner")]
    stop_with_open_handles(m, files, [cipher_path_of(plain, m.path, "dir"), "."])


def t_forward():
    cipher = ws.mkdir("cipher")
    rv.init_forward(cipher)
    with rv.mount_forward(cipher) as m:
        os.mkdir(m.p("dir"))
        write_file(m.p("file"), b"forward content\n" * 500)
        write_file(m.p("dir", "inner"), b"inner\n")
    m = rv.mount_forward(cipher)
    stop_with_open_handles(m, ["file", "dir/inner"], ["dir", "."])


tap.run("reverse: SIGTERM with a file and a directory open, clean exit", t_reverse)
tap.run("forward: SIGTERM with a file and a directory open, clean exit", t_forward)
sys.exit(tap.done())
