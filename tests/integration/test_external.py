#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Cipher files rewritten by another program while the volume is mounted.

A file is written and closed through the mount; then its cipher file is
rewritten in place (same inode) with the cipher bytes of another file of
the volume, as a sync tool that writes into the existing file would. A
truncate(2) by path (no open file) must use the new file header: the old
daemon kept the header it had cached while the file was open and cut the
file with it, leaving a file that no longer decrypted.

usage: test_external.py VEILFS
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check_eq, read_file, write_file  # noqa: E402


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    pw = vol.passfile()
    old = os.urandom(10000)
    new = os.urandom(9000)

    def cipher_of(name):
        r = vfs.run([veilfs, "path", "--passfile", pw, vol.dir, name])
        check_eq(r.returncode, 0, "veilfs path %s (stderr %r)" % (name, r.stderr))
        return vol.c(r.stdout.strip())

    def truncate_after_rewrite(size, want):
        m = vol.mount(fg=True)
        try:
            # Written and closed: the daemon keeps f's header from the write.
            write_file(m.p("f"), old)
            write_file(m.p("g"), new)
            cf, cg = cipher_of("f"), cipher_of("g")
            ino = os.stat(cf).st_ino
            data = read_file(cg)
            with open(cf, "r+b") as fh:  # in place: same inode, new header and blocks
                fh.write(data)
                fh.truncate(len(data))
            check_eq(os.stat(cf).st_ino, ino, "the cipher file was rewritten in place")
            os.truncate(m.p("f"), size)
            check_eq(read_file(m.p("f")), want, "f through the mount after truncate")
        finally:
            m.unmount()
        r = subprocess.run([veilfs, "cat", "--passfile", pw, vol.dir, "f"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check_eq((r.returncode, r.stderr.decode()), (0, ""), "veilfs cat f after unmount")
        check_eq(r.stdout, want, "f on disk after truncate")
    tap.run("truncate(2) down by path after an in-place rewrite uses the new header",
            truncate_after_rewrite, 5000, new[:5000])
    tap.run("truncate(2) up by path after an in-place rewrite uses the new header",
            truncate_after_rewrite, 12000, new + bytes(3000))

    def diriv_copy():
        # docs/threat-model.md §4/§6: names are bound to the dir IV, not to
        # the directory. What it says must stay true in both directions.
        v2 = vfs.Volume(ws, veilfs, name="diriv")
        m = v2.mount(fg=True)
        try:
            os.mkdir(m.p("a"))
            os.mkdir(m.p("b"))
            write_file(m.p("a", "from-a"), b"written in a")
            write_file(m.p("b", "own-b"), b"written in b")
        finally:
            m.unmount()

        def cdir(name):
            r = vfs.run([veilfs, "path", "--passfile", pw, v2.dir, name])
            return v2.c(r.stdout.strip())
        ca, cb = cdir("a"), cdir("b")
        entry = [e for e in os.listdir(ca) if not e.startswith("veilfs.")][0]
        os.rename(os.path.join(ca, entry), os.path.join(cb, entry))
        m = v2.mount(fg=True)
        try:
            check_eq(sorted(os.listdir(m.p("b"))), ["own-b"], "b with a's moved entry")
        finally:
            m.unmount()
        os.chmod(os.path.join(cb, "veilfs.diriv"), 0o600)
        os.unlink(os.path.join(cb, "veilfs.diriv"))
        with open(os.path.join(ca, "veilfs.diriv"), "rb") as src:
            write_file(os.path.join(cb, "veilfs.diriv"), src.read())
        m = v2.mount(fg=True)
        try:
            check_eq(sorted(os.listdir(m.p("b"))), ["from-a"], "b with a's dir IV")
            check_eq(read_file(m.p("b", "from-a")), b"written in a", "the moved file")
        finally:
            m.unmount()
    tap.run("a moved entry decrypts only where a copy of its dir IV is (threat model §4)",
            diriv_copy)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
