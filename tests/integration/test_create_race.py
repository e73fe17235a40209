#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A create raced by a hard link (the daemon runs as root, the caller is
'nobody' on an allow_other mount).

The shim tests/cli/swap_preload.c, preloaded into the daemon, hard-links a
root-owned 0600 file to the backing name just before the daemon's create
opens it, as a local attacker who can write the cipher directory would
(that needs fs.protected_hardlinks=0 or a file of the attacker's own; the
shim runs as root). Without O_EXCL the daemon opened that file and chowned
it to the caller. Now the create uses O_EXCL, falls back to opening the
existing file, and never chowns it.

usage: test_create_race.py VEILFS SWAP_PRELOAD
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check_eq  # noqa: E402

NOBODY_PY = "/usr/bin/python3"


def main():
    veilfs, args = vfs.setup(usage="VEILFS SWAP_PRELOAD", nargs=1)
    shim = os.path.abspath(args[0])
    if os.geteuid() != 0:
        vfs.skip_all("needs root (a root daemon, a caller that is not root)")
    if not shutil.which("setpriv") or not os.access(NOBODY_PY, os.X_OK):
        vfs.skip_all("needs setpriv and %s" % NOBODY_PY)
    tap = vfs.Tap()
    ws = vfs.Workspace()
    os.chmod(ws.path, 0o755)
    vol = vfs.Volume(ws, veilfs)
    victim = os.path.join(ws.path, "victim")
    vfs.write_file(victim, b"root only\n", 0o600)
    os.chmod(victim, 0o600)
    log = os.path.join(ws.path, "creates.log")
    env = {"LD_PRELOAD": shim, "VEIL_PLANT_LINK": victim, "VEIL_CREATE_LOG": log,
           "ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
           .lstrip(":")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        m = vol.mount(ws.mkdir("mnt"), fg=True, opts=["allow_other"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        os.chmod(m.path, 0o755)
        pub = m.p("pub")
        os.mkdir(pub)
        os.chmod(pub, 0o777)

        def create_as_nobody():
            r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                NOBODY_PY, "-c",
                                "import os,sys\ntry:\n os.close(os.open(sys.argv[1], "
                                "os.O_CREAT | os.O_WRONLY, 0o644))\nexcept OSError as e:\n"
                                " print(e)", os.path.join(pub, "new")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", timeout=60,
                               env={"PATH": "/usr/bin:/bin"})
            tap.diag("create as nobody: rc %d %s" % (r.returncode, r.stdout.decode().strip()))
            with open(log) as f:
                check_eq(f.read(), "excl\n", "the shim planted a link before one create open")
        tap.run("nobody creates a file while a hard link is planted at its backing name",
                create_as_nobody)

        def victim_kept():
            st = os.stat(victim)
            check_eq((st.st_uid, st.st_gid, oct(st.st_mode & 0o7777)), (0, 0, "0o600"),
                     "owner and mode of the planted file")
        tap.run("the planted file was not given to the caller", victim_kept)

        def normal_create():
            r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                NOBODY_PY, "-c",
                                "import os,sys\nos.close(os.open(sys.argv[1], "
                                "os.O_CREAT | os.O_WRONLY, 0o644))", os.path.join(pub, "mine")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", timeout=60,
                               env={"PATH": "/usr/bin:/bin"})
            check_eq(r.returncode, 0, "create as nobody (stderr %s)" % r.stderr.decode())
            st = os.stat(os.path.join(pub, "mine"))
            check_eq((st.st_uid, st.st_gid), (65534, 65534), "owner of a file nobody created")
        tap.run("an ordinary create still gives the new file to the caller", normal_create)
    finally:
        m.unmount(quiet=True)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
