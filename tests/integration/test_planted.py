#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Things a local writer of the cipher directory may plant, and paths that
must not be read as mount options (findings of a security review).

- a FIFO in place of a directory's veilfs.diriv: listing the directory
  fails with EIO within seconds instead of hanging the daemon, and the
  rest of the mount keeps working;
- a cipher directory whose path contains ",allow_other": the mount must not
  get allow_other (the path is escaped in fsname);
- a conflict-copy name with an arbitrary suffix is not shown;
- a suffix with a newline or an escape sequence is not shown either, and
  reaches the daemon's log, 'veilfs ls' and 'veilfs path' only escaped;
- a planted conflict copy or foreign name puts no plaintext name into the
  daemon's log (cipher names only), except with -d.

usage: test_planted.py VEILFS
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()

    def fifo_diriv():
        vol = vfs.Volume(ws, veilfs, name="fifo")
        mnt = ws.mkdir("mnt-fifo")
        m = vol.mount(mnt, fg=True)
        try:
            os.mkdir(m.p("d"))
            write_file(m.p("d", "f"), b"x")
            write_file(m.p("other"), b"still readable")
        finally:
            m.unmount()
        dirs = [e for e in os.listdir(vol.dir) if os.path.isdir(vol.c(e))]
        check_eq(len(dirs), 1, "cipher directories")
        iv = vol.c(dirs[0], "veilfs.diriv")
        os.chmod(iv, 0o644)
        os.unlink(iv)
        os.mkfifo(iv)
        m = vol.mount(mnt, fg=True)
        try:
            r = subprocess.run(["timeout", "10", "ls", m.p("d")], capture_output=True)
            check(r.returncode not in (0, 124), "ls of the directory neither hangs nor succeeds "
                  "(rc %d)" % r.returncode)
            check_eq(read_file(m.p("other")), b"still readable", "the rest of the mount")
        finally:
            m.unmount()
    tap.run("a FIFO planted as a dir IV gives an error, not a hang", fifo_diriv)

    def comma_path():
        vol = vfs.Volume(ws, veilfs, name="c,allow_other")
        mnt = ws.mkdir("mnt-comma")
        m = vol.mount(mnt, fg=True)
        try:
            e = vfs.mount_entry(mnt)
            check(e is not None, "mounted")
            check("allow_other" not in e[3].split(","), "mount options: %s" % e[3])
        finally:
            m.unmount()
    tap.run("a comma in the cipher dir path adds no mount option", comma_path)

    def conflict_suffix():
        vol = vfs.Volume(ws, veilfs, name="conf")
        mnt = ws.mkdir("mnt-conf")
        m = vol.mount(mnt, fg=True)
        try:
            write_file(m.p("report.txt"), b"report")
        finally:
            m.unmount()
        enc = [e for e in os.listdir(vol.dir) if not e.startswith("veilfs.")][0]
        shutil.copy(vol.c(enc), vol.c(enc + ".conflict - run me.sh"))
        shutil.copy(vol.c(enc), vol.c(enc + " (conflicted copy 2026-01-01)"))
        m = vol.mount(mnt, fg=True)
        try:
            names = sorted(os.listdir(mnt))
            check_eq(names, ["report.txt", "report.txt (conflicted copy 2026-01-01)"],
                     "listing")
        finally:
            m.unmount()
    tap.run("only the sync tools' conflict suffixes are shown", conflict_suffix)

    def escaped():
        vol = vfs.Volume(ws, veilfs, name="esc")
        pw = os.path.join(ws.path, "esc-pass")
        with open(pw, "w") as f:
            f.write(vol.passphrase + "\n")
        os.chmod(pw, 0o600)
        mnt = ws.mkdir("mnt-esc")
        m = vol.mount(mnt, fg=True)
        try:
            write_file(m.p("report.txt"), b"report")
            write_file(m.p("odd\x1b[2J\x07name"), b"odd")
        finally:
            m.unmount()
        enc = [e for e in os.listdir(vol.dir) if not e.startswith("veilfs.") and
               os.path.getsize(vol.c(e)) == 32 + 24 + 6 + 16][0]
        forged = enc + " (conflicted copy\nveilfs: forged line)"
        shutil.copy(vol.c(enc), vol.c(forged))
        shutil.copy(vol.c(enc), vol.c(enc + " (conflicted copy \x1b[31mred)"))
        m = vol.mount(mnt, fg=True)
        try:
            names = sorted(os.listdir(mnt))
            check_eq(names, ["odd\x1b[2J\x07name", "report.txt"], "listing")
            log = m.log()
        finally:
            m.unmount()
        lines = log.splitlines()
        check(not any(ln.startswith("veilfs: forged") for ln in lines),
              "a forged line in the daemon log: %r" % log[-1500:])
        check("\x1b" not in log, "a raw ESC in the daemon log: %r" % log[-1500:])
        check(any("\\x0aveilfs: forged line" in ln for ln in lines),
              "the planted name is logged, escaped: %r" % log[-1500:])
        r = vfs.run([veilfs, "ls", "--passfile", pw, vol.dir])
        check_eq(r.returncode, 0, "veilfs ls exit (stderr %r)" % r.stderr)
        check("\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout,
              "a raw control byte in veilfs ls output: %r" % (r.stdout + r.stderr))
        check("odd\\x1b[2J\\x07name" in r.stdout, "ls shows the name escaped: %r" % r.stdout)
        check_eq([ln for ln in r.stderr.splitlines() if ln.startswith("veilfs: forged")], [],
                 "forged lines on ls's stderr")
        odd = [e for e in os.listdir(vol.dir) if not e.startswith("veilfs.") and
               e != enc and " " not in e][0]
        r = vfs.run([veilfs, "path", "--decrypt", "--passfile", pw, vol.dir, odd])
        check_eq((r.returncode, r.stdout), (0, "odd\\x1b[2J\\x07name\n"), "veilfs path --decrypt")
    tap.run("names with control characters reach logs and terminals only escaped", escaped)

    def log_names():
        vol = vfs.Volume(ws, veilfs, name="lognames")
        mnt = ws.mkdir("mnt-lognames")
        m = vol.mount(mnt, fg=True)
        try:
            os.mkdir(m.p("private-dir"))
            write_file(m.p("private-dir", "secret-report.txt"), b"report")
        finally:
            m.unmount()
        cdir = [e for e in os.listdir(vol.dir) if os.path.isdir(vol.c(e))][0]
        enc = [e for e in os.listdir(vol.c(cdir)) if not e.startswith("veilfs.")][0]
        copy = enc + " (conflicted copy 2026-01-01)"
        shutil.copy(vol.c(cdir, enc), vol.c(cdir, copy))
        write_file(vol.c(cdir, "A" * 43), b"junk")
        for debug in (False, True):
            m = vol.mount(mnt, fg=True, debug=debug)
            try:
                names = sorted(os.listdir(m.p("private-dir")))
                check_eq(names, ["secret-report.txt", "secret-report.txt (conflicted copy "
                                 "2026-01-01)"], "listing")
                log = m.log()
            finally:
                m.unmount()
            notes = [ln for ln in log.splitlines() if "conflict copy" in ln or "skipping" in ln]
            if not debug:
                check_eq(len(notes), 2, "log lines about the copy and the junk name: %r" % log)
                check(all(cdir in ln for ln in notes), "cipher directory named: %r" % notes)
                check(any(copy in ln for ln in notes), "the copy's cipher name: %r" % notes)
                check("secret-report" not in log and "private-dir" not in log,
                      "a plaintext name in the log without -d: %r" % log[-2000:])
            else:
                check(any("private-dir/secret-report.txt (conflicted copy" in ln or
                          "shown as 'secret-report.txt (conflicted copy" in ln for ln in notes),
                      "the plaintext name with -d: %r" % notes)
    tap.run("planted entries put no plaintext name into the log (only with -d)", log_names)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
