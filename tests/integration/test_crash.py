#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The daemon killed (SIGKILL) inside mkdir, rmdir and rename of a
directory, deterministically: a test-only pause point (src/lib/testhook.h,
meson -Dtest_hooks=true) stops the daemon there, the test kills it and
checks what the crash left in the cipher directory, then remounts and
checks that the leftovers change nothing a user can see or do:

- the parent lists exactly the entries whose operation passed its commit
  point (mkdir: not yet renamed into place; rmdir: already renamed away;
  rename: not yet renamed);
- rmdir of a directory holding only a leftover, rename over such a
  directory and over one whose dir IV the crash removed, and rmdir of the
  latter, all succeed;
- fresh leftovers survive a listing (they could be a second mount's work
  in progress); once stale (mtime older than the bound of docs/format.md
  §13.3, simulated by setting it back) a listing removes them, and no
  veilfs.tmp.* remains anywhere.

usage: test_crash.py VEILFS --hooks|--no-hooks
"""

import errno
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402

STALE_SECONDS = 600  # VEIL_TEMP_STALE_SECONDS, docs/format.md §13.3
TMP = "veilfs.tmp."

# Distinct modes find each plaintext directory's cipher directory.
MODES = {"P": 0o755, "done": 0o750, "A": 0o701, "B": 0o711, "C": 0o713, "S": 0o741, "T": 0o715,
         "S2": 0o743, "T2": 0o717}


def cipher_dirs(vol):
    """{mode: [cipher dir path]} of the directories below the cipher root,
    leftovers (veilfs.tmp.*) left out."""
    out = {}
    for dp, dns, _ in os.walk(vol.dir):
        for n in dns:
            if n.startswith(TMP):
                continue
            p = os.path.join(dp, n)
            out.setdefault(os.lstat(p).st_mode & 0o7777, []).append(p)
    return out


def cdir(vol, name):
    found = cipher_dirs(vol).get(MODES[name], [])
    check_eq(len(found), 1, "cipher directories of %s" % name)
    return found[0]


def temps(path):
    return sorted(n for n in os.listdir(path) if n.startswith(TMP))


def all_temps(root):
    out = []
    for dp, dns, fns in os.walk(root):
        out += [os.path.relpath(os.path.join(dp, n), root) for n in dns + fns if n.startswith(TMP)]
    return out


def crash_at(ws, vol, mnt, point, argv):
    """Mount with the pause point @point armed, run @argv (which reaches it),
    SIGKILL the daemon once it is there, unmount. Always unmounts and kills
    what it started, also on failure."""
    mark = ws.unique("paused-" + point)
    os.environ["VEILFS_TEST_PAUSE"] = point
    os.environ["VEILFS_TEST_PAUSE_FILE"] = mark
    try:
        m = vol.mount(mnt, fg=True)
    finally:
        del os.environ["VEILFS_TEST_PAUSE"]
        del os.environ["VEILFS_TEST_PAUSE_FILE"]
    op = None
    try:
        op = subprocess.Popen(argv, cwd=mnt, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        end = time.monotonic() + 60
        while not os.path.exists(mark):
            if op.poll() is not None:
                raise AssertionError("%s finished (%s) without reaching pause point %s: %s" % (
                    argv, op.returncode, point, op.stdout.read().decode(errors="replace")))
            check(m.proc.poll() is None, "daemon exited: %s" % m.log())
            check(time.monotonic() < end, "pause point %s not reached in 60 s" % point)
            time.sleep(0.02)
        os.kill(m.proc.pid, signal.SIGKILL)
        m.proc.wait(timeout=30)
        rc = op.wait(timeout=30)
        check(rc != 0, "%s reported success although the daemon died inside it" % argv)
    finally:
        if m.proc.poll() is None:
            m.proc.kill()
            m.proc.wait()
        if op is not None and op.poll() is None:
            op.kill()
            op.wait()
        m.unmount(quiet=True)
    check(not vfs.is_fuse_mounted(mnt), "still mounted after the crash")


def main():
    veilfs, extra = vfs.setup(usage="VEILFS --hooks|--no-hooks", nargs=1)
    if extra[0] != "--hooks":
        vfs.skip_all("veilfs built without -Dtest_hooks=true (tests/run-all.sh sets it)")
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")

    def prepare():
        m = vol.mount(mnt, fg=True)
        try:
            os.mkdir(m.p("P"))
            write_file(m.p("P", "keep"), b"kept file")
            os.mkdir(m.p("P", "done"))
            write_file(m.p("P", "done", "f"), b"in done")
            for d in ("A", "B", "C", "S", "T", "S2", "T2"):
                os.mkdir(m.p("P", d))
            write_file(m.p("P", "S", "f"), b"source one")
            write_file(m.p("P", "S2", "f"), b"source two")
            for d, mode in MODES.items():
                os.chmod(m.p("P") if d == "P" else m.p("P", d), mode)
        finally:
            m.unmount()
        check_eq(all_temps(vol.dir), [], "temporaries before any crash")
    if not tap.run("prepare a tree", prepare):
        sys.exit(tap.done())

    def mkdir_crash():
        crash_at(ws, vol, mnt, "mkdir", ["mkdir", "P/B/new"])
        left = temps(cdir(vol, "B"))
        check(len(left) == 1 and left[0].startswith(TMP + "d"), "B holds %s" % left)
        inside = os.listdir(os.path.join(cdir(vol, "B"), left[0]))
        check_eq(inside, ["veilfs.diriv"], "the leftover of mkdir holds a complete dir IV")
    tap.run("SIGKILL inside mkdir, before the rename into place", mkdir_crash)

    def iv_crash():
        crash_at(ws, vol, mnt, "atomic-write", ["mkdir", "P/C/new"])
        left = temps(cdir(vol, "C"))
        check(len(left) == 1 and left[0].startswith(TMP + "d"), "C holds %s" % left)
        d = os.path.join(cdir(vol, "C"), left[0])
        inside = os.listdir(d)
        check(len(inside) == 1 and inside[0].startswith(TMP), "the leftover holds %s" % inside)
        check_eq(os.path.getsize(os.path.join(d, inside[0])), 16, "its temp IV file size")
    tap.run("SIGKILL inside mkdir, writing the new directory's IV", iv_crash)

    def rmdir_crash():
        crash_at(ws, vol, mnt, "rmdir", ["rmdir", "P/A"])
        check(MODES["A"] not in cipher_dirs(vol), "A's cipher dir was renamed away")
        left = temps(cdir(vol, "P"))
        check(len(left) == 1 and left[0].startswith(TMP + "r"), "P holds %s" % left)
        check_eq(os.listdir(os.path.join(cdir(vol, "P"), left[0])), [],
                 "the leftover of rmdir is empty")
    tap.run("SIGKILL inside rmdir, after dropping the dir IV", rmdir_crash)

    def rename_crash(src, dst):
        crash_at(ws, vol, mnt, "rename", ["mv", "-T", "P/" + src, "P/" + dst])
        check_eq(os.listdir(cdir(vol, dst)), [], "the target lost its dir IV, nothing else")
        inside = sorted(os.listdir(cdir(vol, src)))
        check(len(inside) == 2 and "veilfs.diriv" in inside, "the source holds %s" % inside)
    tap.run("SIGKILL inside rename of a directory over an empty one", rename_crash, "S", "T")
    tap.run("...and once more, for an rmdir afterwards", rename_crash, "S2", "T2")

    m = vol.mount(mnt, fg=True)
    try:
        def listings():
            check_eq(sorted(os.listdir(m.p("P"))),
                     sorted(["keep", "done", "B", "C", "S", "T", "S2", "T2"]),
                     "P lists exactly what completed (A was removed, the renames did not happen)")
            check_eq(os.listdir(m.p("P", "B")), [], "B lists as empty")
            check_eq(os.listdir(m.p("P", "C")), [], "C lists as empty")
            check_eq(os.listdir(m.p("P", "T2")), [],
                     "T2 (the rename target that lost its dir IV) lists as empty")
            check_eq(read_file(m.p("P", "S", "f")), b"source one", "S/f")
            check_eq(read_file(m.p("P", "S2", "f")), b"source two", "S2/f")
            check_eq(read_file(m.p("P", "keep")), b"kept file", "keep")
        tap.run("after the crashes the parent lists exactly the completed entries", listings)

        def fresh_kept():
            check_eq(len(temps(cdir(vol, "P"))), 1, "P's fresh leftover after listing P")
            check_eq(len(temps(cdir(vol, "B"))), 1, "B's fresh leftover after listing B")
            check_eq(len(temps(cdir(vol, "C"))), 1, "C's fresh leftover after listing C")
        tap.run("a listing leaves fresh leftovers alone (a second mount's work)", fresh_kept)

        def rmdir_leftover():
            os.rmdir(m.p("P", "B"))
            check(MODES["B"] not in cipher_dirs(vol), "B's cipher dir is gone")
            check(not os.path.exists(m.p("P", "B")), "B is gone")
        tap.run("rmdir of a directory holding only a mkdir leftover", rmdir_leftover)

        def not_empty_keeps():
            write_file(m.p("P", "C", "real"), b"x")
            check_eq(vfs.errno_of(os.rmdir, m.p("P", "C")), errno.ENOTEMPTY, "rmdir of C")
            check_eq(vfs.errno_of(os.rename, m.p("P", "S2"), m.p("P", "C")), errno.ENOTEMPTY,
                     "rename over C")
            check_eq(len(temps(cdir(vol, "C"))), 1, "C's fresh leftover after both")
            os.unlink(m.p("P", "C", "real"))
        tap.run("a directory that is not empty keeps its fresh leftovers", not_empty_keeps)

        def rename_over_leftover():
            os.rename(m.p("P", "S2"), m.p("P", "C"))
            check_eq(read_file(m.p("P", "C", "f")), b"source two", "C/f after the rename")
            check_eq(temps(cdir(vol, "S2")), [], "temporaries in C (S2's cipher dir now)")
        tap.run("rename over a directory holding only a leftover of an interrupted mkdir",
                rename_over_leftover)

        def rename_over_no_iv():
            os.rename(m.p("P", "S"), m.p("P", "T"))
            check_eq(read_file(m.p("P", "T", "f")), b"source one", "T/f after the rename")
            check_eq(os.listdir(m.p("P", "T")), ["f"], "T lists")
        tap.run("rename over the directory whose dir IV the crash removed", rename_over_no_iv)

        def rmdir_no_iv():
            os.rmdir(m.p("P", "T2"))
            check(not os.path.exists(m.p("P", "T2")), "T2 is gone")
            check(MODES["T2"] not in cipher_dirs(vol), "T2's cipher dir is gone")
        tap.run("rmdir of the other directory whose dir IV the crash removed", rmdir_no_iv)

        def stale_swept():
            p = cdir(vol, "P")
            left = temps(p)
            check_eq(len(left), 1, "P's leftover is still there before it is stale")
            old = time.time() - STALE_SECONDS - 5
            os.utime(os.path.join(p, left[0]), (old, old), follow_symlinks=False)
            os.listdir(m.p("P"))
            check_eq(temps(p), [], "P's temporaries after listing P")
            check_eq(all_temps(vol.dir), [], "temporaries anywhere in the cipher directory")
            check_eq(sorted(os.listdir(m.p("P"))), ["C", "T", "done", "keep"], "P at the end")
        tap.run("a stale leftover is removed by a listing; none remains", stale_swept)

        def still_works():
            os.mkdir(m.p("P", "again"))
            write_file(m.p("P", "again", "x"), b"x")
            os.unlink(m.p("P", "again", "x"))
            os.rmdir(m.p("P", "again"))
            check_eq(all_temps(vol.dir), [], "temporaries")
        tap.run("mkdir and rmdir work as before", still_works)
    finally:
        m.unmount()

    def quiet_log():
        bad = vfs.unexpected_log_lines(m.log())
        check_eq(bad, [], "unexpected daemon log lines")
    tap.run("the daemon logged nothing unexpected", quiet_log)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
