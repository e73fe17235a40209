#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mount(8) and fstab: 'mount -t fuse.veilfs CIPHERDIR MNT -o passfile=FILE'
(mount(8) runs mount.fuse3, which runs 'veilfs SOURCE MOUNTPOINT -o OPTS'
through sh with the default PATH), a loose passfile, an unknown and a bad
option, and fstab lines given with 'mount -T': mount MNT of a noauto,
x-systemd.automount line, 'mount -a' with a nofail line whose volume is
missing, umount.

It needs root and runs in a private mount namespace of its own (unshare
-m), where a directory holding a 'veilfs' link to the binary under test is
bind-mounted over /usr/local/bin: that is how the helper finds veilfs
without installing it. Nothing outside the namespace sees either.

usage: test_fstab.py VEILFS
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, write_file  # noqa: E402

INSIDE = "VEILFS_TEST_FSTAB_NS"


def cmdline_pids(mnt, prefix=False):
    """Pids of veilfs processes whose command line names @mnt (helper-mode
    daemons), or with @prefix any path under @mnt."""
    want = os.path.abspath(mnt).encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        cl = vfs._cmdline(int(d))
        if not cl or not cl[0].endswith(b"veilfs") or not vfs.pid_alive(int(d)):
            continue
        if want in cl or (prefix and any(a.startswith(want + b"/") for a in cl)):
            pids.append(int(d))
    return pids


def enter_namespace(veilfs):
    """Re-run this program in a private mount namespace with veilfs on the helpers' PATH."""
    if os.geteuid() != 0:
        vfs.skip_all("mount(8) with a FUSE type needs root")
    for prog in ("unshare", "mount", "umount"):
        if shutil.which(prog) is None:
            vfs.fail_all(vfs.MISSING % prog)
    if not os.path.exists("/sbin/mount.fuse3") and not os.path.exists("/usr/sbin/mount.fuse3"):
        vfs.fail_all(vfs.MISSING % "mount.fuse3")
    # In a chroot whose "/" is no mount point of its own (tests/fresh-debian.sh)
    # no private namespace can be made, and mounts would reach the host: skip.
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        vfs.skip_all("cannot make a private mount namespace here (%s)" % probe.stderr.strip())
    bindir = tempfile.mkdtemp(prefix="veilfs-fstab-bin-")
    try:
        os.symlink(veilfs, os.path.join(bindir, "veilfs"))
        script = 'mount --bind "$1" /usr/local/bin && shift && exec "$@"'
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                            bindir, sys.executable, os.path.abspath(__file__), veilfs],
                           env=dict(os.environ, **{INSIDE: "1"}))
        return r.returncode
    finally:
        shutil.rmtree(bindir, ignore_errors=True)


def main():
    veilfs, _ = vfs.setup()
    if os.environ.get(INSIDE) != "1":
        return enter_namespace(veilfs)
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    pf = vol.passfile()

    # ---- mount(8) and fstab ---------------------------------------------

    path_env = None

    def adopt(mnt):
        m = vfs.Mount(veilfs, vol.dir, mnt, fg=False)
        m.pids = cmdline_pids(mnt)
        check(m.pids, "no daemon found for %s" % mnt)
        return m

    def mount_t():
        mnt = ws.mkdir("mnt t")
        r = vfs.run(["mount", "-t", "fuse.veilfs", "-o", "passfile=%s,nodev" % pf, vol.dir, mnt],
                    env=path_env)
        check_eq(r.returncode, 0, "mount -t fuse.veilfs (stderr %r)" % r.stderr)
        m = adopt(mnt)
        check("nodev" in vfs.mount_entry(mnt)[3].split(","), "nodev reached the kernel")
        vfs.check_hello(mnt)
        r = vfs.run(["umount", mnt])
        check_eq(r.returncode, 0, "umount (stderr %r)" % r.stderr)
        check(vfs.wait_pids_gone(m.pids, 10), "daemon still running after umount")
        m.mounted = False
        vfs._mounts.remove(m)
    tap.run("mount -t fuse.veilfs -o passfile=FILE (through mount.fuse3), umount", mount_t)

    def mount_t_errors():
        mnt = ws.mkdir("mnt-t-err")
        loose = os.path.join(ws.path, "loose-pass")
        write_file(loose, (vol.passphrase + "\n").encode(), 0o644)
        os.chmod(loose, 0o644)
        for opts, want in [("passfile=" + loose, "may be read or written by other users"),
                           ("passfile=%s,bogus_opt" % pf, "bogus_opt"),
                           ("passfile=%s,idle=soon" % pf, "90s, 15m or 1h")]:
            r = vfs.run(["mount", "-t", "fuse.veilfs", "-o", opts, vol.dir, mnt], env=path_env)
            check(r.returncode != 0, "%s: mount succeeded" % opts)
            check(want in r.stderr, "%s: stderr %r lacks %r" % (opts, r.stderr, want))
            check(not vfs.is_fuse_mounted(mnt), "%s: mounted" % opts)
    tap.run("mount -t fuse.veilfs: a loose passfile, an unknown or bad option: refused, said",
            mount_t_errors)

    def fstab():
        mnt = ws.mkdir("mnt fstab")  # a space: \040 in fstab
        mnt2 = ws.mkdir("mnt-fstab-auto")
        missing = ws.mkdir("mnt-fstab-missing")
        tab = os.path.join(ws.path, "fstab")
        esc = lambda p: p.replace("\\", "\\134").replace(" ", "\\040")  # noqa: E731
        with open(tab, "w") as f:
            f.write("# test fstab\n")
            f.write("%s %s fuse.veilfs passfile=%s,nofail,noauto,x-systemd.automount 0 0\n" % (
                esc(vol.dir), esc(mnt), esc(pf)))
            f.write("%s %s fuse.veilfs passfile=%s,idle=1h,nofail 0 0\n" % (
                esc(vol.dir), esc(mnt2), esc(pf)))
            f.write("%s %s fuse.veilfs passfile=%s,nofail 0 0\n" % (
                esc(os.path.join(ws.path, "no-such-volume")), esc(missing), esc(pf)))
        # mount MOUNTPOINT with the line of a noauto entry
        r = vfs.run(["mount", "-T", tab, mnt], env=path_env)
        check_eq(r.returncode, 0, "mount -T fstab MNT (stderr %r)" % r.stderr)
        m = adopt(mnt)
        vfs.check_hello(mnt)
        # mount -a: the auto line mounts; the line whose volume is missing fails with
        # one line from veilfs, and mount(8) says "some mounted" (64); the noauto
        # line is left alone.
        r = vfs.run(["mount", "-a", "-T", tab], env=path_env)
        m2 = adopt(mnt2)
        check_eq(r.returncode, 64, "mount -a -T exit status (some mounted; stderr %r)" % r.stderr)
        check_eq(r.stderr, "veilfs: %s: not a veilfs volume (no veilfs.conf header found)\n" %
                 os.path.join(ws.path, "no-such-volume"), "mount -a -T stderr")
        vfs.check_hello(mnt2)
        check(not vfs.is_fuse_mounted(missing), "the missing volume mounted?")
        for mm in (m, m2):
            r = vfs.run(["umount", mm.path])
            check_eq(r.returncode, 0, "umount %s (stderr %r)" % (mm.path, r.stderr))
            check(vfs.wait_pids_gone(mm.pids, 10), "daemon still running after umount")
            mm.mounted = False
            vfs._mounts.remove(mm)
    tap.run("fstab line (mount -T): mount MNT, mount -a with nofail, umount", fstab)


    try:
        return tap.done()
    finally:
        # A helper-mode daemon left by a failed check would keep this namespace alive.
        for pid in cmdline_pids(ws.path, prefix=True):
            os.kill(pid, 15)


if __name__ == "__main__":
    sys.exit(main())
