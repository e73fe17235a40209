#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Differential test: the same seeded random operations on a plain
directory and on a veilfs mount, compared after every step.

usage: test_differential.py VEILFS SEED OPS

Operations: create (O_TRUNC / O_EXCL), write at random offsets (biased to
block edges 4095/4096/4097, 8191.., and beyond EOF), append (O_APPEND),
truncate (path and fd), read, rename, hard link, unlink, mkdir, rmdir,
symlink/readlink, chmod, stat, readdir, and operations through open file
descriptors that outlive renames and unlinks (write, read, ftruncate,
fsync, close). Names come from a small pool (incl. 255-byte names) so that
collisions and errors are frequent.

After every operation: the result or errno must be equal, and every path
the operation touched must have the same type, size, mode, link count and
content on both sides. Every 250 operations the whole trees are compared;
at the end the volume is remounted and compared again. The seed and the
failing step are printed so that a failure reproduces:
    test_differential.py VEILFS SEED OPS
"""

import os
import random
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402

BLOCK = vfs.BLOCK
EDGES = [0, 1, 4095, 4096, 4097, 8191, 8192, 8193, 12287, 12288, 12289, 16383, 16384, 20479,
         65535, 65536, 65537]
NAMES = ["a", "b", "c", "dd", "e.txt", "F", "n" * 200, "L" * 255, "m" * 255]
DIRS = ["d1", "d2", "D" * 255]
MAX_FDS = 6
FULL_EVERY = 250


class Divergence(Exception):
    pass


def outcome(fn, *args):
    """('ok', value) or ('err', errno name)."""
    try:
        return ("ok", fn(*args))
    except OSError as e:
        return ("err", vfs.errno_name(e.errno))


def sig(path):
    """type, size, mode, nlink and content (or target) of one path."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return ("missing", vfs.errno_name(e.errno))
    kind = stat.S_IFMT(st.st_mode)
    s = (oct(st.st_mode), st.st_nlink if not stat.S_ISDIR(st.st_mode) else None)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            data = f.read()
        if len(data) != st.st_size:
            return s + (st.st_size, "read %d bytes" % len(data))
        return s + (st.st_size, vfs.hashlib.sha256(data).hexdigest())
    if stat.S_ISLNK(st.st_mode):
        return s + (os.readlink(path),)
    if stat.S_ISDIR(st.st_mode):
        return s + (tuple(sorted(os.listdir(path))),)
    return s + (kind,)


class Side:
    def __init__(self, root):
        self.root = root
        self.fds = {}

    def p(self, rel):
        return os.path.join(self.root, rel)


class Runner:
    def __init__(self, seed, plain, mnt):
        self.r = random.Random(seed)
        self.sides = [Side(plain), Side(mnt)]
        self.history = []
        self.next_fd = 0
        self.counts = {}

    # -------------------------------------------------------- choosing
    def existing(self, want=None):
        """A random existing path of the plain tree (the reference)."""
        out = []
        for dp, dns, fns in os.walk(self.sides[0].root):
            for n in dns + fns:
                rel = os.path.relpath(os.path.join(dp, n), self.sides[0].root)
                if want == "dir" and n not in dns:
                    continue
                if want == "file" and n not in fns:
                    continue
                out.append(rel)
        return self.r.choice(out) if out else None

    def anypath(self, want=None):
        r = self.r
        if r.random() < 0.75:
            e = self.existing(want)
            if e:
                return e
        if r.random() < 0.85:
            # mostly below an existing directory, so creations succeed
            d = self.existing("dir") if r.random() < 0.6 else ""
            parent = d or ""
        else:
            parent = r.choice([r.choice(DIRS), os.path.join(r.choice(DIRS), r.choice(DIRS))])
        leaf = r.choice(DIRS if want == "dir" else NAMES)
        return os.path.join(parent, leaf) if parent else leaf

    def offset(self, size):
        r = self.r
        k = r.random()
        if k < 0.5:
            return max(0, r.choice(EDGES) + r.choice([-1, 0, 0, 1]))
        if k < 0.8:
            return r.randrange(0, max(1, size + 1))
        return r.randrange(0, 70000)

    def length(self):
        r = self.r
        return r.choice([1, 2, 3, 100, 4095, 4096, 4097, 8192, 10000, r.randrange(1, 30000)])

    # ------------------------------------------------------------ ops
    def op(self):
        r = self.r
        kinds = [("write", 14), ("append", 7), ("truncate", 7), ("read", 8), ("create", 10),
                 ("rename", 6), ("link", 4), ("unlink", 3), ("mkdir", 4), ("rmdir", 2),
                 ("symlink", 2), ("chmod", 2), ("stat", 3), ("readdir", 3),
                 ("fd_open", 6), ("fd_write", 8), ("fd_read", 5), ("fd_trunc", 3),
                 ("fd_fsync", 1), ("fd_close", 4)]
        total = sum(w for _, w in kinds)
        x = r.randrange(total)
        for k, w in kinds:
            if x < w:
                return k
            x -= w

    def make(self):
        """Pick one operation; returns (description, fn(side) -> result, touched paths)."""
        r = self.r
        k = self.op()
        if k in ("write", "append", "truncate", "read"):
            path = self.anypath("file")
            size = self.plain_size(path)
        if k == "write":
            off, n = self.offset(size), self.length()
            data = r.randbytes(n)
            def f(s):
                fd = os.open(s.p(path), os.O_WRONLY)
                try:
                    return os.pwrite(fd, data, off)
                finally:
                    os.close(fd)
            return "write %s %d@%d" % (path, n, off), f, [path]
        if k == "append":
            data = r.randbytes(self.length())
            def f(s):
                fd = os.open(s.p(path), os.O_WRONLY | os.O_APPEND)
                try:
                    n = os.write(fd, data)
                    return n, os.lseek(fd, 0, os.SEEK_CUR)
                finally:
                    os.close(fd)
            return "append %s %d" % (path, len(data)), f, [path]
        if k == "truncate":
            n = self.offset(size)
            return "truncate %s %d" % (path, n), lambda s: os.truncate(s.p(path), n), [path]
        if k == "read":
            off, n = self.offset(size), self.length()
            def f(s):
                fd = os.open(s.p(path), os.O_RDONLY)
                try:
                    return os.pread(fd, n, off)
                finally:
                    os.close(fd)
            return "read %s %d@%d" % (path, n, off), f, [path]
        if k == "create":
            path = self.anypath("file")
            excl = r.random() < 0.3
            flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if excl else os.O_TRUNC)
            data = r.randbytes(r.choice([0, 1, 4096, 5000, 12289]))
            def f(s):
                fd = os.open(s.p(path), flags, 0o644)
                try:
                    return os.write(fd, data)
                finally:
                    os.close(fd)
            return "create%s %s %d" % (" excl" if excl else "", path, len(data)), f, [path]
        if k == "rename":
            a, b = self.anypath(), self.anypath(r.choice([None, "dir", "file"]))
            return "rename %s %s" % (a, b), lambda s: os.rename(s.p(a), s.p(b)), [a, b]
        if k == "link":
            a, b = self.anypath("file"), self.anypath()
            return "link %s %s" % (a, b), lambda s: os.link(s.p(a), s.p(b), follow_symlinks=False), [a, b]
        if k == "unlink":
            a = self.anypath("file")
            return "unlink %s" % a, lambda s: os.unlink(s.p(a)), [a]
        if k == "mkdir":
            a = self.anypath("dir")
            return "mkdir %s" % a, lambda s: os.mkdir(s.p(a), 0o755), [a]
        if k == "rmdir":
            a = self.anypath("dir")
            return "rmdir %s" % a, lambda s: os.rmdir(s.p(a)), [a]
        if k == "symlink":
            a = self.anypath()
            # targets stay inside the tree (O_CREAT through a dangling
            # symlink creates its target) or are too long to resolve
            t = r.choice(["a", "b", "e.txt", "d1", "d1/a", "zz/none", "t" * r.choice([1, 300, 4095])])
            return "symlink %s -> %s" % (a, t[:40]), lambda s: os.symlink(t, s.p(a)), [a]
        if k == "chmod":
            a = self.anypath()
            mode = r.choice([0o644, 0o600, 0o755, 0o700, 0o444])
            return "chmod %s %o" % (a, mode), lambda s: os.chmod(s.p(a), mode), [a]
        if k == "stat":
            a = self.anypath()
            return "stat %s" % a, lambda s: sig(s.p(a)), [a]
        if k == "readdir":
            a = self.anypath("dir") if r.random() < 0.7 else ""
            return "readdir %s" % a, lambda s: sorted(os.listdir(s.p(a) if a else s.root)), []
        # operations on open file descriptors
        if k == "fd_open" or not self.sides[0].fds:
            if len(self.sides[0].fds) >= MAX_FDS:
                k = "fd_close"
            else:
                path = self.anypath("file")
                flags = r.choice([os.O_RDWR, os.O_RDWR | os.O_APPEND, os.O_WRONLY | os.O_APPEND,
                                  os.O_RDONLY, os.O_RDWR | os.O_CREAT])
                key = self.next_fd
                self.next_fd += 1
                def f(s):
                    s.fds[key] = os.open(s.p(path), flags, 0o644)
                    return "opened"
                return "fd_open #%d %s flags=%o" % (key, path, flags), f, [path]
        key = r.choice(sorted(self.sides[0].fds))
        if k == "fd_write":
            off, n = self.offset(70000), self.length()
            data = r.randbytes(n)
            return "fd_write #%d %d@%d" % (key, n, off), lambda s: os.pwrite(s.fds[key], data, off), []
        if k == "fd_read":
            off, n = self.offset(70000), self.length()
            return "fd_read #%d %d@%d" % (key, n, off), lambda s: os.pread(s.fds[key], n, off), []
        if k == "fd_trunc":
            n = self.offset(70000)
            return "fd_trunc #%d %d" % (key, n), lambda s: os.ftruncate(s.fds[key], n), []
        if k == "fd_fsync":
            return "fd_fsync #%d" % key, lambda s: os.fsync(s.fds[key]), []
        def close(s):
            fd = s.fds.pop(key)
            os.close(fd)
        return "fd_close #%d" % key, close, []

    def plain_size(self, rel):
        try:
            return os.stat(self.sides[0].p(rel)).st_size
        except OSError:
            return 0

    # ---------------------------------------------------------- checks
    def step(self, i):
        desc, fn, touched = self.make()
        self.history.append("%d: %s" % (i, desc))
        name = desc.split(" ")[0]
        res = [outcome(fn, s) for s in self.sides]
        c = self.counts.setdefault(name, [0, 0])
        c[0 if res[0][0] == "ok" else 1] += 1
        if res[0] != res[1]:
            raise Divergence("op %d (%s): plain dir %s, mount %s" % (
                i, desc, short(res[0]), short(res[1])))
        check_paths = set()
        for t in touched:
            check_paths.add(t)
            check_paths.add(os.path.dirname(t))
        for t in sorted(check_paths):
            a = sig(self.sides[0].p(t)) if t else sig(self.sides[0].root)
            b = sig(self.sides[1].p(t)) if t else sig(self.sides[1].root)
            if a != b:
                raise Divergence("after op %d (%s): %s differs: plain dir %s, mount %s" % (
                    i, desc, t or ".", short(a), short(b)))

    def full_compare(self, what):
        a = vfs.tree(self.sides[0].root)
        b = vfs.tree(self.sides[1].root)
        if a != b:
            raise Divergence("%s: trees differ:\n%s" % (what, vfs.tree_diff(b, a)))

    def close_all(self):
        for s in self.sides:
            for fd in s.fds.values():
                try:
                    os.close(fd)
                except OSError:
                    pass
            s.fds.clear()


def short(x):
    s = repr(x)
    return s if len(s) < 300 else s[:300] + "..."


MOUNT_EXTRA = ()


def main():
    global MOUNT_EXTRA
    veilfs, extra = vfs.setup(usage="VEILFS SEED OPS [MOUNT ARGS...]", nargs=2)
    seed, nops = int(extra[0]), int(extra[1])
    # Further arguments go to 'veilfs mount' (e.g. --fd-cache 16: file fds are
    # closed and reopened by name all the time).
    MOUNT_EXTRA = tuple(extra[2:])
    tap = vfs.Tap()
    tap.diag("seed %d, %d operations; reproduce with: test_differential.py VEILFS %d %d"
             % (seed, nops, seed, nops))
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    plain = ws.mkdir("plain")
    mnt = ws.mkdir("mnt")
    m = vol.mount(mnt, fg=True, extra=MOUNT_EXTRA)
    # the mount's root has the cipher dir's mode (0700 from init)
    os.chmod(plain, os.stat(mnt).st_mode & 0o7777)
    run = Runner(seed, plain, mnt)
    chunk = 1000
    t0 = time.monotonic()
    failed = False
    i = 0
    try:
        while i < nops:
            end = min(nops, i + chunk)
            start = i
            try:
                while i < end:
                    run.step(i)
                    i += 1
                    if i % FULL_EVERY == 0:
                        run.full_compare("after op %d" % (i - 1))
                tap.ok(True, "seed %d: ops %d-%d agree with the plain dir" % (seed, start, end - 1))
            except Divergence as e:
                tap.ok(False, "seed %d: ops %d-%d agree with the plain dir" % (seed, start, end - 1),
                       "%s\nseed %d; last operations:\n%s\nreproduce: test_differential.py VEILFS %d %d"
                       % (e, seed, "\n".join(run.history[-25:]), seed, i + 1))
                failed = True
                break
        run.close_all()
        if not failed:
            def remount():
                nonlocal m
                m.unmount()
                m = vol.mount(mnt, fg=True, extra=MOUNT_EXTRA)
                run.full_compare("after remount")
            tap.run("seed %d: whole tree equal after remount" % seed, remount)
    finally:
        run.close_all()
        m.unmount(quiet=True)
    bad = vfs.unexpected_log_lines(m.log())
    tap.ok(not bad, "seed %d: daemon stderr has no warnings or errors" % seed, "\n".join(bad[:20]))
    tap.diag("seed %d: %d operations in %.1f s: %s" % (
        seed, i, time.monotonic() - t0, ", ".join("%s %d ok/%d err" % (k, v[0], v[1]) for k, v in sorted(run.counts.items()))))
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
