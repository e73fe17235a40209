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
    pw = os.path.join(ws.path, "pass")
    with open(pw, "w") as f:
        f.write(vol.passphrase + "\n")
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
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
