#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""veilfs in the system around it: the sd_notify readiness datagram (a
socket path and an abstract name), --idle / -o idle= unmounting only when
nothing is open and no process works inside, 'veilfs umount [-z]',
SIGTERM to a background daemon, --extpass that fails, prints nothing or
hangs.

usage: test_system.py VEILFS
"""

import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq  # noqa: E402

EXIT_USAGE = 2
EXIT_MOUNT = 7


def listed(mnt):
    """Whether @mnt is a FUSE mount, from mountinfo alone: resolving the path
    (as vfs.is_fuse_mounted does) would send the daemon a request, and any
    request restarts its idle time."""
    return any(e[0] == mnt and e[1].startswith("fuse") for e in vfs.mountinfo())


def wait_for(cond, timeout, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    pf = vol.passfile()

    def mount_bg(mnt, extra, env=None):
        cmd = [veilfs, "mount"] + extra + ["--passfile", pf, vol.dir, mnt]
        r = vfs.run(cmd, env=env, timeout=60)
        if r.returncode != 0:
            raise AssertionError("mount failed (%d): %s" % (r.returncode, r.stderr))
        m = vfs.Mount(veilfs, vol.dir, mnt, fg=False)
        m.pids = vfs.daemon_pids(veilfs, mnt)
        check(m.pids, "no daemon found for %s" % mnt)
        return m

    # ---- sd_notify -------------------------------------------------------
    def notify(abstract, fg):
        mnt = ws.mkdir("mnt-notify")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "veilfs-test-%d-%s" % (os.getpid(), os.urandom(4).hex())
            s.bind("\0" + name)
            env_val = "@" + name
        else:
            env_val = os.path.join(ws.path, "notify.sock")
            s.bind(env_val)
        s.settimeout(30)
        env = dict(os.environ, NOTIFY_SOCKET=env_val)
        # The variable is the daemon's alone: --extpass must not see it.
        seen = os.path.join(ws.path, "extpass-env")
        extpass = 'printf "%%s" "${NOTIFY_SOCKET-unset}" > %s; cat %s' % (seen, pf)
        try:
            if fg:
                log = open(ws.unique("notify", ".log"), "wb")
                proc = subprocess.Popen([veilfs, "mount", "-f", "--extpass", extpass, vol.dir, mnt],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
                log.close()
                m = vfs.Mount(veilfs, vol.dir, mnt, fg=True, proc=proc)
            else:
                r = vfs.run([veilfs, "mount", "--extpass", extpass, vol.dir, mnt], env=env)
                check_eq(r.returncode, 0, "mount exit status (stderr %r)" % r.stderr)
                m = vfs.Mount(veilfs, vol.dir, mnt, fg=False)
                m.pids = vfs.daemon_pids(veilfs, mnt)
            msg = s.recv(4096).decode()
            check(vfs.is_fuse_mounted(mnt), "READY=1 came before the mount was there")
            fields = dict(l.split("=", 1) for l in msg.split("\n") if l)
            check_eq(fields.get("READY"), "1", "READY in %r" % msg)
            pid = int(fields.get("MAINPID", "0"))
            want = proc.pid if fg else (m.pids[0] if len(m.pids) == 1 else m.pids)
            check_eq(pid, want, "MAINPID (the process that serves the mount)")
            check_eq(vfs.read_file(seen), b"unset", "NOTIFY_SOCKET as --extpass saw it")
            vfs.check_hello(mnt)
            m.unmount()
            msg = s.recv(4096).decode()
            check("STOPPING=1" in msg.split("\n"), "STOPPING=1 on unmount, got %r" % msg)
        finally:
            s.close()
    tap.run("sd_notify: READY=1 and MAINPID on a socket path (background)", notify, False, False)
    tap.run("sd_notify: READY=1 and MAINPID on an abstract socket (-f)", notify, True, True)

    def notify_unset_is_quiet():
        mnt = ws.mkdir("mnt-nonotify")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        m = mount_bg(mnt, [], env=env)
        vfs.check_hello(mnt)
        m.unmount()
    tap.run("without NOTIFY_SOCKET a mount works as before", notify_unset_is_quiet)

    # ---- SIGTERM to the background daemon ----------------------------------
    def sigterm_bg(sig):
        mnt = ws.mkdir("mnt-sig")
        m = mount_bg(mnt, [])
        vfs.check_hello(mnt)
        for pid in m.pids:
            os.kill(pid, sig)
        check(wait_for(lambda: not vfs.is_fuse_mounted(mnt), 10), "still mounted after signal")
        check(vfs.wait_pids_gone(m.pids, 10), "daemon still running after signal")
        m.mounted = False
        vfs._mounts.remove(m)
    tap.run("SIGTERM to the background daemon unmounts", sigterm_bg, signal.SIGTERM)
    tap.run("SIGINT to the background daemon unmounts", sigterm_bg, signal.SIGINT)

    # ---- idle ------------------------------------------------------------
    IDLE = 2

    def gone(m):
        """Wait until the idle daemon unmounted itself and exited."""
        ok = wait_for(lambda: not listed(m.path), 4 * IDLE + 10)
        check(ok, "still mounted %ds after it became idle" % (4 * IDLE + 10))
        check(vfs.wait_pids_gone(m.pids, 10), "daemon still running after idle unmount")
        m.mounted = False
        vfs._mounts.remove(m)

    def idle_plain(opt):
        mnt = ws.mkdir("mnt-idle")
        extra = ["--idle", "%ds" % IDLE] if opt == "--idle" else ["-o", "idle=%ds" % IDLE]
        m = mount_bg(mnt, extra)
        vfs.check_hello(mnt)
        t0 = time.monotonic()
        gone(m)
        dt = time.monotonic() - t0
        check(dt >= IDLE - 0.5, "unmounted after %.1fs, before %ds of idleness" % (dt, IDLE))
        tap.diag("idle %ds: unmounted %.1fs after the last request" % (IDLE, dt))
    tap.run("--idle 2s: an unused mount unmounts itself", idle_plain, "--idle")
    tap.run("-o idle=2s: the same", idle_plain, "-o")

    def idle_open_file():
        mnt = ws.mkdir("mnt-idle-open")
        m = mount_bg(mnt, ["--idle", "%ds" % IDLE])
        vfs.check_hello(mnt)
        f = open(os.path.join(mnt, "hello"), "rb")
        try:
            time.sleep(3 * IDLE + 1)
            check(listed(mnt), "unmounted while a file was open")
            check_eq(f.read(), b"hello veilfs\n", "read of the open file after idle time")
        finally:
            f.close()
        gone(m)
    tap.run("--idle: never while a file is open; after it is closed, yes", idle_open_file)

    def idle_cwd():
        mnt = ws.mkdir("mnt-idle-cwd")
        m = mount_bg(mnt, ["--idle", "%ds" % IDLE])
        os.mkdir(os.path.join(mnt, "sub"))
        # A shell that only sits in a directory of the mount: no open file, no request.
        p = subprocess.Popen(["sleep", "600"], cwd=os.path.join(mnt, "sub"))
        try:
            time.sleep(3 * IDLE + 1)
            check(listed(mnt), "unmounted while a process had its cwd inside")
        finally:
            p.kill()
            p.wait()
        gone(m)
    tap.run("--idle: never while a process has its cwd inside", idle_cwd)

    def idle_bad():
        mnt = ws.mkdir("mnt-idle-bad")
        for bad in ["0", "abc", "5x", "", "-1", "1d", "99999999h"]:
            for how in (["--idle", bad], ["-o", "idle=" + bad]):
                r = vfs.run([veilfs, "mount"] + how + ["--passfile", pf, vol.dir, mnt])
                check_eq(r.returncode, EXIT_USAGE, "%s: exit status (stderr %r)" % (how, r.stderr))
                lines = r.stderr.strip().split("\n")
                check(len(lines) == 1 and "90s, 15m or 1h" in lines[0],
                      "%s: one line naming the form, got %r" % (how, r.stderr))
                check(not vfs.is_fuse_mounted(mnt), "%s mounted" % how)
    tap.run("--idle / idle= with a bad duration: exit 2, one line", idle_bad)

    # ---- veilfs umount ---------------------------------------------------
    def umount_cmd():
        mnt = ws.mkdir("mnt-umount")
        m = mount_bg(mnt, [])
        vfs.check_hello(mnt)
        f = open(os.path.join(mnt, "hello"), "rb")
        try:
            r = vfs.run([veilfs, "umount", mnt])
            check_eq(r.returncode, EXIT_MOUNT, "umount of a busy mount (stderr %r)" % r.stderr)
            check("busy" in r.stderr and "-z" in r.stderr, "message: %r" % r.stderr)
            check(vfs.is_fuse_mounted(mnt), "a busy mount was unmounted")
        finally:
            f.close()
        r = vfs.run([veilfs, "umount", mnt])
        check_eq(r.returncode, 0, "umount exit status (stderr %r)" % r.stderr)
        check(not vfs.is_fuse_mounted(mnt), "still mounted after veilfs umount")
        check(vfs.wait_pids_gone(m.pids, 10), "daemon still running after veilfs umount")
        m.mounted = False
        vfs._mounts.remove(m)
        r = vfs.run([veilfs, "umount", mnt])
        check_eq(r.returncode, EXIT_MOUNT, "umount of what is not mounted")
        check_eq(r.stderr, "veilfs: umount: %s is not mounted\n" % mnt, "message")
        r = vfs.run([veilfs, "umount", "/proc"])
        check_eq(r.returncode, EXIT_USAGE, "umount of a mount that is not veilfs")
        check("not a veilfs mount" in r.stderr, "message: %r" % r.stderr)
        check(os.path.ismount("/proc"), "/proc was unmounted")

    tap.run("veilfs umount: busy refused (7), then unmounts; not mounted: 7; not veilfs: 2",
            umount_cmd)

    def umount_lazy():
        mnt = ws.mkdir("mnt-umount-z")
        m = mount_bg(mnt, [])
        vfs.check_hello(mnt)
        f = open(os.path.join(mnt, "hello"), "rb")
        try:
            r = vfs.run([veilfs, "umount", "-z", mnt])
            check_eq(r.returncode, 0, "umount -z exit status (stderr %r)" % r.stderr)
            check(not vfs.is_fuse_mounted(mnt), "still in the tree after umount -z")
            check_eq(f.read(), b"hello veilfs\n", "the open file still reads after -z")
        finally:
            f.close()
        check(vfs.wait_pids_gone(m.pids, 10), "daemon still running once the last file closed")
        m.mounted = False
        vfs._mounts.remove(m)
    tap.run("veilfs umount -z: detaches now, the daemon ends when the last file closes",
            umount_lazy)

    # ---- --extpass that fails, prints nothing, hangs -----------------------
    def extpass_bad():
        mnt = ws.mkdir("mnt-extpass")
        env = dict(os.environ, VEILFS_EXTPASS_TIMEOUT="2s")
        cases = [
            ("exit 3", "failed (exit status 3)"),
            ("true", "exited without printing a passphrase"),
            ("kill -9 $$", "killed by signal 9"),
            ("sleep 60", "did not print a passphrase and exit within 2 s"),
            ("cat %s; sleep 60" % pf, "did not print a passphrase and exit within 2 s"),
        ]
        for cmd, want in cases:
            t0 = time.monotonic()
            r = vfs.run([veilfs, "mount", "--extpass", cmd, vol.dir, mnt], env=env, timeout=60)
            dt = time.monotonic() - t0
            check_eq(r.returncode, EXIT_USAGE, "%r: exit status (stderr %r)" % (cmd, r.stderr))
            lines = r.stderr.strip().split("\n")
            check(len(lines) == 1 and want in lines[0], "%r: one line with %r, got %r" % (
                cmd, want, r.stderr))
            check(dt < 15, "%r: took %.1fs with a 2 s limit" % (cmd, dt))
            check(not vfs.is_fuse_mounted(mnt), "%r: mounted" % cmd)
    tap.run("--extpass failing, silent, killed or hanging: one line, bounded wait", extpass_bad)

    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
