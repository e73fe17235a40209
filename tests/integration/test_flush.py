#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Deferred write errors of the backing store reach close(2).

A network or FUSE backing store (NFS, SMB, sshfs, a sync client) may take a
write into its cache and report ENOSPC only when the file is closed. The
cipher dir here is on flushfail (tests/integration/flushfail.c), a
passthrough FUSE file system whose FLUSH answers ENOSPC for the cipher
files named in its control file: the application's close() of the
plaintext file must fail with ENOSPC, and the daemon must log the failed
close of RELEASE. On a tmpfs cipher dir (a local file system that fails
the write itself) veilfs has no FLUSH handler: the kernel sends at most
one FLUSH (answered ENOSYS) for any number of closes.

usage: test_flush.py VEILFS FLUSHFAIL
"""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file  # noqa: E402

FLUSH_RE = re.compile(r"opcode: FLUSH \(")


def start_flushfail(flushfail, ws):
    """Mount flushfail over a fresh backing dir; returns (Mount, control)."""
    backing = ws.mkdir("backing")
    mnt = ws.mkdir("ffmnt")
    control = os.path.join(ws.path, "control")
    open(control, "w").close()
    logpath = ws.unique("flushfail", ".log")
    with open(logpath, "wb") as logf:
        proc = subprocess.Popen([flushfail, backing, control, mnt], stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=logf)
    # A vfs.Mount: unmounted (fusermount3 -u, then the process waited for)
    # by the test and, on any failure or signal, by vfs's exit handler.
    m = vfs.Mount(flushfail, backing, mnt, fg=True, proc=proc, logpath=logpath)
    end = time.monotonic() + vfs.MOUNT_TIMEOUT
    while not vfs.is_fuse_mounted(mnt):
        if proc.poll() is not None:
            m.mounted = False
            vfs._mounts.remove(m)
            raise AssertionError("flushfail exited %d: %s" % (proc.returncode, m.log()))
        if time.monotonic() > end:
            m.unmount(quiet=True)
            raise AssertionError("flushfail: not mounted after %.0fs" % vfs.MOUNT_TIMEOUT)
        time.sleep(0.02)
    return m, control


def write_close(path, data, append=False):
    """open, write, close; returns the errno of close() (0 if it worked)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC), 0o644)
    try:
        os.write(fd, data)
    except OSError:
        os.close(fd)
        raise
    return vfs.errno_of(os.close, fd)


def main():
    veilfs, extra = vfs.setup(usage="VEILFS FLUSHFAIL", nargs=1)
    flushfail = os.path.abspath(extra[0])
    tap = vfs.Tap()
    ws = vfs.Workspace()
    pw = os.path.join(ws.path, "pass")
    with open(pw, "w") as f:
        f.write(vfs.PASSPHRASE + "\n")
    os.chmod(pw, 0o600)

    def deferred_enospc():
        ff, control = start_flushfail(flushfail, ws)
        try:
            vol = vfs.Volume(ws, veilfs, name=os.path.join(os.path.basename(ff.path), "cipher"))
            m = vol.mount(fg=True, debug=True)
            try:
                first = os.urandom(70000)
                check_eq(write_close(m.p("f"), first), 0, "close() before any error")
                r = vfs.run([veilfs, "path", "--passfile", pw, vol.dir, "f"])
                check_eq(r.returncode, 0, "veilfs path f (stderr %r)" % r.stderr)
                # its path below flushfail's root (= below the backing dir)
                cipher = os.path.relpath(vol.c(r.stdout.strip()), ff.path)
                check(os.path.isfile(os.path.join(ff.cipherdir, cipher)),
                      "cipher file %s in the backing dir" % cipher)
                with open(control, "w") as c:
                    c.write(cipher + "\n")
                flushes = len(FLUSH_RE.findall(m.log()))
                got = write_close(m.p("f"), b"lost on close", append=True)
                check_eq(vfs.errno_name(got), "ENOSPC", "close() after the backing store's "
                         "FLUSH failed")
                check(len(FLUSH_RE.findall(m.log())) > flushes, "FLUSH was sent to veilfs")
                # Read-only handles are not asked: nothing of theirs can be lost.
                check_eq(read_file(m.p("f"))[:len(first)], first, "f read back")
                # Other files of the same volume are unaffected.
                check_eq(write_close(m.p("g"), b"fine"), 0, "close() of another file")
                with open(control, "w"):
                    pass
                check_eq(write_close(m.p("f"), b"!", append=True), 0,
                         "close() once the store accepts it again")
            finally:
                m.unmount()
            log = m.log()
            check(re.search(r"closing the cipher file failed.*No space left", log),
                  "the failed close of RELEASE is logged; log: %s" % log[-3000:])
        finally:
            ff.unmount()
    tap.run("close() reports ENOSPC that the backing store defers to its close",
            deferred_enospc)

    def tmpfs_no_flush():
        shm = "/dev/shm"
        if not os.path.isdir(shm) or vfs.run(["stat", "-f", "-c", "%T", shm]).stdout.strip() \
                != "tmpfs":
            raise vfs.Skip("no tmpfs at /dev/shm")
        w2 = vfs.Workspace()
        w2.remove()  # the mkdtemp dir is on /tmp; use one on tmpfs instead
        base = tempfile.mkdtemp(prefix="veilfs-it-flush-", dir=shm)
        w2.path = base
        vfs._workspaces.append(w2)
        try:
            vol = vfs.Volume(w2, veilfs)
            m = vol.mount(fg=True, debug=True)
            try:
                for i in range(8):
                    check_eq(write_close(m.p("t%d" % i), b"x" * 5000), 0, "close() of t%d" % i)
                n = len(FLUSH_RE.findall(m.log()))
            finally:
                m.unmount()
            check(n <= 1, "FLUSH requests for 8 closes on tmpfs: %d (want at most the "
                  "first, answered ENOSYS)" % n)
        finally:
            w2.remove()
    tap.run("tmpfs cipher dir: no FLUSH handler, at most one FLUSH for 8 closes", tmpfs_no_flush)

    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
