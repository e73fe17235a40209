# SPDX-License-Identifier: MIT
"""Helpers of the reverse-mode tests (tests/reverse/).

Self-contained on purpose (python3 stdlib only): the patterns follow
tests/integration/vfs.py, but nothing is imported from there, so the two
suites can evolve independently.

Every program calls ``setup()`` first: it returns the veilfs binary given on
the command line, or skips the whole program ("1..0 # SKIP", exit 77, or the
status in VEILFS_SKIP_STATUS: meson 1.0.1 counts any non-zero exit of a tap
test as ERROR, so tests/reverse/meson.build sets it to 0) when /dev/fuse or
fusermount3 is unusable.

Safety: every mount is registered and, at exit (normal, exception, SIGTERM
from meson's timeout, SIGINT), unmounted with ``fusermount3 -u`` and then
``-uz`` as a last resort; the daemons we started are waited for and killed by
pid (only pids we started, or veilfs processes whose command line names our
own mount point). Other children (rclone) are registered with ``track()`` and
killed by pid. The workspace is removed only when nothing is mounted in it;
``VEILFS_KEEP=1`` keeps it.
"""

import atexit
import hashlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback

PASSPHRASE = "veilfs reverse passphrase \u00e9 #1"
SKIP_STATUS = 77
HEADER_BYTES = 32
BLOCK = 4096
CBLOCK = BLOCK + 24 + 16
MOUNT_TIMEOUT = 30.0
REVERSE_CONF = ".veilfs-reverse.conf"


# --------------------------------------------------------------------- TAP

class Skip(Exception):
    pass


class Tap:
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

    @staticmethod
    def _clean(desc):
        return desc.replace("\\", "\\\\").replace("#", "\\#").replace("\n", " ")

    def ok(self, cond, desc, diag=None, todo=None):
        self.n += 1
        d = self._clean(desc)
        if todo:
            d += " # TODO " + todo
        self.last_failed = not cond and not todo
        if cond:
            print("ok %d - %s" % (self.n, d))
        else:
            if not todo:
                self.failed += 1
            print("not ok %d - %s" % (self.n, d))
            if not todo:
                print("not ok %d - %s" % (self.n, d), file=sys.stderr)
            if diag:
                self.diag(diag)
        sys.stdout.flush()
        return bool(cond)

    def skip(self, desc, why):
        self.n += 1
        self.last_failed = False
        print("ok %d - %s # SKIP %s" % (self.n, self._clean(desc), why.replace("\n", " ")))
        sys.stdout.flush()

    def run(self, desc, fn, *args, todo=None, **kw):
        """Run fn(*args); an exception fails the point with the traceback as
        diagnostics; Skip(reason) skips it. Returns fn's result (True when
        it returned None), or None on failure or skip."""
        try:
            res = fn(*args, **kw)
        except Skip as s:
            self.skip(desc, str(s))
            return None
        except Exception:  # noqa: BLE001 - every failure is a test failure
            self.ok(False, desc, traceback.format_exc(), todo=todo)
            return None
        self.ok(True, desc, todo=todo)
        return res if res is not None else True

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        if self.failed:
            print("%d of %d test points failed" % (self.failed, self.n), file=sys.stderr)
        return 1 if self.failed else 0


def skip_all(why):
    print("1..0 # SKIP " + why)
    sys.stdout.flush()
    sys.exit(int(os.environ.get("VEILFS_SKIP_STATUS", SKIP_STATUS)))


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def check_eq(got, want, what="value"):
    if got != want:
        g, w = repr(got), repr(want)
        raise AssertionError("%s: got %s, want %s" % (what, g[:600], w[:600]))


# ----------------------------------------------------------- environment

def fuse_problem():
    """Why FUSE cannot be used here (the test is skipped), or None."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as e:
        return "cannot open /dev/fuse: " + e.strerror
    return None


def setup(argv=None):
    argv = sys.argv if argv is None else argv
    if len(argv) < 2:
        print("usage: %s VEILFS" % os.path.basename(argv[0]), file=sys.stderr)
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
    return veilfs


def run(cmd, stdin=None, timeout=120, env=None, cwd=None, check_rc=None):
    """Run a command; CompletedProcess with text stdout/stderr."""
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
            " ".join(map(str, cmd)), p.returncode, check_rc, p.stdout[-3000:], p.stderr[-3000:]))
    return p


def has_command(veilfs, name):
    """True if 'veilfs NAME' is a known subcommand."""
    r = run([veilfs, name, "--help"], timeout=30)
    return "unknown command" not in r.stderr


def binary_mentions(veilfs, *needles):
    """True if the veilfs executable contains one of the byte strings."""
    with open(veilfs, "rb") as f:
        data = f.read()
    return any(n.encode() in data for n in needles)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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
            mv = mv[os.write(fd, mv):]
    finally:
        os.close(fd)
    os.chmod(path, mode)


def cipher_size(psize):
    if psize == 0:
        return 0
    nblocks = (psize + BLOCK - 1) // BLOCK
    return HEADER_BYTES + psize + nblocks * (CBLOCK - BLOCK)


# ------------------------------------------- mountinfo and daemon processes
# Shared with the forward-mode integration tests (tests/integration/vfs.py).

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from vfs import (  # noqa: E402,F401
    MISSING, _unescape, fail_all, need, daemon_pids, is_fuse_mounted, mount_entry, mountinfo, mounts_below, pid_alive,
    wait_pids_gone)


_mounts = []
_workspaces = []
_children = []
_handlers = False


def track(proc):
    """Kill @proc (a Popen we started) at exit if it is still running; if
    it leads a process group of its own (Popen(start_new_session=True)),
    the whole group, so its children go too."""
    try:
        proc.veil_group = os.getpgid(proc.pid) == proc.pid
    except OSError:
        proc.veil_group = False
    _children.append(proc)
    return proc


def _signal(proc, sig):
    try:
        if getattr(proc, "veil_group", False):
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except OSError:
        pass


def stop(proc, timeout=10):
    if proc in _children:
        _children.remove(proc)
    if proc.poll() is None:
        _signal(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            proc.wait()
    if getattr(proc, "veil_group", False):
        # Members that outlived the leader (the group id stays reserved
        # while any member lives, so this reaches only ours).
        _signal(proc, signal.SIGKILL)


def _on_signal(signum, frame):
    sys.exit(128 + signum)


def _install_handlers():
    global _handlers
    if _handlers:
        return
    _handlers = True
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    atexit.register(_cleanup_all)


def _cleanup_all():
    for p in list(_children):
        try:
            stop(p, timeout=5)
        except Exception:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
    for m in reversed(list(_mounts)):
        try:
            m.unmount(quiet=True)
        except Exception:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
    for w in reversed(list(_workspaces)):
        w.remove()


def close_fds_under(path):
    path = os.path.realpath(path)
    leaked = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            t = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if t == path or t.startswith(path + "/"):
            leaked.append((int(fd), t))
    for fd, _ in leaked:
        try:
            os.close(fd)
        except OSError:
            pass
    if os.getcwd() == path or os.getcwd().startswith(path + "/"):
        os.chdir("/")
    return leaked


class MountError(Exception):
    def __init__(self, rc, log):
        super().__init__("veilfs mount failed with exit %s: %s" % (rc, log.strip()))
        self.rc = rc
        self.log = log


class Mount:
    """A live 'veilfs mount -f' (our child); log() is its stderr."""

    def __init__(self, veilfs, mountpoint, proc, logpath):
        self.veilfs = veilfs
        self.path = mountpoint
        self.proc = proc
        self.logpath = logpath
        self.pids = [proc.pid]
        self.mounted = True
        _mounts.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.unmount(quiet=exc[0] is not None)

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def unmount(self, quiet=False, timeout=20.0):
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
        while is_fuse_mounted(self.path):
            r = subprocess.run(["fusermount3", "-u", self.path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            if r.returncode == 0:
                break
            if time.monotonic() > end:
                problems.append("fusermount3 -u failed: " + r.stderr.decode(errors="replace"))
                subprocess.run(["fusermount3", "-uz", self.path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                break
            time.sleep(0.2)
        if not wait_pids_gone(self.pids, timeout):
            problems.append("daemon pids %s still running after unmount" % self.pids)
            for pid in self.pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            wait_pids_gone(self.pids, 5)
        if is_fuse_mounted(self.path):
            subprocess.run(["fusermount3", "-uz", self.path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if problems and not quiet:
            raise AssertionError("; ".join(problems))


def start_mount(veilfs, ws, args, mnt, passphrase=PASSPHRASE):
    """Run 'veilfs mount -f ARGS... MNT' as our child, wait until mounted."""
    logpath = ws.unique("daemon", ".log")
    with open(logpath, "wb") as logf:
        proc = subprocess.Popen([veilfs, "mount", "-f"] + list(args) + [mnt],
                                stdin=subprocess.PIPE, stdout=logf, stderr=logf)
    m = Mount(veilfs, mnt, proc, logpath)
    try:
        proc.stdin.write((passphrase + "\n").encode())
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
            raise AssertionError("%s not mounted after %.0fs; log: %s" % (mnt, MOUNT_TIMEOUT, m.log()))
        time.sleep(0.02)
    return m


class Workspace:
    def __init__(self, prefix="veilfs-rev-"):
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


class Rev:
    """veilfs in one workspace: reverse init/mount, forward mount, offline."""

    def __init__(self, veilfs, ws, passphrase=PASSPHRASE):
        self.veilfs = veilfs
        self.ws = ws
        self.pw = passphrase
        self.passfile = os.path.join(ws.path, "passfile")
        with open(self.passfile, "w") as f:
            f.write(passphrase + "\n")
        os.chmod(self.passfile, 0o600)

    def init_reverse(self, plain, config=None):
        cmd = [self.veilfs, "init", "--reverse", "--kdf", "interactive"]
        if config:
            cmd += ["--config", config]
        run(cmd + [plain], stdin=self.pw + "\n", check_rc=0)

    def init_forward(self, cipher):
        run([self.veilfs, "init", "--kdf", "interactive", cipher], stdin=self.pw + "\n",
            check_rc=0)

    def mount_reverse(self, plain, mnt=None, excludes=(), config=None):
        mnt = mnt or self.ws.mkdir("view")
        args = ["--reverse"]
        for e in excludes:
            args += ["--exclude", e]
        if config:
            args += ["--config", config]
        return start_mount(self.veilfs, self.ws, args + [plain], mnt, self.pw)

    def mount_forward(self, cipher, mnt=None, ro=False):
        mnt = mnt or self.ws.mkdir("mnt")
        return start_mount(self.veilfs, self.ws, (["--ro"] if ro else []) + [cipher], mnt,
                           self.pw)

    def cmd(self, *args, timeout=300):
        """'veilfs ARGS...' with the passphrase on stdin."""
        return run([self.veilfs] + list(args), stdin=self.pw + "\n", timeout=timeout)


# ------------------------------------------------------------ trees

def user_xattrs(p):
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError:
        return []
    return sorted((k, os.getxattr(p, k, follow_symlinks=False))
                  for k in names if k.startswith("user."))


def walk(root, skip_top=()):
    """Sorted relative paths (bytes-safe str) of everything under @root."""
    out = []
    for dp, dns, fns in os.walk(root):
        if dp == root:
            dns[:] = [d for d in dns if d not in skip_top]
            fns = [f for f in fns if f not in skip_top]
        for n in dns + fns:
            out.append(os.path.relpath(os.path.join(dp, n), root))
    return sorted(out)


def describe(root, skip_top=(), times=True, modes=True, xattrs=True, contents=True):
    """{rel: tuple} of what a restore must preserve: kind, mode, mtime
    (ns), size, sha256 or link target, user xattrs."""
    out = {}
    for rel in walk(root, skip_top):
        p = os.path.join(root, rel)
        st = os.lstat(p)
        kind = stat.S_IFMT(st.st_mode)
        e = [kind]
        if modes:
            e.append(oct(stat.S_IMODE(st.st_mode)))
        if times and kind != stat.S_IFDIR:
            e.append(st.st_mtime_ns)
        if kind == stat.S_IFREG:
            e.append(st.st_size)
            if contents:
                e.append(sha256_file(p))
        elif kind == stat.S_IFLNK:
            e.append(os.readlink(p))
        if xattrs and kind != stat.S_IFLNK:
            e.append(user_xattrs(p))
        out[rel] = tuple(e)
    if times:
        # Directory times: compared after the walk, since reading a
        # directory never changes its mtime but creating entries would.
        for rel in list(out):
            if out[rel][0] == stat.S_IFDIR:
                out[rel] = out[rel] + (os.lstat(os.path.join(root, rel)).st_mtime_ns,)
    return out


def mask_setid(desc):
    """@desc with the set-uid/set-gid bits cleared from every mode."""
    out = {}
    for k, v in desc.items():
        v = list(v)
        if len(v) > 1 and isinstance(v[1], str) and v[1].startswith("0o"):
            v[1] = oct(int(v[1], 8) & ~0o6000)
        out[k] = tuple(v)
    return out


def tree_diff(a, b, limit=15):
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            ga, gb = repr(a.get(k)), repr(b.get(k))
            lines.append("%r: %s != %s" % (k, ga if len(ga) < 300 else ga[:300] + "...",
                                            gb if len(gb) < 300 else gb[:300] + "..."))
            if len(lines) >= limit:
                lines.append("...")
                break
    return "\n".join(lines)


def check_same(got, want, what):
    if got != want:
        raise AssertionError("%s differ (got != want):\n%s" % (what, tree_diff(got, want)))


def diff_r(a, b, excludes=(REVERSE_CONF,)):
    """'diff -r --no-dereference' (symlinks compared as links)."""
    cmd = ["diff", "-r", "--no-dereference"]
    for x in excludes:
        cmd += ["-x", x]
    r = run(cmd + [a, b], timeout=300)
    if r.returncode != 0:
        raise AssertionError("diff -r %s %s: exit %d\n%s%s" % (
            a, b, r.returncode, r.stdout[-3000:], r.stderr[-2000:]))


def hardlink_groups(root, skip_top=()):
    """Sorted groups (sorted rel paths) of regular files sharing an st_ino."""
    by = {}
    for rel in walk(root, skip_top):
        st = os.lstat(os.path.join(root, rel))
        if stat.S_ISREG(st.st_mode):
            by.setdefault(st.st_ino, []).append(rel)
    return sorted(sorted(v) for v in by.values() if len(v) > 1)


def ino_map(root):
    """{st_ino: [rel paths]} of every entry below @root."""
    out = {}
    for rel in walk(root):
        out.setdefault(os.lstat(os.path.join(root, rel)).st_ino, []).append(rel)
    return out


def cipher_path_of(plain_root, view_root, rel):
    """The path in a reverse view of the plaintext @rel: the view keeps the
    plaintext inode numbers, so the entry with the same st_ino (and the same
    parent chain) is it. Independent of any veilfs name mapping tool."""
    parts = rel.split("/")
    vdir = view_root
    pdir = plain_root
    out = []
    for part in parts:
        want = os.lstat(os.path.join(pdir, part)).st_ino
        found = None
        for n in os.listdir(vdir):
            if n.endswith(".name") or n.startswith("veilfs.diriv") or n == "veilfs.conf":
                continue
            if os.lstat(os.path.join(vdir, n)).st_ino == want:
                found = n
                break
        if found is None:
            raise AssertionError("no entry in the view for %r (part %r)" % (rel, part))
        out.append(found)
        vdir = os.path.join(vdir, found)
        pdir = os.path.join(pdir, part)
    return "/".join(out)


def copytree(src, dst):
    """cp -a (keeps hard links, symlinks, xattrs, times)."""
    run(["cp", "-a", "--", src, dst], check_rc=0, timeout=300)
