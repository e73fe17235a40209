#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The example program of libveilfs (examples/veilfs-read.c) lists and
reads volumes exactly, without FUSE.

usage: test_example.py VEILFS VEILFS-READ FIXTURES-DIR

- The committed volume tests/fixtures/v1 (a copy): every directory listed
  by veilfs-read matches the manifest (names, types, sizes) and the output
  of 'veilfs ls' byte for byte; every file read by veilfs-read has the
  manifest's SHA-256. The passphrase comes from --passfile or stdin.
- A wrong passphrase: exit 1, "wrong passphrase", nothing on stdout.
- A tampered block: exit 1, "authentication failed", nothing on stdout;
  the other files still read.
- A volume made now by 'veilfs init' and written through a mount (skipped
  where FUSE cannot be used): its files read back exactly, opened with the
  passphrase and with the recovery key that init wrote.
"""

import hashlib
import os
import shutil
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integration"))
import vfs  # noqa: E402
from vfs import check, check_eq  # noqa: E402

sys.path.insert(0, os.path.join(here, "..", "integration"))
from test_fixture import parse_manifest  # noqa: E402


def run(cmd, stdin=b""):
    return subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120)


def main():
    if len(sys.argv) != 4:
        print("usage: test_example.py VEILFS VEILFS-READ FIXTURES-DIR", file=sys.stderr)
        sys.exit(2)
    veilfs, reader, fixtures = (os.path.abspath(a) for a in sys.argv[1:])
    tap = vfs.Tap()
    ws = vfs.Workspace(prefix="veilfs-example-")

    pw, entries = parse_manifest(os.path.join(fixtures, "v1.manifest"))
    vol = os.path.join(ws.path, "v1")
    shutil.copytree(os.path.join(fixtures, "v1"), vol, symlinks=True)
    for dp, dns, fns in os.walk(vol):
        os.chmod(dp, 0o700)
    passfile = os.path.join(ws.path, "pass")
    with open(passfile, "w") as f:
        f.write(pw + "\n")
    os.chmod(passfile, 0o600)

    dirs = [""] + sorted(k for k, e in entries.items() if e[0] == "d")

    def listing_matches_manifest():
        for d in dirs:
            r = run([reader, "--passfile", passfile, "ls", vol, d])
            check_eq(r.returncode, 0, "exit status of ls %r (stderr %r)" % (d, r.stderr))
            got = []
            for line in r.stdout.decode("utf-8").splitlines():
                kind_mode, size, name = line.split(None, 2)
                got.append((kind_mode[0], int(size), name))
            want = []
            for k, e in entries.items():
                if os.path.dirname(k) != d:
                    continue
                kind = {"f": "-", "d": "d", "l": "l"}[e[0]]
                # the plaintext size of files, 0 for symlinks; a directory's
                # size is its cipher directory's (not in the manifest)
                want.append((kind, e[1] if e[0] == "f" else 0, os.path.basename(k)))
            got = [(t, 0 if t == "d" else sz, nm) for t, sz, nm in got]
            check_eq(got, sorted(want, key=lambda t: t[2].encode()), "listing of %r" % d)
    tap.run("v1: veilfs-read ls of all %d directories matches the manifest" % len(dirs),
            listing_matches_manifest)

    def listing_matches_cli():
        for d in dirs:
            a = run([reader, "ls", vol, d], stdin=(pw + "\n").encode())
            b = run([veilfs, "ls", "--passfile", passfile, vol, d])
            check_eq(a.returncode, 0, "veilfs-read ls %r (passphrase on stdin)" % d)
            check_eq(b.returncode, 0, "veilfs ls %r" % d)
            check_eq(a.stdout, b.stdout, "veilfs-read ls and veilfs ls of %r" % d)
    tap.run("v1: veilfs-read ls (passphrase on stdin) prints what veilfs ls prints",
            listing_matches_cli)

    files = sorted(k for k, e in entries.items() if e[0] == "f")

    def cat_all():
        for p in files:
            r = run([reader, "--passfile", passfile, "cat", vol, p])
            check_eq(r.returncode, 0, "exit status of cat %r (stderr %r)" % (p, r.stderr))
            check_eq(len(r.stdout), entries[p][1], "size of %r" % p)
            check_eq(hashlib.sha256(r.stdout).hexdigest(), entries[p][2], "SHA-256 of %r" % p)
    tap.run("v1: veilfs-read cat of all %d files matches the manifest's SHA-256" % len(files),
            cat_all)

    def not_files():
        r = run([reader, "--passfile", passfile, "cat", vol, "docs"])
        check(r.returncode == 1 and r.stdout == b"" and b"directory" in r.stderr,
              "cat of a directory: %d %r" % (r.returncode, r.stderr))
        r = run([reader, "--passfile", passfile, "cat", vol, "link-to-one-byte"])
        check(r.returncode == 1 and r.stdout == b"" and b"symbolic link" in r.stderr,
              "cat of a symlink: %d %r" % (r.returncode, r.stderr))
        r = run([reader, "--passfile", passfile, "cat", vol, "docs/../one-byte"])
        check(r.returncode == 1 and r.stdout == b"", "cat of a path with '..': %d" % r.returncode)
        r = run([reader, "--passfile", passfile, "ls", vol, "no-such-dir"])
        check(r.returncode == 1 and r.stdout == b"" and b"no such" in r.stderr.lower(),
              "ls of a missing directory: %d %r" % (r.returncode, r.stderr))
    tap.run("v1: a directory, a symlink, '..' and a missing name are refused", not_files)

    def wrong_pass():
        for args, stdin in ((["ls", vol], b"not the passphrase\n"),
                            (["cat", vol, "one-byte"], b"not the passphrase\n")):
            r = run([reader] + args, stdin=stdin)
            check_eq(r.returncode, 1, "exit status with a wrong passphrase")
            check_eq(r.stdout, b"", "stdout with a wrong passphrase")
            check(b"wrong passphrase" in r.stderr, "message: %r" % r.stderr)
        r = run([reader, "ls", vol], stdin=b"")
        check(r.returncode == 1 and r.stdout == b"", "no passphrase at all: %d" % r.returncode)
    tap.run("v1: a wrong or missing passphrase: exit 1, a clear message, no output", wrong_pass)

    def tampered():
        victim = "docs/readme.txt"
        r = run([veilfs, "path", "--passfile", passfile, vol, victim])
        check_eq(r.returncode, 0, "veilfs path (stderr %r)" % r.stderr)
        cpath = r.stdout.decode().strip()
        if not os.path.isabs(cpath):
            cpath = os.path.join(vol, cpath)
        check(os.path.isfile(cpath), "cipher file %s exists" % cpath)
        data = bytearray(open(cpath, "rb").read())
        os.chmod(cpath, 0o600)
        for pos in (vfs.HEADER_BYTES + 30, len(data) - 1):  # ciphertext, then the tag
            bad = bytearray(data)
            bad[pos] ^= 0x01
            with open(cpath, "wb") as f:
                f.write(bad)
            r = run([reader, "--passfile", passfile, "cat", vol, victim])
            check_eq(r.returncode, 1, "exit status, byte %d flipped" % pos)
            check_eq(r.stdout, b"", "stdout, byte %d flipped" % pos)
            check(b"authentication failed" in r.stderr, "message: %r" % r.stderr)
        with open(cpath, "wb") as f:
            f.write(data)
        r = run([reader, "--passfile", passfile, "cat", vol, victim])
        check_eq(hashlib.sha256(r.stdout).hexdigest(), entries[victim][2], "restored file")
    tap.run("v1: a flipped byte of a file's block: exit 1, authentication failed, no data",
            tampered)

    if vfs.fuse_problem() or shutil.which("fusermount3") is None:
        tap.skip("a new volume written through a mount", vfs.fuse_problem() or "no fusermount3")
    else:
        def fresh():
            cdir = os.path.join(ws.path, "fresh")
            rk = os.path.join(ws.path, "fresh.rk")
            r = run([veilfs, "init", "--kdf", "interactive", "--recovery-key-file", rk, cdir],
                    stdin=(vfs.PASSPHRASE + "\n").encode())
            check_eq(r.returncode, 0, "veilfs init (stderr %r)" % r.stderr)
            v = vfs.Volume(ws, veilfs, name="fresh", create=False)
            want = {"a.txt": b"hello libveilfs\n", "big.bin": os.urandom(3 * vfs.BLOCK + 17),
                    "sub/deeper/n\u00e4me.txt": b"x" * vfs.BLOCK, "empty": b""}
            m = v.mount(fg=True)
            try:
                for p, data in want.items():
                    os.makedirs(os.path.join(m.path, os.path.dirname(p)), exist_ok=True)
                    vfs.write_file(os.path.join(m.path, p), data)
            finally:
                m.unmount()
            for secret in (vfs.PASSPHRASE, open(rk).readline().strip()):
                for p, data in want.items():
                    r = run([reader, "cat", cdir, p], stdin=(secret + "\n").encode())
                    check_eq(r.returncode, 0, "cat %r (stderr %r)" % (p, r.stderr))
                    check(r.stdout == data, "bytes of %r" % p)
                r = run([reader, "ls", cdir], stdin=(secret + "\n").encode())
                check_eq([ln.split(None, 2)[2] for ln in r.stdout.decode().splitlines()],
                         ["a.txt", "big.bin", "empty", "sub"], "root listing")
                r = run([reader, "ls", cdir, "sub/deeper"], stdin=(secret + "\n").encode())
                check_eq(r.stdout.decode().split(None, 2)[1:], ["4096", "n\u00e4me.txt\n"],
                         "sub/deeper listing")
        tap.run("new volume written through a mount reads back, by passphrase and by "
                "recovery key", fresh)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
