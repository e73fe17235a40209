#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Real programs on a veilfs mount.

usage: test_programs.py VEILFS

* git: init, add and commit a tree, modify, commit again, gc, fsck --full,
  status clean, clone back to a plain dir and compare the work tree.
* SQLite (python sqlite3): a few thousand transactions in rollback-journal
  and in WAL mode (WAL uses a shared mmap), PRAGMA integrity_check, and the
  same content as the same transactions on a plain directory.
* tar: extract a tarball of a source tree (thousands of files), diff -r
  against the source and tar --compare; rm -rf leaves an empty dir.
* rsync -a into the mount and back out, diff -r; a second
  'rsync -a --checksum' pass finds nothing to transfer.
The source tree is made once, in the workspace, by make_source_tree(): no
test compares against a live system directory that another program may
change during the run. A program that is missing fails its test point with
a message naming it; the volume is remounted before the final checks so
nothing is served from the page cache.
"""

import os
import random
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq  # noqa: E402


def make_source_tree(root, nfiles=3000, seed=8):
    """A deterministic tree like a source tree: nested directories, files
    of 0 to 64 KiB of text and binary, executables, symlinks (relative,
    dangling, to directories), an empty directory. Returns @root."""
    rnd = random.Random(seed)
    dirs = [root]
    os.mkdir(root)
    for i in range(120):
        d = os.path.join(rnd.choice(dirs), "dir%03d" % i)
        os.mkdir(d)
        dirs.append(d)
    os.mkdir(os.path.join(root, "sub"))
    os.mkdir(os.path.join(root, "empty"))   # outside sub/: git keeps no empty directory
    dirs.append(os.path.join(root, "sub"))
    files = []
    for i in range(nfiles):
        d = rnd.choice(dirs)
        size = rnd.choice((0, 1, 17, 4095, 4096, 4097)) if i % 10 == 0 else \
            int(rnd.expovariate(1 / 6000.0)) % 65536
        if i % 3 == 0:
            data = rnd.randbytes(size)
        else:
            words = (b"static", b"int", b"const", b"#define", b"struct", b"\n", b"/* x */")
            data = b" ".join(rnd.choice(words) for _ in range(size // 5 + 1))[:size]
        p = os.path.join(d, "file%04d.%s" % (i, rnd.choice(("h", "c", "txt", "bin"))))
        vfs.write_file(p, data, 0o755 if i % 17 == 0 else 0o644)
        files.append(p)
    for i in range(60):
        d = rnd.choice(dirs)
        target = os.path.relpath(rnd.choice(files + dirs[1:]), d) if i % 6 else "dangling%d" % i
        os.symlink(target, os.path.join(d, "link%02d" % i))
    return root



def sh(cmd, cwd=None, env=None, timeout=600):
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("%s: exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), r.returncode, r.stdout.decode(errors="replace")[-3000:],
            r.stderr.decode(errors="replace")[-3000:]))
    return r.stdout.decode(errors="replace")


def sqlite_workload(path, mode):
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=%s" % mode)
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, k TEXT, v BLOB)")
        con.execute("CREATE INDEX IF NOT EXISTS tk ON t(k)")
        for i in range(1500):
            con.execute("BEGIN")
            con.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("key%d" % (i * 7919 % 1000), bytes([i % 256]) * (i % 3000)))
            if i % 3 == 0:
                con.execute("UPDATE t SET v = ? WHERE id = ?", (b"u" * (i % 5000), i // 2 + 1))
            if i % 5 == 0:
                con.execute("DELETE FROM t WHERE id = ?", (i // 3 + 1,))
            con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)" if mode == "WAL" else "SELECT 1")
        ic = con.execute("PRAGMA integrity_check").fetchall()
        rows = con.execute("SELECT id, k, hex(v) FROM t ORDER BY id").fetchall()
        return ic, vfs.hashlib.sha256(repr(rows).encode()).hexdigest(), len(rows)
    finally:
        con.close()


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")
    plain = ws.mkdir("plain")
    state = {"m": vol.mount(mnt, fg=True)}

    def remount():
        state["m"].unmount()
        state["m"] = vol.mount(mnt, fg=True)

    src = make_source_tree(os.path.join(ws.path, "src"))
    env = dict(os.environ, HOME=ws.path, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org", LC_ALL="C")
    try:
        # ---------------------------------------------------------------- git
        def git():
            vfs.need("git")
            repo = os.path.join(mnt, "repo")
            os.mkdir(repo)
            sh(["git", "init", "-q", "-b", "main", repo], env=env)
            sh(["cp", "-a", os.path.join(src, "sub"), os.path.join(repo, "sub")])
            for i in range(50):
                vfs.write_file(os.path.join(repo, "file%02d.txt" % i), (b"line %d\n" % i) * (i * 100))
            sh(["git", "add", "-A"], cwd=repo, env=env)
            sh(["git", "commit", "-q", "-m", "first"], cwd=repo, env=env)
            for i in range(0, 50, 3):
                with open(os.path.join(repo, "file%02d.txt" % i), "ab") as f:
                    f.write(b"changed\n")
            os.rename(os.path.join(repo, "file01.txt"), os.path.join(repo, "renamed.txt"))
            sh(["git", "add", "-A"], cwd=repo, env=env)
            sh(["git", "commit", "-q", "-m", "second"], cwd=repo, env=env)
            sh(["git", "gc", "-q", "--aggressive", "--prune=now"], cwd=repo, env=env)
            remount()
            sh(["git", "fsck", "--full", "--strict"], cwd=repo, env=env)
            check_eq(sh(["git", "status", "--porcelain"], cwd=repo, env=env), "", "git status")
            check_eq(sh(["git", "rev-list", "--count", "HEAD"], cwd=repo, env=env).strip(), "2", "commits")
            clone = os.path.join(plain, "clone")
            sh(["git", "clone", "-q", repo, clone], env=env)
            sh(["diff", "-r", "--no-dereference", "--exclude=.git", repo, clone])
        tap.run("git init/add/commit/gc, fsck --full after remount, clone and diff", git)

        # ------------------------------------------------------------- sqlite
        def sqlite(mode):
            a = sqlite_workload(os.path.join(plain, "db-%s.sqlite" % mode), mode)
            b = sqlite_workload(os.path.join(mnt, "db-%s.sqlite" % mode), mode)
            check_eq(b[0], [("ok",)], "integrity_check on the mount")
            check_eq(b, a, "database content vs plain dir")
            remount()
            con = sqlite3.connect(os.path.join(mnt, "db-%s.sqlite" % mode))
            try:
                check_eq(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)],
                         "integrity_check after remount")
                check_eq(con.execute("SELECT count(*) FROM t").fetchone()[0], b[2], "rows after remount")
            finally:
                con.close()
            tap.diag("sqlite %s: %d rows" % (mode, b[2]))
        tap.run("SQLite, 1500 transactions, rollback journal: integrity_check, same content",
                sqlite, "DELETE")
        tap.run("SQLite, 1500 transactions, WAL (shared mmap): integrity_check, same content",
                sqlite, "WAL")

        # ---------------------------------------------------------------- tar
        tarball = os.path.join(ws.path, "include.tar")

        def tar():
            sh(["tar", "-C", os.path.dirname(src), "-cf", tarball, os.path.basename(src)])
            nfiles = sum(len(f) for _, _, f in os.walk(src))
            dest = os.path.join(mnt, "untar")
            os.mkdir(dest)
            sh(["tar", "-C", dest, "-xf", tarball])
            remount()
            sh(["diff", "-r", "--no-dereference", src, os.path.join(dest, os.path.basename(src))])
            sh(["tar", "-C", dest, "--compare", "-f", tarball])
            tap.diag("tar: %d files" % nfiles)
        tap.run("tar -x of a source tree, diff -r and tar --compare after remount", tar)

        def rmrf():
            dest = os.path.join(mnt, "untar")
            sh(["rm", "-rf", os.path.join(dest, os.path.basename(src))])
            check_eq(os.listdir(dest), [], "after rm -rf")
            os.rmdir(dest)
        tap.run("rm -rf of the extracted tree", rmrf)

        # -------------------------------------------------------------- rsync
        def rsync():
            vfs.need("rsync")
            into = os.path.join(mnt, "rs")
            back = os.path.join(plain, "rs-back")
            sh(["rsync", "-a", "--", src + "/", into + "/"])
            remount()
            sh(["diff", "-r", "--no-dereference", src, into])
            sh(["rsync", "-a", "--", into + "/", back + "/"])
            sh(["diff", "-r", "--no-dereference", src, back])
            out = sh(["rsync", "-a", "--checksum", "--itemize-changes", "--", src + "/", into + "/"])
            check_eq(out.strip(), "", "second rsync --checksum pass")
            # modify a few files in place, rsync again (delta transfer)
            sh(["rsync", "-a", "--", src + "/", back + "/"])
            tap.diag("rsync: %d files" % sum(len(f) for _, _, f in os.walk(src)))
        tap.run("rsync -a into the mount and back, diff -r, --checksum pass is empty", rsync)

        def rsync_inplace():
            vfs.need("rsync")
            a = os.path.join(plain, "big-src")
            vfs.write_file(a, os.urandom(3 * 1024 * 1024 + 77))
            dst = os.path.join(mnt, "big")
            sh(["rsync", "-a", a, dst])
            with open(a, "r+b") as f:
                f.seek(1024 * 1024 + 5)
                f.write(b"CHANGED" * 1000)
            # -I: the change may fall in the same mtime tick, and rsync's quick
            # check would then skip the file on any filesystem (plain dirs too).
            sh(["rsync", "-a", "-I", "--inplace", "--no-whole-file", a, dst])
            remount()
            check_eq(vfs.sha256_file(dst), vfs.sha256_file(a), "after rsync --inplace delta")
        tap.run("rsync --inplace --no-whole-file delta update", rsync_inplace)
    finally:
        state["m"].unmount(quiet=True)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
