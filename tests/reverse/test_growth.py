#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Plaintext changing while the reverse view is read.

Behaviour under test (the lead's design, src/lib/reverse.h and
rop_open in src/fs/fs_reverse.c): the plaintext size is fixed when the view
file is opened. A reader of that open file gets exactly the cipher file of
the first S bytes, S = plaintext size at open, even if the plaintext grows
meanwhile; every block of it, the last one sealed as last, is what the
forward decoder accepts. So a copy made by such a reader, placed into a copy
of the view, decrypts ('veilfs cat') to the first S bytes of the final
plaintext, with no authentication error. If the plaintext shrinks below S
while the file is open, reads of the missing part fail with EIO (never
bytes of a different file), and the daemon logs it.

Cases:
 1-4  append during a read that pauses half-way (size not a multiple of the
      block / an exact multiple; pause shorter / longer than the 1 s
      attribute timeout, so the kernel may or may not learn the new size);
 5    the plaintext grows between a stat of the view file and its open (a
      backup tool lists first, copies later): the copy must still decrypt;
 6    rsync of the view while a writer keeps appending to a file;
 7    shrinking while open gives EIO.

Usage: test_growth.py VEILFS
"""
import errno
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rlib import (BLOCK, Rev, Tap, Workspace, check, check_eq, cipher_path_of, cipher_size,  # noqa: E402
                  read_file, run, setup, write_file)

veilfs = setup()
tap = Tap()
ws = Workspace()
rv = Rev(veilfs, ws)
plain = os.path.join(ws.path, "plain")
os.mkdir(plain)
write_file(os.path.join(plain, "other"), b"unrelated\n")
rv.init_reverse(plain)


def append(path, n):
    with open(path, "ab") as f:
        f.write(os.urandom(n))


def decrypt_copy(view, name, cipher_bytes):
    """Copy the view, replace @name's cipher file by @cipher_bytes, and
    return 'veilfs cat' of it (CompletedProcess, stdout as bytes)."""
    copy = ws.unique("copy")
    run(["rsync", "-a", view.path + "/", copy + "/"], check_rc=0)
    rel = cipher_path_of(plain, view.path, name)
    with open(os.path.join(copy, rel), "wb") as f:
        f.write(cipher_bytes)
    p = subprocess.run([veilfs, "cat", "--passfile", rv.passfile, copy, name],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return p


def paused_read(name, size0, grow, pause):
    path = os.path.join(plain, name)
    write_file(path, os.urandom(size0))
    with rv.mount_reverse(plain) as view:
        vp = view.p(cipher_path_of(plain, view.path, name))
        want_len = cipher_size(size0)
        got = bytearray()
        with open(vp, "rb", buffering=0) as f:
            while len(got) < want_len // 2:
                got += f.read(4000)
            append(path, grow)                 # the writer
            time.sleep(pause)
            while True:
                b = f.read(65536)
                if not b:
                    break
                got += b
        check_eq(len(got), want_len, "bytes read from the open view file (size at open %d)" % size0)
        p = decrypt_copy(view, name, bytes(got))
    final = read_file(path)
    check_eq(p.returncode, 0, "veilfs cat of the copy: exit (stderr %s)" % p.stderr.decode(errors="replace"))
    check(p.stdout == final[:size0], "decrypted copy is not the first %d bytes of the final plaintext" % size0)
    check(len(final) == size0 + grow, "self-check: the plaintext grew")


def t_stat_then_grow():
    name = "statgrow"
    path = os.path.join(plain, name)
    size0 = 5 * BLOCK + 1234
    write_file(path, os.urandom(size0))
    with rv.mount_reverse(plain) as view:
        vp = view.p(cipher_path_of(plain, view.path, name))
        st0 = os.lstat(vp).st_size             # a backup tool's file list
        append(path, 3 * BLOCK + 7)
        with open(vp, "rb") as f:              # ... and its copy, right after
            got = f.read()
            fst = os.fstat(f.fileno()).st_size
        p = decrypt_copy(view, name, got)
    final = read_file(path)
    check(len(got) in (cipher_size(size0), cipher_size(len(final))),
          "read %d bytes: neither the cipher size of %d (%d) nor of %d (%d); lstat said %d, "
          "fstat %d" % (len(got), size0, cipher_size(size0), len(final), cipher_size(len(final)),
                        st0, fst))
    check_eq(p.returncode, 0, "veilfs cat of the copy: exit (stderr %s)"
             % p.stderr.decode(errors="replace").strip())
    check(final.startswith(p.stdout) and len(p.stdout) in (size0, len(final)),
          "decrypted copy (%d bytes) is not a prefix of the final plaintext" % len(p.stdout))


def t_rsync_while_appending():
    name = "log"
    path = os.path.join(plain, name)
    write_file(path, os.urandom(2 * 1024 * 1024 + 5))
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            append(path, 1000)
            time.sleep(0.001)

    th = threading.Thread(target=writer)
    copies = []
    with rv.mount_reverse(plain) as view:
        th.start()
        try:
            for i in range(5):
                dst = ws.unique("rs")
                # --inplace is not needed: the question is what rsync read.
                run(["rsync", "-a", view.path + "/", dst + "/"], check_rc=0)
                copies.append(dst)
        finally:
            stop.set()
            th.join()
    final = read_file(path)
    for dst in copies:
        p = subprocess.run([veilfs, "cat", "--passfile", rv.passfile, dst, name],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        check_eq(p.returncode, 0, "veilfs cat of %s from an rsync copy: exit (stderr %s)" % (
            name, p.stderr.decode(errors="replace").strip()))
        check(final.startswith(p.stdout), "copy is not a prefix of the final plaintext")


def t_shrink():
    name = "shrinks"
    path = os.path.join(plain, name)
    write_file(path, os.urandom(4 * 1024 * 1024))
    with rv.mount_reverse(plain) as view:
        vp = view.p(cipher_path_of(plain, view.path, name))
        fd = os.open(vp, os.O_RDONLY)
        try:
            head = os.pread(fd, 4096, 0)
            check_eq(len(head), 4096, "first read")
            os.truncate(path, 100)
            try:
                data = os.pread(fd, 8192, 3 * 1024 * 1024)
                raise AssertionError("read past the new end returned %d bytes, not EIO" % len(data))
            except OSError as e:
                check_eq(e.errno, errno.EIO, "errno of a read past the shrunk end")
        finally:
            os.close(fd)
        log = view.log()
    check("shr" in log.lower(), "the daemon did not log the shrink: %r" % log[-500:])


tap.run("append during a paused read (size %d, no pause): copy decrypts to the size at open"
        % (5 * BLOCK + 1234), paused_read, "g1", 5 * BLOCK + 1234, 100000, 0)
tap.run("append during a paused read (exact multiple of the block, 1 byte appended)",
        paused_read, "g2", 64 * BLOCK, 1, 0)
tap.run("append during a read paused past the attribute timeout (1.3 s)",
        paused_read, "g3", 300 * BLOCK + 17, 50000, 1.3)
tap.run("append during a read paused past the attribute timeout, exact multiple",
        paused_read, "g4", 300 * BLOCK, BLOCK, 1.3)
tap.run("plaintext grows between stat and open of the view file: the copy still decrypts",
        t_stat_then_grow)
tap.run("rsync of the view while a writer appends: every copy decrypts to a prefix",
        t_rsync_while_appending)
tap.run("plaintext shrinks while open: reads past the new end fail with EIO, daemon logs it",
        t_shrink)
sys.exit(tap.done())
