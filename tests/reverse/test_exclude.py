#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""'veilfs mount --reverse --exclude PATTERN': excluded paths are neither
listed nor reachable by their encrypted name (the names are learnt from a
mount without --exclude: the view is deterministic), and everything else is
there. Patterns: '*.tmp' (no slash: any base name, at any depth), 'cache'
(a directory name, anywhere: its whole subtree goes), 'sub/secret.txt' (with
a slash: that path from the root only).

Usage: test_exclude.py VEILFS
"""
import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rlib import (REVERSE_CONF, Rev, Skip, Tap, Workspace, check, check_eq, cipher_path_of,  # noqa: E402
                  describe, run, setup, walk, write_file)

veilfs = setup()
tap = Tap()
ws = Workspace()
rv = Rev(veilfs, ws)
plain = os.path.join(ws.path, "plain")

FILES = [
    "keep.txt", "a.tmp", "x.tmp.keep", "sub/keep.txt", "sub/b.tmp", "sub/secret.txt",
    "secret.txt", "other/sub/secret.txt", "cache/c1", "cache/deeper/c2", "sub/cache/c3",
    "cachet/kept", "notcache", "L" * 200 + ".tmp", "sub/" + "K" * 200, "d.TMP",
]
EXCLUDES = ["*.tmp", "cache", "sub/secret.txt"]
GONE = {"a.tmp", "sub/b.tmp", "sub/secret.txt", "cache", "cache/c1", "cache/deeper",
        "cache/deeper/c2", "sub/cache", "sub/cache/c3", "L" * 200 + ".tmp"}

for f in FILES:
    p = os.path.join(plain, f)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    write_file(p, ("content of %s\n" % f).encode())
rv.init_reverse(plain)
ALL = walk(plain, (REVERSE_CONF,))
check(GONE <= set(ALL), "self-check of GONE")
state = {}


def t_map():
    with rv.mount_reverse(plain) as m:
        state["cmap"] = {rel: cipher_path_of(plain, m.path, rel) for rel in ALL}
        state["full"] = set(walk(m.path))


def sidecar(cpath):
    return cpath + ".name" if os.path.basename(cpath).startswith("veilfs.ln.") else None


def expected_view():
    """Cipher paths of the full view minus the excluded entries (and their
    subtrees and long-name sidecars)."""
    cmap = state["cmap"]
    gone = set()
    for rel in GONE:
        gone.add(cmap[rel])
        if sidecar(cmap[rel]):
            gone.add(sidecar(cmap[rel]))
    out = set()
    for c in state["full"]:
        if any(c == g or c.startswith(g + "/") for g in gone):
            continue
        out.add(c)
    return out


def excl_args():
    return EXCLUDES


def t_listing():
    if "cmap" not in state:
        raise Skip("no map")
    with rv.mount_reverse(plain, excludes=excl_args()) as m:
        got = set(walk(m.path))
    want = expected_view()
    check_eq(sorted(got - want), [], "entries shown that should be excluded")
    check_eq(sorted(want - got), [], "entries missing from the view")


def t_lookup():
    if "cmap" not in state:
        raise Skip("no map")
    cmap = state["cmap"]
    with rv.mount_reverse(plain, excludes=excl_args()) as m:
        for rel in sorted(GONE):
            for c in filter(None, (cmap[rel], sidecar(cmap[rel]))):
                try:
                    os.lstat(m.p(c))
                    raise AssertionError("excluded %r reachable as %s" % (rel, c))
                except OSError as e:
                    check_eq(e.errno, errno.ENOENT, "errno of lstat(%s) (%r)" % (c, rel))
                try:
                    with open(m.p(c), "rb") as f:
                        f.read()
                    raise AssertionError("excluded %r readable as %s" % (rel, c))
                except OSError as e:
                    check(e.errno in (errno.ENOENT, errno.ENOTDIR), "open(%s): %s" % (c, e))
        for rel in ALL:
            if rel not in GONE:
                check(os.path.lexists(m.p(cmap[rel])), "kept %r not reachable" % rel)


def t_restore():
    if "cmap" not in state:
        raise Skip("no map")
    copy = os.path.join(ws.path, "copy")
    with rv.mount_reverse(plain, excludes=excl_args()) as m:
        run(["rsync", "-aH", m.path + "/", copy + "/"], check_rc=0)
    with rv.mount_forward(copy, ro=True) as f:
        got = describe(f.path, xattrs=False)
    want = {k: v for k, v in describe(plain, (REVERSE_CONF,), xattrs=False).items()
            if k not in GONE}
    # Directories lose entries, so only their modes can be compared; the
    # tuples of files and symlinks must match exactly.
    got = {k: (v[:2] if v[0] == 0o040000 else v) for k, v in got.items()}
    want = {k: (v[:2] if v[0] == 0o040000 else v) for k, v in want.items()}
    check_eq(sorted(got), sorted(want), "paths restored from the excluded view")
    check(got == want, "restored entries differ")


def t_anchored():
    # excluded() strips a leading '/', which reads as "anchored at the root"
    # (as in rsync and gitignore). Not promised by the issue: TODO point.
    if "cmap" not in state:
        raise Skip("no map")
    cmap = state["cmap"]
    with rv.mount_reverse(plain, excludes=["/keep.txt"]) as m:
        check(not os.path.lexists(m.p(cmap["keep.txt"])), "/keep.txt still shown")
        check(os.path.lexists(m.p(cmap["sub/keep.txt"])), "sub/keep.txt wrongly excluded")


def t_needs_reverse():
    mnt = ws.mkdir("mnt")
    r = run([veilfs, "mount", "--exclude", "*.tmp", plain, mnt], stdin=rv.pw + "\n", timeout=60)
    check(r.returncode != 0, "--exclude without --reverse accepted")
    check("exclude" in r.stderr, "message: %s" % r.stderr)


tap.run("full reverse view mapped (cipher name of every plaintext path)", t_map)
tap.run("--exclude '*.tmp' 'cache' 'sub/secret.txt': listing is the full view minus those",
        t_listing)
tap.run("excluded paths (and long-name sidecars) fail lookup by their encrypted names", t_lookup)
tap.run("a copy of the excluded view restores everything else exactly", t_restore)
tap.run("--exclude /keep.txt anchors at the root", t_anchored)
tap.run("--exclude without --reverse is refused", t_needs_reverse)
sys.exit(tap.done())
