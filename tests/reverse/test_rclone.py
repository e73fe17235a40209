#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Cloud-style round trip through rclone: reverse view -> 'rclone sync' to a
local WebDAV server ('rclone serve webdav' on 127.0.0.1) -> 'rclone sync'
back into a fresh directory -> forward mount == the plaintext (diff -r:
names and contents; symlinks travel as .rclonelink files with --links).
rclone keeps neither modes nor hard links, so only names, contents and
symlink targets are compared. The server side must hold no plaintext name
or content.

Needs the Debian package rclone (fails, naming it, without it).
Usage: test_rclone.py VEILFS
"""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rlib import (REVERSE_CONF, Rev, Skip, Tap, need, Workspace, check, diff_r, free_port,  # noqa: E402
                  run, setup, stop, track, walk, write_file)
from tree import ODD_NAMES, make_tree  # noqa: E402

MARKER = b"PLAINTEXT-MARKER-7f3c1e0a9b"

veilfs = setup()
tap = Tap()
ws = Workspace()
rv = Rev(veilfs, ws)
rclone = shutil.which("rclone")
plain = os.path.join(ws.path, "plain")
served = os.path.join(ws.path, "served")
back = os.path.join(ws.path, "back")
os.mkdir(served)
make_tree(plain, big=False)
write_file(os.path.join(plain, "marker.txt"), MARKER * 100)
rv.init_reverse(plain)
env = dict(os.environ, RCLONE_CONFIG=os.path.join(ws.path, "rclone.conf"))
with open(env["RCLONE_CONFIG"], "w") as f:
    f.write("")
state = {}


def wait_port(port, proc, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError("rclone serve exited with %d" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("rclone serve webdav did not answer on port %d" % port)


def rc(*args):
    return run([rclone, "--links", "--retries", "1", "--low-level-retries", "3",
                "--config", env["RCLONE_CONFIG"]] + list(args), env=env, timeout=300)


def t_roundtrip():
    if not rclone:
        need("rclone")
    log = open(os.path.join(ws.path, "rclone-serve.log"), "wb")
    server = None
    for attempt in range(3):
        port = free_port()
        server = track(subprocess.Popen(
            [rclone, "serve", "webdav", "--config", env["RCLONE_CONFIG"],
             "--addr", "127.0.0.1:%d" % port, served],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env))
        try:
            wait_port(port, server)
            break
        except AssertionError:
            stop(server)
            if attempt == 2:
                raise
    log.close()
    with open(env["RCLONE_CONFIG"], "w") as f:
        f.write("[dav]\ntype = webdav\nurl = http://127.0.0.1:%d/\nvendor = other\n" % port)
    remote = "dav:"
    try:
        with rv.mount_reverse(plain) as view:
            r = rc("sync", view.path, remote)
            check(r.returncode == 0, "rclone sync to webdav: exit %d\n%s" % (r.returncode, r.stderr[-3000:]))
        r = rc("sync", remote, back)
        check(r.returncode == 0, "rclone sync back: exit %d\n%s" % (r.returncode, r.stderr[-3000:]))
    finally:
        stop(server)
    state["back"] = back


def t_forward():
    if "back" not in state:
        raise Skip("rclone round trip failed or skipped")
    with rv.mount_forward(back, ro=True) as m:
        diff_r(plain, m.path, (REVERSE_CONF, "fifo"))  # rclone carries no fifo


def t_no_plaintext():
    if "back" not in state:
        raise Skip("rclone round trip failed or skipped")
    names = set()
    for rel in walk(plain, (REVERSE_CONF,)):
        names.update(rel.split("/"))
    leaked = []
    for rel in walk(served):
        for part in rel.split("/"):
            if part in names and part not in ("x", "--") and not part.startswith("veilfs."):
                leaked.append(rel)
        p = os.path.join(served, rel)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                if MARKER in f.read():
                    leaked.append(rel + " (content)")
    check(not leaked, "plaintext on the server: %r" % leaked[:10])
    check(any(n in names for n in ODD_NAMES), "self-check")


tap.run("rclone sync view -> webdav -> fresh dir succeeds", t_roundtrip)
tap.run("forward mount of the rclone copy: diff -r against the plaintext", t_forward)
tap.run("no plaintext name or content on the webdav side", t_no_plaintext)
sys.exit(tap.done())
