#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Request counters of the daemon (docs/veilfs.1, REQUEST COUNTERS).

Creates N (5000) files and stats them, then reads the counters through
'veilfs info --mounted' and checks the per-opcode counts against the work
done; SIGUSR1 logs the same counters; a -d mount logs them at unmount.
As root, 'echo 2 > /proc/sys/vm/drop_caches' makes the kernel forget the
inodes: the daemon must then free its nodes (the 'nodes' line drops);
a directory forgotten that way, then given a second dir IV (a sync
tool's conflict copy, format.md section 7) in the cipher dir, must show the
names made under that IV on its next lookup (what a freed directory knew
is reused only while the directory is unchanged).

usage: test_counters.py VEILFS
"""

import ctypes
import errno
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq  # noqa: E402

# More than the vnode table's first 4096 buckets: the table grows while the
# files are looked up, and shrinks back (and malloc_trim runs) once the
# kernel has forgotten them.
N = 5000
LINE = re.compile(r"^op ([A-Z_0-9]+) (\d+) (\d+)$")


def parse(text):
    """The counter text as (header, {key: int}, {op: (count, ns)})."""
    lines = text.rstrip("\n").split("\n")
    check_eq(lines[0], "veilfs-counters 1", "first line")
    values, ops = {}, {}
    for ln in lines[1:]:
        m = LINE.match(ln)
        if m:
            check(m.group(1) not in ops, "opcode %s listed twice" % m.group(1))
            ops[m.group(1)] = (int(m.group(2)), int(m.group(3)))
            continue
        k, v = ln.split(" ")
        values[k] = int(v)
    return values, ops


def info(veilfs, mnt):
    r = vfs.run([veilfs, "info", "--mounted", mnt])
    check_eq(r.returncode, 0, "exit code of info --mounted (stderr: %s)" % r.stderr)
    return parse(r.stdout)


def count(ops, name):
    return ops.get(name, (0, 0))[0]


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    m = vol.mount(fg=True)
    try:
        _, before = tap.run("counters readable right after mount", info, veilfs, m.path) or ({}, {})

        def work():
            d = m.p("d")
            os.mkdir(d)
            for i in range(N):
                fd = os.open(os.path.join(d, "f%d" % i), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
                os.close(fd)
            for i in range(N):
                os.lstat(os.path.join(d, "f%d" % i))
            check_eq(len(os.listdir(d)), N, "entries")
        tap.run("create and stat %d files" % N, work)

        state = {}

        def read_after():
            values, ops = info(veilfs, m.path)
            state["values"], state["ops"] = values, ops
            made = count(ops, "CREATE") + count(ops, "MKNOD")
            check(made - count(before, "CREATE") - count(before, "MKNOD") >= N,
                  "at least %d CREATE or MKNOD, got %d" % (N, made))
            check_eq(count(ops, "MKDIR"), 1, "MKDIR count")
            # One negative lookup per new name, one more per stat at most
            # (the 1 s entry timeout may run out on a loaded machine), a
            # few for the path.
            check(count(ops, "LOOKUP") <= 2 * N + 20,
                  "at most %d LOOKUPs for %d new names, got %d" % (2 * N + 20, N, count(ops, "LOOKUP")))
            check(count(ops, "INIT") == 1, "one INIT, got %d" % count(ops, "INIT"))
            for name, (c, ns) in ops.items():
                check(c > 0, "%s listed with count 0" % name)
                check(ns < c * 10 * 10**9, "%s: %d ns for %d requests is absurd" % (name, ns, c))
            # The kernel holds at most the N files, their directory and the
            # root (fewer if someone dropped the machine's caches meanwhile):
            # more nodes would be vnodes the daemon lost track of.
            check(1 <= values["nodes"] <= N + 2,
                  "nodes %d: want 1 to %d for %d files" % (values["nodes"], N + 2, N))
        tap.run("counters after the work: CREATE >= N, LOOKUP <= 2N + 20, 1 <= nodes <= N + 2", read_after)

        def monotonic():
            _, ops = info(veilfs, m.path)
            check(count(ops, "GETXATTR") > count(state["ops"], "GETXATTR"),
                  "reading the counters is counted itself")
            for name, (c, _) in state["ops"].items():
                check(count(ops, name) >= c, "%s went down" % name)
        tap.run("counters only grow; the read itself is a GETXATTR", monotonic)

        def usr1():
            os.kill(m.proc.pid, signal.SIGUSR1)
            end = time.monotonic() + 10
            while time.monotonic() < end:
                log = m.log()
                if re.search(r"^veilfs: op CREATE (\d+) \d+$", log, re.M):
                    break
                time.sleep(0.05)
            log = m.log()
            got = re.search(r"^veilfs: op CREATE (\d+) \d+$", log, re.M)
            check(got, "no 'op CREATE' line in the log after SIGUSR1: %s" % log[-2000:])
            check(int(got.group(1)) >= N, "logged CREATE count %s < %d" % (got.group(1), N))
            check(re.search(r"^veilfs: nodes \d+$", log, re.M), "no nodes line in the log")
            check(m.alive(), "the daemon survived SIGUSR1")
        tap.run("SIGUSR1 logs the counters and the daemon goes on", usr1)

        def whole_or_erange():
            # The size probe (size 0) gives the text's full length; a buffer one
            # byte short gets ERANGE, never a cut text.
            libc = ctypes.CDLL(None, use_errno=True)
            libc.getxattr.restype = ctypes.c_ssize_t
            libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
            path, name = m.path.encode(), b"veilfs.counters"
            size = libc.getxattr(path, name, None, 0)
            check(size > 0, "size probe: %d (errno %d)" % (size, ctypes.get_errno()))
            buf = ctypes.create_string_buffer(size + 4096)
            n = libc.getxattr(path, name, buf, size + 4096)
            check(n >= size, "value of %d bytes, probe said %d" % (n, size))
            text = buf.raw[:n].decode()
            check(text.endswith("\n"), "counters text ends mid-line: %r" % text[-80:])
            parse(text)
            short = ctypes.create_string_buffer(n - 1)
            r = libc.getxattr(path, name, short, n - 1)
            # A counter may have grown meanwhile: that is ERANGE as well.
            check_eq((r, ctypes.get_errno() if r < 0 else 0), (-1, errno.ERANGE),
                     "getxattr into a buffer one byte short")
        tap.run("counters xattr: the probe gives the whole length, a short buffer gets ERANGE",
                whole_or_erange)

        def forget():
            if os.geteuid() != 0:
                raise vfs.Skip("drop_caches needs root")
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")
            end = time.monotonic() + 10
            values = {}
            while time.monotonic() < end:
                values, ops = info(veilfs, m.path)
                if values["nodes"] < N // 10:
                    break
                time.sleep(0.1)
            check(count(ops, "FORGET") + count(ops, "BATCH_FORGET") > 0, "no FORGET seen")
            check(values["nodes"] < N // 10,
                  "after drop_caches the daemon still holds %d nodes (of %d)" % (values["nodes"], N))
            check(values["fds"] <= values["nodes"], "fds %d > nodes %d" % (values["fds"], values["nodes"]))
        tap.run("after drop_caches the daemon frees its nodes", forget)

        def forgotten_dir_learns():
            if os.geteuid() != 0:
                raise vfs.Skip("drop_caches needs root")
            # "a" and "t" hold one file each, told apart by size in the cipher dir
            os.mkdir(m.p("a"))
            os.mkdir(m.p("t"))
            vfs.write_file(m.p("a/one"), b"1" * 100)
            vfs.write_file(m.p("t/two"), b"2" * 5000)
            check(not os.path.exists(m.p("a/two")), "a/two before the move")  # "a" learns: no second IV
            cdir = {}
            for dp, _, fns in os.walk(vol.dir):
                files = [f for f in fns if not f.startswith("veilfs.")]
                if dp != vol.dir and len(files) == 1:
                    size = os.path.getsize(os.path.join(dp, files[0]))
                    cdir["t" if size > 1000 else "a"] = (dp, files[0])
            check_eq(sorted(cdir), ["a", "t"], "cipher dirs of a and t")
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")
            time.sleep(0.5)
            # t's name for "two" and t's dir IV move into a's cipher dir, as a
            # sync tool's conflict copy of a's dir IV
            (ca, _), (ct, two) = cdir["a"], cdir["t"]
            with open(os.path.join(ct, "veilfs.diriv"), "rb") as f:
                iv = f.read()
            vfs.write_file(os.path.join(ca, "veilfs.sync-conflict-AAAAAAAA.diriv"), iv)
            os.rename(os.path.join(ct, two), os.path.join(ca, two))
            got = vfs.read_file(m.p("a/two"))
            check_eq(got, b"2" * 5000, "a/two, named under the second dir IV")
        tap.run("a directory forgotten and then given a second dir IV shows its names",
                forgotten_dir_learns)

        def errors():
            r = vfs.run([veilfs, "info", "--mounted", ws.path])
            check_eq(r.returncode, 7, "exit code for a path that is not a mount")
            check("not mounted" in r.stderr, "message: %s" % r.stderr)
        tap.run("info --mounted on a directory that is not mounted: exit 7", errors)
    finally:
        m.unmount()

    def debug_unmount():
        md = vol.mount(fg=True, debug=True)
        try:
            os.mkdir(md.p("x"))
        finally:
            md.unmount()
        log = md.log()
        check(re.search(r"^veilfs: op MKDIR 1 \d+$", log, re.M),
              "no 'op MKDIR 1' line at unmount of a -d mount: %s" % log[-1500:])
    tap.run("a -d mount logs its counters at unmount", debug_unmount)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
