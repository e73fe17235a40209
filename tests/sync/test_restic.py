#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Backups of a reverse view with restic (local repository).

A plaintext tree of a few thousand files (plus a 24 MiB file, hard links,
symlinks, xattrs) is shown as ciphertext by 'veilfs mount --reverse' and
backed up with restic three times:

1. the first backup adds about the tree's ciphertext;
2. again, unchanged: restic adds no data;
3. after changing 4 KiB in one block of the 24 MiB file: restic adds about
   one chunk (restic cuts at content-defined boundaries, 0.5-8 MiB), not
   the whole file's ciphertext and not the tree's.

The latest snapshot is restored into a directory, which 'veilfs export'
decrypts: identical to the source tree (contents, modes, times, symlinks,
hard links, xattrs). The three "added to the repository" figures are
printed.

Needs the Debian package restic (skips without it).
Usage: test_restic.py VEILFS
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slib  # noqa: E402
from slib import Skip, check, make_tree  # noqa: E402
from rlib import (REVERSE_CONF, Rev, Tap, Workspace, check_same, describe, hardlink_groups,  # noqa: E402
                  run, setup, write_file)

MIB = 1 << 20
BIG = 24 * MIB

veilfs = setup()
tap = Tap()
ws = Workspace(prefix="veilfs-restic-")
rv = Rev(veilfs, ws)
restic = shutil.which("restic")
plain = os.path.join(ws.path, "plain")
repo = os.path.join(ws.path, "repo")
state = {"added": []}
env = dict(os.environ, HOME=ws.path, RESTIC_CACHE_DIR=os.path.join(ws.path, "restic-cache"))
for k in ("RESTIC_PASSWORD", "RESTIC_REPOSITORY", "RESTIC_PASSWORD_COMMAND"):
    env.pop(k, None)
pwfile = os.path.join(ws.path, "restic-password")
with open(pwfile, "w") as f:
    f.write("restic test repository password\n")


def restic_cmd(*args, cwd=None, timeout=600):
    r = run([restic, "--repo", repo, "--password-file", pwfile, "--no-lock"] + list(args),
            env=env, cwd=cwd, timeout=timeout)
    check(r.returncode == 0, "restic %s: exit %d\n%s\n%s" % (
        " ".join(args), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return r


def backup(tag):
    """Back up the reverse view of the plaintext; returns restic's summary
    (data_added is what 'Added to the repository' counts). One mount for
    all three backups: restic records each node's st_dev, and a new FUSE
    mount may get another device number, which changes every tree blob
    (no file data) -- a fact of restic on any FUSE file system."""
    if "view" not in state:
        mnt = os.path.join(ws.path, "view")
        os.makedirs(mnt, exist_ok=True)
        state["view"] = rv.mount_reverse(plain, mnt)
    r = restic_cmd("backup", "--json", "--host", "veilfs-test", "--tag", tag, ".",
                   cwd=state["view"].path)
    summary = None
    for line in r.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("message_type") == "summary":
            summary = msg
    check(summary is not None, "no summary in restic's output:\n%s" % r.stdout[-2000:])
    state["added"].append(summary["data_added"])
    tap.diag("backup %s: %d files new, %d changed, %d unmodified; added to the repository: "
             "%d bytes (%.3f MiB)" % (tag, summary["files_new"], summary["files_changed"],
                                      summary["files_unmodified"], summary["data_added"],
                                      summary["data_added"] / MIB))
    return summary


def t_first():
    if not restic:
        raise Skip("restic not installed (apt-get install restic)")
    n = make_tree(plain, ndirs=30, per_dir=70)
    big = os.path.join(plain, "dir-00", "big.bin")
    write_file(big, slib.random.Random(7).randbytes(BIG))
    os.link(big, os.path.join(plain, "big-link.bin"))
    os.link(os.path.join(plain, "dir-01", "file 001.txt"), os.path.join(plain, "dir-02", "hl"))
    os.setxattr(os.path.join(plain, "dir-00", "file 002.txt"), "user.note", b"kept by restic")
    rv.init_reverse(plain)
    restic_cmd("init")
    s = backup("first")
    state["files"] = n
    check(s["files_new"] >= n, "restic saw %d new files, want >= %d" % (s["files_new"], n))
    check(s["data_added"] > BIG, "first backup added only %d bytes" % s["data_added"])


def t_unchanged():
    if len(state["added"]) != 1:
        raise Skip("first backup failed or skipped")
    s = backup("unchanged")
    check(s["data_added"] == 0, "an unchanged tree added %d bytes" % s["data_added"])
    check(s["files_new"] == 0 and s["files_changed"] == 0,
          "unchanged tree: %d new, %d changed files" % (s["files_new"], s["files_changed"]))


def t_one_block():
    if len(state["added"]) != 2:
        raise Skip("earlier backups failed or skipped")
    big = os.path.join(plain, "dir-00", "big.bin")
    st = os.stat(big)
    with open(big, "r+b") as f:
        f.seek(13 * MIB)  # block-aligned: exactly one 4 KiB block changes
        f.write(b"\xa5" * 4096)
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    s = backup("one-block")
    check(s["files_changed"] == 2, "%d files changed, want 2 (the file and its hard link)"
          % s["files_changed"])
    # One chunk of the big file's ciphertext (at most 8 MiB by restic's
    # chunker) plus a few tree blobs: far less than the file.
    check(s["data_added"] < 9 * MIB,
          "one changed block added %d bytes (the file's ciphertext is %d)" % (s["data_added"], BIG))


def t_restore():
    if len(state["added"]) != 3:
        raise Skip("backups failed or skipped")
    restored = os.path.join(ws.path, "restored")
    out = os.path.join(ws.path, "exported")
    restic_cmd("restore", "latest", "--target", restored)
    check(os.path.exists(os.path.join(restored, "veilfs.conf")), "no header in the snapshot")
    r = rv.cmd("export", restored, out)
    check(r.returncode == 0, "veilfs export: exit %d\n%s" % (r.returncode, r.stderr[-2000:]))
    want = describe(plain, (REVERSE_CONF,))
    got = describe(out)
    check_same(got, want, "exported restic restore and source")
    check(hardlink_groups(out) == hardlink_groups(plain, (REVERSE_CONF,)),
          "hard links: %r != %r" % (hardlink_groups(out), hardlink_groups(plain, (REVERSE_CONF,))))


try:
    tap.run("restic backup of a reverse view of a few thousand files", t_first)
    tap.run("second backup, unchanged tree: restic adds no data", t_unchanged)
    tap.run("one 4 KiB block changed in a 24 MiB file: restic adds about one chunk",
            t_one_block)
finally:
    if "view" in state:
        state["view"].unmount(quiet=True)
tap.run("restic restore + veilfs export equals the source tree", t_restore)
if len(state["added"]) == 3:
    tap.diag("restic 'added to the repository' figures: %s bytes" % ", ".join(
        "%d" % a for a in state["added"]))
sys.exit(tap.done())
