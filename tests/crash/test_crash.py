#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Crash, fault and full-disk injection (the 'crash' suite).

usage: test_crash.py VEILFS kill  [--seeds N] [--first S]   (env CRASH_SEEDS=N overrides)
       test_crash.py VEILFS faults SHIM [--cases N]
       test_crash.py VEILFS full
       test_crash.py VEILFS ro

kill:   a seeded mixed workload (writes at random offsets, appends,
        truncates, renames, mkdir/rmdir, hard links, symlinks, setxattr,
        unlink, fsync after some) runs on a mount whose daemon gets SIGKILL
        at a random moment. Then: unmount, fsck (0 or 4), fsck --repair (0
        or 1), fsck (0), remount: every file whose last change was fsynced
        reads back exactly; every block of every file reads back as a block
        that some version of some file had (or zeros), never EIO.
faults: the same workload, the daemon loaded with the fault shim (SHIM,
        LD_PRELOAD) so that the Nth pwrite/fsync/renameat/mkdirat fails with
        EIO or ENOSPC. The operation that hit it must fail (the error
        reaches the application), all other files stay exact, the file is
        usable afterwards, and fsck finds nothing.
full:   the cipher directory on a small tmpfs: files written until ENOSPC
        (never EIO); after freeing space every earlier file is intact,
        writing works again and fsck is clean.
ro:     the same tmpfs remounted read-only under a live mount: writes get
        EROFS, reads keep working; after remounting it read-write nothing
        is corrupted and fsck is clean.
The figures (kills, faults, bytes verified) are printed as TAP comments.
full and ro need root (mount -t tmpfs) and skip without it.
"""

import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import vfs  # noqa: E402
from vfs import BLOCK, check, check_eq, read_file, write_file  # noqa: E402

DIRS = ["", "d0", "d1"]


def h(b):
    return hashlib.sha1(bytes(b)).digest()


class ShortWrite(OSError):
    """A write(2) that returned less than it was given: an operation that
    did not complete, like an error (the harness raises it, not the kernel)."""

    def __init__(self, n, want):
        super().__init__(errno.EIO, "short write: %d of %d bytes" % (n, want))


class Killer:
    """SIGKILL of the daemon after @delay seconds, on a timer thread.

    The decision "did the kill happen before this error?" must not depend on
    timing. The timer thread sets `sent` *before* it sends the signal, so any
    error or short result the kill causes (the daemon has to die before the
    kernel fails a request) is seen by the workload thread after `sent` is
    set: an error seen while `sent` is still clear cannot have come from the
    kill and fails the test. Popen.send_signal signals only a child not yet
    reaped, and cancel() makes sure no signal is sent once it returns, so a
    failed seed never signals a reused pid."""

    def __init__(self, proc, delay):
        self.proc = proc
        self.sent = threading.Event()
        self._lock = threading.Lock()
        self._cancelled = False
        self._timer = threading.Timer(delay, self._fire)

    def start(self):
        self._timer.start()

    def _fire(self):
        with self._lock:
            if self._cancelled:
                return
            self.sent.set()
            self.proc.send_signal(signal.SIGKILL)

    def join(self):
        self._timer.join()

    def cancel(self):
        with self._lock:
            self._cancelled = True
        self._timer.cancel()
        self._timer.join()


class Obj:
    n = 0

    def __init__(self):
        Obj.n += 1
        self.id = Obj.n
        self.data = bytearray()
        self.synced = False  # the current data was fsynced and not changed since


class Workload:
    """Random operations on the mount, mirrored in a model."""

    def __init__(self, root, rng):
        self.root = root
        self.rng = rng
        self.files = {}      # path -> Obj
        self.links = {}      # symlink path -> target
        self.edirs = set()   # empty dirs made by mkdir
        self.chunks = set()  # (block index, sha1) of every version of every file
        self.uncertain = set()  # paths touched by an operation that did not complete
        self.ops = 0
        self.last_op = None
        self.durable = False  # the running write's fsync returned success

    def p(self, rel):
        return os.path.join(self.root, rel)

    def add_versions(self, data):
        for i in range(0, len(data), BLOCK):
            self.chunks.add((i // BLOCK, h(data[i:i + BLOCK])))

    def new_name(self):
        return os.path.join(self.rng.choice(DIRS), "f%d" % self.rng.randrange(12)).lstrip("/")

    def pick(self):
        return self.rng.choice(sorted(self.files)) if self.files else None

    def setup(self):
        for d in DIRS[1:]:
            os.mkdir(self.p(d))

    def step(self):
        """One operation; raises OSError as the syscall did."""
        rng = self.rng
        r = rng.random()
        self.ops += 1
        path = self.pick()
        if r < 0.30 or path is None:
            # write at a random offset (a new file sometimes)
            path = path if (path and rng.random() < 0.7) else self.new_name()
            o = self.files.get(path)
            old = o.data if o else bytearray()
            off = rng.randrange(0, len(old) + 3 * BLOCK)
            # Some writes span several 256-block chunks: the extension windows.
            big = rng.random() < 0.15
            buf = rng.randbytes(rng.randrange(256 * BLOCK, 700 * BLOCK) if big
                                else rng.randrange(1, 5 * BLOCK))
            new = bytearray(old) + bytearray(max(0, off - len(old)))
            new[off:off + len(buf)] = buf
            self._mutate("write %s @%d+%d" % (path, off, len(buf)), [path], new,
                         lambda: self._pwrite(path, buf, off))
        elif r < 0.40:
            o = self.files[path]
            buf = rng.randbytes(rng.randrange(1, 3 * BLOCK))
            self._mutate("append %s +%d" % (path, len(buf)), [path], o.data + buf,
                         lambda: self._append(path, buf))
        elif r < 0.52:
            o = self.files[path]
            n = rng.randrange(0, len(o.data) + 2 * BLOCK)
            new = bytearray(o.data[:n]) + bytearray(max(0, n - len(o.data)))
            self._mutate("truncate %s %d" % (path, n), [path], new,
                         lambda: os.truncate(self.p(path), n))
        elif r < 0.60:
            dst = self.new_name()
            if dst == path:
                return
            self.last_op = "rename %s %s" % (path, dst)
            self.uncertain |= {path, dst}
            os.rename(self.p(path), self.p(dst))
            self.uncertain -= {path, dst}
            if self.files.get(dst) is self.files[path]:
                return  # two links of one file: rename(2) leaves both in place
            self.links.pop(dst, None)
            self.files[dst] = self.files.pop(path)
        elif r < 0.65:
            e = "e%d" % rng.randrange(3)
            self.last_op = "mkdir/rmdir " + e
            if e in self.edirs:
                os.rmdir(self.p(e))
                self.edirs.discard(e)
            else:
                os.mkdir(self.p(e))
                self.edirs.add(e)
        elif r < 0.70:
            dst = self.new_name()
            if dst in self.files or dst in self.links:
                return
            self.last_op = "link %s %s" % (path, dst)
            self.uncertain.add(dst)
            os.link(self.p(path), self.p(dst))
            self.uncertain.discard(dst)
            self.files[dst] = self.files[path]
        elif r < 0.75:
            dst = os.path.join(rng.choice(DIRS), "s%d" % rng.randrange(6)).lstrip("/")
            if dst in self.files or dst in self.links:
                return
            target = "t" * rng.choice([10, 100, 3500]) + str(rng.randrange(1000))
            self.last_op = "symlink " + dst
            self.uncertain.add(dst)
            os.symlink(target, self.p(dst))
            self.uncertain.discard(dst)
            self.links[dst] = target
        elif r < 0.80:
            self.last_op = "setxattr " + path
            os.setxattr(self.p(path), "user.k%d" % rng.randrange(3), rng.randbytes(rng.randrange(1, 200)))
        elif r < 0.85:
            self.last_op = "unlink " + path
            self.uncertain.add(path)
            os.unlink(self.p(path))
            self.uncertain.discard(path)
            del self.files[path]
        else:
            self.last_op = "fsync " + path
            fd = os.open(self.p(path), os.O_RDONLY)
            try:
                os.fsync(fd)
                # Synced once fsync returned, even if the close then fails.
                self.files[path].synced = True
            finally:
                os.close(fd)

    def _pwrite(self, path, buf, off):
        fd = os.open(self.p(path), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            n = os.pwrite(fd, buf, off)
            if n != len(buf):
                raise ShortWrite(n, len(buf))
            if self.rng.random() < 0.3:
                os.fsync(fd)
                self.durable = True
                return True
        finally:
            os.close(fd)
        return False

    def _append(self, path, buf):
        fd = os.open(self.p(path), os.O_WRONLY | os.O_APPEND)
        try:
            n = os.write(fd, buf)
            if n != len(buf):
                raise ShortWrite(n, len(buf))
            if self.rng.random() < 0.3:
                os.fsync(fd)
                self.durable = True
                return True
        finally:
            os.close(fd)
        return False

    def _mutate(self, what, paths, new, fn):
        self.last_op = what
        self.add_versions(new)
        path = paths[0]
        o = self.files.get(path)
        if o is None:
            o = Obj()
        self.add_versions(o.data)
        self.uncertain |= set(paths)
        o.synced = False
        self.durable = False
        try:
            synced = fn()
        except OSError:
            if not self.durable:
                raise
            # The whole write and its fsync returned success; only the
            # close after them failed: the new data is on disk and synced.
            self.uncertain -= set(paths)
            o.data = bytearray(new)
            o.synced = True
            self.files[path] = o
            raise
        self.uncertain -= set(paths)
        o.data = bytearray(new)
        o.synced = bool(synced)
        self.files[path] = o

    def objects(self):
        by = {}
        for p, o in self.files.items():
            by.setdefault(o.id, (o, []))[1].append(p)
        return by.values()


def read_blocks_ok(w, path, what):
    """Every block of file @path is some recorded version of that block, or zeros."""
    data = read_file(path)
    for i in range(0, len(data), BLOCK):
        c = data[i:i + BLOCK]
        if (i // BLOCK, h(c)) not in w.chunks and c.count(0) != len(c):
            raise AssertionError("%s: block %d (%d bytes) was never written by anyone"
                                 % (what, i // BLOCK, len(c)))
    return len(data)


def verify_tree(w, root, exact=True):
    """Check the model against the mounted tree; returns bytes verified."""
    total = 0
    for dp, dns, fns in os.walk(root):
        for f in fns:
            p = os.path.join(dp, f)
            if os.path.islink(p):
                continue
            rel = os.path.relpath(p, root)
            if rel.startswith("lost+found/") and rel.endswith(".damaged"):
                # fsck --repair's list of the damaged ranges of the file it
                # moved beside it: its own text, not data anyone wrote.
                check(read_file(p).startswith(b"veilfs fsck: "),
                      "%s is fsck's list of damaged ranges" % rel)
                continue
            total += read_blocks_ok(w, p, rel)
    if exact:
        for o, paths in w.objects():
            if not o.synced or any(p in w.uncertain for p in paths):
                continue
            for p in paths:
                check(os.path.exists(os.path.join(root, p)),
                      "fsynced file %s exists (last op: %s)" % (p, w.last_op))
                vfs.check_bytes(read_file(os.path.join(root, p)), bytes(o.data),
                                "fsynced file %s" % p)
                total += len(o.data)
    return total


def fsck(veilfs, passfile, cdir, *opts):
    r = vfs.run([veilfs, "fsck", "--passfile", passfile] + list(opts) + [cdir], timeout=600)
    return r


def kinds_of(out):
    ks = {}
    for line in out.splitlines():
        if line.startswith("veilfs fsck:") and "problem(s):" in line:
            for part in line.split("problem(s):")[1].split(";")[0].split(","):
                k, n = part.strip().rsplit(" ", 1)
                ks[k] = int(n)
    return ks


def fsck_cycle(veilfs, passfile, cdir, stats, allowed_first=(0, 4)):
    r1 = fsck(veilfs, passfile, cdir)
    check(r1.returncode in allowed_first, "fsck exit %d (%s)\n%s" % (r1.returncode, allowed_first, r1.stdout + r1.stderr))
    for k, n in kinds_of(r1.stdout).items():
        stats[k] = stats.get(k, 0) + n
    r2 = fsck(veilfs, passfile, cdir, "--repair")
    check(r2.returncode in (0, 1), "fsck --repair exit %d\n%s" % (r2.returncode, r2.stdout + r2.stderr))
    r3 = fsck(veilfs, passfile, cdir)
    check_eq(r3.returncode, 0, "fsck after --repair (clean)\n%s\n--- repair said:\n%s" % (r3.stdout, r2.stdout))
    return r1


def new_volume(ws, veilfs, name="cipher"):
    vol = vfs.Volume(ws, veilfs, name=name)
    passfile = os.path.join(ws.path, name + ".pass")
    write_file(passfile, (vol.passphrase + "\n").encode(), 0o600)
    return vol, passfile


def mode_kill(veilfs, args, tap):
    seeds, first = 5, 1
    if "--seeds" in args:
        seeds = int(args[args.index("--seeds") + 1])
    # CRASH_SEEDS in the environment overrides (meson test --suite crash with CRASH_SEEDS=100).
    seeds = int(os.environ.get("CRASH_SEEDS", seeds))
    if "--first" in args:
        first = int(args[args.index("--first") + 1])
    totals = {"kills": 0, "bytes": 0, "ops": 0}
    found = {}
    interrupted = []  # the operations the kill cut short
    for seed in range(first, first + seeds):
        def one(seed=seed):
            ws = vfs.Workspace(prefix="veilfs-crash-")
            try:
                rng = random.Random(seed)
                vol, passfile = new_volume(ws, veilfs)
                mnt = ws.mkdir("mnt")
                m = vol.mount(mnt, fg=True)
                w = Workload(mnt, rng)
                try:
                    w.setup()
                    # warm up, then kill at a random moment of the running workload
                    for _ in range(rng.randrange(5, 40)):
                        w.step()
                    killer = Killer(m.proc, rng.uniform(0.0, 0.6))
                    killer.start()
                    end = time.monotonic() + 30
                    try:
                        while time.monotonic() < end:
                            w.step()
                    except OSError as e:
                        # Interrupted by the kill: any error or short result
                        # seen once the kill was sent (whatever its errno:
                        # ENOTCONN, ECONNABORTED, a short write, EIO). Its
                        # paths stay in w.uncertain (may or may not have
                        # landed). An error before the kill is a failure.
                        if not killer.sent.is_set():
                            killer.cancel()
                            raise AssertionError("%s failed before the kill: %s"
                                                 % (w.last_op, e)) from e
                        interrupted.append("%s: %s" % (w.last_op, vfs.errno_name(e.errno)))
                    except BaseException:
                        killer.cancel()
                        raise
                    killer.join()
                    check(killer.sent.is_set(), "the kill was sent")
                    check(m.proc.poll() is not None or m.proc.wait(timeout=10) is not None,
                          "daemon is dead")
                finally:
                    m.unmount(quiet=True)
                totals["kills"] += 1
                totals["ops"] += w.ops
                fsck_cycle(veilfs, passfile, vol.dir, found)
                m = vol.mount(mnt, fg=True)
                try:
                    totals["bytes"] += verify_tree(w, mnt)
                finally:
                    m.unmount()
            finally:
                ws.remove()
        tap.run("seed %d: SIGKILL mid-workload, fsck/repair/fsck, fsynced data intact" % seed, one)
    tap.diag("kill: %d kills, %d operations, %d bytes verified; fsck found before repair: %s"
                 % (totals["kills"], totals["ops"], totals["bytes"], found or "nothing"))
    tap.diag("kill: %d operations interrupted by the kill: %s"
             % (len(interrupted), "; ".join(interrupted) or "none"))


FAULT_CALLS = ["pwrite", "fsync", "renameat", "mkdirat"]


def mode_faults(veilfs, args, tap):
    shim = os.path.abspath(args[0])
    ncases = int(args[args.index("--cases") + 1]) if "--cases" in args else 24
    ns = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
    cases = []
    for i in range(ncases):
        call = FAULT_CALLS[i % len(FAULT_CALLS)]
        n = ns[(i // len(FAULT_CALLS)) % len(ns)]
        err = "ENOSPC" if (i // 2) % 2 else "EIO"
        cases.append((call, n, err))
    totals = {"cases": 0, "faults": 0, "bytes": 0}
    ws = vfs.Workspace(prefix="veilfs-faults-")
    for call, n, err in cases:
        def one(call=call, n=n, err=err):
            vol, passfile = new_volume(ws, veilfs, name="c-%s-%d-%s" % (call, n, err))
            mnt = ws.mkdir("mnt")
            log = os.path.join(ws.path, "fault-%s-%d-%s.log" % (call, n, err))
            env = dict(os.environ, LD_PRELOAD=shim, VEILFS_FAULT_CALL=call, VEILFS_FAULT_N=str(n),
                       VEILFS_FAULT_ERRNO=err, VEILFS_FAULT_LOG=log,
                       ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
            old_env = os.environ.copy()
            os.environ.update(env)
            try:
                m = vol.mount(mnt, fg=True)
            finally:
                os.environ.clear()
                os.environ.update(old_env)
            w = Workload(mnt, random.Random("%s-%d-%s" % (call, n, err)))
            faulted = None
            try:
                for d in DIRS[1:]:
                    try:
                        os.mkdir(w.p(d))
                    except OSError as e:
                        # The injected failure hit the first mkdir: reported, then gone.
                        check(e.errno in (errno.EIO, errno.ENOSPC) and os.path.exists(log),
                              "mkdir %s: %s" % (d, vfs.errno_name(e.errno)))
                        faulted = "mkdir " + d
                        os.mkdir(w.p(d))
                for _ in range(80):
                    before = os.path.getsize(log) if os.path.exists(log) else 0
                    try:
                        w.step()
                        ok = True
                    except OSError as e:
                        ok = False
                        check(e.errno in (errno.EIO, errno.ENOSPC),
                              "%s failed with %s, not EIO/ENOSPC" % (w.last_op, vfs.errno_name(e.errno)))
                    after = os.path.getsize(log) if os.path.exists(log) else 0
                    if after > before:
                        faulted = w.last_op
                        check(not ok, "the injected %s failure reached the application (%s)"
                              % (call, w.last_op))
                    elif not ok:
                        raise AssertionError("%s failed with no fault injected" % w.last_op)
                    if not ok:
                        # The files it touched: readable, every block old or new, then usable.
                        for p in sorted(w.uncertain):
                            full = w.p(p)
                            if os.path.isfile(full) and not os.path.islink(full):
                                read_blocks_ok(w, full, p)
                                o = w.files.get(p) or Obj()
                                w.files[p] = o
                                write_file(full, b"usable again")
                                check_eq(read_file(full), b"usable again", "%s usable" % p)
                                o.data = bytearray(b"usable again")
                                o.synced = False
                                w.add_versions(o.data)
                            elif not os.path.lexists(full):
                                w.files.pop(p, None)
                                w.links.pop(p, None)
                        w.uncertain.clear()
                # Everything the model knows is exact (the failed op's files were re-read).
                for o, paths in w.objects():
                    for p in paths:
                        vfs.check_bytes(read_file(w.p(p)), bytes(o.data), "%s after the fault" % p)
                        totals["bytes"] += len(o.data)
            finally:
                m.unmount()
            totals["cases"] += 1
            if faulted:
                totals["faults"] += 1
            r = fsck(veilfs, passfile, vol.dir)
            check_eq(r.returncode, 0, "fsck after a %s fault at call %d (%s, op %s):\n%s"
                     % (call, n, err, faulted, r.stdout))
        tap.run("%s #%d fails with %s: error reaches the app, data intact, fsck clean" % (call, n, err), one)
    tap.diag("faults: %d cases, %d faults injected, %d bytes verified"
                 % (totals["cases"], totals["faults"], totals["bytes"]))
    ws.remove()


def tmpfs(ws, size):
    d = ws.mkdir("store")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", d],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise vfs.Skip("cannot mount a tmpfs (root needed): " + r.stderr.decode().strip())
    return d


def umount(d):
    for _ in range(50):
        if subprocess.run(["umount", d], stderr=subprocess.DEVNULL).returncode == 0:
            return
        time.sleep(0.2)
    subprocess.run(["umount", "-l", d])


def mode_full(veilfs, args, tap):
    def full():
        ws = vfs.Workspace(prefix="veilfs-full-")
        store = tmpfs(ws, "12m")
        try:
            vol = vfs.Volume(ws, veilfs, name=os.path.relpath(store, ws.path) + "/cipher")
            passfile = os.path.join(ws.path, "pass")
            write_file(passfile, (vol.passphrase + "\n").encode(), 0o600)
            mnt = ws.mkdir("mnt")
            m = vol.mount(mnt, fg=True)
            written = {}
            try:
                got = None
                for i in range(200):
                    data = random.Random(i).randbytes(512 * 1024 + i)
                    p = m.p("f%03d" % i)
                    try:
                        with open(p, "wb") as f:
                            f.write(data)
                            f.flush()
                            os.fsync(f.fileno())
                        written[p] = data
                    except OSError as e:
                        got = e.errno
                        break
                check_eq(vfs.errno_name(got), "ENOSPC", "a full store gives ENOSPC")
                check(len(written) > 5, "some files fit first (%d)" % len(written))
                tap.diag("full: ENOSPC after %d files" % len(written))
                for p, d in written.items():
                    vfs.check_bytes(read_file(p), d, "earlier file %s" % os.path.basename(p))
                for p in sorted(written)[:3]:
                    os.unlink(p)
                    del written[p]
                data = b"after freeing space" * 1000
                write_file(m.p("again"), data)
                check_eq(read_file(m.p("again")), data, "writing works again")
                for p, d in written.items():
                    vfs.check_bytes(read_file(p), d, "earlier file %s" % os.path.basename(p))
            finally:
                m.unmount()
            r = fsck(veilfs, passfile, vol.dir)
            check(r.returncode in (0, 4), "fsck runs: %s" % r.stdout)
            # The file that hit ENOSPC is not a problem fsck should find.
            check_eq(r.returncode, 0, "fsck clean after ENOSPC:\n" + r.stdout)
        finally:
            umount(store)
            ws.remove()
    tap.run("a really full backing store: ENOSPC, earlier files intact, fsck clean", full)


def mode_ro(veilfs, args, tap):
    def ro():
        ws = vfs.Workspace(prefix="veilfs-ro-")
        store = tmpfs(ws, "32m")
        try:
            vol = vfs.Volume(ws, veilfs, name=os.path.relpath(store, ws.path) + "/cipher")
            passfile = os.path.join(ws.path, "pass")
            write_file(passfile, (vol.passphrase + "\n").encode(), 0o600)
            mnt = ws.mkdir("mnt")
            m = vol.mount(mnt, fg=True)
            files = {m.p("f%d" % i): random.Random(i).randbytes(10000 * i + 7) for i in range(5)}
            try:
                os.mkdir(m.p("dir"))
                for p, d in files.items():
                    write_file(p, d)
                time.sleep(0.3)  # let the releases reach the daemon
                r = None
                for _ in range(20):
                    r = subprocess.run(["mount", "-o", "remount,ro", store],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    if r.returncode == 0:
                        break
                    time.sleep(0.3)
                check_eq(r.returncode, 0, "remount,ro of the backing store: %s" % r.stderr)
                try:
                    for p, d in files.items():
                        vfs.check_bytes(read_file(p), d, "read on a read-only store")
                    for what, fn in (
                            ("overwrite", lambda: write_file(m.p("f1"), b"x")),
                            ("create", lambda: write_file(m.p("new"), b"x")),
                            ("mkdir", lambda: os.mkdir(m.p("newdir"))),
                            ("rename", lambda: os.rename(m.p("f2"), m.p("f2b"))),
                            ("unlink", lambda: os.unlink(m.p("f3"))),
                            ("truncate", lambda: os.truncate(m.p("f4"), 1))):
                        e = vfs.errno_of(fn)
                        check_eq(vfs.errno_name(e), "EROFS", "%s on a read-only store" % what)
                    for p, d in files.items():
                        vfs.check_bytes(read_file(p), d, "still intact")
                finally:
                    subprocess.run(["mount", "-o", "remount,rw", store])
                write_file(m.p("after"), b"writable again")
                check_eq(read_file(m.p("after")), b"writable again", "writable again")
            finally:
                m.unmount()
            r = fsck(veilfs, passfile, vol.dir)
            check_eq(r.returncode, 0, "fsck clean after the read-only episode:\n" + r.stdout)
        finally:
            umount(store)
            ws.remove()
    tap.run("read-only backing store under a live mount: EROFS, reads work, fsck clean", ro)


def main():
    veilfs, args = vfs.setup(usage="VEILFS kill|faults|full|ro [ARGS]", nargs=1)
    tap = vfs.Tap()
    mode, rest = args[0], args[1:]
    {"kill": mode_kill, "faults": mode_faults, "full": mode_full, "ro": mode_ro}[mode](veilfs, rest, tap)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
