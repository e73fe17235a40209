# SPDX-License-Identifier: MIT
"""Shared helpers of the veilfs integration tests.

Every test program imports this module, calls ``setup()`` first (it returns the
path of the veilfs binary given on the command line, or skips the whole program
when FUSE is unusable), and then works in a ``Workspace``: a temporary
directory that holds cipher dirs, mount points and plain reference dirs.

Safety rules kept here so no test has to remember them:

* every mount is registered; at exit (normal, exception, SIGTERM from meson's
  timeout, SIGINT) each one is unmounted with ``fusermount3 -u``, then
  ``fusermount3 -uz`` as last resort, and the daemon we started is waited for
  and, if it does not go, killed by its pid (only pids we started or found
  serving our own mount point);
* the workspace is removed only when nothing is mounted below it, so a stuck
  mount can never make ``rmtree`` walk into a live filesystem;
* ``VEILFS_KEEP=1`` keeps the workspace for post-mortem inspection.

TAP output: ``Tap`` numbers the test points and prints the plan at the end.
"""

import atexit
import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

PASSPHRASE = "veilfs integration passphrase \u00e9"
SKIP_STATUS = 77
HEADER_BYTES = 32
BLOCK = 4096
CBLOCK = BLOCK + 24 + 16
MOUNT_TIMEOUT = 30.0


# --------------------------------------------------------------------- TAP

class Tap:
    """A tiny TAP producer: ok()/check()/run() then done()."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        self.last_failed = False

    def diag(self, msg):
        """A TAP comment; after a failed point also on stderr, so that a
        failed test never shows an empty stderr."""
        for line in str(msg).rstrip("\n").split("\n"):
            print("# " + line)
            if self.last_failed:
                print("# " + line, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()

    def ok(self, cond, desc, diag=None):
        self.n += 1
        desc = desc.replace("#", "\\#").replace("\n", " ")
        self.last_failed = not cond
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            print("not ok %d - %s" % (self.n, desc), file=sys.stderr)
            if diag:
                self.diag(diag)
        sys.stdout.flush()
        return bool(cond)

    def skip(self, desc, why):
        self.n += 1
        self.last_failed = False
        print("ok %d - %s # SKIP %s" % (self.n, desc.replace("#", "\\#"), why))
        sys.stdout.flush()

    def run(self, desc, fn, *args, **kw):
        """Run fn(*args); an exception (AssertionError or any other) fails
        the test point with the traceback as diagnostics. Returns the result
        of fn, or None on failure. Raise Skip(reason) to skip."""
        try:
            res = fn(*args, **kw)
        except Skip as s:
            self.skip(desc, str(s))
            return None
        except Exception:  # noqa: BLE001 - every failure is a test failure
            self.ok(False, desc, traceback.format_exc())
            return None
        self.ok(True, desc)
        return res if res is not None else True

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        if self.failed:
            print("%d of %d test points failed" % (self.failed, self.n), file=sys.stderr)
        return 1 if self.failed else 0


class Skip(Exception):
    pass


def skip_all(why):
    """Skip the whole program. TAP: '1..0 # SKIP'. The exit status is 77
    (the autotools convention) unless VEILFS_SKIP_STATUS says otherwise:
    meson 1.0.1 turns any non-zero status of a 'tap' test into ERROR, even
    after a '1..0 # SKIP' plan, so tests/integration/meson.build sets it
    to 0 and meson then counts the program as skipped."""
    print("1..0 # SKIP " + why)
    sys.stdout.flush()
    sys.exit(int(os.environ.get("VEILFS_SKIP_STATUS", SKIP_STATUS)))


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def _first_diff(got, want, path=""):
    """Where two nested lists/tuples/dicts first differ, for messages."""
    if type(got) is not type(want):
        return path
    if isinstance(got, (list, tuple)):
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                return _first_diff(g, w, "%s[%d]" % (path, i))
        return "%s (lengths %d vs %d)" % (path, len(got), len(want))
    if isinstance(got, dict):
        for k in sorted(set(got) | set(want), key=repr):
            if got.get(k) != want.get(k):
                return _first_diff(got.get(k), want.get(k), "%s[%r]" % (path, k))
    if isinstance(got, bytes):
        return "%s: %s" % (path, bytes_diff(got, want))
    return path


def check_eq(got, want, what="value"):
    if got != want and isinstance(got, (list, tuple, dict)):
        where = _first_diff(got, want)
        g, w = got, want
        try:
            for part in re.findall(r"\[([^\]]*)\]", where.split(" ")[0]):
                k = int(part) if part.lstrip("-").isdigit() else eval(part)  # noqa: S307
                g, w = g[k], w[k]
        except Exception:  # noqa: BLE001
            g, w = got, want
        raise AssertionError("%s: differs at %s: got %s, want %s" % (
            what, where, repr(g)[:600], repr(w)[:600]))
    if got != want:
        g, w = repr(got), repr(want)
        if len(g) > 400:
            g = g[:400] + "..."
        if len(w) > 400:
            w = w[:400] + "..."
        raise AssertionError("%s: got %s, want %s" % (what, g, w))


def bytes_diff(a, b):
    """Human summary of where two byte strings differ."""
    if a == b:
        return "equal"
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return "lengths %d vs %d, first difference at offset %d (block %d)" % (
        len(a), len(b), i, i // BLOCK)


def check_bytes(got, want, what="content"):
    if got != want:
        raise AssertionError("%s differs: %s" % (what, bytes_diff(got, want)))


# ----------------------------------------------------------- environment

MISSING = ("program %s not found: it comes from a Debian package listed in "
           ".ci/packages.sh (bash tests/run-all.sh installs them)")


def need(prog):
    """The path of the program @prog. A missing program fails the test with
    a message naming it, never skips it: .ci/packages.sh lists every
    program the tests run."""
    path = shutil.which(prog)
    if path is None:
        raise AssertionError(MISSING % prog)
    return path


def fail_all(why):
    """Fail the whole program with one test point (stdout and stderr)."""
    print("1..1\nnot ok 1 - " + why)
    print("not ok 1 - " + why, file=sys.stderr)
    sys.exit(1)


def fuse_problem():
    """Why FUSE cannot be used here (the test is skipped), or None."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
        os.close(fd)
    except OSError as e:
        return "cannot open /dev/fuse: " + e.strerror
    return None


def setup(argv=None, usage="VEILFS [ARGS...]", nargs=0):
    """Parse 'prog VEILFS [extra...]', skip when FUSE is unusable.
    Returns (veilfs_path, extra_args)."""
    argv = sys.argv if argv is None else argv
    if len(argv) < 2 or len(argv) - 2 < nargs:
        print("usage: %s %s" % (os.path.basename(argv[0]), usage), file=sys.stderr)
        sys.exit(2)
    veilfs = os.path.abspath(argv[1])
    if shutil.which("fusermount3") is None:
        fail_all(MISSING % "fusermount3")
    why = fuse_problem()
    if why:
        skip_all(why)
    if not os.access(veilfs, os.X_OK):
        fail_all("veilfs binary %s is not executable" % veilfs)
    _install_handlers()
    return veilfs, argv[2:]


def errno_name(e):
    return errno.errorcode.get(e, str(e)) if e else "OK"


def errno_of(fn, *args, **kw):
    """0 if fn succeeds, else the errno of its OSError."""
    try:
        fn(*args, **kw)
        return 0
    except OSError as e:
        return e.errno


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def write_file(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        mv = memoryview(data)
        while mv:
            n = os.write(fd, mv)
            mv = mv[n:]
    finally:
        os.close(fd)


def check_hello(mnt):
    """Write the file "hello" through the mount at @mnt unless it exists; check it reads back."""
    p = os.path.join(mnt, "hello")
    if not os.path.exists(p):
        write_file(p, b"hello veilfs\n")
    check_eq(read_file(p), b"hello veilfs\n", "hello through the mount")


def cipher_size(psize):
    if psize == 0:
        return 0
    nblocks = (psize + BLOCK - 1) // BLOCK
    return HEADER_BYTES + psize + nblocks * (CBLOCK - BLOCK)


def snapshot(root):
    """{relative path: (kind, mode, size, sha256-or-target)} of a tree,
    for checking that a failed operation left it intact."""
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("l", st.st_mode, st.st_size, os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("d", st.st_mode, 0, None)
            else:
                out[rel] = ("f", st.st_mode, st.st_size, sha256_file(p))
    return out


# ------------------------------------------------------------ mountinfo

def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mountinfo():
    """[(mount point, fs type, source, mount options)] of this namespace."""
    res = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            res.append((_unescape(parts[4]), parts[sep + 1], _unescape(parts[sep + 2]),
                        parts[5] + "," + parts[sep + 3]))
    return res


def mount_entry(path):
    path = os.path.realpath(path)
    for e in reversed(mountinfo()):
        if e[0] == path:
            return e
    return None


def is_fuse_mounted(path):
    e = mount_entry(path)
    return e is not None and e[1].startswith("fuse")


def mounts_below(root):
    root = os.path.realpath(root)
    return [e[0] for e in mountinfo() if e[0] == root or e[0].startswith(root + "/")]


# -------------------------------------------------------------- processes

def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return None


def daemon_pids(veilfs, mountpoint):
    """Pids of veilfs processes whose command line names @mountpoint (the
    daemon we started for it, whatever it forked into)."""
    me = os.getpid()
    want_exe = os.path.realpath(veilfs)
    mp = os.path.abspath(mountpoint).encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        pid = int(d)
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            continue
        if exe.endswith(" (deleted)"):
            exe = exe[: -len(" (deleted)")]
        if exe != want_exe:
            continue
        cl = _cmdline(pid)
        if cl and b"mount" in cl and mp in [os.path.abspath(a) for a in cl if a]:
            pids.append(pid)
    return pids


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    # A zombie of ours is gone as a daemon.
    return st[st.rindex(")") + 2] != "Z"


def wait_pids_gone(pids, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return not any(pid_alive(p) for p in pids)


def run(cmd, stdin=None, timeout=120, env=None, cwd=None, check_rc=None):
    """Run a command; returns CompletedProcess with text stdout/stderr."""
    if isinstance(stdin, str):
        stdin = stdin.encode()
    if os.sep not in str(cmd[0]):
        need(cmd[0])
    p = subprocess.run(cmd, input=stdin if stdin is not None else b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env, cwd=cwd)
    p.stdout = p.stdout.decode(errors="replace")
    p.stderr = p.stderr.decode(errors="replace")
    if check_rc is not None and p.returncode != check_rc:
        raise AssertionError("%s: exit %d (want %d)\nstdout: %s\nstderr: %s" % (
            " ".join(map(str, cmd)), p.returncode, check_rc, p.stdout[-2000:], p.stderr[-2000:]))
    return p


# ---------------------------------------------------------------- mounts

def close_fds_under(path):
    """Close this process's fds on files below @path (leaked by a failed
    test; they would make the unmount fail with EBUSY). Returns them."""
    path = os.path.realpath(path)
    leaked = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target == path or target.startswith(path + "/"):
            leaked.append((int(fd), target))
    for fd, _ in leaked:
        try:
            os.close(fd)
        except OSError:
            pass
    if os.getcwd() == path or os.getcwd().startswith(path + "/"):
        os.chdir("/")
    return leaked


_mounts = []
_workspaces = []
_handlers_installed = False


def _on_signal(signum, frame):
    # Raise SystemExit so finally blocks and atexit run (meson's timeout
    # sends SIGTERM).
    sys.exit(128 + signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(_cleanup_all)


def _cleanup_all():
    for m in reversed(list(_mounts)):
        try:
            m.unmount(quiet=True)
        except Exception:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
    for w in reversed(list(_workspaces)):
        w.remove()


class MountError(Exception):
    def __init__(self, rc, stderr):
        super().__init__("veilfs mount failed with exit %s: %s" % (rc, stderr.strip()))
        self.rc = rc
        self.stderr = stderr


class Mount:
    """A live veilfs mount. ``log()`` is the daemon's stderr (with -f)."""

    def __init__(self, veilfs, cipherdir, mountpoint, fg, proc=None, logpath=None):
        self.veilfs = veilfs
        self.cipherdir = cipherdir
        self.path = mountpoint
        self.fg = fg
        self.proc = proc
        self.logpath = logpath
        self.pids = [proc.pid] if proc else []
        self.mounted = True
        self.exit_status = None
        _mounts.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.unmount()

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def log(self):
        if not self.logpath or not os.path.exists(self.logpath):
            return ""
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return any(pid_alive(p) for p in self.pids)

    def unmount(self, quiet=False, timeout=20.0):
        """Unmount and wait for the daemon to exit. Raises AssertionError if
        a plain 'fusermount3 -u' did not work (after retries for EBUSY) or
        the daemon did not exit by itself; cleanup is done anyway."""
        if not self.mounted:
            return
        self.mounted = False
        if self in _mounts:
            _mounts.remove(self)
        problems = []
        leaked = close_fds_under(self.path)
        if leaked:
            problems.append("test left fds open on the mount: %s" % leaked)
        self.pids = sorted(set(self.pids + daemon_pids(self.veilfs, self.path)))
        end = time.monotonic() + 10.0
        last = None
        while is_fuse_mounted(self.path):
            r = subprocess.run(["fusermount3", "-u", self.path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            if r.returncode == 0:
                break
            last = r.stderr.decode(errors="replace").strip()
            if time.monotonic() > end:
                problems.append("fusermount3 -u failed: " + last)
                subprocess.run(["fusermount3", "-uz", self.path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                break
            time.sleep(0.2)
        if not wait_pids_gone(self.pids, timeout):
            problems.append("daemon pids %s still running %.0fs after unmount" % (self.pids, timeout))
            for pid in self.pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            wait_pids_gone(self.pids, 5)
        if is_fuse_mounted(self.path):
            subprocess.run(["fusermount3", "-uz", self.path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if self.proc is not None:
            try:
                self.exit_status = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.exit_status = self.proc.wait()
        if problems and not quiet:
            raise AssertionError("; ".join(problems))


class Volume:
    """A cipher dir made with 'veilfs init --kdf interactive'."""

    def __init__(self, ws, veilfs, name="cipher", passphrase=PASSPHRASE, create=True):
        self.ws = ws
        self.veilfs = veilfs
        self.dir = os.path.join(ws.path, name)
        self.passphrase = passphrase
        if create:
            r = run([veilfs, "init", "--kdf", "interactive", self.dir], stdin=passphrase + "\n")
            if r.returncode != 0:
                raise AssertionError("veilfs init failed (%d): %s" % (r.returncode, r.stderr))

    def c(self, *parts):
        return os.path.join(self.dir, *parts)

    def passfile(self, name="pass"):
        """Write the passphrase (one line, mode 0600) to a file in the workspace; its path."""
        path = os.path.join(self.ws.path, name)
        write_file(path, (self.passphrase + "\n").encode(), 0o600)
        os.chmod(path, 0o600)
        return path

    def mount(self, mnt=None, fg=True, ro=False, opts=(), extra=(), passphrase=None, debug=False):
        """Mount and return a Mount; raises MountError on a non-zero exit.
        fg=True runs 'mount -f' as our child with stderr captured (so the
        test can read the daemon's log); fg=False checks the documented
        contract that a background mount exits 0 only once mounted."""
        if mnt is None:
            mnt = self.ws.mkdir("mnt")
        pw = self.passphrase if passphrase is None else passphrase
        cmd = [self.veilfs, "mount"]
        if fg:
            cmd.append("-f")
        if debug:
            cmd.append("-d")
        if ro:
            cmd.append("--ro")
        for o in opts:
            cmd += ["-o", o]
        cmd += list(extra) + [self.dir, mnt]
        if not fg:
            # stdout/stderr go to a file, not a pipe: a daemon that kept an
            # inherited pipe open would otherwise hang us (test_mount.py
            # checks that case separately).
            logpath = self.ws.unique("mount", ".log")
            with open(logpath, "w+b") as logf:
                p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=logf, stderr=logf)
                try:
                    p.communicate((pw + "\n").encode(), timeout=MOUNT_TIMEOUT)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    Mount(self.veilfs, self.dir, mnt, fg=False).pids = daemon_pids(self.veilfs, mnt)
                    raise AssertionError("veilfs mount did not exit within %.0fs" % MOUNT_TIMEOUT)
                logf.seek(0)
                out = logf.read().decode(errors="replace")
            if p.returncode != 0:
                if is_fuse_mounted(mnt):
                    Mount(self.veilfs, self.dir, mnt, fg=False).pids = daemon_pids(self.veilfs, mnt)
                raise MountError(p.returncode, out)
            m = Mount(self.veilfs, self.dir, mnt, fg=False)
            m.mount_output = out
            m.pids = daemon_pids(self.veilfs, mnt)
            if not is_fuse_mounted(mnt):
                m.unmount(quiet=True)
                raise AssertionError("veilfs mount exited 0 but %s is not mounted" % mnt)
            return m
        logpath = self.ws.unique("daemon", ".log")
        logf = open(logpath, "wb")
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=logf, stderr=logf)
        logf.close()
        m = Mount(self.veilfs, self.dir, mnt, fg=True, proc=proc, logpath=logpath)
        try:
            proc.stdin.write((pw + "\n").encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        end = time.monotonic() + MOUNT_TIMEOUT
        while not is_fuse_mounted(mnt):
            rc = proc.poll()
            if rc is not None:
                m.mounted = False
                _mounts.remove(m)
                raise MountError(rc, m.log())
            if time.monotonic() > end:
                m.unmount(quiet=True)
                raise AssertionError("mount -f: %s not mounted after %.0fs; log: %s" % (
                    mnt, MOUNT_TIMEOUT, m.log()))
            time.sleep(0.02)
        return m


class Workspace:
    """A temporary directory, removed at exit when nothing is mounted in it."""

    def __init__(self, prefix="veilfs-it-"):
        _install_handlers()  # cleanup at exit even without setup()
        self.path = tempfile.mkdtemp(prefix=prefix)
        self._n = 0
        _workspaces.append(self)

    def unique(self, stem, suffix=""):
        self._n += 1
        return os.path.join(self.path, "%s%d%s" % (stem, self._n, suffix))

    def mkdir(self, stem, mode=0o755):
        p = self.unique(stem)
        os.mkdir(p, mode)
        return p

    def remove(self):
        if self not in _workspaces:
            return
        _workspaces.remove(self)
        if os.environ.get("VEILFS_KEEP"):
            print("# workspace kept: " + self.path)
            return
        left = mounts_below(self.path)
        if left:
            print("# NOT removing %s: still mounted: %s" % (self.path, left), file=sys.stderr)
            return
        shutil.rmtree(self.path, ignore_errors=True)


# ------------------------------------------------------------ comparisons

def tree(root, contents=True, xattrs=False):
    """A comparable description of a tree: {rel: tuple}. Times are left
    out (they legitimately differ between two trees made at different
    moments); everything else a user can observe is in."""
    out = {}
    for dp, dns, fns in os.walk(root):
        dns.sort()
        for n in sorted(dns + fns):
            p = os.path.join(dp, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            kind = st.st_mode & 0o170000
            entry = [oct(st.st_mode), st.st_uid, st.st_gid, st.st_nlink if kind != 0o040000 else None]
            if kind == 0o100000:
                entry.append(st.st_size)
                if contents:
                    entry.append(sha256_file(p))
            elif kind == 0o120000:
                entry.append(os.readlink(p))
                entry.append(st.st_size)
            elif kind in (0o020000, 0o060000):
                entry.append(st.st_rdev)
            if xattrs and kind != 0o120000:
                entry.append(sorted((k, os.getxattr(p, k, follow_symlinks=False))
                                    for k in os.listxattr(p, follow_symlinks=False)
                                    if k.startswith("user.")))
            out[rel] = tuple(entry)
    return out


def tree_diff(a, b, limit=20):
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            lines.append("%s: %r != %r" % (k, a.get(k), b.get(k)))
            if len(lines) >= limit:
                lines.append("...")
                break
    return "\n".join(lines)


def check_trees_equal(got, want, what="trees"):
    if got != want:
        raise AssertionError("%s differ:\n%s" % (what, tree_diff(got, want)))


UNEXPECTED_LOG = re.compile(r"(?i)warn|error|AddressSanitizer|runtime error|LeakSanitizer|assert|abort|panic")


def unexpected_log_lines(text, allowed=()):
    """Lines of a daemon log that look like problems and match none of the
    @allowed regexes."""
    bad = []
    for line in text.splitlines():
        if UNEXPECTED_LOG.search(line) and not any(re.search(a, line) for a in allowed):
            bad.append(line)
    return bad
