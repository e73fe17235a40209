#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Buffered reads after asynchronous O_DIRECT writes (issue 15, item 1).

usage: test_aio_stale.py VEILFS AIO_STALE

AIO_STALE is the helper program built from aio_stale.c (libaio): a writer
loops over an O_DIRECT open, one io_submit write of a new pattern, fsync,
close, then a buffered open + pread + compare, while two reader processes
keep reading the same range through the page cache. Before the fix, pages
read while a write was in flight outlived the write, and the compare found
the previous cycle's data within a few cycles for ranges of 640 KiB and
more. Each case runs for SECONDS (default 8) or 400 cycles.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402

SECONDS = os.environ.get("VEILFS_AIO_SECONDS", "8")

# (size, offset): the reported recipe, then sizes and offsets that cross
# 4 KiB blocks at both ends, a write that is not a multiple of anything,
# and small writes inside one block and across two.
CASES = [
    (655360, 0),
    (700000, 6000),
    (1048577, 4095),
    (12345, 4000),
    (3 * 4096, 4096),
    (100, 4090),
]


def main():
    veilfs, extra = vfs.setup(usage="VEILFS AIO_STALE", nargs=1)
    helper = os.path.abspath(extra[0])
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    m = tap.run("mount", vol.mount)
    if not m:
        sys.exit(tap.done())
    try:
        for i, (size, off) in enumerate(CASES):
            def case():
                r = vfs.run([helper, m.p("f%d" % i), str(size), str(off), SECONDS, "400"],
                            timeout=int(float(SECONDS)) * 10 + 60)
                vfs.check(r.returncode == 0, "aio_stale exit %d\n%s%s" % (
                    r.returncode, r.stdout, r.stderr))
                tap.diag(r.stdout.strip())
            tap.run("aio O_DIRECT write of %d bytes at %d, then buffered read: new data" %
                    (size, off), case)
        def log_clean():
            bad = vfs.unexpected_log_lines(m.log())
            vfs.check(not bad, "daemon log: %s" % bad)
        tap.run("daemon log has no warnings", log_clean)
    finally:
        tap.run("unmount", m.unmount)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
