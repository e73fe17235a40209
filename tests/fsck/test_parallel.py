#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fsck verifies blocks on every core and reports as if it had used one.

usage: test_parallel.py VEILFS

fsck hands the blocks of queued files to helper threads in chunks of
128 KiB (32 blocks of 4 KiB) and queues up to 128 files. This volume has
a file of many chunks damaged in several of them (the first chunk, a middle
one, the end block), a file with a middle block sealed as last in a later
chunk, and 200 small files (more than the queue holds) of which three are
damaged, and a directory and a file each with an xattr value that does
not authenticate. Then:
* fsck --json reports exactly the damaged blocks, each file's blocks in
  increasing order, and counts every plaintext byte once;
* the output is the same from run to run, on one core (taskset) as on all,
  and with so few file descriptors (RLIMIT_NOFILE 24) that the queue
  cannot hold its 128 open files;
* --repair makes the same repairs in the same order on one core as on
  all; a second fsck is clean, and every undamaged file reads back
  byte-identical.
"""

import json
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import vfs  # noqa: E402
from vfs import BLOCK, CBLOCK, HEADER_BYTES, check, check_eq, read_file, write_file  # noqa: E402

NSMALL = 200
SIZES = {"big.bin": 300 * BLOCK + 123, "sl.bin": 100 * BLOCK}
for i in range(NSMALL):
    SIZES["many/f%03d" % i] = 2 * BLOCK + 7 * i + 1


def data(name, size):
    return random.Random(name).randbytes(size)


def block_at(i):
    return HEADER_BYTES + i * CBLOCK


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")
    passfile = vol.passfile()
    saved = {}

    def veil(*args, prefix=()):
        return vfs.run(list(prefix) + [veilfs, args[0], "--passfile", passfile] + list(args[1:]),
                       timeout=300)

    def cpath(plain):
        r = veil("path", vol.dir, plain)
        check_eq(r.returncode, 0, "veilfs path %s (%s)" % (plain, r.stderr))
        return os.path.join(vol.dir, r.stdout.strip())

    def patch(plain, fn):
        p = cpath(plain)
        os.chmod(p, 0o600)
        write_file(p, bytes(fn(bytearray(read_file(p)))))

    def populate():
        m = vol.mount(mnt, fg=True)
        try:
            os.mkdir(m.p("many"))
            for n, s in SIZES.items():
                write_file(m.p(n), data(n, s) if n != "sl.bin" else data(n, 70 * BLOCK))
            # xattrs are checked through the descriptor the contents are read with
            for n in ("many", "many/f010", "many/f011"):
                os.setxattr(m.p(n), "user.note", b"value of " + n.encode())
        finally:
            m.unmount()
        # sl.bin: block 69 is its end (sealed as last), kept, then the file grows.
        saved["sl69"] = read_file(cpath("sl.bin"))[block_at(69):block_at(70)]
        m = vol.mount(mnt, fg=True)
        try:
            with open(m.p("sl.bin"), "ab") as f:
                f.write(data("sl.bin", SIZES["sl.bin"])[70 * BLOCK:])
        finally:
            m.unmount()
    if not tap.run("populate", populate):
        sys.exit(tap.done())

    def flip(*blocks):
        def fn(b):
            for i in blocks:
                b[block_at(i) + 24 + 100] ^= 0x08
            return b
        return fn

    expected = [
        ("big.bin", 5, "block"), ("big.bin", 40, "block"), ("big.bin", 200, "zero-block"),
        ("big.bin", 300, "block"), ("sl.bin", 69, "sealed-as-last"),
        ("many/f007", 1, "block"), ("many/f150", 0, "block"), ("many/f199", 1, "truncated"),
        ("many", None, "xattr"), ("many/f010", None, "xattr"),
    ]

    def damage():
        def big(b):
            b = flip(5, 40, 300)(b)
            b[block_at(200):block_at(201)] = bytes(CBLOCK)
            return b
        patch("big.bin", big)
        patch("sl.bin", lambda b: b[:block_at(69)] + saved["sl69"] + b[block_at(70):])
        patch("many/f007", flip(1))
        patch("many/f150", flip(0))
        patch("many/f199", lambda b: b[:block_at(2)])  # end block cut off at a boundary
        for n in ("many", "many/f010"):  # a value that does not authenticate
            p = cpath(n)
            names = [x for x in os.listxattr(p) if x.startswith("user.veilfs.")]
            check_eq(len(names), 1, "one cipher xattr on " + n)
            v = bytearray(os.getxattr(p, names[0]))
            v[-1] ^= 1
            os.setxattr(p, names[0], bytes(v))
    if not tap.run("damage", damage):
        sys.exit(tap.done())

    def problems(r):
        objs = [json.loads(line) for line in r.stdout.splitlines()]
        check(objs and objs[-1]["type"] == "summary", "last object is the summary:\n" + r.stdout)
        return [(o["path"], o.get("block"), o["kind"]) for o in objs if o["type"] == "problem"], objs[-1]

    outputs = {}

    def first_check():
        r = veil("fsck", "--json", vol.dir)
        check_eq(r.returncode, 4, "fsck exit status (stderr %s)" % r.stderr)
        probs, summ = problems(r)
        check_eq(sorted(probs), sorted(expected), "exactly the damaged blocks are reported")
        for name in ("big.bin", "sl.bin"):
            blocks = [b for p, b, _ in probs if p == name]
            check_eq(blocks, sorted(blocks), name + "'s blocks are reported in order")
        total = sum(SIZES.values()) - (SIZES["many/f199"] - 2 * BLOCK)
        check_eq(summ["bytes"], total, "every plaintext byte counted once")
        check_eq(summ["objects"], len(SIZES) + 1, "objects (files and the directory)")
        outputs["all"] = r.stdout.splitlines()[:-1]
    if not tap.run("fsck reports each damaged block once, in order", first_check):
        sys.exit(tap.done())

    def same_everywhere():
        r = veil("fsck", "--json", vol.dir)
        check_eq(r.stdout.splitlines()[:-1], outputs["all"], "a second run reports the same")
        if shutil.which("taskset"):
            r = veil("fsck", "--json", vol.dir, prefix=("taskset", "-c", "0"))
            check_eq(r.returncode, 4, "fsck on one core: exit status")
            check_eq(r.stdout.splitlines()[:-1], outputs["all"], "one core reports the same")
        else:
            tap.diag("taskset not found: the one-core run is left out")
        r = veil("fsck", "--json", vol.dir, prefix=("sh", "-c", 'ulimit -n 24 && exec "$@"', "sh"))
        check_eq(r.returncode, 4, "fsck with 24 file descriptors: exit status (%s)" % r.stderr)
        check_eq(r.stdout.splitlines()[:-1], outputs["all"],
                 "with 24 file descriptors: the same report, no file left unopened")
    tap.run("the same report on one core, on all, and with few descriptors", same_everywhere)

    def repair():
        copy = os.path.join(ws.path, "copy")
        shutil.copytree(vol.dir, copy, symlinks=True)
        r = veil("fsck", "--repair", "--json", vol.dir)
        check_eq(r.returncode, 1, "fsck --repair corrects it (exit 1):\n" + r.stdout + r.stderr)
        # Repairs are made in the order the problems were found (walk order).
        objs = [json.loads(line) for line in r.stdout.splitlines()]
        found = []
        for o in objs:
            if o["type"] == "problem" and o["path"] not in found:
                found.append(o["path"])
        check_eq([o["path"] for o in objs if o["type"] == "repaired"], found,
                 "one repair per damaged object, in the order they were found")
        if shutil.which("taskset"):
            r1 = veil("fsck", "--repair", "--json", copy, prefix=("taskset", "-c", "0"))
            check_eq(r1.stdout.splitlines()[:-1], r.stdout.splitlines()[:-1],
                     "--repair on one core: the same report and actions in the same order")
        r = veil("fsck", vol.dir)
        check_eq(r.returncode, 0, "a second fsck is clean:\n" + r.stdout + r.stderr)
        m = vol.mount(mnt, fg=True)
        try:
            damaged = {"big.bin", "many/f007", "many/f150", "many/f199"}
            for n, s in SIZES.items():
                if n not in damaged:
                    check_eq(read_file(m.p(n)), data(n, s), n + " reads back whole")
            check_eq(read_file(m.p("many/f199")), data("many/f199", SIZES["many/f199"])[:2 * BLOCK],
                     "many/f199 keeps its two good blocks in place")
            check_eq(os.getxattr(m.p("many/f011"), "user.note"), b"value of many/f011",
                     "an undamaged xattr is kept")
            for n in ("many", "many/f010"):
                check("user.note" not in os.listxattr(m.p(n)), "the damaged xattr of %s is gone" % n)
            lf = os.listdir(m.p("lost+found"))
            for n in ("big.bin", "f007", "f150"):
                check(any(n in x for x in lf), "%s is in lost+found: %s" % (n, lf))
        finally:
            m.unmount()
    tap.run("--repair; a second fsck is clean; undamaged files intact", repair)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
