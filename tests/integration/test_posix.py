#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""POSIX behaviour of a veilfs mount, compared with a plain directory.

usage: test_posix.py VEILFS

Most test points run the same function on a plain directory (on the same
backing filesystem as the cipher dir) and on the mount, and require equal
observations: contents, sizes, modes, link counts, errno values. Some also
check against a model (a bytearray) after every step, and several remount
so that nothing is served from the page cache. At the end the whole tree is
compared after a remount, and the daemon's stderr is scanned for warnings.
"""

import ctypes
import errno
import mmap
import os
import random
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import BLOCK, check, check_bytes, check_eq, errno_of, read_file, write_file  # noqa: E402

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2


def rnd(n, seed):
    return random.Random(seed).randbytes(n)


def _raise_errno():
    e = ctypes.get_errno()
    raise OSError(e, os.strerror(e))


def renameat2(old, new, flags):
    if libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new),
                      ctypes.c_uint(flags)) != 0:
        _raise_errno()


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def utimensat(path, atime, mtime, nofollow=False):
    """atime/mtime: (sec, nsec) or UTIME_NOW / UTIME_OMIT."""
    def ts(t):
        if t in (UTIME_NOW, UTIME_OMIT):
            return Timespec(0, t)
        return Timespec(t[0], t[1])
    arr = (Timespec * 2)(ts(atime), ts(mtime))
    if libc.utimensat(AT_FDCWD, os.fsencode(path), arr,
                      AT_SYMLINK_NOFOLLOW if nofollow else 0) != 0:
        _raise_errno()


def fallocate(fd, mode, off, length):
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    if libc.fallocate(fd, mode, off, length) != 0:
        _raise_errno()


def pread_all(fd, n, off):
    out = bytearray()
    while len(out) < n:
        b = os.pread(fd, n - len(out), off + len(out))
        if not b:
            break
        out += b
    return bytes(out)


def pwrite_all(fd, data, off):
    mv = memoryview(data)
    while mv:
        n = os.pwrite(fd, mv, off)
        mv = mv[n:]
        off += n


def stat_sig(p, follow=False):
    """What a user can compare between two trees for one path."""
    st = os.stat(p, follow_symlinks=follow)
    sig = (oct(st.st_mode), st.st_uid, st.st_gid)
    if stat.S_ISREG(st.st_mode):
        sig += (st.st_size, st.st_nlink)
    elif stat.S_ISLNK(st.st_mode):
        sig += (st.st_size,)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        sig += (st.st_rdev,)
    return sig


class Ctx:
    def __init__(self, vol, plain, mnt, m):
        self.vol = vol
        self.plain = plain
        self.mnt = mnt
        self.m = m
        self.logs = []

    def remount(self):
        self.logs.append(self.m.log())
        self.m.unmount()
        self.m = self.vol.mount(self.mnt, fg=True)

    def both(self, sub, fn, compare=True):
        """Run fn(dir) in <plain>/sub and <mnt>/sub (made fresh), require
        equal results, return the mount's result."""
        res = []
        for root in (self.plain, self.mnt):
            d = os.path.join(root, sub)
            os.mkdir(d)
            try:
                res.append(fn(d))
            except AssertionError as e:
                raise AssertionError("%s: %s" % ("plain dir" if root == self.plain else "mount", e))
        if compare:
            check_eq(res[1], res[0], "mount vs plain dir")
        return res[1]

    def tree_both(self, sub, **kw):
        a = vfs.tree(os.path.join(self.plain, sub), **kw)
        b = vfs.tree(os.path.join(self.mnt, sub), **kw)
        vfs.check_trees_equal(b, a, "mount vs plain tree of " + sub)


SMALL_SIZES = [0, 1, 15, 16, 17, 100, 4095, 4096, 4097, 8191, 8192, 8193, 12288, 65543]


def t_small(c):
    def f(d):
        out = []
        for s in SMALL_SIZES:
            p = os.path.join(d, "f%d" % s)
            write_file(p, rnd(s, s))
            data = read_file(p)
            check_bytes(data, rnd(s, s), "f%d" % s)
            out.append((s, os.stat(p).st_size))
        return out
    c.both("small", f)
    c.remount()
    for s in SMALL_SIZES:
        p = os.path.join(c.mnt, "small", "f%d" % s)
        check_eq(os.stat(p).st_size, s, "size of f%d after remount" % s)
        check_bytes(read_file(p), rnd(s, s), "f%d after remount" % s)


def t_big(c):
    size = 5 * 1024 * 1024 + 123
    data = rnd(size, 5)
    def f(d):
        a = os.path.join(d, "big1")
        write_file(a, data)  # 1 MiB-ish kernel writes
        b = os.path.join(d, "big2")
        fd = os.open(b, os.O_WRONLY | os.O_CREAT, 0o644)
        for off in range(0, size, 3001):
            os.write(fd, data[off:off + 3001])
        os.close(fd)
        for p in (a, b):
            check_eq(os.stat(p).st_size, size, "size")
            check_bytes(read_file(p), data, p)
            fd = os.open(p, os.O_RDONLY)
            r = random.Random(7)
            for _ in range(200):
                off = r.randrange(size)
                n = r.choice([1, 4000, 4096, 4097, 65536, 300000])
                check_bytes(pread_all(fd, n, off), data[off:off + n], "pread %d@%d" % (n, off))
            os.close(fd)
        return vfs.sha256_file(a), vfs.sha256_file(b)
    c.both("big", f)
    c.remount()
    for n in ("big1", "big2"):
        check_bytes(read_file(os.path.join(c.mnt, "big", n)), data, n + " after remount")


EDGE_WRITES = [(4095, 1), (4095, 2), (4096, 1), (4097, 3), (8191, 1), (8191, 2), (8192, 4096),
               (8193, 4097), (12287, 1), (0, 4097), (4095, 8194), (12787, 10), (16383, 2),
               (20000, 5), (4094, 4), (12288, 4096), (24575, 2), (1, 1)]


def t_block_edges(c):
    def f(d):
        p = os.path.join(d, "edges")
        model = bytearray(rnd(3 * BLOCK + 500, 11))
        write_file(p, model)
        fd = os.open(p, os.O_RDWR)
        for i, (off, n) in enumerate(EDGE_WRITES):
            chunk = rnd(n, 100 + i)
            pwrite_all(fd, chunk, off)
            if off > len(model):
                model += bytes(off - len(model))
            model[off:off + n] = chunk
            check_eq(os.fstat(fd).st_size, len(model), "size after write %d@%d" % (n, off))
            check_bytes(pread_all(fd, len(model) + 10, 0), bytes(model), "after write %d@%d" % (n, off))
            for roff in (off - 1, off, off + n - 1, 4094, 4095, 4096, 8191, 8192):
                if roff >= 0:
                    check_bytes(pread_all(fd, 3, roff), bytes(model[roff:roff + 3]), "pread 3@%d" % roff)
        os.close(fd)
        return bytes(model)
    model = c.both("edges", f)
    c.remount()
    check_bytes(read_file(os.path.join(c.mnt, "edges", "edges")), model, "after remount")


def t_append(c):
    def f(d):
        p = os.path.join(d, "app")
        model = bytearray(rnd(5000, 21))
        write_file(p, model)
        obs = []
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        for i, n in enumerate((1, 4095, 5000, 4096, 3)):
            chunk = rnd(n, 30 + i)
            os.write(fd, chunk)
            model += chunk
            obs.append(os.lseek(fd, 0, os.SEEK_CUR))
            check_eq(os.fstat(fd).st_size, len(model), "size after append")
        # O_APPEND ignores the file offset
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"tail")
        model += b"tail"
        os.close(fd)
        check_bytes(read_file(p), bytes(model), "after appends")
        # two appenders alternate
        fa = os.open(p, os.O_WRONLY | os.O_APPEND)
        fb = os.open(p, os.O_RDWR | os.O_APPEND)
        for i in range(20):
            chunk = (b"A%02d" % i) * (i * 97 % 1500 + 1)
            os.write(fa if i % 2 else fb, chunk)
            model += chunk
        check_bytes(read_file(p), bytes(model), "after alternating appends")
        # append after another fd truncated the file
        ft = os.open(p, os.O_WRONLY)
        os.ftruncate(ft, 4100)
        del model[4100:]
        os.write(fa, b"after-truncate")
        model += b"after-truncate"
        check_bytes(read_file(p), bytes(model), "append after truncate through another fd")
        # append after another fd extended it
        pwrite_all(ft, b"X" * 5000, 9000)
        model += bytes(9000 - len(model)) + b"X" * 5000
        os.write(fb, b"after-extend")
        model += b"after-extend"
        check_bytes(read_file(p), bytes(model), "append after extension through another fd")
        for x in (fa, fb, ft):
            os.close(x)
        # append to a file created with O_APPEND
        q = os.path.join(d, "new")
        fd = os.open(q, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for i in range(10):
            os.write(fd, b"%d" % i * 1000)
        os.close(fd)
        obs.append(read_file(q) == b"".join(b"%d" % i * 1000 for i in range(10)))
        obs.append(vfs.sha256_file(p))
        return obs
    c.both("append", f)


TRUNCS = [5000, 9000, 4096, 4097, 4095, 12289, 0, 3, 8192, 6000, 100000, 1, 4096 * 5 + 17, 4096 * 2]


def t_truncate(c):
    def f(d):
        p = os.path.join(d, "tr")
        model = bytearray(rnd(10000, 41))
        write_file(p, model)
        fd = os.open(p, os.O_RDWR)
        for i, n in enumerate(TRUNCS):
            if i % 2:
                os.truncate(p, n)
            else:
                os.ftruncate(fd, n)
            if n < len(model):
                del model[n:]
            else:
                model += bytes(n - len(model))
            check_eq(os.stat(p).st_size, n, "size after truncate to %d" % n)
            check_bytes(pread_all(fd, n + 100, 0), bytes(model), "after truncate to %d" % n)
            # write into the middle of the last block after truncating
            if n > 10:
                off = n - n % BLOCK + (n % BLOCK) // 2 if n % BLOCK else n - 5
                chunk = rnd(7, 50 + i)
                pwrite_all(fd, chunk, off)
                if off + 7 > len(model):
                    model += bytes(off + 7 - len(model))
                model[off:off + 7] = chunk
                check_bytes(pread_all(fd, len(model) + 100, 0), bytes(model), "after write @%d" % off)
        os.close(fd)
        # O_TRUNC on open
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        check_eq(os.fstat(fd).st_size, 0, "size after O_TRUNC")
        os.write(fd, b"fresh")
        os.close(fd)
        check_bytes(read_file(p), b"fresh", "after O_TRUNC + write")
        q = os.path.join(d, "tr2")
        write_file(q, rnd(3 * BLOCK + 10, 42))
        os.truncate(q, 2 * BLOCK + 100)
        os.truncate(q, 4 * BLOCK)
        return bytes(model), vfs.sha256_file(q)
    model = c.both("truncate", f)
    c.remount()
    check_bytes(read_file(os.path.join(c.mnt, "truncate", "tr")), b"fresh", "tr after remount")
    exp = rnd(3 * BLOCK + 10, 42)[:2 * BLOCK + 100]
    exp += bytes(4 * BLOCK - len(exp))
    check_bytes(read_file(os.path.join(c.mnt, "truncate", "tr2")), exp, "tr2 after remount")
    del model


def _mktree(d, seed):
    """a/ b/ c/ nested with files; returns nothing."""
    r = random.Random(seed)
    for sub in ("x", "x/y", "x/y/z", "w"):
        os.makedirs(os.path.join(d, sub))
    for i, sub in enumerate(("", "x", "x/y", "x/y/z", "w")):
        for j in range(3):
            write_file(os.path.join(d, sub, "file%d" % j), r.randbytes(r.randrange(0, 9000)))


def t_rename(c):
    def f(d):
        obs = []
        a = os.path.join(d, "a")
        write_file(a, rnd(5000, 60))
        os.rename(a, os.path.join(d, "b"))
        obs.append(sorted(os.listdir(d)))
        os.mkdir(os.path.join(d, "sub"))
        os.rename(os.path.join(d, "b"), os.path.join(d, "sub", "c"))
        obs.append(read_file(os.path.join(d, "sub", "c")) == rnd(5000, 60))
        # over an existing file
        write_file(os.path.join(d, "victim"), b"old content")
        os.rename(os.path.join(d, "sub", "c"), os.path.join(d, "victim"))
        obs.append(read_file(os.path.join(d, "victim")) == rnd(5000, 60))
        # rename to itself
        os.rename(os.path.join(d, "victim"), os.path.join(d, "victim"))
        obs.append(os.path.exists(os.path.join(d, "victim")))
        # a directory with children
        t = os.path.join(d, "tree")
        os.mkdir(t)
        _mktree(t, 61)
        before = vfs.tree(t)
        os.rename(t, os.path.join(d, "tree2"))
        check_eq(vfs.tree(os.path.join(d, "tree2")), before, "tree after rename")
        os.rename(os.path.join(d, "tree2"), os.path.join(d, "sub", "tree3"))
        check_eq(vfs.tree(os.path.join(d, "sub", "tree3")), before, "tree after move")
        obs.append(errno_of(os.stat, os.path.join(d, "tree2", "x")))
        # the old name is free again
        os.mkdir(t)
        write_file(os.path.join(t, "new"), b"new")
        # rename a dir over an empty dir
        os.mkdir(os.path.join(d, "empty"))
        os.rename(os.path.join(d, "sub", "tree3"), os.path.join(d, "empty"))
        check_eq(vfs.tree(os.path.join(d, "empty")), before, "tree after rename over empty dir")
        # rename of an open file; the fd follows the file
        p = os.path.join(d, "open")
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b"0123456789")
        os.rename(p, os.path.join(d, "moved"))
        os.pwrite(fd, b"AB", 4)
        os.close(fd)
        obs.append(read_file(os.path.join(d, "moved")))
        # rename over an open file: the fd keeps the old content
        write_file(os.path.join(d, "keep"), b"keep me")
        fd = os.open(os.path.join(d, "keep"), os.O_RDONLY)
        write_file(os.path.join(d, "repl"), b"replacement")
        os.rename(os.path.join(d, "repl"), os.path.join(d, "keep"))
        obs.append(os.pread(fd, 100, 0))
        os.close(fd)
        obs.append(read_file(os.path.join(d, "keep")))
        # rename a file between two long-named directories
        ln1, ln2 = os.path.join(d, "L" * 255), os.path.join(d, "M" * 250)
        os.mkdir(ln1)
        os.mkdir(ln2)
        write_file(os.path.join(ln1, "N" * 255), b"long")
        os.rename(os.path.join(ln1, "N" * 255), os.path.join(ln2, "O" * 200))
        obs.append(read_file(os.path.join(ln2, "O" * 200)))
        obs.append(vfs.tree(d))
        return obs
    c.both("rename", f)
    c.remount()
    c.tree_both("rename")


def t_renameat2(c):
    if not hasattr(libc, "renameat2"):
        raise vfs.Skip("libc has no renameat2")
    def f(d):
        obs = []
        p = lambda *n: os.path.join(d, *n)  # noqa: E731
        write_file(p("a"), b"AAAA")
        write_file(p("b"), b"BBBBBBBB")
        obs.append(errno_of(renameat2, p("a"), p("b"), RENAME_NOREPLACE))
        obs.append((read_file(p("a")), read_file(p("b"))))
        obs.append(errno_of(renameat2, p("a"), p("c"), RENAME_NOREPLACE))
        obs.append(sorted(os.listdir(d)))
        obs.append(errno_of(renameat2, p("c"), p("b"), RENAME_EXCHANGE))
        obs.append((read_file(p("b")), read_file(p("c"))))
        obs.append(errno_of(renameat2, p("c"), p("missing"), RENAME_EXCHANGE))
        os.mkdir(p("dir"))
        _mktree(p("dir"), 70)
        before = vfs.tree(p("dir"))
        obs.append(errno_of(renameat2, p("dir"), p("b"), RENAME_EXCHANGE))
        obs.append((stat.S_ISDIR(os.lstat(p("b")).st_mode), read_file(p("dir"))))
        check_eq(vfs.tree(p("b")), before, "children after exchange")
        os.mkdir(p("dir2"))
        write_file(p("dir2", "only"), b"only")
        obs.append(errno_of(renameat2, p("b"), p("dir2"), RENAME_EXCHANGE))
        check_eq(vfs.tree(p("dir2")), before, "children after exchanging dirs")
        obs.append(read_file(p("b", "only")))
        obs.append(errno_of(renameat2, p("a"), p("b"), RENAME_EXCHANGE | RENAME_NOREPLACE))
        obs.append(vfs.tree(d))
        return obs
    c.both("renameat2", f)
    c.remount()
    c.tree_both("renameat2")


def t_hardlinks(c):
    def f(d):
        obs = []
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        model = bytearray(rnd(5000, 80))
        write_file(a, model)
        os.link(a, b)
        sa, sb = os.stat(a), os.stat(b)
        check_eq(sa.st_ino, sb.st_ino, "inode numbers of two links")
        obs.append((sa.st_nlink, sb.st_nlink))
        # write via one name, read via the other
        fd = os.open(b, os.O_WRONLY)
        os.pwrite(fd, b"written-via-b", 100)
        os.close(fd)
        model[100:113] = b"written-via-b"
        check_bytes(read_file(a), bytes(model), "a after write via b")
        # appends after ln, through both names (gocryptfs 2.3 appended at
        # the wrong offset here)
        for i, name in enumerate((b, a, b)):
            fd = os.open(name, os.O_WRONLY | os.O_APPEND)
            chunk = rnd(777 + i * 3000, 81 + i)
            os.write(fd, chunk)
            os.close(fd)
            model += chunk
            check_bytes(read_file(a), bytes(model), "a after append %d" % i)
            check_bytes(read_file(b), bytes(model), "b after append %d" % i)
            check_eq(os.stat(a).st_size, len(model), "size via a")
            check_eq(os.stat(b).st_size, len(model), "size via b")
        # an fd opened before the link, append after it
        x = os.path.join(d, "x")
        write_file(x, b"0123456789")
        fx = os.open(x, os.O_WRONLY | os.O_APPEND)
        os.link(x, os.path.join(d, "y"))
        fy = os.open(os.path.join(d, "y"), os.O_WRONLY | os.O_APPEND)
        os.write(fy, b"Y" * 5000)
        os.write(fx, b"X" * 10)
        os.write(fy, b"y")
        os.close(fx)
        os.close(fy)
        obs.append(read_file(x) == b"0123456789" + b"Y" * 5000 + b"X" * 10 + b"y")
        obs.append(read_file(os.path.join(d, "y")) == read_file(x))
        # links across directories, link counts
        os.mkdir(os.path.join(d, "sub"))
        c3 = os.path.join(d, "sub", "c")
        os.link(b, c3)
        obs.append([os.stat(n).st_nlink for n in (a, b, c3)])
        os.unlink(a)
        obs.append([os.stat(n).st_nlink for n in (b, c3)])
        os.rename(b, os.path.join(d, "b2"))
        obs.append(os.stat(c3).st_nlink)
        os.truncate(c3, 3000)
        obs.append(read_file(os.path.join(d, "b2")) == bytes(model[:3000]))
        # stat through one name sees a size change made through the other
        fd = os.open(os.path.join(d, "b2"), os.O_WRONLY)
        os.pwrite(fd, b"E" * 9000, 3000)
        os.close(fd)
        obs.append(os.stat(c3).st_size)
        obs.append(vfs.tree(d))
        return obs
    c.both("hardlinks", f)
    c.remount()
    c.tree_both("hardlinks")


def _long_target(n):
    parts, total = [], 0
    while total < n:
        k = min(200, n - total)
        seg = "s" * k
        if total + k < n:
            seg = seg[:-1] + "/"
        parts.append(seg)
        total += k
    t = "".join(parts)
    assert len(t) == n
    return t


def t_symlinks(c):
    def f(d):
        obs = []
        p = lambda *n: os.path.join(d, *n)  # noqa: E731
        write_file(p("target"), b"through the link")
        os.symlink("target", p("l1"))
        os.symlink("no/such/file", p("dangling"))
        os.symlink("/absolute/path/\u00e9\u00e8", p("abs"))
        t4095 = _long_target(4095)
        os.symlink(t4095, p("long"))
        os.mkdir(p("dir"))
        os.symlink("../target", p("dir", "up"))
        os.symlink("dir", p("ldir"))
        for n in ("l1", "dangling", "abs", "long", "dir/up", "ldir"):
            obs.append((n, os.readlink(p(n)), stat_sig(p(n))))
        check_eq(os.readlink(p("long")), t4095, "4095-byte target")
        obs.append(read_file(p("l1")))
        obs.append(read_file(p("dir", "up")))
        obs.append(sorted(os.listdir(p("ldir"))))
        obs.append(errno_of(read_file, p("dangling")))
        obs.append(errno_of(os.symlink, _long_target(4096), p("toolong")))
        obs.append(errno_of(os.readlink, p("target")))
        obs.append(errno_of(_open_close, p("l1"), os.O_RDONLY | os.O_NOFOLLOW))
        os.symlink("loop2", p("loop1"))
        os.symlink("loop1", p("loop2"))
        obs.append(errno_of(_open_close, p("loop1"), os.O_RDONLY))
        os.rename(p("long"), p("long2"))
        obs.append(os.readlink(p("long2")) == t4095)
        os.link(p("l1"), p("hardlink-to-symlink"), follow_symlinks=False)
        obs.append(os.readlink(p("hardlink-to-symlink")))
        obs.append(os.lstat(p("l1")).st_nlink)
        os.unlink(p("l1"))
        obs.append(read_file(p("target")))
        return obs
    c.both("symlinks", f)
    c.remount()
    c.tree_both("symlinks")


def t_xattrs(c):
    def f(d):
        obs = []
        p = os.path.join(d, "file")
        write_file(p, b"x")
        q = os.path.join(d, "dir")
        os.mkdir(q)
        big = rnd(2000, 90)
        for path in (p, q):
            os.setxattr(path, "user.test", b"value")
            os.setxattr(path, "user.empty", b"")
            os.setxattr(path, "user.binary", big)
            os.setxattr(path, "user.\u00fcn\u00efcode.name", "\u00e9t\u00e9".encode())
            obs.append(sorted(k for k in os.listxattr(path) if k.startswith("user.")))
            obs.append([os.getxattr(path, k) for k in ("user.test", "user.empty", "user.binary",
                                                       "user.\u00fcn\u00efcode.name")])
            obs.append(errno_of(os.setxattr, path, "user.test", b"again", os.XATTR_CREATE))
            obs.append(errno_of(os.setxattr, path, "user.none", b"x", os.XATTR_REPLACE))
            os.setxattr(path, "user.test", b"replaced value", os.XATTR_REPLACE)
            obs.append(os.getxattr(path, "user.test"))
            os.removexattr(path, "user.empty")
            obs.append(errno_of(os.getxattr, path, "user.empty"))
            obs.append(errno_of(os.removexattr, path, "user.empty"))
            obs.append(errno_of(os.getxattr, path, "user.never"))
            obs.append(sorted(k for k in os.listxattr(path) if k.startswith("user.")))
        os.symlink("file", os.path.join(d, "link"))
        obs.append(errno_of(os.setxattr, os.path.join(d, "link"), "user.x", b"1",
                            follow_symlinks=False))
        # xattrs follow the inode through rename and link
        os.rename(p, os.path.join(d, "renamed"))
        os.link(os.path.join(d, "renamed"), os.path.join(d, "linked"))
        obs.append(os.getxattr(os.path.join(d, "linked"), "user.test"))
        return obs
    c.both("xattrs", f)
    # security.*: EOPNOTSUPP is acceptable; if accepted it must round-trip.
    p = os.path.join(c.mnt, "xattrs", "renamed")
    e = errno_of(os.setxattr, p, "security.veilfs-test", b"sec")
    if e == 0:
        check_eq(os.getxattr(p, "security.veilfs-test"), b"sec", "security.* value")
    else:
        check_eq(vfs.errno_name(e), vfs.errno_name(errno.EOPNOTSUPP), "setxattr security.*")
    c.remount()
    c.tree_both("xattrs", xattrs=True)


def t_mmap(c):
    size = 3 * BLOCK + 100
    def f(d):
        p = os.path.join(d, "mm")
        model = bytearray(rnd(size, 100))
        write_file(p, model)
        fd = os.open(p, os.O_RDWR)
        with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ) as mr:
            check_bytes(mr[:], bytes(model), "mmap read")
        with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as mw:
            for off, n in ((4090, 16), (8000, 200), (0, 1), (size - 1, 1), (BLOCK * 3, 100)):
                chunk = rnd(n, off)
                mw[off:off + n] = chunk
                model[off:off + n] = chunk
            # another fd sees it through the page cache before msync
            check_bytes(read_file(p), bytes(model), "read() while mapped")
            mw.flush()
        os.close(fd)
        check_bytes(read_file(p), bytes(model), "read() after munmap")
        # MAP_PRIVATE writes stay private
        fd = os.open(p, os.O_RDWR)
        with mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE) as mp:
            mp[0:5] = b"PRIV!"
        os.close(fd)
        check_bytes(read_file(p), bytes(model), "after MAP_PRIVATE write")
        # grow with ftruncate, then write the new tail through a mapping
        fd = os.open(p, os.O_RDWR)
        os.ftruncate(fd, 5 * BLOCK)
        model += bytes(5 * BLOCK - len(model))
        with mmap.mmap(fd, 5 * BLOCK) as mw:
            mw[4 * BLOCK + 7:4 * BLOCK + 19] = b"new tail!!!!"
            model[4 * BLOCK + 7:4 * BLOCK + 19] = b"new tail!!!!"
        os.close(fd)
        check_bytes(read_file(p), bytes(model), "after writing a grown mapping")
        return bytes(model)
    model = c.both("mmap", f)
    c.remount()
    check_bytes(read_file(os.path.join(c.mnt, "mmap", "mm")), model, "mmap writes after remount")
    fd = os.open(os.path.join(c.mnt, "mmap", "mm"), os.O_RDONLY)
    with mmap.mmap(fd, len(model), mmap.MAP_SHARED, mmap.PROT_READ) as mr:
        check_bytes(mr[:], model, "mmap read after remount")
    os.close(fd)


def t_fsync(c):
    def f(d):
        obs = []
        p = os.path.join(d, "f")
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, rnd(10000, 110))
        obs.append(errno_of(os.fsync, fd))
        os.pwrite(fd, b"more", 5000)
        obs.append(errno_of(os.fdatasync, fd))
        os.close(fd)
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        obs.append(errno_of(os.fsync, dfd))
        os.close(dfd)
        fd = os.open(p, os.O_RDONLY)
        obs.append(errno_of(os.fsync, fd))
        os.close(fd)
        os.sync()
        obs.append(vfs.sha256_file(p))
        return obs
    c.both("fsync", f)


def t_unlinked_open(c):
    def f(d):
        obs = []
        p = os.path.join(d, "f")
        model = bytearray(rnd(10000, 120))
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, model)
        os.unlink(p)
        obs.append(sorted(os.listdir(d)))
        obs.append(os.fstat(fd).st_nlink)
        pwrite_all(fd, b"after unlink", 4090)
        model[4090:4102] = b"after unlink"
        check_bytes(pread_all(fd, 20000, 0), bytes(model), "read via fd after unlink")
        os.ftruncate(fd, 5000)
        del model[5000:]
        obs.append(os.fstat(fd).st_size)
        os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, b"appended")
        model += b"appended"
        check_bytes(pread_all(fd, 20000, 0), bytes(model), "read after truncate+write")
        # a new file with the same name is independent
        write_file(p, b"new file")
        check_bytes(pread_all(fd, 20000, 0), bytes(model), "old fd after name reuse")
        obs.append(read_file(p))
        os.close(fd)
        obs.append(read_file(p))
        # mmap of an unlinked file
        q = os.path.join(d, "m")
        fd = os.open(q, os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, rnd(9000, 121))
        os.unlink(q)
        with mmap.mmap(fd, 9000) as mm:
            obs.append(mm[4000:4200] == rnd(9000, 121)[4000:4200])
        os.close(fd)
        obs.append(sorted(os.listdir(d)))
        return obs
    c.both("unlinked", f)


def t_special(c):
    def f(d):
        obs = []
        p = lambda *n: os.path.join(d, *n)  # noqa: E731
        os.mkfifo(p("fifo"), 0o640)
        os.mknod(p("chr"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(p("blk"), 0o660 | stat.S_IFBLK, os.makedev(7, 200))
        os.mknod(p("reg"), 0o644 | stat.S_IFREG)
        os.mknod(p("sock"), 0o755 | stat.S_IFSOCK)
        for n in ("fifo", "chr", "blk", "reg", "sock"):
            obs.append((n, stat_sig(p(n))))
        fd = os.open(p("fifo"), os.O_RDWR | os.O_NONBLOCK)
        os.write(fd, b"through the fifo")
        obs.append(os.read(fd, 100))
        os.close(fd)
        write_file(p("reg"), b"regular via mknod")
        obs.append(read_file(p("reg")))
        os.rename(p("fifo"), p("fifo2"))
        os.link(p("chr"), p("chr2"))
        obs.append(stat_sig(p("chr2")))
        os.unlink(p("sock"))
        obs.append(sorted(os.listdir(d)))
        return obs
    c.both("special", f)
    c.remount()
    c.tree_both("special")


def t_attrs(c):
    def f(d):
        obs = []
        p = os.path.join(d, "f")
        write_file(p, b"attrs")
        for mode in (0o640, 0o4755, 0o2711, 0o1600, 0o000, 0o777, 0o644):
            os.chmod(p, mode)
            obs.append(oct(os.stat(p).st_mode))
        os.chown(p, 1234, 5678)
        obs.append(stat_sig(p))
        os.chown(p, -1, 42)
        obs.append(stat_sig(p))
        # chown of a setuid file (the kernel clears the bits on a local fs)
        os.chmod(p, 0o6755)
        os.chown(p, 1000, 1000)
        obs.append(stat_sig(p))
        os.symlink("f", os.path.join(d, "l"))
        os.chown(os.path.join(d, "l"), 77, 88, follow_symlinks=False)
        obs.append(stat_sig(os.path.join(d, "l")))
        obs.append(stat_sig(p))
        # exact times
        os.utime(p, ns=(1_000_000_123, 2_000_000_456))
        st = os.stat(p)
        obs.append((st.st_atime_ns, st.st_mtime_ns))
        os.utime(os.path.join(d, "l"), ns=(3_000_000_001, 4_000_000_002), follow_symlinks=False)
        st = os.lstat(os.path.join(d, "l"))
        obs.append((st.st_atime_ns, st.st_mtime_ns))
        # UTIME_OMIT keeps, UTIME_NOW sets to now
        utimensat(p, (5, 500), UTIME_OMIT)
        st = os.stat(p)
        obs.append((st.st_atime_ns, st.st_mtime_ns))
        utimensat(p, UTIME_OMIT, (6, 600))
        st = os.stat(p)
        obs.append((st.st_atime_ns, st.st_mtime_ns))
        t0 = time.time_ns()
        utimensat(p, UTIME_NOW, UTIME_OMIT)
        st = os.stat(p)
        check(abs(st.st_atime_ns - t0) < 5e9, "UTIME_NOW atime %d not near %d" % (st.st_atime_ns, t0))
        obs.append(st.st_mtime_ns)
        utimensat(p, UTIME_OMIT, UTIME_NOW)
        st = os.stat(p)
        check(abs(st.st_mtime_ns - t0) < 5e9, "UTIME_NOW mtime")
        check(abs(st.st_atime_ns - t0) < 5e9, "atime kept by UTIME_OMIT")
        utimensat(os.path.join(d, "l"), (9, 9), UTIME_OMIT, nofollow=True)
        obs.append(os.lstat(os.path.join(d, "l")).st_atime_ns)
        # a write moves mtime and ctime forward
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))
        fd = os.open(p, os.O_WRONLY)
        os.write(fd, b"W")
        os.close(fd)
        check(os.stat(p).st_mtime_ns > 1_000_000_000, "mtime not updated by write")
        # creating an entry moves the directory's mtime forward
        os.utime(d, ns=(1_000_000_000, 1_000_000_000))
        write_file(os.path.join(d, "g"), b"")
        check(os.stat(d).st_mtime_ns > 1_000_000_000, "dir mtime not updated by create")
        # ctime moves on chmod
        c0 = os.stat(p).st_ctime_ns
        time.sleep(0.02)
        os.chmod(p, 0o600)
        check(os.stat(p).st_ctime_ns > c0, "ctime not updated by chmod")
        # modes exactly as requested, and the umask
        old = os.umask(0)
        try:
            for i, mode in enumerate((0o751, 0o700, 0o1777, 0o2755, 0o777, 0o000)):
                q = os.path.join(d, "dir%d" % i)
                os.mkdir(q, mode)
                obs.append(oct(os.stat(q).st_mode))
            check_eq(os.stat(os.path.join(d, "dir0")).st_mode & 0o7777, 0o751, "mkdir 0751")
            fd = os.open(os.path.join(d, "created"), os.O_CREAT | os.O_WRONLY, 0o640)
            os.close(fd)
            obs.append(oct(os.stat(os.path.join(d, "created")).st_mode))
            os.umask(0o027)
            os.mkdir(os.path.join(d, "masked"), 0o777)
            fd = os.open(os.path.join(d, "masked-file"), os.O_CREAT | os.O_WRONLY, 0o666)
            os.close(fd)
            os.mkfifo(os.path.join(d, "masked-fifo"), 0o666)
            for n in ("masked", "masked-file", "masked-fifo"):
                obs.append(oct(os.stat(os.path.join(d, n)).st_mode))
            # setgid directory: new children inherit the group (and subdirs the bit)
            sg = os.path.join(d, "sgid")
            os.mkdir(sg, 0o2775)
            os.chown(sg, 0, 4321)
            os.chmod(sg, 0o2775)
            os.mkdir(os.path.join(sg, "child"), 0o755)
            write_file(os.path.join(sg, "file"), b"")
            obs.append([stat_sig(os.path.join(sg, n)) for n in ("child", "file")])
        finally:
            os.umask(old)
        os.chmod(os.path.join(d, "dir5"), 0o755)
        return obs
    c.both("attrs", f)


def t_statfs(c):
    sv = os.statvfs(c.mnt)
    bk = os.statvfs(c.vol.dir)
    check(sv.f_bsize > 0 and sv.f_frsize > 0, "block sizes %d/%d" % (sv.f_bsize, sv.f_frsize))
    check(sv.f_blocks > 0, "f_blocks 0")
    check(sv.f_bfree <= sv.f_blocks and sv.f_bavail <= sv.f_bfree, "free counts inconsistent")
    check(sv.f_namemax >= 255, "f_namemax %d < 255 but 255-byte names work" % sv.f_namemax)
    total = sv.f_blocks * sv.f_frsize
    btotal = bk.f_blocks * bk.f_frsize
    check(0.5 * btotal <= total <= 1.5 * btotal,
          "total size %d far from the backing filesystem's %d" % (total, btotal))
    avail = sv.f_bavail * sv.f_frsize
    bavail = bk.f_bavail * bk.f_frsize
    check(abs(avail - bavail) <= 0.1 * bavail + (1 << 26),
          "available %d far from the backing filesystem's %d" % (avail, bavail))
    # fstatvfs of an open file agrees
    p = os.path.join(c.mnt, "statfs-file")
    write_file(p, b"x")
    fd = os.open(p, os.O_RDONLY)
    sf = os.fstatvfs(fd)
    os.close(fd)
    check_eq(sf.f_blocks, sv.f_blocks, "fstatvfs f_blocks")
    os.unlink(p)


def t_fallocate(c):
    def f(d):
        obs = []
        p = os.path.join(d, "fa")
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.posix_fallocate(fd, 0, 10000)
        obs.append(os.fstat(fd).st_size)
        obs.append(pread_all(fd, 20000, 0) == bytes(10000))
        os.close(fd)
        q = os.path.join(d, "fb")
        model = bytearray(rnd(5000, 130))
        write_file(q, model)
        fd = os.open(q, os.O_RDWR)
        os.posix_fallocate(fd, 2000, 10000)
        model += bytes(12000 - len(model))
        check_bytes(pread_all(fd, 20000, 0), bytes(model), "after posix_fallocate")
        os.posix_fallocate(fd, 0, 100)
        check_bytes(pread_all(fd, 20000, 0), bytes(model), "after fallocate inside")
        # fallocate(2) mode 0
        fallocate(fd, 0, 4090, 8200)
        model += bytes(max(0, 4090 + 8200 - len(model)))
        check_bytes(pread_all(fd, 20000, 0), bytes(model), "after fallocate(2)")
        obs.append(os.fstat(fd).st_size)
        # the allocated range is writable and reads back
        pwrite_all(fd, b"Z" * 5000, 7000)
        model[7000:12000] = b"Z" * 5000
        check_bytes(pread_all(fd, 20000, 0), bytes(model), "write into allocated range")
        os.close(fd)
        obs.append(bytes(model))
        return obs
    c.both("fallocate", f)
    # Optional modes: EOPNOTSUPP is allowed by fallocate(2); if accepted
    # they must behave as on a local filesystem.
    p = os.path.join(c.mnt, "fallocate", "fb")
    fd = os.open(p, os.O_RDWR)
    try:
        before = read_file(p)
        e = errno_of(fallocate, fd, FALLOC_FL_KEEP_SIZE, len(before), 50000)
        if e:
            check_eq(vfs.errno_name(e), vfs.errno_name(errno.EOPNOTSUPP), "fallocate KEEP_SIZE errno")
        else:
            check_eq(os.fstat(fd).st_size, len(before), "size after KEEP_SIZE")
            check_bytes(read_file(p), before, "content after KEEP_SIZE")
        e = errno_of(fallocate, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 5000)
        if e:
            check_eq(vfs.errno_name(e), vfs.errno_name(errno.EOPNOTSUPP), "fallocate PUNCH_HOLE errno")
        else:
            exp = before[:100] + bytes(5000) + before[5100:]
            check_bytes(read_file(p), exp, "content after PUNCH_HOLE")
    finally:
        os.close(fd)


def t_sparse(c):
    def f(d):
        obs = []
        p = os.path.join(d, "sparse")
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(fd, b"far", 10 * 1024 * 1024 + 5)
        obs.append(os.fstat(fd).st_size)
        check_bytes(pread_all(fd, 8192, 5 * 1024 * 1024 - 100), bytes(8192), "hole")
        check_bytes(pread_all(fd, 100, 10 * 1024 * 1024), bytes(5) + b"far", "tail")
        os.close(fd)
        q = os.path.join(d, "grown")
        write_file(q, b"abc")
        os.truncate(q, 3 * 1024 * 1024)
        fd = os.open(q, os.O_RDWR)
        check_bytes(pread_all(fd, 3 * 1024 * 1024, 0), b"abc" + bytes(3 * 1024 * 1024 - 3), "grown")
        os.pwrite(fd, b"mid", 2 * 1024 * 1024 + 4095)
        os.close(fd)
        obs.append(vfs.sha256_file(p))
        obs.append(vfs.sha256_file(q))
        return obs
    c.both("sparse", f)
    c.remount()
    c.tree_both("sparse")


ODD_NAMES = ["n" * 255, "\u00e9" * 127 + "x", "with space", " lead", "trail ", ".hidden", "...",
             "-dash", "new\nline", "back\\slash", "tab\tname", "\u65e5\u672c\u8a9e", "a" * 16,
             "a" * 15, "a" * 17, "a" * 143, "a" * 144, "a" * 190, "veilfs.conf", "veilfs.diriv",
             "veilfs.ln.x", "%00", "*?[]"]


def t_names(c):
    def f(d):
        obs = []
        for i, n in enumerate(ODD_NAMES):
            check(len(os.fsencode(n)) <= 255, "test bug: name too long")
            write_file(os.path.join(d, n), n.encode() * 3)
        os.mkdir(os.path.join(d, "d" * 255))
        write_file(os.path.join(d, "d" * 255, "f" * 255), b"deep")
        os.symlink("t" * 100, os.path.join(d, "s" * 255))
        os.link(os.path.join(d, "n" * 255), os.path.join(d, "h" * 255))
        os.rename(os.path.join(d, "a" * 190), os.path.join(d, "r" * 255))
        obs.append(sorted(os.listdir(d)))
        for n in sorted(os.listdir(d)):
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                obs.append((n, read_file(p)))
        obs.append(vfs.tree(d))
        return obs
    c.both("names", f)
    c.remount()
    c.tree_both("names")


def t_readdir(c):
    def f(d):
        r = random.Random(140)
        names = set()
        while len(names) < 600:
            names.add("".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789_-.")
                              for _ in range(r.randrange(1, 80))).strip(".") or "x")
        for n in sorted(names):
            k = r.randrange(3)
            p = os.path.join(d, n)
            if k == 0:
                os.mkdir(p)
            elif k == 1:
                write_file(p, b"")
            else:
                os.symlink("target", p)
        check_eq(sorted(os.listdir(d)), sorted(names), "listing")
        kinds = sorted((e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False),
                        e.is_symlink()) for e in os.scandir(d))
        # remove every other entry while iterating
        removed = []
        with os.scandir(d) as it:
            for i, e in enumerate(it):
                if i % 2:
                    if e.is_dir(follow_symlinks=False):
                        os.rmdir(e.path)
                    else:
                        os.unlink(e.path)
                    removed.append(e.name)
        left = sorted(os.listdir(d))
        check_eq(sorted(set(left) | set(removed)), sorted(names), "entries lost or invented")
        check(not set(left) & set(removed), "removed entries still listed")
        # which half was removed depends on the readdir order: empty the dir
        # so the final tree comparison does not depend on it
        for n in left:
            p = os.path.join(d, n)
            if os.path.isdir(p) and not os.path.islink(p):
                os.rmdir(p)
            else:
                os.unlink(p)
        return kinds, len(left) + len(removed)
    c.both("readdir", f)
    root = os.listdir(c.mnt)
    check(not any(n.startswith("veilfs.") for n in root), "reserved names visible: %s" % root)


NAME256 = "x" * 256


def _on_fd(path, flags, fn):
    fd = os.open(path, flags)
    try:
        return fn(fd)
    finally:
        os.close(fd)


def _open_close(path, flags, mode=0o644):
    os.close(os.open(path, flags, mode))


def _errno_cases():
    """(description, expected errno, fn(dir))"""
    def mk(d, *files, dirs=()):
        for x in dirs:
            os.makedirs(os.path.join(d, x), exist_ok=True)
        for x in files:
            write_file(os.path.join(d, x), b"data")
    j = os.path.join
    return [
        ("open missing file", errno.ENOENT, lambda d: _open_close(j(d, "missing"), os.O_RDONLY)),
        ("mkdir existing dir", errno.EEXIST, lambda d: (mk(d, dirs=["e"]), os.mkdir(j(d, "e")))),
        ("mkdir over a file", errno.EEXIST, lambda d: (mk(d, "f"), os.mkdir(j(d, "f")))),
        ("rmdir non-empty", errno.ENOTEMPTY,
         lambda d: (mk(d, "n/f", dirs=["n"]), os.rmdir(j(d, "n")))),
        ("unlink a directory", errno.EISDIR, lambda d: (mk(d, dirs=["u"]), os.unlink(j(d, "u")))),
        ("rename dir over non-empty dir", errno.ENOTEMPTY,
         lambda d: (mk(d, "b/f", dirs=["a", "b"]), os.rename(j(d, "a"), j(d, "b")))),
        ("link to a directory", errno.EPERM,
         lambda d: (mk(d, dirs=["ld"]), os.link(j(d, "ld"), j(d, "ld2")))),
        ("create 256-byte name", errno.ENAMETOOLONG,
         lambda d: _open_close(j(d, NAME256), os.O_CREAT | os.O_WRONLY)),
        ("mkdir 256-byte name", errno.ENAMETOOLONG, lambda d: os.mkdir(j(d, NAME256))),
        ("stat 256-byte name", errno.ENAMETOOLONG, lambda d: os.stat(j(d, NAME256))),
        ("symlink named with 256 bytes", errno.ENAMETOOLONG, lambda d: os.symlink("t", j(d, NAME256))),
        ("rename to 256-byte name", errno.ENAMETOOLONG,
         lambda d: (mk(d, "r"), os.rename(j(d, "r"), j(d, NAME256)))),
        ("link to 256-byte name", errno.ENAMETOOLONG,
         lambda d: (mk(d, "l"), os.link(j(d, "l"), j(d, NAME256)))),
        ("mkfifo 256-byte name", errno.ENAMETOOLONG, lambda d: os.mkfifo(j(d, NAME256))),
        ("multibyte 256-byte name", errno.ENAMETOOLONG,
         lambda d: _open_close(j(d, "\u00e9" * 128), os.O_CREAT | os.O_WRONLY)),
        ("rmdir a file", errno.ENOTDIR, lambda d: (mk(d, "rf"), os.rmdir(j(d, "rf")))),
        ("rename dir over file", errno.ENOTDIR,
         lambda d: (mk(d, "f", dirs=["dd"]), os.rename(j(d, "dd"), j(d, "f")))),
        ("rename file over dir", errno.EISDIR,
         lambda d: (mk(d, "f", dirs=["dd"]), os.rename(j(d, "f"), j(d, "dd")))),
        ("open dir for writing", errno.EISDIR,
         lambda d: (mk(d, dirs=["w"]), _open_close(j(d, "w"), os.O_WRONLY))),
        ("create in missing dir", errno.ENOENT,
         lambda d: _open_close(j(d, "nodir", "f"), os.O_CREAT | os.O_WRONLY)),
        ("O_EXCL on existing", errno.EEXIST,
         lambda d: (mk(d, "x"), _open_close(j(d, "x"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))),
        ("rename dir into its own subdir", errno.EINVAL,
         lambda d: (mk(d, dirs=["p/q"]), os.rename(j(d, "p"), j(d, "p", "q", "r")))),
        ("readlink of a file", errno.EINVAL, lambda d: (mk(d, "f"), os.readlink(j(d, "f")))),
        ("file used as a dir", errno.ENOTDIR, lambda d: (mk(d, "f"), os.stat(j(d, "f") + "/"))),
        ("listdir of a file", errno.ENOTDIR, lambda d: (mk(d, "f"), os.listdir(j(d, "f")))),
        ("mkdir below a file", errno.ENOTDIR, lambda d: (mk(d, "f"), os.mkdir(j(d, "f", "sub")))),
        ("O_DIRECTORY on a file", errno.ENOTDIR,
         lambda d: (mk(d, "f"), _open_close(j(d, "f"), os.O_RDONLY | os.O_DIRECTORY))),
        ("unlink missing", errno.ENOENT, lambda d: os.unlink(j(d, "missing"))),
        ("rmdir missing", errno.ENOENT, lambda d: os.rmdir(j(d, "missing"))),
        ("rename missing", errno.ENOENT, lambda d: os.rename(j(d, "missing"), j(d, "x"))),
        ("link over existing", errno.EEXIST,
         lambda d: (mk(d, "a", "b"), os.link(j(d, "a"), j(d, "b")))),
        ("symlink over existing", errno.EEXIST, lambda d: (mk(d, "a"), os.symlink("t", j(d, "a")))),
        ("mknod over existing", errno.EEXIST, lambda d: (mk(d, "a"), os.mkfifo(j(d, "a")))),
        ("truncate a dir", errno.EISDIR, lambda d: (mk(d, dirs=["t"]), os.truncate(j(d, "t"), 0))),
        ("rmdir dot", errno.EINVAL, lambda d: (mk(d, dirs=["t"]), os.rmdir(j(d, "t", ".")))),
        ("O_NOFOLLOW on a symlink", errno.ELOOP,
         lambda d: (mk(d, "a"), os.symlink("a", j(d, "l")), _open_close(j(d, "l"), os.O_RDONLY | os.O_NOFOLLOW))),
        ("O_NOFOLLOW on a regular file (succeeds)", 0,
         lambda d: (mk(d, "a"), _open_close(j(d, "a"), os.O_RDONLY | os.O_NOFOLLOW))),
        ("O_NOFOLLOW|O_RDWR on a regular file (succeeds)", 0,
         lambda d: (mk(d, "a"), _open_close(j(d, "a"), os.O_RDWR | os.O_NOFOLLOW))),
        ("O_NOFOLLOW on a directory (succeeds)", 0,
         lambda d: (mk(d, dirs=["x"]), _open_close(j(d, "x"), os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY))),
        ("getxattr missing", errno.ENODATA, lambda d: (mk(d, "a"), os.getxattr(j(d, "a"), "user.none"))),
        ("write to a read-only fd", errno.EBADF,
         lambda d: (mk(d, "a"), _on_fd(j(d, "a"), os.O_RDONLY, lambda fd: os.write(fd, b"x")))),
        ("read from a write-only fd", errno.EBADF,
         lambda d: (mk(d, "a"), _on_fd(j(d, "a"), os.O_WRONLY, lambda fd: os.read(fd, 1)))),
        ("rename dir over a dir holding a subdir", errno.ENOTEMPTY,
         lambda d: (mk(d, "b/c/f", dirs=["a", "b/c"]), os.rename(j(d, "a"), j(d, "b")))),
    ]


def t_errnos(c):
    bad = []
    for i, (desc, want, fn) in enumerate(_errno_cases()):
        got = []
        for root in (c.plain, c.mnt):
            d = os.path.join(root, "errno%02d" % i)
            os.mkdir(d)
            got.append(errno_of(fn, d))
        if got[0] != want:
            bad.append("%s: plain dir gives %s, test expects %s (test bug?)" % (
                desc, vfs.errno_name(got[0]), vfs.errno_name(want)))
        if got[1] != got[0]:
            bad.append("%s: mount gives %s, plain dir %s" % (desc, vfs.errno_name(got[1]),
                                                             vfs.errno_name(got[0])))
    check(not bad, "\n".join(bad))
    for i in range(len(_errno_cases())):
        c.tree_both("errno%02d" % i)


TESTS = [
    ("round trip of small files (0..65543 bytes), also after remount", t_small),
    ("round trip of 5 MiB files, big and 3001-byte writes, random preads", t_big),
    ("writes across block boundaries (4095..4097, 8191.., 12287..)", t_block_edges),
    ("O_APPEND: records, two appenders, after truncate/extend via other fd", t_append),
    ("truncate down and up in the middle of blocks, O_TRUNC", t_truncate),
    ("sparse writes and truncate up read as zeros", t_sparse),
    ("rename of files and directories, children readable, open fds follow", t_rename),
    ("renameat2 RENAME_NOREPLACE and RENAME_EXCHANGE", t_renameat2),
    ("hard links: write/append via either name, link counts", t_hardlinks),
    ("symlinks incl. a 4095-byte target, readlink, loops", t_symlinks),
    ("user.* xattrs set/get/list/remove, flags; security.*", t_xattrs),
    ("mmap read, shared-writable write, read back after munmap and remount", t_mmap),
    ("fsync, fdatasync, directory fsync", t_fsync),
    ("unlinked-but-open files: read/write/truncate/mmap through the fd", t_unlinked_open),
    ("mkfifo and mknod (chr, blk, reg, sock)", t_special),
    ("chmod/chown/utimens incl. UTIME_NOW/UTIME_OMIT, modes and umask", t_attrs),
    ("statfs", t_statfs),
    ("fallocate (posix_fallocate and fallocate(2))", t_fallocate),
    ("255-byte and odd names, reserved-looking names", t_names),
    ("readdir of 600 entries, d_type, removal while iterating", t_readdir),
    ("errno values (and successes) equal to a plain directory", t_errnos),
]


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    plain = ws.mkdir("plain")
    mnt = ws.mkdir("mnt")
    try:
        m = vol.mount(mnt, fg=True)
    except Exception as e:  # noqa: BLE001
        tap.ok(False, "mount", str(e))
        sys.exit(tap.done())
    c = Ctx(vol, plain, mnt, m)
    logs = c.logs
    for desc, fn in TESTS:
        tap.run(desc, fn, c)
        leaked = vfs.close_fds_under(mnt)
        if leaked:
            tap.diag("closed fds left open by '%s': %s" % (desc, leaked))
        if not c.m.mounted or not vfs.is_fuse_mounted(mnt):
            logs.append(c.m.log())
            tap.ok(False, "mount still alive after: " + desc, c.m.log()[-3000:])
            try:
                c.m = vol.mount(mnt, fg=True)
            except Exception as e:  # noqa: BLE001
                tap.ok(False, "remount after a lost mount", str(e))
                break

    def final():
        c.remount()
        a = vfs.tree(plain, xattrs=True)
        b = vfs.tree(mnt, xattrs=True)
        for k in [k for k in a if k.startswith("statfs")]:
            a.pop(k)
        vfs.check_trees_equal(b, a, "whole tree after remount")
    tap.run("whole tree equals the plain dir after a final remount", final)

    def unmount_clean():
        c.m.unmount()
        check_eq(c.m.exit_status, 0, "exit status of 'mount -f' after fusermount3 -u")
    tap.run("unmount: daemon exits 0", unmount_clean)
    logs.append(c.m.log())
    text = "".join(logs)
    bad = vfs.unexpected_log_lines(text)
    tap.ok(not bad, "daemon stderr has no warnings or errors", "\n".join(bad[:30]))
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
