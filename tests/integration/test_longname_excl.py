#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Two mounts of one cipher dir O_EXCL-create the same long name (the
lock-file idiom): the loser must not remove the winner's sidecar.

The race, made deterministic: the file is created once through a mount
(the winner's object and sidecar), the object is moved aside and the
sidecar removed. A second daemon runs with tests/cli/swap_preload.c,
which hard-links the winner's object back to its backing name just
before that daemon's O_CREAT|O_EXCL open, i.e. after its check found no
object and after it wrote the sidecar: exactly where another mount's
create lands in the real race. The create must fail with EEXIST and the
name must still be listed and read back the winner's bytes. The daemon
used to unlink the sidecar on that EEXIST, so the winner's file vanished
from listings (and fsck moved it to lost+found, unnamed).

usage: test_longname_excl.py VEILFS SWAP_PRELOAD
"""
import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq  # noqa: E402

NAME = "lock-" + "L" * 215
SIDECAR = ".name"
WINNER = b"the winner's lock file\n"


def main():
    veilfs, args = vfs.setup(usage="VEILFS SWAP_PRELOAD", nargs=1)
    shim = os.path.abspath(args[0])
    tap = vfs.Tap()
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)

    m = vol.mount(ws.mkdir("mnt-a"))
    try:
        fd = os.open(m.p(NAME), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.write(fd, WINNER)
        os.close(fd)
    finally:
        m.unmount(quiet=True)
    longs = [e for e in os.listdir(vol.dir)
             if not e.endswith(SIDECAR) and os.path.exists(vol.c(e + SIDECAR))]
    check_eq(len(longs), 1, "long-name objects in the cipher root")
    backing = longs[0]
    winner = os.path.join(ws.path, "winner.obj")
    os.rename(vol.c(backing), winner)
    os.unlink(vol.c(backing + SIDECAR))

    log = os.path.join(ws.path, "creates.log")
    env = {"LD_PRELOAD": shim, "VEIL_PLANT_LINK": winner, "VEIL_CREATE_LOG": log,
           "ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
           .lstrip(":")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        m = vol.mount(ws.mkdir("mnt-b"))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        def loser_create():
            e = vfs.errno_of(os.open, m.p(NAME), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with open(log) as f:
                check_eq(f.read(), "excl\n", "the shim planted the object before one create open")
            check_eq(vfs.errno_name(e), "EEXIST",
                     "O_EXCL create of a name another mount just created")
            os.unlink(winner)
        tap.run("the losing O_EXCL create fails with EEXIST", loser_create)

        def sidecar_kept():
            check(os.path.exists(vol.c(backing + SIDECAR)),
                  "the sidecar of the winner's object is still there")
        tap.run("the winner's sidecar is kept", sidecar_kept)

        def still_listed():
            check(NAME in os.listdir(m.path), "the name is listed")
            check_eq(vfs.read_file(m.p(NAME)), WINNER, "content of the winner's file")
        tap.run("the winner's file is listed and reads back", still_listed)
    finally:
        m.unmount(quiet=True)

    def fsck_clean():
        passfile = vol.passfile()
        r = vfs.run([veilfs, "fsck", "--passfile", passfile, vol.dir])
        check_eq(r.returncode, 0, "fsck of the volume:\n" + r.stdout + r.stderr)
    tap.run("fsck finds nothing to move to lost+found", fsck_clean)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
