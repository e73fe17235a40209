# SPDX-License-Identifier: MIT
"""Helpers of the sync suite (tests/sync/): real sync and backup engines on
top of veilfs, all on this machine and on 127.0.0.1 only.

Mounts, workspaces, TAP and process tracking come from the reverse-mode
helpers (tests/reverse/rlib.py, which shares its mountinfo code with
tests/integration/vfs.py); this module adds only what the engines need:
a Syncthing instance driven through its REST API, a throwaway sshd, and a
generated tree of a few thousand files.

Every engine runs in its own process group (start_new_session) and is
registered with rlib.track(): at exit (normal, exception, meson's SIGTERM)
rlib kills the whole group, so no helper process outlives the test.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reverse"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import rlib  # noqa: E402,F401
from rlib import (Skip, check, check_eq, free_port, run, sha256_file, stop, track,  # noqa: E402,F401
                  write_file)

SYNCTHING = shutil.which("syncthing")


def need(*programs):
    """Raise Skip naming the first missing program."""
    for p in programs:
        if shutil.which(p) is None and not os.access(p, os.X_OK):
            raise Skip("%s not installed" % p)


def spawn(cmd, logpath, env=None, cwd=None):
    """Start @cmd in a process group of its own, output to @logpath,
    killed (the whole group) at exit if still running."""
    with open(logpath, "ab") as log:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                             cwd=cwd, start_new_session=True)
    return track(p)


def tail(path, n=3000):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")[-n:]
    except OSError:
        return ""


# ------------------------------------------------------------------ trees

def make_tree(root, ndirs=40, per_dir=60, seed=12):
    """A hard-link-free tree of ndirs * per_dir small files (a few larger
    ones), nested directories, empty directories, symlinks and long names.
    Returns the number of regular files."""
    rnd = random.Random(seed)
    n = 0
    os.makedirs(root, exist_ok=True)
    for d in range(ndirs):
        dp = os.path.join(root, "dir-%02d" % d, "sub") if d % 5 == 4 else \
            os.path.join(root, "dir-%02d" % d)
        os.makedirs(dp)
        for i in range(per_dir):
            size = rnd.choice((0, 1, 100, 4095, 4096, 4097, 9000, 20000)) if i % 20 else \
                rnd.randrange(100_000, 400_000)
            write_file(os.path.join(dp, "file %03d.txt" % i), rnd.randbytes(size),
                       rnd.choice((0o644, 0o600, 0o755)))
            n += 1
        os.symlink("file 000.txt", os.path.join(dp, "link-%02d" % d))
    os.makedirs(os.path.join(root, "empty", "deeper"))
    long_dir = os.path.join(root, "D" * 200)
    os.mkdir(long_dir)
    write_file(os.path.join(long_dir, "L" * 220 + ".txt"), b"long name in a long dir\n")
    write_file(os.path.join(root, "\u00e9" * 100 + ".bin"), rnd.randbytes(5000))
    os.symlink("../" + "t/" * 300 + "end", os.path.join(root, "long-target"))
    return n + 2


def describe(root, skip=(".stfolder", ".stversions", ".veilfs-reverse.conf")):
    """{rel: (kind, mode, size, sha256 or link target)} below @root."""
    out = {}
    for dp, dns, fns in os.walk(root):
        if dp == root:
            dns[:] = [x for x in dns if x not in skip]
            fns = [x for x in fns if x not in skip]
        for nm in dns + fns:
            p = os.path.join(dp, nm)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("l", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("d", oct(st.st_mode & 0o7777))
            else:
                out[rel] = ("f", oct(st.st_mode & 0o7777), st.st_size, sha256_file(p))
    return out


# -------------------------------------------------------------- Syncthing

class Syncthing:
    """One Syncthing instance with its own home directory, listening only
    on 127.0.0.1: sync and GUI/API ports picked at run time; global and
    local discovery, relays, NAT traversal, STUN, usage reporting, crash
    reporting and upgrades off. Peers are configured by device ID with
    static addresses; folders are scanned on request only (no watcher, no
    periodic rescan), so the test decides when a change is seen."""

    def __init__(self, ws, name):
        need("syncthing")
        self.name = name
        self.home = ws.mkdir("st-" + name)
        self.log = os.path.join(ws.path, "syncthing-%s.log" % name)
        self.env = dict(os.environ, HOME=self.home, STNOUPGRADE="1", STNORESTART="1",
                        STNODEFAULTFOLDER="1")
        for k in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                  "ALL_PROXY"):
            self.env.pop(k, None)
        r = run([SYNCTHING, "generate", "--home", self.home, "--no-default-folder",
                 "--skip-port-probing"], env=self.env, timeout=120, check_rc=0)
        ids = [w for w in (r.stdout + r.stderr).split() if w.count("-") == 7 and len(w) == 63]
        check(ids, "no device ID in 'syncthing generate' output: %s" % (r.stdout + r.stderr))
        self.id = ids[0]
        self.apikey = "veilfs-test-" + os.urandom(12).hex()
        self.port = free_port()
        self.gui_port = free_port()
        self.proc = None

    def configure(self, peers, folders):
        """Write config.xml: @peers a list of Syncthing, @folders a dict
        {folder id: path}, each shared with every peer."""
        cfg = ET.Element("configuration", version="36")
        for dev in [self] + list(peers):
            d = ET.SubElement(cfg, "device", id=dev.id, name=dev.name, compression="metadata",
                              introducer="false")
            ET.SubElement(d, "address").text = \
                "tcp://127.0.0.1:%d" % dev.port if dev is not self else "dynamic"
            ET.SubElement(d, "autoAcceptFolders").text = "false"
        for fid, path in folders.items():
            f = ET.SubElement(cfg, "folder", id=fid, label=fid, path=path, type="sendreceive",
                              rescanIntervalS="0", fsWatcherEnabled="false",
                              ignorePerms="false", autoNormalize="true")
            for dev in [self] + list(peers):
                ET.SubElement(f, "device", id=dev.id)
            ET.SubElement(f, "maxConflicts").text = "10"
            ET.SubElement(f, "minDiskFree", unit="%").text = "0"
            ET.SubElement(f, "order").text = "alphabetic"
        gui = ET.SubElement(cfg, "gui", enabled="true", tls="false")
        ET.SubElement(gui, "address").text = "127.0.0.1:%d" % self.gui_port
        ET.SubElement(gui, "apikey").text = self.apikey
        opts = ET.SubElement(cfg, "options")
        for k, v in (("listenAddress", "tcp://127.0.0.1:%d" % self.port),
                     ("globalAnnounceServer", ""), ("globalAnnounceEnabled", "false"),
                     ("localAnnounceEnabled", "false"), ("relaysEnabled", "false"),
                     ("natEnabled", "false"), ("startBrowser", "false"),
                     ("urAccepted", "-1"), ("urSeen", "3"), ("autoUpgradeIntervalH", "0"),
                     ("crashReportingEnabled", "false"), ("stunServer", ""),
                     ("stunKeepaliveStartS", "0"), ("stunKeepaliveMinS", "0"),
                     ("announceLANAddresses", "false"), ("restartOnWakeup", "false"),
                     ("reconnectionIntervalS", "1"), ("setLowPriority", "false"),
                     ("minHomeDiskFree", "0")):
            ET.SubElement(opts, k).text = v
        ET.ElementTree(cfg).write(os.path.join(self.home, "config.xml"))

    def start(self, timeout=60.0):
        self.proc = spawn([SYNCTHING, "serve", "--home", self.home, "--no-browser",
                           "--no-restart", "--no-upgrade", "--logflags=3",
                           "--gui-address", "http://127.0.0.1:%d" % self.gui_port,
                           "--gui-apikey", self.apikey], self.log, env=self.env)
        end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("syncthing %s exited with %d:\n%s" % (
                    self.name, self.proc.returncode, tail(self.log)))
            try:
                if self.api("GET", "/rest/system/ping", timeout=2).get("ping") == "pong":
                    return
            except (OSError, ValueError):
                pass
            if time.monotonic() > end:
                raise AssertionError("syncthing %s: no API after %.0fs:\n%s" % (
                    self.name, timeout, tail(self.log)))
            time.sleep(0.2)

    def stop(self):
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def api(self, method, path, body=None, timeout=120):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.gui_port, path),
                                     data=data, method=method,
                                     headers={"X-API-Key": self.apikey,
                                              "Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw.strip() else {}

    def scan(self, folder):
        """Rescan @folder now (the call returns when the scan is done)."""
        self.api("POST", "/rest/db/scan?folder=%s" % folder, timeout=600)

    def connected(self, other):
        c = self.api("GET", "/rest/system/connections")["connections"]
        return c.get(other.id, {}).get("connected", False)

    def pause(self, other):
        self.api("POST", "/rest/system/pause?device=%s" % other.id)

    def resume(self, other):
        self.api("POST", "/rest/system/resume?device=%s" % other.id)


def wait_connected(a, b, timeout=60.0):
    end = time.monotonic() + timeout
    while not (a.connected(b) and b.connected(a)):
        if time.monotonic() > end:
            raise AssertionError("syncthing %s and %s did not connect:\n%s\n%s" % (
                a.name, b.name, tail(a.log, 1500), tail(b.log, 1500)))
        time.sleep(0.2)


def wait_synced(insts, folder, timeout=300.0):
    """Scan @folder on every instance, then poll the REST API until each
    one is idle with nothing needed and every peer's completion is 100 %.
    Returns the seconds spent."""
    t0 = time.monotonic()
    for s in insts:
        s.scan(folder)
    end = t0 + timeout
    last = None
    while True:
        done = True
        for s in insts:
            st = s.api("GET", "/rest/db/status?folder=%s" % folder)
            last = (s.name, st.get("state"), st.get("needTotalItems"), st.get("error"))
            if st.get("state") != "idle" or st.get("needTotalItems") != 0:
                done = False
                break
            for o in insts:
                if o is s:
                    continue
                c = s.api("GET", "/rest/db/completion?folder=%s&device=%s" % (folder, o.id))
                last = (s.name, "completion of", o.name, c)
                if c.get("completion") != 100 or c.get("needItems") or c.get("needDeletes"):
                    done = False
                    break
            if not done:
                break
        if done:
            return time.monotonic() - t0
        if time.monotonic() > end:
            errs = []
            for s in insts:
                try:
                    errs.append(s.api("GET", "/rest/folder/errors?folder=%s" % folder))
                except (OSError, ValueError) as e:
                    errs.append(str(e))
            raise AssertionError("folder %s not in sync after %.0fs; last: %r; errors: %r" % (
                folder, timeout, last, errs))
        time.sleep(0.1)


# -------------------------------------------------------------- sshd, sshfs

class Sshd:
    """A throwaway sshd on a 127.0.0.1 port picked at run time: its own host
    key, one user key for the current user, key authentication only, the
    internal SFTP server; no PAM, no password. Started with start(), stopped
    with stop() (and at exit, with its process group)."""

    def __init__(self, ws):
        need("/usr/sbin/sshd", "ssh-keygen", "sshfs")
        self.dir = ws.mkdir("sshd", 0o700)
        self.log = os.path.join(self.dir, "sshd.log")
        self.hostkey = os.path.join(self.dir, "hostkey")
        self.userkey = os.path.join(self.dir, "userkey")
        for k in (self.hostkey, self.userkey):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "veilfs-test", "-f", k],
                check_rc=0)
        shutil.copy(self.userkey + ".pub", os.path.join(self.dir, "authorized_keys"))
        self.port = None
        self.proc = None

    def start(self, timeout=20.0):
        # sshd insists on its privilege separation directory (Debian makes
        # it at boot; a fresh container may lack it).
        if not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", 0o755, exist_ok=True)
        for _ in range(3):
            self.port = free_port()
            cfg = os.path.join(self.dir, "sshd_config")
            with open(cfg, "w") as f:
                f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s\n"
                        "AuthorizedKeysFile %s\nPasswordAuthentication no\n"
                        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
                        "UsePAM no\nStrictModes no\nPidFile none\nSubsystem sftp internal-sftp\n"
                        "LogLevel ERROR\n" % (self.port, self.hostkey,
                                               os.path.join(self.dir, "authorized_keys")))
            with open(self.hostkey + ".pub") as f:
                hk = " ".join(f.read().split()[:2])
            with open(os.path.join(self.dir, "known_hosts"), "w") as f:
                f.write("[127.0.0.1]:%d %s\n" % (self.port, hk))
            self.proc = spawn(["/usr/sbin/sshd", "-D", "-e", "-f", cfg], self.log)
            end = time.monotonic() + timeout
            while time.monotonic() < end and self.proc.poll() is None:
                try:
                    import socket
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.1)
            stop(self.proc)
        raise AssertionError("sshd did not start:\n%s" % tail(self.log))

    def stop(self):
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def sshfs(self, remote_dir, mnt, opts=(), timeout=30.0):
        """Mount @remote_dir at @mnt with sshfs -f (our child, own group);
        returns an object with unmount()."""
        o = ["IdentityFile=" + self.userkey, "IdentitiesOnly=yes",
             "UserKnownHostsFile=" + os.path.join(self.dir, "known_hosts"),
             "StrictHostKeyChecking=yes", "BatchMode=yes"] + list(opts)
        env = dict(os.environ, HOME=self.dir)
        log = os.path.join(self.dir, "sshfs.log")
        user = __import__("pwd").getpwuid(os.getuid()).pw_name
        p = spawn(["sshfs", "-f", "-p", str(self.port), "-o", ",".join(o),
                   "%s@127.0.0.1:%s" % (user, remote_dir), mnt], log, env=env)
        end = time.monotonic() + timeout
        while not rlib.is_fuse_mounted(mnt):
            if p.poll() is not None or time.monotonic() > end:
                stop(p)
                raise AssertionError("sshfs did not mount:\n%s" % tail(log))
            time.sleep(0.05)
        return SshfsMount(mnt, p)


class SshfsMount:
    def __init__(self, path, proc):
        self.path = path
        self.proc = proc
        # At exit (rlib's cleanup runs after this, atexit being LIFO): the
        # veilfs mounts that may sit on top first, then sshfs itself.
        import atexit
        atexit.register(self._at_exit)

    def _at_exit(self):
        for m in reversed(list(rlib._mounts)):
            m.unmount(quiet=True)
        self.unmount()

    def unmount(self):
        if self.proc is None:
            return
        end = time.monotonic() + 10
        while rlib.is_fuse_mounted(self.path):
            r = subprocess.run(["fusermount3", "-u", self.path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode == 0 or time.monotonic() > end:
                break
            time.sleep(0.2)
        if rlib.is_fuse_mounted(self.path):
            subprocess.run(["fusermount3", "-uz", self.path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        stop(self.proc)
        self.proc = None
