#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fsck --repair restores a file header whose fixed bytes alone are damaged.

usage: test_header.py VEILFS

Bytes 0-7 of a file header (version, reserved zeros) each have one right
value; the file ID after them is what the blocks are bound to. When only
those bytes are damaged, every block still authenticates once they are put
back: --repair must restore them in place and lose nothing, not zero the
file and move it to lost+found. A file whose ID is damaged too cannot be
read at all and still goes to lost+found.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")
    passfile = vol.passfile()
    files = {"ver.bin": os.urandom(3 * 4096 + 100), "resv.txt": b"reserved\n" * 50,
             "one.bin": os.urandom(4096), "id.bin": os.urandom(5000),
             "keep.txt": b"untouched\n"}

    def veil(*args):
        return vfs.run([veilfs, args[0], "--passfile", passfile] + list(args[1:]), timeout=300)

    def cpath(plain):
        r = veil("path", vol.dir, plain)
        check_eq(r.returncode, 0, "veilfs path %s (%s)" % (plain, r.stderr))
        return os.path.join(vol.dir, r.stdout.strip())

    def flip(plain, offset):
        p = cpath(plain)
        b = bytearray(read_file(p))
        b[offset] ^= 0x20
        os.chmod(p, 0o600)
        write_file(p, bytes(b))

    def populate():
        m = vol.mount(mnt, fg=True)
        try:
            for n, d in files.items():
                write_file(m.p(n), d)
        finally:
            m.unmount()
        flip("ver.bin", 0)     # version
        flip("resv.txt", 5)    # a reserved byte
        flip("one.bin", 2)
        flip("id.bin", 1)      # version and file ID both
        flip("id.bin", 12)
    if not tap.run("populate and damage the headers", populate):
        sys.exit(tap.done())

    def check_and_repair():
        r = veil("fsck", vol.dir)
        check_eq(r.returncode, 4, "fsck finds the damage (exit 4):\n" + r.stdout + r.stderr)
        for n in ("ver.bin", "resv.txt", "one.bin"):
            check(any(n in ln and "restored" in ln for ln in r.stdout.splitlines()),
                  "fsck says %s's header bytes can be restored:\n%s" % (n, r.stdout))
        check(any("id.bin" in ln and "malformed" in ln for ln in r.stdout.splitlines()),
              "fsck says id.bin's header is malformed:\n" + r.stdout)
        r = veil("fsck", "--repair", vol.dir)
        check_eq(r.returncode, 1, "fsck --repair corrects it (exit 1):\n" + r.stdout + r.stderr)
        r = veil("fsck", vol.dir)
        check_eq(r.returncode, 0, "a second fsck is clean:\n" + r.stdout + r.stderr)
    tap.run("fsck names each header; --repair; second fsck clean", check_and_repair)

    def contents():
        m = vol.mount(mnt, fg=True)
        try:
            for n in ("ver.bin", "resv.txt", "one.bin", "keep.txt"):
                check_eq(read_file(m.p(n)), files[n], n + " reads back whole, in place")
            check(not os.path.exists(m.p("id.bin")), "id.bin left its place")
            lf = os.listdir(m.p("lost+found"))
            check(any("id.bin" in n for n in lf), "id.bin is in lost+found: %s" % lf)
        finally:
            m.unmount()
    tap.run("restored files read back whole", contents)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
