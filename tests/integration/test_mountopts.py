#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Options that mount(8) and fstab pass: accepted, applied where they mean
something, never rejected; an unknown one gets one line. And atime:
with -o noatime, reading, executing or listing through the mount leaves
atime alone; without it, reads follow the backing filesystem's rule.

usage: test_mountopts.py VEILFS
"""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402

# option -> kernel mount flag it must show in mountinfo (None: none to check)
ACCEPTED = {
    "rw": None, "ro": "ro", "relatime": None, "noatime": "noatime",
    "strictatime": None, "atime": None, "nodiratime": None, "lazytime": None,
    "nodev": "nodev", "dev": None, "nosuid": "nosuid", "suid": None,
    "noexec": "noexec", "exec": None, "sync": "sync", "async": None,
    "dirsync": "dirsync", "user": None, "users": None, "nouser": None,
    "owner": None, "group": None, "nofail": None, "_netdev": None,
    "defaults": None, "auto": None, "noauto": None,
    "x-systemd.automount": None, "x-gvfs-show": None, "comment=systemd.foo": None,
}
DAY = 86400


def set_atime(path, atime):
    st = os.stat(path)
    os.utime(path, ns=(int(atime * 1e9), st.st_mtime_ns))


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")

    def each_accepted():
        bad = []
        for opt, flag in ACCEPTED.items():
            try:
                m = vol.mount(mnt, fg=True, opts=[opt])
            except vfs.MountError as e:
                bad.append("%s: %s" % (opt, e))
                continue
            try:
                flags = vfs.mount_entry(mnt)[3].split(",")
                if flag and flag not in flags:
                    bad.append("%s: mountinfo shows %s" % (opt, flags))
                os.listdir(mnt)
            finally:
                m.unmount()
        check(not bad, "\n".join(bad))
    tap.run("each option mount(8)/fstab pass is accepted (%d)" % len(ACCEPTED), each_accepted)

    def all_at_once():
        m = vol.mount(mnt, fg=True, opts=[",".join(k for k in ACCEPTED if k not in ("ro", "noexec"))])
        m.unmount()
    tap.run("all of them in one -o (as fstab writes them)", all_at_once)

    def unknown():
        r = vfs.run([veilfs, "mount", "-o", "rw,bogus_option", vol.dir, mnt],
                    stdin=vol.passphrase + "\n")
        check(r.returncode != 0, "mount with an unknown option succeeded")
        lines = r.stderr.strip().splitlines()
        check_eq(len(lines), 1, "lines on stderr: %r" % lines)
        check("bogus_option" in lines[0], "the line names the option: %r" % lines[0])
        check(not vfs.is_fuse_mounted(mnt), "mounted anyway")
    tap.run("an unknown option: one line that names it, not mounted", unknown)

    def ro_option():
        m = vol.mount(mnt, fg=True, opts=["ro"])
        try:
            check_eq(vfs.errno_of(write_file, m.p("x"), b"x"), 30, "errno of a create (EROFS)")
        finally:
            m.unmount()
    tap.run("-o ro: the mount refuses changes (EROFS)", ro_option)

    # atime: files and a directory with an old atime, then a fresh mount
    # (no cached pages) reads, executes and lists them.
    old = time.time() - 3 * DAY
    true_bin = shutil.which("true")

    def prepare():
        m = vol.mount(mnt, fg=True)
        try:
            write_file(m.p("data"), os.urandom(100000))
            shutil.copyfile(true_bin, m.p("prog"))
            os.chmod(m.p("prog"), 0o755)
            os.mkdir(m.p("dir"))
            write_file(m.p("dir", "inner"), b"x")
            # mtime a day ago, atime three days ago: stale under any rule
            for p in (m.p("data"), m.p("prog"), m.p("dir")):
                os.utime(p, (old, old + 2 * DAY))
        finally:
            m.unmount()
    if not tap.run("create files with an old atime", prepare):
        sys.exit(tap.done())

    def access_all(m):
        read_file(m.p("data"))
        subprocess.run([m.p("prog")], check=True, timeout=60)
        os.listdir(m.p("dir"))
        return {n: os.stat(m.p(n)).st_atime for n in ("data", "prog", "dir")}

    def noatime():
        m = vol.mount(mnt, fg=True, opts=["noatime"])
        try:
            got = access_all(m)
        finally:
            m.unmount()
        m = vol.mount(mnt, fg=True)
        try:
            after = {n: os.stat(m.p(n)).st_atime for n in ("data", "prog", "dir")}
        finally:
            m.unmount()
        for n in got:
            check(abs(got[n] - old) < 1 and abs(after[n] - old) < 1,
                  "%s: atime moved from %.0f to %.0f (after remount %.0f)" % (
                      n, old, got[n], after[n]))
    tap.run("-o noatime: read, exec and readdir leave atime unchanged", noatime)

    def default_atime():
        flags = []
        for e in vfs.mountinfo():
            if os.path.realpath(vol.dir).startswith(e[0].rstrip("/") + "/"):
                flags = e[3].split(",")  # the last (deepest) match wins
        if "noatime" in flags:
            raise vfs.Skip("the backing filesystem is mounted noatime")
        m = vol.mount(mnt, fg=True)
        try:
            got = access_all(m)
        finally:
            m.unmount()
        check(got["data"] > old + 2 * DAY, "data: atime %.0f not updated by a read (old %.0f)" % (
            got["data"], old))
    tap.run("default (relatime): a read updates an atime older than mtime", default_atime)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
