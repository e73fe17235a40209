#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reverse mode is deterministic, so backups are incremental:

- two separate mounts of the same plaintext give the same view (names,
  contents, symlink targets, xattr names and values, sizes, modes);
- two reads of one file in one mount give the same bytes;
- after one 4096-byte block in the middle of an 8 MiB file changes, a second
  'rsync -aH --stats' transfers only that file, and the old and new cipher
  files differ only inside that block's cipher range [32 + i*4136, +4136).

Usage: test_determinism.py VEILFS
"""
import hashlib
import os
import re
import shutil
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rlib import (BLOCK, CBLOCK, HEADER_BYTES, Rev, Skip, Tap, Workspace, check, check_eq,  # noqa: E402
                  cipher_path_of, read_file, run, setup, user_xattrs, walk)
from tree import make_tree  # noqa: E402

BIG = 8 * 1024 * 1024
IDX = 1000  # the block changed, in the middle of the 2048 of BIG

veilfs = setup()
tap = Tap()
ws = Workspace()
rv = Rev(veilfs, ws)
plain = os.path.join(ws.path, "plain")
backup = os.path.join(ws.path, "backup")
make_tree(plain, big=False)
with open(os.path.join(plain, "big.bin"), "wb") as f:
    f.write(os.urandom(BIG))
os.utime(os.path.join(plain, "big.bin"), (1_700_000_000, 1_700_000_000))
rv.init_reverse(plain)
state = {}


def view_digest(root):
    """{cipher rel path: (mode, size, sha256 | link target, xattrs)} and
    one sha256 over all of it."""
    out = {}
    for rel in walk(root):
        p = os.path.join(root, rel)
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            v = os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            v = hashlib.sha256(read_file(p)).hexdigest()
        else:
            v = None
        out[rel] = (oct(st.st_mode), st.st_size if not stat.S_ISDIR(st.st_mode) else None,
                    v, user_xattrs(p) if not stat.S_ISLNK(st.st_mode) else None)
    h = hashlib.sha256(repr(sorted(out.items())).encode()).hexdigest()
    return out, h


def t_two_mounts():
    with rv.mount_reverse(plain) as m1:
        d1, h1 = view_digest(m1.path)
    with rv.mount_reverse(plain) as m2:
        d2, h2 = view_digest(m2.path)
        # And a third, mounted while the second still is.
        with rv.mount_reverse(plain) as m3:
            d3, h3 = view_digest(m3.path)
    check(len(d1) > 50, "view suspiciously small: %d entries" % len(d1))
    if h1 != h2 or h1 != h3:
        diff = [k for k in sorted(set(d1) | set(d2) | set(d3))
                if not (d1.get(k) == d2.get(k) == d3.get(k))]
        raise AssertionError("views differ at %d entries, e.g. %r" % (len(diff), diff[:5]))


def t_read_twice():
    with rv.mount_reverse(plain) as m:
        rel = cipher_path_of(plain, m.path, "big.bin")
        p = m.p(rel)
        a = read_file(p)
        b = read_file(p)
        check_eq(len(a), 32 + BIG + (BIG // BLOCK) * (CBLOCK - BLOCK), "cipher size")
        check(a == b, "two reads of %s differ" % rel)
        # Random-offset reads agree with the whole-file read too.
        with open(p, "rb", buffering=0) as f:
            for off in (0, 31, 32, 4135, 4168, 77777, len(a) - 5000, len(a) - 1):
                f.seek(off)
                got = f.read(5000)
                check_eq(got, a[off:off + 5000], "pread at %d" % off)


def rsync_stats(src, dst):
    r = run(["rsync", "-aH", "--stats", src + "/", dst + "/"], check_rc=0, timeout=300)
    m = re.search(r"Number of regular files transferred: ([\d,]+)", r.stdout)
    check(m, "no transfer count in rsync --stats output:\n" + r.stdout)
    return int(m.group(1).replace(",", "")), r.stdout


def t_incremental():
    with rv.mount_reverse(plain) as m:
        rel = cipher_path_of(plain, m.path, "big.bin")
        n, _ = rsync_stats(m.path, backup)
        check(n > 50, "first rsync transferred only %d files" % n)
        n, out = rsync_stats(m.path, backup)
        check_eq(n, 0, "files transferred by an rsync with nothing changed")
    old = os.path.join(ws.path, "big.old")
    shutil.copyfile(os.path.join(backup, rel), old)
    # Change one block in place; move the mtime so rsync's quick check sees it.
    p = os.path.join(plain, "big.bin")
    with open(p, "r+b") as f:
        f.seek(IDX * BLOCK)
        f.write(os.urandom(BLOCK))
    os.utime(p, (1_700_000_100, 1_700_000_100))
    with rv.mount_reverse(plain) as m:
        check_eq(cipher_path_of(plain, m.path, "big.bin"), rel, "cipher name after the change")
        n, out = rsync_stats(m.path, backup)
    check_eq(n, 1, "regular files transferred after changing one block (rsync says:\n%s)" % out)
    state["rel"] = rel
    state["old"] = old


def t_cmp():
    if "old" not in state:
        raise Skip("incremental rsync failed")
    new = os.path.join(backup, state["rel"])
    check_eq(os.path.getsize(new), os.path.getsize(state["old"]), "cipher size")
    r = run(["cmp", "-l", state["old"], new])
    check_eq(r.returncode, 1, "cmp -l exit (files must differ; stderr %s)" % r.stderr)
    lo = HEADER_BYTES + IDX * CBLOCK
    hi = lo + CBLOCK
    offs = [int(line.split()[0]) - 1 for line in r.stdout.splitlines() if line.strip()]
    outside = [o for o in offs if not lo <= o < hi]
    check(not outside, "%d differing bytes outside [%d, %d), first at %d" % (
        len(outside), lo, hi, outside[0] if outside else -1))
    # The nonce and nearly every byte of the block changed.
    check(len(offs) > CBLOCK * 0.9, "only %d bytes of the block differ" % len(offs))
    check(any(o < lo + 24 for o in offs), "the block nonce did not change")


def t_restore_after_incremental():
    if "old" not in state:
        raise Skip("incremental rsync failed")
    with rv.mount_forward(backup, ro=True) as m:
        check(read_file(m.p("big.bin")) == read_file(os.path.join(plain, "big.bin")),
              "big.bin restored from the incremental backup differs")


tap.run("two separate reverse mounts (and two concurrent ones) show identical views", t_two_mounts)
tap.run("reading the same view file twice (and at random offsets) gives identical bytes", t_read_twice)
tap.run("rsync -aH --stats after changing one block transfers exactly 1 file", t_incremental)
tap.run("cmp -l: old and new cipher file differ only inside block %d's cipher range" % IDX, t_cmp)
tap.run("the incrementally updated backup decrypts to the changed plaintext", t_restore_after_incremental)
sys.exit(tap.done())
