#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""xattr space: errors match a local filesystem's. A value that is too big
for veilfs (its 40 bytes of nonce and tag push it past the 64 KiB a
backing attribute may hold) fails with ENOSPC, as a filesystem out of
attribute space does; more than 64 KiB is E2BIG (from the kernel); filling
a file's attribute space ends in ENOSPC and leaves every attribute set
before it readable.

usage: test_xattr_space.py VEILFS
"""

import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, write_file  # noqa: E402


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    m = tap.run("mount", vol.mount)
    if not m:
        sys.exit(tap.done())
    try:
        f = m.p("f")
        write_file(f, b"x")

        def too_big_for_veilfs():
            for n in (65497, 65536):
                e = vfs.errno_of(os.setxattr, f, "user.big", b"v" * n)
                check_eq(vfs.errno_name(e), "ENOSPC", "setxattr of %d bytes" % n)
            e = vfs.errno_of(os.setxattr, f, "user.big", b"v" * 65537)
            check_eq(vfs.errno_name(e), "E2BIG", "setxattr of 65537 bytes")
            check_eq(os.listxattr(f), [], "attributes after the failures")
        tap.run("65497-65536 bytes: ENOSPC; 65537: E2BIG; nothing stored", too_big_for_veilfs)

        def fill():
            g = m.p("g")
            write_file(g, b"x")
            n = 0
            while n < 20000:
                try:
                    os.setxattr(g, "user.attr%05d" % n, b"value%05d" % n)
                except OSError as e:
                    check_eq(vfs.errno_name(e.errno), "ENOSPC", "errno after %d attributes" % n)
                    break
                n += 1
            tap.diag("%d attributes of 14-byte names and 10-byte values fit" % n)
            got = sorted(os.listxattr(g))
            check_eq(got, sorted("user.attr%05d" % i for i in range(n)), "names")
            for i in range(n):
                check_eq(os.getxattr(g, "user.attr%05d" % i), b"value%05d" % i, "value %d" % i)
        tap.run("filling a file's attribute space ends in ENOSPC; all set before read back",
                fill)
    finally:
        tap.run("unmount", m.unmount)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
