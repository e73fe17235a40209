#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fsck --repair leaves alone what it cannot read now.

usage: test_unreadable.py VEILFS

A dir IV or a long-name sidecar that cannot be read at the moment (EACCES
here: fsck runs as the volume's non-root owner with the file at mode 000)
is not damage: the bytes may be intact. fsck reports it as an I/O problem
and exits 4; --repair must neither write a new dir IV nor move entries to
lost+found nor remove anything (that would lose every name that depends on
the intact IV for good), and must not count the link blobs of the subtree
it could not walk as orphans. Once the file is readable again, fsck is clean
and the tree reads back as before.
"""

import os
import shutil
import subprocess
import pwd
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402

LONG = "L" * 200


def ldd_libveilfs(exe):
    """The libveilfs.so.* files that exe loads (none if it is linked statically)."""
    r = subprocess.run(["ldd", exe], capture_output=True, text=True)
    return [line.split("=>")[1].split()[0] for line in r.stdout.splitlines()
            if "libveilfs.so" in line and "=>" in line and "/" in line.split("=>")[1]]


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    if os.geteuid() != 0:
        vfs.skip_all("needs root to run fsck as another user")
    vfs.need("setpriv")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        vfs.skip_all("no user nobody")
    ws = vfs.Workspace()
    os.chmod(ws.path, 0o755)
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")
    passfile = os.path.join(ws.path, "pass")
    write_file(passfile, (vol.passphrase + "\n").encode(), 0o600)
    os.chown(passfile, nobody.pw_uid, nobody.pw_gid)
    # root's own copy: --passfile refuses a file another user owns (and could rewrite)
    rootpass = os.path.join(ws.path, "pass-root")
    write_file(rootpass, (vol.passphrase + "\n").encode(), 0o600)
    # nobody runs a copy of veilfs and its library from a directory it can
    # search: the build tree may sit below one only root can (/root, a
    # mode-0700 clone), and the dynamic loader then finds no libveilfs.
    bindir = ws.mkdir("bin")
    os.chmod(bindir, 0o755)
    nobody_veilfs = os.path.join(bindir, "veilfs")
    shutil.copy(veilfs, nobody_veilfs)
    for lib in ldd_libveilfs(veilfs):
        shutil.copy(lib, os.path.join(bindir, os.path.basename(lib)))
    for n in os.listdir(bindir):
        os.chmod(os.path.join(bindir, n), 0o755)
    files = {"sub/a.txt": b"alpha\n" * 100, "sub/" + LONG: b"long name\n",
             "sub/deep/b.bin": os.urandom(9000), "top.txt": b"top\n"}

    def veil(*args):
        cmd = ["setpriv", "--reuid=%d" % nobody.pw_uid, "--regid=%d" % nobody.pw_gid,
               "--clear-groups", nobody_veilfs, args[0], "--passfile", passfile] + list(args[1:])
        return vfs.run(cmd, timeout=300)

    def cpath(plain):
        r = vfs.run([veilfs, "path", "--passfile", rootpass, vol.dir, plain])
        check_eq(r.returncode, 0, "veilfs path %s (%s)" % (plain, r.stderr))
        return os.path.join(vol.dir, r.stdout.strip())

    def populate():
        m = vol.mount(mnt, fg=True)
        try:
            os.makedirs(m.p("sub/deep"))
            for n, d in files.items():
                write_file(m.p(n), d)
            os.symlink("T" * 3500, m.p("sub/blobbed"))  # its target lives in a root blob
        finally:
            m.unmount()
        for dirpath, dirnames, filenames in os.walk(vol.dir):
            for n in dirnames + filenames:
                os.lchown(os.path.join(dirpath, n), nobody.pw_uid, nobody.pw_gid)
        os.chown(vol.dir, nobody.pw_uid, nobody.pw_gid)
    if not tap.run("populate a volume owned by nobody", populate):
        sys.exit(tap.done())

    def snapshot():
        out = {}
        for dirpath, _, filenames in os.walk(vol.dir):
            for n in filenames:
                p = os.path.join(dirpath, n)
                out[os.path.relpath(p, vol.dir)] = (
                    ("link", os.readlink(p)) if os.path.islink(p) else read_file(p))
        return out

    def unreadable(path, what):
        before = snapshot()
        os.chmod(path, 0)
        try:
            r = veil("fsck", vol.dir)
            check_eq(r.returncode, 4, "fsck with the %s unreadable exits 4:\n%s%s" % (
                what, r.stdout, r.stderr))
            check("cannot be read" in r.stdout, "fsck names the unreadable %s:\n%s" % (
                what, r.stdout))
            r = veil("fsck", "--repair", vol.dir)
            check_eq(r.returncode, 4, "fsck --repair leaves it uncorrected (exit 4):\n%s%s" % (
                r.stdout, r.stderr))
        finally:
            os.chmod(path, 0o444)
        check_eq(snapshot(), before, "nothing in the cipher directory changed")
        r = veil("fsck", vol.dir)
        check_eq(r.returncode, 0, "readable again: fsck is clean:\n%s%s" % (r.stdout, r.stderr))

    tap.run("an unreadable dir IV is reported, not replaced",
            lambda: unreadable(os.path.join(cpath("sub"), "veilfs.diriv"), "dir IV"))
    tap.run("an unreadable long-name sidecar is reported, not moved",
            lambda: unreadable(cpath("sub/" + LONG) + ".name", "sidecar"))

    def contents():
        m = vol.mount(mnt, fg=True)
        try:
            for n, d in files.items():
                check_eq(read_file(m.p(n)), d, n + " reads back")
            check_eq(os.readlink(m.p("sub/blobbed")), "T" * 3500, "the long symlink reads back")
            check(not os.path.exists(m.p("lost+found")), "no lost+found was made")
        finally:
            m.unmount()
    tap.run("the tree reads back unchanged", contents)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
