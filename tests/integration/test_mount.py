#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""'veilfs mount': the life cycle of a mount and every kind of bad input.

usage: test_mount.py VEILFS

Bad input: each case must exit with its documented code, print exactly one
line on stderr, leave nothing mounted and no daemon running, and leave the
cipher dir and the mount point exactly as they were.
Life cycle: a background mount exits 0 only once mounted and detaches from
the caller's stdio; fusermount3 -u ends the daemon; SIGTERM/SIGINT to a -f
daemon unmount it; --passfile, --extpass, relative paths and odd mount point
names work.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402

EXIT_USAGE, EXIT_NOTVOL, EXIT_CORRUPT, EXIT_PASS, EXIT_MOUNT = 2, 3, 4, 5, 7


def veilfs_pids_for(veilfs, path):
    """veilfs processes whose command line names @path (cipher dir or mount point)."""
    return vfs.daemon_pids(veilfs, path)


def bad_mount(veilfs, ws, vol_dir, mnt, want_rc, args=(), stdin=None, opts_before=()):
    """Run a mount that must fail; check rc, one stderr line, nothing
    mounted, nothing changed. Returns the stderr line."""
    snap_c = vfs.snapshot(vol_dir) if os.path.isdir(vol_dir) else None
    snap_m = vfs.snapshot(mnt) if os.path.isdir(mnt) else None
    was_mounted = vfs.is_fuse_mounted(mnt) if os.path.exists(mnt) else False
    cmd = [veilfs, "mount"] + list(opts_before) + list(args)
    if stdin is None:
        stdin = vfs.PASSPHRASE + "\n"
    r = vfs.run(cmd, stdin=stdin, timeout=60)
    problems = []
    wants = want_rc if isinstance(want_rc, tuple) else (want_rc,)
    if r.returncode not in wants:
        problems.append("exit %d, want %s" % (r.returncode, " or ".join(map(str, wants))))
    lines = r.stderr.splitlines()
    if len(lines) != 1 or not lines[0].strip():
        problems.append("stderr has %d lines, want exactly 1: %r" % (len(lines), r.stderr))
    if r.stdout:
        problems.append("unexpected stdout: %r" % r.stdout)
    if os.path.exists(mnt) and vfs.is_fuse_mounted(mnt) != was_mounted:
        problems.append("mount state of %s changed" % mnt)
        vfs.Mount(veilfs, vol_dir, mnt, fg=False)  # registered for cleanup
    left = [p for p in veilfs_pids_for(veilfs, vol_dir)] if not was_mounted else []
    if left:
        problems.append("veilfs processes left running: %s" % left)
        vfs.Mount(veilfs, vol_dir, mnt, fg=False).pids = left
    if snap_c is not None and vfs.snapshot(vol_dir) != snap_c:
        problems.append("cipher dir changed")
    if snap_m is not None and not was_mounted and vfs.snapshot(mnt) != snap_m:
        problems.append("mount point changed")
    if problems:
        raise AssertionError("; ".join(problems) + "\ncommand: %s\nstderr: %s" % (cmd, r.stderr))
    return lines[0]


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    os.chmod(ws.path, 0o755)
    vol = vfs.Volume(ws, veilfs)

    # put one file in the volume for the later checks
    m = vol.mount(fg=True)
    write_file(m.p("hello"), b"hello world\n")
    m.unmount()

    def mnt_ok():
        d = ws.mkdir("mnt")
        return d

    def check_hello(path):
        check_eq(read_file(os.path.join(path, "hello")), b"hello world\n", "hello through the mount")

    # ---------------------------------------------------------- life cycle
    def t_background():
        mnt = mnt_ok()
        # pipes, not files: a daemon that keeps the caller's stdout/stderr
        # open makes every '$(veilfs mount ...)' or pipeline hang
        p = subprocess.Popen([veilfs, "mount", vol.dir, mnt], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate((vfs.PASSPHRASE + "\n").encode(), timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            mm = vfs.Mount(veilfs, vol.dir, mnt, fg=False)
            mm.pids = vfs.daemon_pids(veilfs, mnt)
            raise AssertionError("background mount did not return within 30 s, or keeps "
                                 "stdout/stderr of the caller open (mounted: %s)"
                                 % vfs.is_fuse_mounted(mnt))
        mounted_at_exit = vfs.is_fuse_mounted(mnt)
        mm = vfs.Mount(veilfs, vol.dir, mnt, fg=False)
        mm.pids = vfs.daemon_pids(veilfs, mnt)
        check_eq(p.returncode, 0, "exit status (stderr %r)" % err)
        check(mounted_at_exit, "mount exited 0 before the filesystem was mounted")
        check_eq(err, b"", "stderr of a successful mount")
        check(mm.pids, "no daemon process found")
        check(p.pid not in mm.pids, "the mount command itself is still running")
        check_hello(mnt)
        e = vfs.mount_entry(mnt)
        check(e[1].startswith("fuse"), "fs type %s" % e[1])
        tap.diag("mountinfo: type=%s source=%s options=%s" % (e[1], e[2], e[3]))
        pids = list(mm.pids)
        r = vfs.run(["fusermount3", "-u", mnt])
        check_eq(r.returncode, 0, "fusermount3 -u: " + r.stderr)
        check(vfs.wait_pids_gone(pids, 10), "daemon %s still running 10 s after fusermount3 -u" % pids)
        mm.unmount()
        check(not vfs.is_fuse_mounted(mnt), "still mounted")
        check_eq(os.listdir(mnt), [], "mount point after unmount")
    tap.run("background mount exits 0 only once mounted, detaches, fusermount3 -u ends it", t_background)

    def t_signal(sig):
        mnt = mnt_ok()
        m = vol.mount(mnt, fg=True)
        check_hello(mnt)
        m.proc.send_signal(sig)
        try:
            rc = m.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError("'mount -f' still running 15 s after signal %d" % sig)
        gone = not vfs.is_fuse_mounted(mnt)
        m.unmount(quiet=True)
        check(gone, "still mounted after the daemon exited on signal %d" % sig)
        # The interface promises the unmount, not an exit status; libfuse
        # reports the signal as the loop's error. Shown, not asserted.
        tap.diag("exit status of 'mount -f' after signal %d: %d" % (sig, rc))
    tap.run("SIGTERM to 'mount -f' unmounts and the daemon exits", t_signal, signal.SIGTERM)
    tap.run("SIGINT to 'mount -f' unmounts and the daemon exits", t_signal, signal.SIGINT)

    def t_passfile():
        pf = os.path.join(ws.path, "passfile")
        write_file(pf, (vfs.PASSPHRASE + "\n").encode(), 0o600)
        mnt = mnt_ok()
        m = vol.mount(mnt, fg=False, extra=["--passfile", pf], passphrase="")
        check_hello(mnt)
        m.unmount()
    tap.run("--passfile", t_passfile)

    def t_extpass():
        pf = os.path.join(ws.path, "extpass-src")
        write_file(pf, (vfs.PASSPHRASE + "\n").encode(), 0o600)
        mnt = mnt_ok()
        m = vol.mount(mnt, fg=False, extra=["--extpass", "cat '%s'" % pf], passphrase="")
        check_hello(mnt)
        m.unmount()
    tap.run("--extpass", t_extpass)

    def t_relative():
        mnt = mnt_ok()
        r = vfs.run([veilfs, "mount", os.path.basename(vol.dir), os.path.basename(mnt)],
                    stdin=vfs.PASSPHRASE + "\n", cwd=ws.path, timeout=30)
        mm = vfs.Mount(veilfs, vol.dir, mnt, fg=False)
        mm.pids = vfs.daemon_pids(veilfs, mnt) + vfs.daemon_pids(veilfs, os.path.basename(mnt))
        check_eq(r.returncode, 0, "exit status (%s)" % r.stderr)
        check(vfs.is_fuse_mounted(mnt), "not mounted")
        check_hello(mnt)
        write_file(os.path.join(mnt, "rel"), b"relative")
        mm.unmount()
        m2 = vol.mount(mnt, fg=True)
        check_eq(read_file(m2.p("rel")), b"relative", "file written via the relative mount")
        os.unlink(m2.p("rel"))
        m2.unmount()
    tap.run("relative CIPHERDIR and MOUNTPOINT", t_relative)

    def t_oddmnt():
        mnt = os.path.join(ws.path, "mount point with spaces\tand\\stuff")
        os.mkdir(mnt)
        m = vol.mount(mnt, fg=False)
        check_hello(mnt)
        m.unmount()
        check(not vfs.is_fuse_mounted(mnt), "still mounted")
    tap.run("mount point with spaces, tab and backslash in its name", t_oddmnt)

    def t_debug():
        mnt = mnt_ok()
        m = vol.mount(mnt, fg=True, debug=True)
        check_hello(mnt)
        m.unmount()
        check(m.log().strip(), "-d -f printed nothing")
    tap.run("-d -f mounts and logs to stderr", t_debug)

    def t_two_mounts():
        a, b = mnt_ok(), mnt_ok()
        ma = vol.mount(a, fg=True)
        # a second volume mounted elsewhere at the same time
        vol2 = vfs.Volume(ws, veilfs, name="cipher-second", passphrase="other pass")
        mb = vol2.mount(b, fg=True)
        write_file(os.path.join(b, "x"), b"second")
        check_hello(a)
        check(not os.path.exists(os.path.join(b, "hello")), "volumes mixed up")
        mb.unmount()
        ma.unmount()
    tap.run("two volumes mounted at once", t_two_mounts)

    # ---------------------------------------------------------- bad input
    def bad(desc, want_rc, mk):
        def fn():
            vol_dir, mnt, args, stdin = mk()
            line = bad_mount(veilfs, ws, vol_dir, mnt, want_rc, args=args, stdin=stdin)
            tap.diag("%s: %s" % (desc, line))
        codes = "/".join(map(str, want_rc)) if isinstance(want_rc, tuple) else str(want_rc)
        tap.run("%s: exit %s, one stderr line, nothing mounted or changed" % (desc, codes), fn)

    def plain(vol_dir=None, mnt=None, stdin=None, pre=()):
        vol_dir = vol_dir or vol.dir
        mnt = mnt or mnt_ok()
        return vol_dir, mnt, list(pre) + [vol_dir, mnt], stdin

    bad("wrong passphrase", EXIT_PASS, lambda: plain(stdin="not the passphrase\n"))
    # An empty passphrase is refused before any key slot is tried; the
    # interface does not say which code that is: usage (2) or wrong (5).
    bad("empty passphrase", (EXIT_USAGE, EXIT_PASS), lambda: plain(stdin="\n"))

    def wrong_passfile():
        pf = os.path.join(ws.path, "wrongpass")
        write_file(pf, b"wrong\n", 0o600)
        return plain(pre=["--passfile", pf], stdin="")
    bad("wrong passphrase in --passfile", EXIT_PASS, wrong_passfile)

    def empty_dir():
        return plain(vol_dir=ws.mkdir("notvol"))
    bad("not a volume (empty dir)", EXIT_NOTVOL, empty_dir)

    def plain_files():
        d = ws.mkdir("notvol")
        write_file(os.path.join(d, "readme.txt"), b"just files")
        os.mkdir(os.path.join(d, "sub"))
        return plain(vol_dir=d)
    bad("not a volume (ordinary files)", EXIT_NOTVOL, plain_files)

    def foreign_conf():
        d = ws.mkdir("notvol")
        write_file(os.path.join(d, "veilfs.conf"), b'{"Version": 2, "Creator": "gocryptfs"}\n' * 5)
        return plain(vol_dir=d)
    bad("not a volume (foreign veilfs.conf)", EXIT_NOTVOL, foreign_conf)

    bad("not a volume (missing cipher dir)", EXIT_NOTVOL,
        lambda: plain(vol_dir=os.path.join(ws.path, "no-such-dir")))

    def copy_vol():
        d = ws.unique("badvol")
        vfs.run(["cp", "-a", vol.dir, d], check_rc=0)
        os.chmod(os.path.join(d, "veilfs.conf"), 0o600)
        return d

    def flipped(off):
        def mk():
            d = copy_vol()
            p = os.path.join(d, "veilfs.conf")
            b = bytearray(read_file(p))
            b[off % len(b)] ^= 0x40
            write_file(p, bytes(b))
            return plain(vol_dir=d)
        return mk
    for off in (12, 40, 100, -1):
        bad("damaged header (byte %d flipped)" % off, EXIT_CORRUPT, flipped(off))

    def truncated():
        d = copy_vol()
        p = os.path.join(d, "veilfs.conf")
        write_file(p, read_file(p)[:60])
        return plain(vol_dir=d)
    bad("damaged header (truncated)", EXIT_CORRUPT, truncated)

    bad("mount point missing", EXIT_MOUNT,
        lambda: plain(mnt=os.path.join(ws.path, "no-such-mnt")))

    def mnt_file():
        f = ws.unique("file")
        write_file(f, b"i am a file")
        return plain(mnt=f)
    bad("mount point is a file", EXIT_MOUNT, mnt_file)

    def mnt_nonempty():
        d = mnt_ok()
        write_file(os.path.join(d, "existing"), b"do not hide me")
        return plain(mnt=d)
    bad("mount point not empty", EXIT_MOUNT, mnt_nonempty)

    held = {}

    def already():
        d = mnt_ok()
        held["m"] = vol.mount(d, fg=True)
        return plain(mnt=d)
    bad("mount point already mounted (same volume)", EXIT_MOUNT, already)

    def still_serving():
        m = held.pop("m")
        check_hello(m.path)
        write_file(m.p("after-failed-mount"), b"ok")
        os.unlink(m.p("after-failed-mount"))
        m.unmount()
    tap.run("the existing mount still works after the refused second mount", still_serving)

    def already_other():
        d = mnt_ok()
        vol3 = vfs.Volume(ws, veilfs, name="cipher-third")
        held["m"] = vol3.mount(d, fg=True)
        return plain(mnt=d)
    bad("mount point already mounted (another volume)", EXIT_MOUNT, already_other)
    def other_serving():
        m = held.pop("m")
        check_eq(os.listdir(m.path), [], "listing of the other (empty) volume")
        m.unmount()
    tap.run("the other mount still works", other_serving)

    bad("unknown option", EXIT_USAGE, lambda: plain(pre=["--no-such-option"]))
    bad("unknown -o option", EXIT_USAGE, lambda: plain(pre=["-o", "no_such_mount_option"]))
    bad("-o without a value", EXIT_USAGE, lambda: (vol.dir, mnt_ok(), ["-o"], None))
    bad("missing MOUNTPOINT", EXIT_USAGE, lambda: (vol.dir, mnt_ok(), [vol.dir], None))
    bad("too many arguments", EXIT_USAGE,
        lambda: (vol.dir, mnt_ok(), [vol.dir, ws.mkdir("mnt"), ws.mkdir("mnt")], None))
    bad("--passfile with --extpass", EXIT_USAGE,
        lambda: plain(pre=["--passfile", "/dev/null", "--extpass", "true"]))

    def t_after():
        # after all that, the volume mounts and its content is intact
        m = vol.mount(fg=False)
        check_eq(sorted(os.listdir(m.path)), ["hello"], "listing")
        check_hello(m.path)
        m.unmount()
    tap.run("the volume is intact after all the failed mounts", t_after)

    leftovers = [e[0] for e in vfs.mountinfo() if e[0].startswith(ws.path)]
    for m in list(vfs._mounts):
        m.unmount(quiet=True)
    tap.ok(not leftovers, "nothing left mounted at the end", str(leftovers))
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
