#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Sync-conflict copies in a forward volume. A sync tool that finds two
versions of the cipher file ENC keeps the other one as
'ENC (conflicted copy 2026-01-01)' (Dropbox style) or
'ENC.sync-conflict-20260101-120000-ABC' (Syncthing style). When ENC's name
decrypts to report.txt, the mount and 'veilfs ls' show them as
'report.txt (conflicted copy 2026-01-01)' and
'report.txt.sync-conflict-20260101-120000-ABC', readable with the content of
the conflict file (here: the older version of report.txt).

Skipped while the veilfs binary knows nothing of conflict copies.
Usage: test_conflict.py VEILFS
"""
import errno
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rlib import (Rev, Skip, Tap, Workspace, binary_mentions, check, check_eq, read_file,  # noqa: E402
                  run, setup, write_file)

DROPBOX = " (conflicted copy 2026-01-01)"
SYNCTHING = ".sync-conflict-20260101-120000-ABC"
V1 = b"version one of the report\n" * 300          # 7800 bytes: two blocks
V2 = b"version TWO, edited on the other machine\n" * 50

veilfs = setup()
tap = Tap()
ws = Workspace()
rv = Rev(veilfs, ws)
cipher = os.path.join(ws.path, "cipher")
rv.init_forward(cipher)
FEATURE = binary_mentions(veilfs, "conflict")
state = {}


def cipher_entries(d):
    return [n for n in os.listdir(d) if not n.startswith("veilfs.")]


def t_setup():
    with rv.mount_forward(cipher) as m:
        os.mkdir(m.p("other"))
        write_file(m.p("other", "notes.md"), b"notes\n")
    oenc = cipher_entries(cipher)[0]
    onote = cipher_entries(os.path.join(cipher, oenc))[0]
    for suffix in (".bak", " (1)", ".orig", "~", " conflict", ".Conflict"):
        shutil.copy2(os.path.join(cipher, oenc, onote), os.path.join(cipher, oenc, onote + suffix))
    state["other"] = oenc
    with rv.mount_forward(cipher) as m:
        os.mkdir(m.p("sub"))
        write_file(m.p("report.txt"), V1)
        write_file(m.p("sub", "report.txt"), V1)
    enc = [e for e in cipher_entries(cipher) if e != state["other"]]
    check_eq(len(enc), 2, "cipher entries of the root")
    sub_enc = None
    for e in enc:
        if os.path.isdir(os.path.join(cipher, e)):
            sub_enc = e
    enc_file = [e for e in enc if e != sub_enc][0]
    v1_copy = os.path.join(ws.path, "v1.cipher")
    shutil.copy2(os.path.join(cipher, enc_file), v1_copy)
    # The other machine's edit lands in ENC; our older version becomes the
    # conflict copy (as a sync tool would do it).
    with rv.mount_forward(cipher) as m:
        write_file(m.p("report.txt"), V2)
    shutil.copy2(v1_copy, os.path.join(cipher, enc_file + DROPBOX))
    shutil.copy2(v1_copy, os.path.join(cipher, enc_file + SYNCTHING))
    # In a subdirectory: a plain copy of ENC as the conflict file.
    sub_file = [e for e in cipher_entries(os.path.join(cipher, sub_enc))][0]
    shutil.copy2(os.path.join(cipher, sub_enc, sub_file),
                 os.path.join(cipher, sub_enc, sub_file + SYNCTHING))
    # Junk next to them: still skipped.
    write_file(os.path.join(cipher, "not a cipher name (conflicted copy 2026-01-01)"), b"junk")
    write_file(os.path.join(cipher, "A" * 22 + SYNCTHING), b"junk")
    state["enc"] = enc_file


def need():
    if not FEATURE:
        raise Skip("sync-conflict display not implemented yet")
    if "enc" not in state:
        raise Skip("setup failed")


def t_mount_listing():
    need()
    with rv.mount_forward(cipher, ro=True) as m:
        names = sorted(os.listdir(m.path))
        check_eq(names, sorted(["report.txt", "report.txt" + DROPBOX, "report.txt" + SYNCTHING, "sub",
                                "other"]),
                 "root listing")
        check_eq(sorted(os.listdir(m.p("sub"))), ["report.txt", "report.txt" + SYNCTHING],
                 "sub listing")


def t_mount_content():
    need()
    with rv.mount_forward(cipher, ro=True) as m:
        check(read_file(m.p("report.txt")) == V2, "report.txt is not the current version")
        for suffix in (DROPBOX, SYNCTHING):
            p = m.p("report.txt" + suffix)
            check_eq(os.stat(p).st_size, len(V1), "st_size of report.txt" + suffix)
            check(read_file(p) == V1, "report.txt%s does not hold the conflict copy's content" % suffix)
        check(read_file(m.p("sub", "report.txt" + SYNCTHING)) == V1, "sub/ conflict copy content")
        # A conflict name for a file that does not exist is not there.
        try:
            os.stat(m.p("nothere.txt" + DROPBOX))
            raise AssertionError("lookup of a made-up conflict name succeeded")
        except OSError as e:
            check_eq(e.errno, errno.ENOENT, "errno of a made-up conflict name")


def ls_names(d):
    r = rv.cmd("ls", cipher, d)
    check_eq(r.returncode, 0, "veilfs ls %s exit (%s)" % (d, r.stderr))
    return [re.match(r"^\S+\s+\d+ (.*)$", ln).group(1) for ln in r.stdout.splitlines()]


def t_consistent():
    # Whatever other copies of a cipher file are shown as, every name a
    # listing shows can be looked up and read.
    need()
    with rv.mount_forward(cipher, ro=True) as m:
        names = os.listdir(m.p("other"))
    # The kernel mixes readdirplus and readdir, so the mount's listing alone
    # is not a stable oracle: take 'veilfs ls' too.
    names = sorted(set(names) | set(ls_names("other")))
    # A fresh mount, so each lookup reaches the daemon (readdirplus would
    # have filled the kernel's dentry cache).
    with rv.mount_forward(cipher, ro=True) as m:
        check("notes.md" in names, "notes.md missing: %r" % names)
        check_eq(len(names), len(set(names)), "duplicate names in %r" % names)
        bad = []
        for n in names:
            try:
                st = os.lstat(m.p("other", n))
                with open(m.p("other", n), "rb") as f:
                    if f.read() != b"notes\n" or st.st_size != 6:
                        bad.append("%r: wrong content or size" % n)
            except OSError as e:
                bad.append("%r: %s" % (n, e.strerror))
        check(not bad, "listed in other/ %r but: %s" % (sorted(names), "; ".join(bad)))


def t_offline_ls():
    need()
    r = rv.cmd("ls", cipher)
    check_eq(r.returncode, 0, "veilfs ls exit (%s)" % r.stderr)
    for n in ("report.txt" + DROPBOX, "report.txt" + SYNCTHING):
        check(n in r.stdout, "veilfs ls does not list %r:\n%s" % (n, r.stdout))


def t_ls_matches_mount():
    need()
    offline = sorted(ls_names("other"))
    with rv.mount_forward(cipher, ro=True) as m:
        mounted = sorted(os.listdir(m.p("other")))
    check_eq(offline, mounted, "names listed by 'veilfs ls' vs. the mount")


def t_offline_cat():
    need()
    for suffix in (DROPBOX, SYNCTHING):
        r = run([veilfs, "cat", "--passfile", rv.passfile, cipher, "report.txt" + suffix])
        check_eq(r.returncode, 0, "veilfs cat report.txt%s exit (%s)" % (suffix, r.stderr))
        check(r.stdout.encode() == V1, "veilfs cat report.txt%s content" % suffix)


def t_rw_mount_untouched():
    need()
    before = sorted(os.listdir(cipher))
    with rv.mount_forward(cipher) as m:
        check(read_file(m.p("report.txt" + DROPBOX)) == V1, "content through a rw mount")
        write_file(m.p("other.txt"), b"x")
        os.unlink(m.p("other.txt"))
    check_eq(sorted(os.listdir(cipher)), before, "cipher root after a rw mount")


tap.run("forward volume with report.txt, its conflict copies and junk", t_setup)
tap.run("mount lists report.txt with both conflict copies, junk skipped", t_mount_listing)
tap.run("conflict copies read with the conflict file's content", t_mount_content)
tap.run("every name listed (mount or veilfs ls) next to copies of a cipher file opens in the mount",
        t_consistent)
tap.run("veilfs ls lists the conflict copies", t_offline_ls)
tap.run("veilfs ls and the mount show the same names next to copies of a cipher file",
        t_ls_matches_mount)
tap.run("veilfs cat reads the conflict copies that veilfs ls lists", t_offline_cat)
tap.run("a read-write mount leaves the conflict files as they are", t_rw_mount_untouched)
sys.exit(tap.done())
