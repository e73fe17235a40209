#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What a veilfs mount leaves in the cipher dir.

usage: test_cipherdir.py VEILFS

* No plaintext: a random marker written through the mount into file
  contents, file and directory names (short and long), symlink targets,
  xattr names and values never appears in the cipher dir (contents, names,
  symlink targets, xattrs; also 'grep -r'); no plaintext name appears.
* Layout: veilfs.conf at the top, veilfs.diriv in every directory, every
  other name base64url or a reserved veilfs.* name, long names as
  veilfs.ln.<hash> + .name sidecar, no temporary leftovers, one cipher file
  per plaintext file with size 32 + n + 40 * blocks (0 for an empty file).
* Properties of the scheme visible from outside: the same name encrypts
  differently in two directories and identically when recreated in the same
  one; equal contents give different ciphertext; overwriting one block
  rewrites only that block; appending keeps the full blocks before the old
  end; renaming a directory does not rewrite its children.
"""

import os
import random
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import BLOCK, CBLOCK, HEADER_BYTES, check, check_eq, read_file, write_file  # noqa: E402

B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
RESERVED = re.compile(r"^veilfs\.(conf|diriv|ln\.[A-Za-z0-9_-]+(\.name)?|lt\.[A-Za-z0-9_-]+)$")


def is_reserved(n):
    return n.startswith("veilfs.")


def cipher_entries(d):
    """Non-reserved entries of one cipher directory."""
    return sorted(n for n in os.listdir(d) if not is_reserved(n) or n.startswith("veilfs.ln.")
                  and not n.endswith(".name"))


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    marker = "VEILMARK%016x" % random.getrandbits(64)
    mb = marker.encode()
    tap.diag("marker: " + marker)

    names = []  # every plaintext name used

    def n(x):
        names.append(x)
        return x

    plain_sizes = []

    def populate():
        m = vol.mount(fg=True)
        try:
            j = m.p
            write_file(j(n(marker + ".txt")), mb * 2000)  # 48 KB, many blocks
            write_file(j(n("small")), mb)
            os.mkdir(j(n("dir-" + marker)))
            write_file(j("dir-" + marker, n("inner-" + marker)), b"x" + mb + b"y")
            os.symlink("/target/" + marker, j(n("link-" + marker)))
            os.symlink(marker * 100, j(n("longlink")))  # a long target too
            long_name = (marker + "L" * 255)[:255]
            write_file(j(n(long_name)), mb * 3)
            long_dir = ("D" + marker + "d" * 255)[:255]
            os.mkdir(j(n(long_dir)))
            write_file(j(long_dir, n("in-long-dir-" + marker)), mb)
            os.mkdir(j(long_dir, n("plainname-subdir")))
            write_file(j(long_dir, "plainname-subdir", n("plainname-hello")), b"hello")
            os.setxattr(j("small"), "user." + marker, mb * 3)
            os.setxattr(j("dir-" + marker), "user.plainattr", mb)
            os.link(j("small"), j(n("hardlink-" + marker)))
            write_file(j(n("empty")), b"")
            os.mkfifo(j(n("fifo-" + marker)))
            # an unlinked-but-open file must not leave anything behind
            fd = os.open(j(n("unlinked-" + marker)), os.O_RDWR | os.O_CREAT, 0o600)
            os.write(fd, mb * 100)
            os.unlink(j("unlinked-" + marker))
            os.write(fd, mb)
            os.close(fd)
            # a file removed again, and a renamed one
            write_file(j(n("removed-" + marker)), mb)
            os.unlink(j("removed-" + marker))
            write_file(j(n("before-rename")), mb * 5)
            os.rename(j("before-rename"), j(n("after-rename-" + marker)))
            seen = set()
            for dp, dns, fns in os.walk(m.path):
                for f in fns:
                    st = os.lstat(os.path.join(dp, f))
                    if os.path.isfile(os.path.join(dp, f)) and not os.path.islink(os.path.join(dp, f)):
                        if st.st_ino not in seen:
                            seen.add(st.st_ino)
                            plain_sizes.append(st.st_size)
            os.sync()
            return m
        except BaseException:
            m.unmount(quiet=True)
            raise
    m = tap.run("populate the volume with marker-bearing names, contents, links and xattrs", populate)

    def scan(when):
        problems = []
        for dp, dns, fns in os.walk(vol.dir):
            for x in dns + fns:
                p = os.path.join(dp, x)
                if marker in x:
                    problems.append("marker in name %s" % p)
                for pn in names:
                    if pn == x or (len(pn) >= 6 and pn in x):
                        problems.append("plaintext name %r in %s" % (pn, p))
                if os.path.islink(p):
                    if marker in os.readlink(p):
                        problems.append("marker in symlink target of %s" % p)
                elif os.path.isfile(p):
                    if mb in read_file(p):
                        problems.append("marker in contents of %s" % p)
                try:
                    for k in os.listxattr(p, follow_symlinks=False):
                        if marker in k or "plainattr" in k:
                            problems.append("plaintext xattr name %s on %s" % (k, p))
                        if mb in os.getxattr(p, k, follow_symlinks=False):
                            problems.append("marker in xattr %s of %s" % (k, p))
                except OSError:
                    pass
        r = subprocess.run(["grep", "-r", "-a", "-l", "-F", marker, vol.dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 1:
            problems.append("grep -r found the marker (%d): %s" % (r.returncode, r.stdout.decode()))
        check(not problems, "%s:\n" % when + "\n".join(problems[:30]))

    if m:
        tap.run("no plaintext marker or name in the cipher dir while mounted", scan, "mounted")
        tap.run("unmount", m.unmount)
    tap.run("no plaintext marker or name in the cipher dir after unmount", scan, "unmounted")

    def layout():
        problems = []
        check(os.path.isfile(vol.c("veilfs.conf")), "no veilfs.conf")
        longs, sidecars = set(), set()
        for dp, dns, fns in os.walk(vol.dir):
            if not os.path.isfile(os.path.join(dp, "veilfs.diriv")):
                problems.append("no veilfs.diriv in %s" % dp)
            elif os.path.getsize(os.path.join(dp, "veilfs.diriv")) != 16:
                problems.append("veilfs.diriv in %s is not 16 bytes" % dp)
            for x in dns + fns:
                if x == "veilfs.conf" and dp != vol.dir:
                    problems.append("veilfs.conf below the top: %s" % dp)
                if is_reserved(x):
                    if not RESERVED.match(x):
                        problems.append("unexpected reserved-looking name %s in %s" % (x, dp))
                    if x.startswith("veilfs.ln."):
                        (sidecars if x.endswith(".name") else longs).add(os.path.join(dp, x))
                elif not B64URL.match(x):
                    problems.append("name %r in %s is not base64url" % (x, dp))
                elif len(x) > 255:
                    problems.append("name longer than 255: %s" % x)
        for lp in longs:
            if lp + ".name" not in sidecars:
                problems.append("long name %s has no .name sidecar" % lp)
        for sp in sidecars:
            if sp[:-5] not in longs:
                problems.append("sidecar %s without its long-name entry" % sp)
        if len(longs) < 2:
            problems.append("expected long-name entries for the 255-byte file and dir names, found %d"
                            % len(longs))
        check(not problems, "\n".join(problems))
    tap.run("layout: veilfs.conf, veilfs.diriv everywhere, base64url names, long names + sidecar",
            layout)

    def sizes():
        got = []
        seen = set()
        for dp, dns, fns in os.walk(vol.dir):
            for x in fns:
                p = os.path.join(dp, x)
                if is_reserved(x) and not (x.startswith("veilfs.ln.") and not x.endswith(".name")):
                    continue
                st = os.lstat(p)
                if st.st_mode & 0o170000 == 0o100000 and st.st_ino not in seen:
                    seen.add(st.st_ino)  # hard links are hard links below too
                    got.append(st.st_size)
        want = sorted(vfs.cipher_size(s) for s in plain_sizes)
        # symlinks with long targets may be stored as files (veilfs.lt.*);
        # everything else maps one to one
        check_eq(sorted(got), want, "cipher file sizes (one per plaintext file, 32+n+40*blocks)")
    tap.run("one cipher file per plaintext file, size 32 + n + 40 per block; empty is 0 bytes", sizes)

    # ---------------------------------------------------- scheme properties
    def same_name():
        v = vfs.Volume(ws, veilfs, name="cipher-names")
        m = v.mount(fg=True)
        try:
            os.mkdir(m.p("a"))
            os.mkdir(m.p("b"))
            for p in (m.p("same"), m.p("a", "same"), m.p("b", "same")):
                write_file(p, b"")
        finally:
            m.unmount()
        top = cipher_entries(v.dir)
        check_eq(len(top), 3, "entries at the top")
        dirs = [x for x in top if os.path.isdir(v.c(x))]
        files = [x for x in top if not os.path.isdir(v.c(x))]
        inner = [cipher_entries(v.c(d)) for d in dirs]
        check(all(len(i) == 1 for i in inner), "each dir holds one entry: %s" % inner)
        encs = [files[0], inner[0][0], inner[1][0]]
        check_eq(len(set(encs)), 3, "cipher names of 'same' in three dirs (%s)" % encs)
        # recreated in the same dir: same cipher name (deterministic)
        m = v.mount(fg=True)
        try:
            os.unlink(m.p("a", "same"))
            write_file(m.p("a", "same"), b"again")
        finally:
            m.unmount()
        after = sorted(cipher_entries(v.c(d))[0] for d in dirs)
        check_eq(after, sorted(inner[0] + inner[1]), "cipher names after recreating a/same")
    tap.run("same name: different in different dirs, identical when recreated", same_name)

    def same_content():
        v = vfs.Volume(ws, veilfs, name="cipher-content")
        data = random.Random(1).randbytes(3 * BLOCK + 10)
        m = v.mount(fg=True)
        try:
            write_file(m.p("x"), data)
            write_file(m.p("y"), data)
        finally:
            m.unmount()
        cs = [read_file(v.c(x)) for x in cipher_entries(v.dir)]
        check_eq(len(cs), 2, "cipher files")
        a, b = cs
        check_eq(len(a), vfs.cipher_size(len(data)), "cipher size")
        check(a[8:32] != b[8:32], "equal file IDs for two files")
        for i in range(4):
            o = HEADER_BYTES + i * CBLOCK
            check(a[o:o + 24] != b[o:o + 24], "equal nonces in block %d" % i)
            check(a[o + 24:o + 64] != b[o + 24:o + 64], "equal ciphertext in block %d" % i)
    tap.run("equal contents give different file IDs, nonces and ciphertext", same_content)

    def one_block():
        v = vfs.Volume(ws, veilfs, name="cipher-blocks")
        data = bytearray(random.Random(2).randbytes(10 * BLOCK + 1000))
        m = v.mount(fg=True)
        try:
            write_file(m.p("f"), data)
        finally:
            m.unmount()
        name = cipher_entries(v.dir)[0]
        before = read_file(v.c(name))
        m = v.mount(fg=True)
        try:
            fd = os.open(m.p("f"), os.O_WRONLY)
            os.pwrite(fd, b"!", 5 * BLOCK + 100)
            os.close(fd)
            data[5 * BLOCK + 100] = ord("!")
        finally:
            m.unmount()
        after = read_file(v.c(name))
        check_eq(len(after), len(before), "cipher size")
        lo, hi = HEADER_BYTES + 5 * CBLOCK, HEADER_BYTES + 6 * CBLOCK
        check(before[:lo] == after[:lo], "bytes before block 5 changed: %s" % vfs.bytes_diff(before[:lo], after[:lo]))
        check(before[hi:] == after[hi:], "bytes after block 5 changed")
        check(before[lo:hi] != after[lo:hi], "block 5 unchanged")
        # append: full blocks before the old last block stay
        m = v.mount(fg=True)
        try:
            with open(m.p("f"), "ab") as f:
                f.write(b"A" * 10000)
            data += b"A" * 10000
            check_eq(read_file(m.p("f")), bytes(data), "content after append")
        finally:
            m.unmount()
        appended = read_file(v.c(name))
        check_eq(len(appended), vfs.cipher_size(len(data)), "cipher size after append")
        keep = HEADER_BYTES + 10 * CBLOCK
        check(appended[:keep] == after[:keep], "full blocks before the old end were rewritten: %s"
              % vfs.bytes_diff(appended[:keep], after[:keep]))
    tap.run("overwriting one block rewrites only it; append keeps earlier full blocks", one_block)

    def dir_rename():
        v = vfs.Volume(ws, veilfs, name="cipher-rename")
        m = v.mount(fg=True)
        try:
            os.mkdir(m.p("d1"))
            for i in range(20):
                write_file(m.p("d1", "child%d" % i), b"c" * i * 300)
            os.mkdir(m.p("d1", "sub"))
            write_file(m.p("d1", "sub", "deep"), b"deep")
        finally:
            m.unmount()
        top = cipher_entries(v.dir)
        check_eq(len(top), 1, "entries at the top")
        before = vfs.snapshot(v.c(top[0]))
        m = v.mount(fg=True)
        try:
            os.rename(m.p("d1"), m.p("renamed-dir"))
            check_eq(read_file(m.p("renamed-dir", "sub", "deep")), b"deep", "child after rename")
        finally:
            m.unmount()
        top2 = cipher_entries(v.dir)
        check_eq(len(top2), 1, "entries at the top after rename")
        check(top2 != top, "cipher name unchanged by rename")
        check_eq(vfs.snapshot(v.c(top2[0])), before, "children of the renamed dir")
    tap.run("renaming a directory does not rewrite its children", dir_rename)

    def leftovers():
        bad = [os.path.join(dp, x) for dp, dns, fns in os.walk(ws.path) for x in dns + fns
               if x.startswith("veilfs.tmp.") or x.startswith(".fuse_hidden")]
        check(not bad, "temporary files left behind: %s" % bad)
    tap.run("no veilfs.tmp.* or .fuse_hidden* leftovers in any cipher dir", leftovers)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
