#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Permissions for a second user with '-o allow_other' (which implies
default_permissions), compared with a plain directory.

usage: test_perms.py VEILFS

Needs root (to mount for another user and to switch to 'nobody' with
setpriv from util-linux: fails, naming it, without it); skips when not root.
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, write_file  # noqa: E402

NOBODY_PY = "/usr/bin/python3"

# Runs as nobody; prints {check: result} as JSON. Results are errno names
# or values, so two trees can be compared.
PROBE = r'''
import errno, json, os, sys
base = sys.argv[1]
j = lambda *p: os.path.join(base, *p)
res = {}
def run(name, fn):
    try:
        v = fn()
        res[name] = ["OK", v]
    except OSError as e:
        res[name] = [errno.errorcode.get(e.errno, str(e.errno)), None]
def rd(p):
    with open(p, "rb") as f:
        return f.read().decode()
def wr(p, flags=os.O_WRONLY):
    fd = os.open(p, flags, 0o644)
    os.write(fd, b"nobody")
    os.close(fd)
    st = os.stat(p)
    return [st.st_uid, st.st_gid, oct(st.st_mode)]
run("stat root", lambda: oct(os.stat(base).st_mode))
run("read 0644", lambda: rd(j("public")))
run("read 0600", lambda: rd(j("secret")))
run("write 0644", lambda: wr(j("public")))
run("write 0666", lambda: wr(j("world-writable")))
run("list 0700 dir", lambda: sorted(os.listdir(j("privdir"))))
run("stat in 0700 dir", lambda: os.stat(j("privdir", "file")).st_size)
run("list 0755 dir", lambda: sorted(os.listdir(j("rootdir"))))
run("create in 0755 root dir", lambda: wr(j("rootdir", "mine"), os.O_WRONLY | os.O_CREAT))
run("create in 0777 dir", lambda: wr(j("pubdir", "mine"), os.O_WRONLY | os.O_CREAT))
run("mkdir in 0777 dir", lambda: (os.mkdir(j("pubdir", "mydir"), 0o750), oct(os.stat(j("pubdir", "mydir")).st_mode), os.stat(j("pubdir", "mydir")).st_uid)[1:])
run("rename own file", lambda: os.rename(j("pubdir", "mine"), j("pubdir", "mine2")))
run("unlink root file in 0755 dir", lambda: os.unlink(j("public")))
run("unlink root file in sticky dir", lambda: os.unlink(j("sticky", "rootfile")))
run("create in sticky dir", lambda: wr(j("sticky", "nobodyfile"), os.O_WRONLY | os.O_CREAT))
run("unlink own file in sticky dir", lambda: os.unlink(j("sticky", "nobodyfile")))
run("chmod root file", lambda: os.chmod(j("public"), 0o666))
run("chmod own file", lambda: (os.chmod(j("pubdir", "mine2"), 0o600), oct(os.stat(j("pubdir", "mine2")).st_mode))[1])
run("chown own file to root", lambda: os.chown(j("pubdir", "mine2"), 0, 0))
run("utime now on root file", lambda: os.utime(j("public")))
run("utime explicit on root file", lambda: os.utime(j("public"), (1, 1)))
run("utime now on 0666 root file", lambda: os.utime(j("world-writable")))
run("truncate 0644 root file", lambda: os.truncate(j("public"), 0))
run("setxattr on root file", lambda: os.setxattr(j("public"), "user.x", b"1"))
run("getxattr on 0644 root file", lambda: os.getxattr(j("public"), "user.root").decode())
run("getxattr on 0600 root file", lambda: os.getxattr(j("secret"), "user.root").decode())
run("exec 0700 root script", lambda: os.access(j("script"), os.X_OK))
run("access R_OK 0600", lambda: os.access(j("secret"), os.R_OK))
run("readlink", lambda: os.readlink(j("link")))
run("follow link to 0600", lambda: rd(j("link")))
print(json.dumps(res, sort_keys=True))
'''


def populate(base):
    os.chmod(base, 0o755)
    write_file(os.path.join(base, "public"), b"public", 0o644)
    os.chmod(os.path.join(base, "public"), 0o644)
    write_file(os.path.join(base, "secret"), b"secret", 0o600)
    os.chmod(os.path.join(base, "secret"), 0o600)
    write_file(os.path.join(base, "world-writable"), b"ww", 0o666)
    os.chmod(os.path.join(base, "world-writable"), 0o666)
    os.setxattr(os.path.join(base, "public"), "user.root", b"pub")
    os.setxattr(os.path.join(base, "secret"), "user.root", b"sec")
    os.mkdir(os.path.join(base, "privdir"), 0o700)
    write_file(os.path.join(base, "privdir", "file"), b"hidden")
    os.mkdir(os.path.join(base, "rootdir"), 0o755)
    write_file(os.path.join(base, "rootdir", "x"), b"x")
    os.mkdir(os.path.join(base, "pubdir"))
    os.chmod(os.path.join(base, "pubdir"), 0o777)
    os.mkdir(os.path.join(base, "sticky"))
    os.chmod(os.path.join(base, "sticky"), 0o1777)
    write_file(os.path.join(base, "sticky", "rootfile"), b"r", 0o666)
    os.chmod(os.path.join(base, "sticky", "rootfile"), 0o666)
    write_file(os.path.join(base, "script"), b"#!/bin/sh\nexit 0\n", 0o700)
    os.chmod(os.path.join(base, "script"), 0o700)
    os.symlink("secret", os.path.join(base, "link"))


def as_nobody(base):
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        NOBODY_PY, "-c", PROBE, base], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, cwd="/", timeout=60, env={"PATH": "/usr/bin:/bin"})
    if r.returncode != 0:
        raise AssertionError("probe as nobody failed (%d): %s" % (r.returncode, r.stderr.decode()))
    return json.loads(r.stdout)


def main():
    veilfs, _ = vfs.setup()
    if os.geteuid() != 0:
        vfs.skip_all("needs root (mount for another user, setpriv)")
    if not shutil.which("setpriv"):
        vfs.fail_all(vfs.MISSING % "setpriv")
    if not os.access(NOBODY_PY, os.X_OK):
        vfs.skip_all("needs %s" % NOBODY_PY)
    tap = vfs.Tap()
    ws = vfs.Workspace()
    os.chmod(ws.path, 0o755)
    vol = vfs.Volume(ws, veilfs)
    plain = ws.mkdir("plain")
    mnt = ws.mkdir("mnt")
    m = vol.mount(mnt, fg=True, opts=["allow_other"])
    try:
        tap.run("populate as root (plain dir and mount)", lambda: (populate(plain), populate(mnt)))
        got = {}

        def probe():
            got["plain"] = as_nobody(plain)
            got["mnt"] = as_nobody(mnt)
        tap.run("probes run as nobody", probe)
        if "mnt" in got:
            p, q = got["plain"], got["mnt"]
            tap.ok(q["read 0600"][0] == "EACCES", "nobody cannot read a 0600 root file", str(q["read 0600"]))
            tap.ok(q["read 0644"] == ["OK", "public"], "nobody reads a 0644 root file", str(q["read 0644"]))
            tap.ok(q["create in 0777 dir"][0] == "OK" and q["create in 0777 dir"][1][:2] == [65534, 65534],
                   "a file nobody creates belongs to nobody:nogroup", str(q["create in 0777 dir"]))
            for k in sorted(p):
                tap.ok(q.get(k) == p[k], "as nobody, %s: same as a plain dir" % k,
                       "mount: %s, plain dir: %s" % (q.get(k), p[k]))
        # who owns what in the cipher dir is not the question here; the
        # mount's view after remount is
        def after_remount():
            nonlocal m
            m.unmount()
            m = vol.mount(mnt, fg=True, opts=["allow_other"])
            st = os.stat(os.path.join(mnt, "pubdir", "mine2"))
            sp = os.stat(os.path.join(plain, "pubdir", "mine2"))
            check_eq((st.st_uid, st.st_gid, oct(st.st_mode)), (sp.st_uid, sp.st_gid, oct(sp.st_mode)),
                     "owner and mode of nobody's file after remount")
        tap.run("ownership of nobody's file survives a remount", after_remount)
        mopts = vfs.mount_entry(mnt)[3]
        tap.diag("mount options: " + mopts)
        tap.ok("allow_other" in mopts or "default_permissions" in mopts,
               "mountinfo shows allow_other/default_permissions", mopts)
    finally:
        m.unmount(quiet=True)

    def no_allow_other():
        mnt2 = ws.mkdir("mnt")
        m2 = vol.mount(mnt2, fg=True)
        try:
            r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                NOBODY_PY, "-c", "import os,sys\ntry:\n os.stat(sys.argv[1]+'/public')\n print('OK')\n"
                                "except OSError as e:\n print(e.errno)", mnt2],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", timeout=60)
            check_eq(r.stdout.decode().strip(), "13", "nobody's stat on a mount without allow_other")
        finally:
            m2.unmount()
    tap.run("without allow_other another user gets EACCES", no_allow_other)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
