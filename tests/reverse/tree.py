# SPDX-License-Identifier: MIT
"""The generated plaintext tree of the reverse-mode tests."""

import os
import random

from rlib import write_file

LONG_A = "L" * 200 + ".txt"                                 # 204 bytes: long name
LONG_U = "\u00e9" * 90 + "-long-utf8"                        # 190 bytes of UTF-8
LONG_DIR = "d" * 180                                         # long directory name
ODD_NAMES = [
    "with space.txt", "two  spaces ", "new\nline", "tab\there",
    "\u00fcnic\u00f6de-\u65e5\u672c\u8a9e.txt", "-leading-dash", "--", "#hash#",
    "100%", "%2F%00", "quote'\"", "back\\slash", "*?[glob]", ".hidden", "..dots",
    "\u00a0nbsp", "emoji-\U0001F512", "x",
]
SIZES = [0, 1, 4095, 4096, 4097, 8191, 8192, 12288, 40960, 3 * 1024 * 1024 + 17,
         2 * 1024 * 1024]


def data(seed, n):
    return random.Random(seed).randbytes(n)


def make_tree(root, big=True):
    """Fill @root; returns a dict of facts the tests check against."""
    t = 1_700_000_000
    facts = {"hardlinks": [], "symlinks": {}}
    os.makedirs(root, exist_ok=True)
    # Sizes around block boundaries.
    os.mkdir(os.path.join(root, "sizes"), 0o755)
    for i, n in enumerate(SIZES):
        if not big and n > 65536:
            continue
        write_file(os.path.join(root, "sizes", "s%d" % n), data(i, n), 0o644)
    # Odd names, in the root and in a subdirectory.
    os.mkdir(os.path.join(root, "odd"), 0o750)
    for i, nm in enumerate(ODD_NAMES):
        write_file(os.path.join(root, nm), data(100 + i, 100 + i), 0o644)
        write_file(os.path.join(root, "odd", nm), data(200 + i, 5000 + i), 0o600)
    # Long names: files, a directory, a symlink, a hard link.
    write_file(os.path.join(root, LONG_A), data(300, 9000), 0o640)
    write_file(os.path.join(root, "odd", LONG_U), b"utf8 long name\n", 0o644)
    os.mkdir(os.path.join(root, LONG_DIR), 0o700)
    write_file(os.path.join(root, LONG_DIR, "inside"), b"inside a long dir\n", 0o644)
    write_file(os.path.join(root, LONG_DIR, LONG_A), data(301, 4096 * 3), 0o644)
    os.symlink("../" + LONG_A, os.path.join(root, LONG_DIR, "S" * 190))
    # Nested and empty directories.
    deep = os.path.join(root, "a", "b", "c", "d", "e")
    os.makedirs(deep, 0o755)
    write_file(os.path.join(deep, "deep.txt"), b"deep\n", 0o644)
    os.mkdir(os.path.join(root, "empty-dir"), 0o755)
    os.mkdir(os.path.join(root, "a", "empty"), 0o711)
    # Name lengths around the short/long boundary and NAME_MAX, and names
    # that look like the format's reserved names (only the root's
    # .veilfs-reverse.conf is special).
    os.mkdir(os.path.join(root, "lens"), 0o755)
    for n in (143, 144, 159, 160, 175, 176, 191, 192, 254, 255):
        write_file(os.path.join(root, "lens", "n" * n), b"%d\n" % n, 0o644)
    for nm in ("veilfs.conf", "veilfs.diriv", ".veilfs-reverse.conf", "veilfs.ln.abc",
               "veilfs.ln.abc.name", "x.name"):
        write_file(os.path.join(root, "odd", nm), nm.encode(), 0o644)
    write_file(os.path.join(root, "veilfs.diriv"), b"a plaintext file\n", 0o644)
    # Special files (rsync -D).
    os.mkfifo(os.path.join(root, "fifo"), 0o640)
    # Set-id bits (src/fs/fs_reverse.c rnode_stat strips them: TODO point).
    os.mkdir(os.path.join(root, "setgid-dir"), 0o2775)
    os.chmod(os.path.join(root, "setgid-dir"), 0o2775)
    write_file(os.path.join(root, "setgid-dir", "setuid-file"), b"#!/bin/sh\n", 0o4755)
    facts["setid"] = {"setgid-dir": 0o2775, "setgid-dir/setuid-file": 0o4755}
    # Modes.
    for m in (0o600, 0o640, 0o644, 0o700, 0o755, 0o444, 0o400, 0o000, 0o1644):
        write_file(os.path.join(root, "mode-%o" % m), b"mode %o\n" % m, m)
    # Empty files.
    write_file(os.path.join(root, "empty"), b"", 0o644)
    write_file(os.path.join(root, "a", "empty-too"), b"", 0o600)
    # Symlinks: relative, absolute, dangling, to a directory, long target,
    # odd bytes.
    links = {
        "link-rel": "sizes/s4096",
        "a/b/link-up": "../../with space.txt",
        "link-abs": "/etc/hostname",
        "link-dangling": "does/not/exist",
        "link-dir": "a/b",
        "link-long-target": "t/" * 400 + "end",
        "link-odd": "new\nline",
        "odd/link-utf8": "\u00fcnic\u00f6de-\u65e5\u672c\u8a9e.txt",
    }
    for p, tgt in links.items():
        os.symlink(tgt, os.path.join(root, p))
        facts["symlinks"][p] = tgt
    # Hard links: same dir, across dirs, under a long name, 3 names.
    write_file(os.path.join(root, "hl-1"), data(400, 10000), 0o644)
    os.link(os.path.join(root, "hl-1"), os.path.join(root, "hl-2"))
    os.link(os.path.join(root, "hl-1"), os.path.join(root, "a", "b", "hl-3"))
    write_file(os.path.join(root, "odd", "hl-x"), data(401, 4096), 0o600)
    os.link(os.path.join(root, "odd", "hl-x"), os.path.join(root, "H" * 200))
    facts["hardlinks"] = sorted([sorted(["hl-1", "hl-2", "a/b/hl-3"]),
                                 sorted(["odd/hl-x", "H" * 200])])
    # User xattrs on files and directories.
    os.setxattr(os.path.join(root, "sizes", "s1"), "user.color", b"blue")
    os.setxattr(os.path.join(root, "sizes", "s1"), "user.empty", b"")
    os.setxattr(os.path.join(root, "sizes", "s4096"), "user.bin", bytes(range(256)))
    os.setxattr(os.path.join(root, "odd"), "user.dir-attr", b"on a directory")
    os.setxattr(os.path.join(root, LONG_A), "user." + "k" * 100, b"v" * 1000)
    # Times: distinct, with nanoseconds, on everything (directories last,
    # deepest first, since creating entries changes a directory's mtime).
    k = 0
    for dp, dns, fns in os.walk(root, topdown=False):
        for n in fns + dns:
            p = os.path.join(dp, n)
            k += 1
            ts = (t + k * 1000) * 10**9 + k * 1234567
            os.utime(p, ns=(ts, ts), follow_symlinks=False)
    os.utime(root, ns=(t * 10**9 + 42, t * 10**9 + 42))
    return facts
