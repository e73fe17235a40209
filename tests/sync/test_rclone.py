#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""rclone on both sides of veilfs.

Forward: a cipher directory (filled through a mount) is copied with
'rclone sync' to a local remote and back into a fresh directory; 'rclone
check' finds the copies equal, and the restored directory mounts and shows
the source tree (names, contents, symlink targets: rclone keeps neither
modes nor hard links; symlinks travel as .rclonelink files with --links).

Reverse: 'rclone sync' of a reverse view to a local remote, then again from
a fresh mount of the unchanged view: the second run transfers nothing.

Needs the Debian package rclone (skips without it).
Usage: test_rclone.py VEILFS
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slib import Skip, check, make_tree  # noqa: E402
from rlib import Rev, Tap, Workspace, diff_r, run, setup  # noqa: E402

veilfs = setup()
tap = Tap()
ws = Workspace(prefix="veilfs-rclone-")
rv = Rev(veilfs, ws)
rclone = shutil.which("rclone")
conf = os.path.join(ws.path, "rclone.conf")
with open(conf, "w") as f:
    f.write("")
env = dict(os.environ, RCLONE_CONFIG=conf, HOME=ws.path)


def rc(*args):
    r = run([rclone, "--config", conf, "--links", "--retries", "1", "--low-level-retries", "2",
             "-v"] + list(args), env=env, timeout=600)
    check(r.returncode == 0, "rclone %s: exit %d\n%s" % (" ".join(args), r.returncode,
                                                         r.stderr[-3000:]))
    return r


def copied(r):
    """Files rclone says it transferred (INFO lines, -v)."""
    return [ln for ln in r.stderr.splitlines()
            if re.search(r"INFO\s*:.*: (Copied|Updated|Moved|Deleted)", ln)]


def t_forward():
    if not rclone:
        raise Skip("rclone not installed (apt-get install rclone)")
    src = os.path.join(ws.path, "src")
    cipher = os.path.join(ws.path, "cipher")
    remote = os.path.join(ws.path, "remote")
    back = os.path.join(ws.path, "back")
    make_tree(src, ndirs=10, per_dir=30)
    rv.init_forward(cipher)
    with rv.mount_forward(cipher) as m:
        run(["cp", "-a", "--", src + "/.", m.path], check_rc=0, timeout=600)
    rc("sync", cipher, remote)
    rc("sync", remote, back)
    rc("check", cipher, remote)
    rc("check", remote, back)
    with rv.mount_forward(back, ro=True) as m:
        diff_r(src, m.path)


def t_reverse_twice():
    if not rclone:
        raise Skip("rclone not installed (apt-get install rclone)")
    plain = os.path.join(ws.path, "plain")
    remote = os.path.join(ws.path, "remote-rev")
    make_tree(plain, ndirs=10, per_dir=30, seed=5)
    rv.init_reverse(plain)
    with rv.mount_reverse(plain) as view:
        first = copied(rc("sync", view.path, remote))
    check(len(first) > 300, "first sync copied only %d files" % len(first))
    with rv.mount_reverse(plain) as view:
        second = copied(rc("sync", view.path, remote))
        rc("check", view.path, remote)
    check(not second, "second sync of an unchanged view transferred: %r" % second[:10])
    tap.diag("reverse view: first rclone sync transferred %d files, the second %d" % (
        len(first), len(second)))


tap.run("rclone sync cipher dir -> remote -> fresh dir; rclone check; mount equals source",
        t_forward)
tap.run("rclone sync of a reverse view twice: the second transfers nothing", t_reverse_twice)
sys.exit(tap.done())
