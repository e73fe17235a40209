#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tampered cipher files and junk in the cipher dir.

usage: test_tamper.py VEILFS

Files are written through a mount, the mount is removed (nothing cached),
cipher files are modified on disk, and a 'mount -f' with captured stderr
must then:
* return EIO for exactly the damaged blocks (flipped ciphertext byte,
  flipped file-header byte, zeroed block, swapped blocks, cut at a block
  boundary, cut inside a block) and the right data for every other block;
* log one line naming the plaintext path and the block index, the
  path as it is now after renames of the file and of its parent
  directories, and after a hard link took the place of its old name;
* on a large file read cold (the kernel's 1 MiB readahead requests, whose
  blocks are decrypted on two threads), return the exact plaintext up to
  a damaged block in the middle and EIO from there, never a byte of it,
  and fail a 1 MiB O_DIRECT read over it as a whole;
* refuse a partial write into a damaged block (no silent re-encryption of
  garbage) but allow overwriting the whole block;
* keep serving other files;
* list a directory containing foreign files (sync-conflict copies, junk,
  undecryptable base64 names, stray long-name files, a planted symlink)
  without failing, showing only the real entries.
"""

import errno
import mmap
import os
import random
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import BLOCK, CBLOCK, HEADER_BYTES, check, check_eq, read_file, write_file  # noqa: E402

# distinct sizes, so each cipher file can be found by its size
FILES = {
    "dir/victim": 3 * BLOCK + 100,
    "other": 5000,
    "cut": 3 * BLOCK + 500,
    "cutmid": 2 * BLOCK + 50,
    "hdr": 2 * BLOCK + 7,
    "zeroed": 3 * BLOCK + 11,
    "swapped": 3 * BLOCK + 13,
    "lasttag": 2 * BLOCK + 33,
    "rmw": 3 * BLOCK + 17,
    "big": (3 << 20) + 777,     # block 400 damaged: inside the second 1 MiB read
    "bigok": (2 << 20) + 4097,  # intact, read cold in odd-sized pieces
    "moved": 4 * BLOCK + 21,
}


def data_of(name):
    return random.Random(name).randbytes(FILES[name])


def pread_errno(path, n, off):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, n, off), 0
    except OSError as e:
        return None, e.errno
    finally:
        os.close(fd)


def read_errno(path):
    try:
        return read_file(path), 0
    except OSError as e:
        return None, e.errno


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")

    def populate():
        m = vol.mount(mnt, fg=True)
        try:
            os.mkdir(m.p("dir"))
            for n in FILES:
                write_file(m.p(n), data_of(n))
        finally:
            m.unmount()
    if not tap.run("populate", populate):
        sys.exit(tap.done())

    by_size = {}
    for dp, dns, fns in os.walk(vol.dir):
        for f in fns:
            if not f.startswith("veilfs."):
                by_size[os.path.getsize(os.path.join(dp, f))] = os.path.join(dp, f)
    cpath = {n: by_size[vfs.cipher_size(s)] for n, s in FILES.items()}

    def patch(name, fn):
        p = cpath[name]
        os.chmod(p, 0o600)
        b = bytearray(read_file(p))
        b = fn(b)
        write_file(p, bytes(b))

    def flip(off):
        def f(b):
            b[off] ^= 0x01
            return b
        return f
    patch("dir/victim", flip(HEADER_BYTES + 1 * CBLOCK + 24 + 10))
    patch("hdr", flip(12))
    patch("zeroed", lambda b: b[:HEADER_BYTES + CBLOCK] + bytearray(CBLOCK) + b[HEADER_BYTES + 2 * CBLOCK:])
    patch("swapped", lambda b: (b[:HEADER_BYTES] + b[HEADER_BYTES + CBLOCK:HEADER_BYTES + 2 * CBLOCK]
                                + b[HEADER_BYTES:HEADER_BYTES + CBLOCK] + b[HEADER_BYTES + 2 * CBLOCK:]))
    patch("cut", lambda b: b[:HEADER_BYTES + 2 * CBLOCK])
    patch("cutmid", lambda b: b[:-10])
    patch("lasttag", flip(-1))
    patch("rmw", flip(HEADER_BYTES + 1 * CBLOCK + 24 + 100))
    patch("big", flip(HEADER_BYTES + 400 * CBLOCK + 24 + 1000))
    for blk in (1, 2, 3):
        patch("moved", flip(HEADER_BYTES + blk * CBLOCK + 24 + 7))

    m = vol.mount(mnt, fg=True)
    try:
        j = m.p

        def expect_blocks(name, bad_blocks, size=None):
            want = data_of(name)
            size = len(want) if size is None else size
            check_eq(os.stat(j(name)).st_size, size, "size of %s (getattr must not read content)" % name)
            nblocks = (size + BLOCK - 1) // BLOCK
            for i in range(nblocks):
                got, e = pread_errno(j(name), BLOCK, i * BLOCK)
                if i in bad_blocks:
                    check_eq(vfs.errno_name(e), "EIO", "%s block %d" % (name, i))
                else:
                    check_eq(vfs.errno_name(e), "OK", "%s block %d" % (name, i))
                    vfs.check_bytes(got, want[i * BLOCK:(i + 1) * BLOCK], "%s block %d" % (name, i))
            _, e = read_errno(j(name))
            check_eq(vfs.errno_name(e), "EIO", "reading all of %s" % name)

        tap.run("flipped ciphertext byte: EIO for block 1 only",
                expect_blocks, "dir/victim", {1})

        def logged():
            lines = [x for x in m.log().splitlines() if "victim" in x]
            check(lines, "no log line names dir/victim; log:\n" + m.log()[-2000:])
            good = [x for x in lines if "dir/victim" in x and re.search(r"block\D{0,12}\b1\b", x)]
            check(good, "no log line with the path dir/victim and block index 1: %s" % lines)
            tap.diag("log: " + good[0])
        tap.run("the failure is logged with the plaintext path and the block index", logged)

        def other_ok():
            check_eq(read_file(j("other")), data_of("other"), "other file")
            write_file(j("new-after-eio"), b"still serving")
            check_eq(read_file(j("new-after-eio")), b"still serving", "new file")
            check(sorted(os.listdir(mnt)) == sorted(["dir", "new-after-eio"] + [n for n in FILES if "/" not in n]),
                  "listing: %s" % os.listdir(mnt))
        tap.run("the mount keeps serving other files after EIO", other_ok)

        def big_cold():
            want = data_of("bigok")
            got = bytearray()
            fd = os.open(j("bigok"), os.O_RDONLY)
            try:
                while True:
                    b = os.read(fd, 1000003)
                    if not b:
                        break
                    got += b
            finally:
                os.close(fd)
            check_eq(len(got), len(want), "length of a cold read of bigok")
            vfs.check_bytes(bytes(got), want, "cold read of bigok in 1000003-byte pieces")
            for off, n in ((1, 3 << 20), ((1 << 20) - 1, (1 << 20) + 2), (12345, 777777)):
                b, e = pread_errno(j("bigok"), n, off)
                check_eq(vfs.errno_name(e), "OK", "pread of %d at %d" % (n, off))
                vfs.check_bytes(b, want[off:off + n], "pread of %d at %d" % (n, off))
        tap.run("large cold reads of an intact file, odd offsets and sizes: byte-exact", big_cold)

        def big_damaged():
            want = data_of("big")
            bad = 400 * BLOCK
            got = bytearray()
            err = 0
            fd = os.open(j("big"), os.O_RDONLY)
            try:
                while True:
                    try:
                        b = os.read(fd, 1 << 20)
                    except OSError as ex:
                        err = ex.errno
                        break
                    if not b:
                        break
                    got += b
            finally:
                os.close(fd)
            check_eq(vfs.errno_name(err), "EIO", "cold sequential read of big")
            check(len(got) <= bad, "read returned %d bytes, past the damaged block at %d" % (len(got), bad))
            vfs.check_bytes(bytes(got), want[:len(got)], "what the read returned before EIO")
            _, e = pread_errno(j("big"), 1 << 20, bad)
            check_eq(vfs.errno_name(e), "EIO", "1 MiB pread at the damaged block")
            b, e = pread_errno(j("big"), 1 << 20, bad - 5)
            if e == 0:  # a short read of the good bytes before it, or EIO
                check(len(b) <= 5, "1 MiB pread 5 bytes before the damage returned %d bytes" % len(b))
                vfs.check_bytes(b, want[bad - 5:bad - 5 + len(b)], "bytes before the damage")
            else:
                check_eq(vfs.errno_name(e), "EIO", "1 MiB pread 5 bytes before the damage")
            b, e = pread_errno(j("big"), 1 << 20, 401 * BLOCK + 3)
            check_eq(vfs.errno_name(e), "OK", "1 MiB pread after the damaged block")
            vfs.check_bytes(b, want[401 * BLOCK + 3:401 * BLOCK + 3 + (1 << 20)], "after the damage")
            # O_DIRECT: one 1 MiB request over blocks 256-511 fails as a whole
            fd = os.open(j("big"), os.O_RDONLY | os.O_DIRECT)
            buf = mmap.mmap(-1, 1 << 20)
            try:
                e = vfs.errno_of(os.preadv, fd, [buf], 256 * BLOCK)
                check_eq(vfs.errno_name(e), "EIO", "O_DIRECT 1 MiB read over the damaged block")
                n = os.preadv(fd, [buf], 0)
                check_eq(n, 1 << 20, "O_DIRECT 1 MiB read of blocks 0-255")
                vfs.check_bytes(bytes(buf), want[:1 << 20], "O_DIRECT read of blocks 0-255")
            finally:
                buf.close()
                os.close(fd)
        tap.run("large read over a damaged block in the middle: plaintext up to it, then EIO", big_damaged)

        tap.run("flipped file-header byte: every block EIO", expect_blocks, "hdr", {0, 1, 2})
        tap.run("all-zero block: EIO (no silent hole)", expect_blocks, "zeroed", {1})
        tap.run("swapped blocks 0 and 1: both EIO", expect_blocks, "swapped", {0, 1})
        tap.run("cut at a block boundary: size shrinks, the new end block is EIO",
                expect_blocks, "cut", {1}, 2 * BLOCK)
        tap.run("flipped tag of the last block: EIO", expect_blocks, "lasttag", {2})

        def cutmid():
            st, e = None, 0
            try:
                st = os.stat(j("cutmid"))
            except OSError as ex:
                e = ex.errno
            if e == 0:
                nb = (st.st_size + BLOCK - 1) // BLOCK
                check(nb >= 1, "size %d" % st.st_size)
                got, e2 = pread_errno(j("cutmid"), BLOCK, (nb - 1) * BLOCK)
                check_eq(vfs.errno_name(e2), "EIO", "last block of a file cut inside a block")
                got, e0 = pread_errno(j("cutmid"), BLOCK, 0)
                check_eq(vfs.errno_name(e0), "OK", "block 0")
                vfs.check_bytes(got, data_of("cutmid")[:BLOCK], "block 0")
            else:
                check_eq(vfs.errno_name(e), "EIO", "stat of a file cut inside a block")
        tap.run("cut inside a block: the last block is EIO, block 0 reads", cutmid)

        def rmw():
            want = bytearray(data_of("rmw"))
            fd = os.open(j("rmw"), os.O_RDWR)
            try:
                e = vfs.errno_of(os.pwrite, fd, b"0123456789", BLOCK + 50)
                if e == 0:
                    e = vfs.errno_of(os.fsync, fd)
                check_eq(vfs.errno_name(e), "EIO", "partial write into a damaged block")
            finally:
                os.close(fd)
            got, e = pread_errno(j("rmw"), BLOCK, BLOCK)
            check_eq(vfs.errno_name(e), "EIO", "damaged block after the refused write")
            # overwriting the whole block is fine
            fd = os.open(j("rmw"), os.O_RDWR)
            try:
                os.pwrite(fd, b"N" * BLOCK, BLOCK)
            finally:
                os.close(fd)
            want[BLOCK:2 * BLOCK] = b"N" * BLOCK
            check_eq(read_file(j("rmw")), bytes(want), "after overwriting the damaged block")
        tap.run("partial write into a damaged block fails with EIO, full overwrite heals", rmw)

        def foreign():
            before = sorted(os.listdir(mnt))
            junk = {
                "conflicted copy (1).txt": b"sync tool copy",
                "junk": b"",
                "AAAAAAAAAAAAAAAAAAAAAA": b"valid base64url, does not decrypt",
                "veilfs.ln.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA": b"no sidecar",
                "veilfs.ln.BBBB.name": b"sidecar without file",
                ".DS_Store": b"\0\0",
            }
            for k, v in junk.items():
                write_file(vol.c(k), v)
            os.mkdir(vol.c("foreign-dir"))
            os.symlink("/etc", vol.c("planted-link"))
            dirc = os.path.dirname(cpath["dir/victim"])
            write_file(os.path.join(dirc, "Thumbs.db"), b"junk in a subdir")
            for attempt in ("live", "remounted"):
                got = sorted(os.listdir(mnt))
                check_eq(got, before, "listing with foreign files (%s)" % attempt)
                r = subprocess.run(["ls", "-laR", mnt], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                check_eq(r.returncode, 0, "ls -laR exit status (%s): %s" % (attempt, r.stderr.decode()))
                check_eq(sorted(os.listdir(j("dir"))), ["victim"], "subdir listing (%s)" % attempt)
                for n in got:
                    os.lstat(j(n))
                if attempt == "live":
                    nonlocal_m[0].unmount()
                    nonlocal_m[0] = vol.mount(mnt, fg=True)
        nonlocal_m = [m]
        tap.run("foreign files in the cipher dir do not break ls", foreign)
        m = nonlocal_m[0]
        j = m.p

        def planted_dir():
            # replace the cipher dir of "dir" by a symlink to /etc
            m.unmount()
            dirc = os.path.dirname(cpath["dir/victim"])
            moved = dirc + ".moved"
            os.rename(dirc, moved)
            os.symlink("/etc", dirc)
            mm = vol.mount(mnt, fg=True)
            nonlocal_m[0] = mm
            try:
                names = os.listdir(mm.p("dir"))
            except OSError:
                names = []
            check("passwd" not in names and "hostname" not in names,
                  "a symlink planted in the cipher dir exposes /etc: %s" % names[:10])
            mm.unmount()
            os.unlink(dirc)
            os.rename(moved, dirc)
            nonlocal_m[0] = vol.mount(mnt, fg=True)
        tap.run("a symlink planted in place of a cipher directory is not followed", planted_dir)
        m = nonlocal_m[0]
        j = m.p

        def logged_as(path, block):
            pat = re.compile(r"(^|[^\w/])%s: .*block\D{0,12}\b%d\b" % (re.escape(path), block))
            got, e = pread_errno(j(path.lstrip("/")), BLOCK, block * BLOCK)
            check_eq(vfs.errno_name(e), "EIO", "%s block %d" % (path, block))
            lines = [x for x in m.log().splitlines() if pat.search(x)]
            check(lines, "no log line names %s with block %d; log:\n%s" % (path, block, m.log()[-1500:]))
            tap.diag("log: " + lines[0])

        def renamed():
            # the file was looked up at the top before (listings): move it
            # two levels down, then rename the directories above it
            os.lstat(j("moved"))
            os.makedirs(j("ren/a"))
            os.rename(j("moved"), j("ren/a/moved"))
            os.rename(j("ren"), j("ren2"))
            logged_as("/ren2/a/moved", 1)
            os.rename(j("ren2/a"), j("ren2/b"))
            logged_as("/ren2/b/moved", 2)
            # a second name, then the first goes: the log names the one left
            os.link(j("ren2/b/moved"), j("ren2/hl"))
            os.unlink(j("ren2/b/moved"))
            logged_as("/ren2/hl", 3)
        tap.run("log lines name the path after renames of the file and its directories", renamed)
    finally:
        m.unmount(quiet=True)
    logs = m.log()
    tap.diag("last daemon log:\n" + logs[-1500:])
    shutil.rmtree(vol.c("foreign-dir"), ignore_errors=True)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
