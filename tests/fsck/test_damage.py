#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""veilfs fsck against a populated volume damaged in every way it repairs.

usage: test_damage.py VEILFS

A volume is populated through a mount; then, with nothing mounted, its
cipher directory is damaged: a flipped block in the middle of a file, a
zeroed block, a file cut inside a block, a file whose end block was cut off
at a block boundary, a middle block sealed as last (planted from an earlier
state of the same file), a temporary file and a temporary directory, a
long-name object without its sidecar, a sidecar without its object, a
directory whose dir IV was removed, one whose dir IV was corrupted, and a
cipher file renamed to garbage. Then:
* fsck exits 4 and names every damage by plaintext path (cipher path where
  the name is gone), with the block index for content, in text and --json;
* fsck --repair exits 1 and prints one line per action;
* a second fsck exits 0;
* mounted again: every undamaged file is byte-identical, a file cut at the
  end keeps its good blocks in place, the others are in lost+found/ with
  their readable blocks and a list of the damaged ranges;
* --repair is refused (exit 8) while the volume is mounted, a check works.
"""

import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import vfs  # noqa: E402
from vfs import BLOCK, CBLOCK, HEADER_BYTES, check, check_eq, read_file, write_file  # noqa: E402

LONG = "L" * 200  # a long name (stored as veilfs.ln.* plus a sidecar)


def data(name, size):
    return random.Random(name).randbytes(size)


KEEP = {
    "keep/a.txt": 3 * BLOCK + 77,
    "keep/deep/b.bin": 10 * BLOCK,
    "keep/" + LONG: 5000,
    "small": 10,
}
VICTIMS = {
    "flip.bin": 5 * BLOCK + 100,     # block 2 flipped -> lost+found, block 2 zeros
    "zero.bin": 3 * BLOCK + 11,      # block 1 zeroed -> lost+found
    "cut.bin": 4 * BLOCK + 500,      # cut inside block 2 (impossible size) -> stays, 2 blocks kept
    "cutb.bin": 3 * BLOCK + 9,       # end block cut off at a boundary -> resealed
    "sl.bin": 3 * BLOCK,             # block 0 sealed as last -> resealed, intact
    "ln/" + "N" * 200: 7000,         # sidecar removed -> lost+found
    "ln/" + "O" * 200: 6000,         # object removed -> orphan sidecar removed
    "noiv/x": 1234,                  # dir IV removed -> lost+found, placeholder
    "noiv/y": 4321,
    "noiv/w": 3 * BLOCK + 5,         # ... and block 1 flipped: both repairs
    "badiv/z": 999,                  # dir IV corrupted -> lost+found
    "garbage.txt": 2222,             # cipher name replaced by junk -> lost+found
}


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")
    passfile = vol.passfile()
    saved = {}

    def veil(*args, timeout=300):
        return vfs.run([veilfs] + [args[0], "--passfile", passfile] + list(args[1:]),
                       timeout=timeout)

    def cpath(plain):
        r = veil("path", vol.dir, plain)
        check_eq(r.returncode, 0, "veilfs path %s (%s)" % (plain, r.stderr))
        return os.path.join(vol.dir, r.stdout.strip())

    def populate():
        m = vol.mount(mnt, fg=True)
        try:
            for d in ("keep", "keep/deep", "ln", "noiv", "badiv"):
                os.mkdir(m.p(d))
            for n, s in list(KEEP.items()) + list(VICTIMS.items()):
                write_file(m.p(n), data(n, s))
            os.symlink("keep/a.txt", m.p("link"))
            os.symlink("T" * 3500, m.p("blobbed"))  # target kept in a veilfs.lt.* blob
            # sl.bin: one block (sealed as last), saved, then extended.
            write_file(m.p("sl.bin"), data("sl.bin", BLOCK))
        finally:
            m.unmount()
        saved["sl"] = read_file(cpath("sl.bin"))
        m = vol.mount(mnt, fg=True)
        try:
            with open(m.p("sl.bin"), "ab") as f:
                f.write(data("sl.bin", 3 * BLOCK)[BLOCK:])
            check_eq(read_file(m.p("sl.bin")), data("sl.bin", 3 * BLOCK), "sl.bin extended")
        finally:
            m.unmount()
    if not tap.run("populate", populate):
        sys.exit(tap.done())

    def patch(plain, fn):
        p = cpath(plain)
        os.chmod(p, 0o600)
        write_file(p, bytes(fn(bytearray(read_file(p)))))
        return p

    def damage():
        def flip(b):
            b[HEADER_BYTES + 2 * CBLOCK + 24 + 10] ^= 0x40
            return b
        patch("flip.bin", flip)
        patch("zero.bin", lambda b: b[:HEADER_BYTES + CBLOCK] + bytearray(CBLOCK)
              + b[HEADER_BYTES + 2 * CBLOCK:])
        patch("cut.bin", lambda b: b[:HEADER_BYTES + 2 * CBLOCK + 30])
        patch("cutb.bin", lambda b: b[:HEADER_BYTES + 3 * CBLOCK])
        patch("sl.bin", lambda b: b[:HEADER_BYTES] + saved["sl"][HEADER_BYTES:] + b[HEADER_BYTES + CBLOCK:])
        root = vol.dir
        noiv = cpath("noiv")
        badiv = cpath("badiv")
        # temporaries of interrupted writes
        write_file(os.path.join(cpath("keep"), "veilfs.tmp.0123456789abcdef"), b"half a sidecar")
        tdir = os.path.join(root, "veilfs.tmp.d0123456789abcdef")
        os.mkdir(tdir)
        write_file(os.path.join(tdir, "veilfs.diriv"), os.urandom(16))
        # long names
        side = cpath("ln/" + "N" * 200) + ".name"
        saved["nside"] = cpath("ln/" + "N" * 200)
        os.unlink(side)
        saved["oside"] = cpath("ln/" + "O" * 200) + ".name"
        os.unlink(cpath("ln/" + "O" * 200))
        # dir IVs
        def flip1(b):
            b[HEADER_BYTES + 1 * CBLOCK + 30] ^= 0x01
            return b
        patch("noiv/w", flip1)
        os.unlink(os.path.join(noiv, "veilfs.diriv"))
        p = os.path.join(badiv, "veilfs.diriv")
        os.chmod(p, 0o600)
        write_file(p, b"corrupt")
        # a cipher name replaced by garbage
        g = cpath("garbage.txt")
        saved["garbage"] = os.path.join(os.path.dirname(g), "A" * 43)
        os.rename(g, saved["garbage"])
        saved["noiv"], saved["badiv"] = noiv, badiv
        # a symlink removed behind veilfs's back: its target blob is orphaned
        bl = cpath("blobbed")
        saved["blob"] = os.readlink(bl)
        os.unlink(bl)
    if not tap.run("damage the cipher directory", damage):
        sys.exit(tap.done())

    rel = lambda p: os.path.relpath(p, vol.dir)  # noqa: E731

    def first_check():
        r = veil("fsck", vol.dir)
        out = r.stdout
        tap.diag("fsck:\n" + out)
        check_eq(r.returncode, 4, "fsck exit status with problems left (stderr %s)" % r.stderr)
        want = [
            "flip.bin: block 2: ",
            "zero.bin: block 1: ",
            "cut.bin: cipher size ",
            "cutb.bin: block 2: ",
            "sl.bin: block 0: middle block sealed as last",
            "[cipher] %s: temporary file" % rel(os.path.join(cpath("keep"), "veilfs.tmp.0123456789abcdef")),
            "[cipher] veilfs.tmp.d0123456789abcdef: temporary directory",
            "[cipher] %s: long-name object without its sidecar" % rel(saved["nside"]),
            "[cipher] %s: long-name sidecar without its object" % rel(saved["oside"]),
            "noiv: dir IV is missing",
            "badiv: dir IV is damaged",
            "[cipher] %s: name does not decrypt" % rel(saved["garbage"]),
            "[cipher] %s: symlink target blob that no symlink refers to" % saved["blob"],
        ]
        for w in want:
            check(any(line.startswith(w) for line in out.splitlines()),
                  "fsck output has a line starting %r:\n%s" % (w, out))
        check(out.count("its directory has no readable dir IV") >= 4, "noiv and badiv entries listed")
        for keep in KEEP:
            check(keep not in out, "undamaged %s not reported" % keep)
        check("problem(s)" in out.splitlines()[-1] or "problem(s)" in out, "summary line")
    tap.run("fsck finds every damage by path (exit 4)", first_check)

    def subtree():
        r = veil("fsck", vol.dir, "keep/deep")
        check_eq(r.returncode, 0, "fsck of an undamaged subtree:\n" + r.stdout)
        check(" %d bytes checked" % (10 * BLOCK) in r.stdout, "only keep/deep/b.bin checked:\n" + r.stdout)
        r = veil("fsck", vol.dir, "keep")
        check_eq(r.returncode, 4, "fsck of a subtree with a temporary")
        check("veilfs.tmp.0123456789abcdef: temporary file" in r.stdout, "its temporary found")
        r = veil("fsck", vol.dir, "flip.bin")
        check_eq(r.returncode, 4, "fsck of one damaged file")
        check(r.stdout.startswith("flip.bin: block 2: "), "only that file reported:\n" + r.stdout)
        check("zero.bin" not in r.stdout, "nothing else reported")
    tap.run("fsck PATH checks one file or subtree", subtree)

    def json_check():
        r = veil("fsck", "--json", vol.dir)
        check_eq(r.returncode, 4, "fsck --json exit")
        objs = [json.loads(line) for line in r.stdout.splitlines()]
        check(objs and objs[-1]["type"] == "summary", "last object is the summary")
        s = objs[-1]
        check_eq(s["exit"], 4, "summary exit")
        check(s["problems"] >= 13, "problems counted: %d" % s["problems"])
        blocks = {(o["path"], o.get("block")) for o in objs if o["type"] == "problem"}
        check(("flip.bin", 2) in blocks and ("zero.bin", 1) in blocks, "block indexes in json")
        kinds = {o["kind"] for o in objs if o["type"] == "problem"}
        for k in ("block", "zero-block", "size", "truncated", "sealed-as-last", "temporary",
                  "no-sidecar", "orphan-sidecar", "diriv-missing", "diriv-damaged", "name",
                  "name-without-diriv"):
            check(k in kinds, "kind %s in json (%s)" % (k, sorted(kinds)))
    tap.run("fsck --json: one object per problem and a summary", json_check)

    def quick_check():
        r = veil("fsck", "--quick", vol.dir)
        check_eq(r.returncode, 4, "fsck --quick exit")
        check("flip.bin: block" not in r.stdout, "--quick decrypts no block")
        check("cut.bin: cipher size" in r.stdout, "--quick checks sizes")
        check("noiv: dir IV is missing" in r.stdout, "--quick checks names")
    tap.run("fsck --quick: headers, sizes and names only", quick_check)

    def refuse_mounted():
        m = vol.mount(mnt, fg=True)
        try:
            r = veil("fsck", "--repair", vol.dir)
            check_eq(r.returncode, 8, "repair of a mounted volume refused")
            check("mounted" in r.stderr, "says it is mounted: " + r.stderr)
            r = veil("fsck", "--quick", vol.dir)
            check_eq(r.returncode, 4, "a check of a mounted volume runs")
        finally:
            m.unmount()
    tap.run("--repair refused while mounted; checking works", refuse_mounted)

    def do_repair():
        r = veil("fsck", "--repair", vol.dir)
        check_eq(r.returncode, 1, "fsck --repair exit (all corrected)\n" + r.stdout + r.stderr)
        out = r.stdout
        tap.diag("fsck --repair:\n" + out)
        for w in ("flip.bin: repaired: ", "cut.bin: repaired: cut at the last good block",
                  "sl.bin: repaired: ", "noiv: repaired: new dir IV",
                  "[cipher] %s: repaired: moved to lost+found/" % rel(saved["garbage"]),
                  "[cipher] %s: repaired: removed the orphan sidecar" % rel(saved["oside"])):
            check(w in out, "repair output has %r:\n%s" % (w, out))
        check("NOT repaired" not in out, "nothing failed")
        saved["repair_out"] = out
    tap.run("fsck --repair repairs everything (exit 1)", do_repair)

    def second():
        r = veil("fsck", vol.dir)
        check_eq(r.returncode, 0, "second fsck clean:\n" + r.stdout)
        check("no problems found" in r.stdout, "says clean")
        check(not any(n.startswith("veilfs.tmp.") for n in os.listdir(vol.dir)), "temp dir gone")
    tap.run("a second fsck reports the volume clean", second)

    def contents():
        m = vol.mount(mnt, fg=True)
        try:
            for n, s in KEEP.items():
                vfs.check_bytes(read_file(m.p(n)), data(n, s), n)
            check_eq(os.readlink(m.p("link")), "keep/a.txt", "symlink")
            kept = [n for n in os.listdir(m.p("lost+found")) if n.startswith("orphan-link-")]
            check_eq(len(kept), 1, "the orphan blob is kept as a symlink in lost+found")
            if kept:
                check_eq(os.readlink(m.p("lost+found", kept[0])), "T" * 3500,
                         "its target reads back")
            vfs.check_bytes(read_file(m.p("sl.bin")), data("sl.bin", 3 * BLOCK), "sl.bin intact")
            vfs.check_bytes(read_file(m.p("cut.bin")), data("cut.bin", 4 * BLOCK + 500)[:2 * BLOCK],
                            "cut.bin keeps its 2 good blocks in place")
            vfs.check_bytes(read_file(m.p("cutb.bin")), data("cutb.bin", 3 * BLOCK + 9)[:3 * BLOCK],
                            "cutb.bin keeps its 3 blocks")
            lf = sorted(os.listdir(m.p("lost+found")))
            check("flip.bin" in lf and "flip.bin.damaged" in lf, "flip.bin in lost+found: %s" % lf)
            want = bytearray(data("flip.bin", VICTIMS["flip.bin"]))
            want[2 * BLOCK:3 * BLOCK] = bytes(BLOCK)
            vfs.check_bytes(read_file(m.p("lost+found", "flip.bin")), bytes(want),
                            "flip.bin: readable blocks kept, block 2 zeros")
            lst = read_file(m.p("lost+found", "flip.bin.damaged")).decode()
            check("%d-%d" % (2 * BLOCK, 3 * BLOCK) in lst, "damaged range listed: " + lst)
            want = bytearray(data("zero.bin", VICTIMS["zero.bin"]))
            want[BLOCK:2 * BLOCK] = bytes(BLOCK)
            vfs.check_bytes(read_file(m.p("lost+found", "zero.bin")), bytes(want), "zero.bin")
            # Entries whose names are lost: found by content.
            found = {}
            for n in lf:
                p = m.p("lost+found", n)
                if os.path.isfile(p):
                    found[read_file(p)] = n
            want = bytearray(data("noiv/w", VICTIMS["noiv/w"]))
            want[BLOCK:2 * BLOCK] = bytes(BLOCK)
            check(bytes(want) in found, "noiv/w: nameless and damaged, in lost+found with block 1 zeros")
            for n in ("noiv/x", "noiv/y", "badiv/z", "garbage.txt", "ln/" + "N" * 200):
                d = data(n, VICTIMS[n])
                check(d in found, "%s's content is in lost+found (%s)" % (n, lf))
                if d in found and n.startswith("noiv/"):
                    check(found[d].startswith("noiv%2Funnamed-"),
                          "placeholder says where it came from: " + found[d])
            check_eq(sorted(os.listdir(m.p("noiv"))), [], "noiv is empty and usable")
            write_file(m.p("noiv", "new"), b"new file")
            check_eq(read_file(m.p("noiv", "new")), b"new file", "noiv takes new files")
            check(not os.path.exists(m.p("ln", "O" * 200)), "object-less long name gone")
        finally:
            m.unmount()
        r = veil("fsck", vol.dir)
        check_eq(r.returncode, 0, "fsck clean after using the repaired volume:\n" + r.stdout)
    tap.run("after repair: undamaged files identical, damaged ones saved", contents)

    def usage():
        r = vfs.run([veilfs, "fsck"])
        check_eq(r.returncode, 16, "no arguments: usage exit 16")
        r = vfs.run([veilfs, "fsck", "--bogus", vol.dir])
        check_eq(r.returncode, 16, "unknown option: usage exit 16")
        r = vfs.run([veilfs, "fsck", "--passfile", "/nonexistent", vol.dir])
        check_eq(r.returncode, 8, "unreadable passphrase file: operational error 8")
        r = vfs.run([veilfs, "fsck", "--passfile", passfile, os.path.join(ws.path, "nothing")])
        check_eq(r.returncode, 8, "not a volume: 8")
    tap.run("usage and operational errors: 16 and 8", usage)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
