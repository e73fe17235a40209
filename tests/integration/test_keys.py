#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Keys and recovery with real mounts.

- recover: a populated volume's header is deleted, then overwritten with
  random bytes; after 'veilfs recover' with the recovery key init printed,
  the mounted tree is identical (diff -r, plus modes, links, xattrs) to
  the plaintext original. A key with one character changed is refused
  with its group named.
- key add / key remove while the volume is mounted do not disturb it.
- rekey: a volume of a few thousand files (long names, symlinks, hard
  links, xattrs) is rekeyed; the first run is killed with SIGKILL halfway,
  the rerun with the same arguments completes it, and the new volume's
  tree equals the old one. The old volume is unchanged, opens with the old
  passphrase only; the new one with the new passphrase only, and shares no
  backing name with the old one.
- rekey --reverse: the next reverse mount shows entirely new ciphertext.

usage: test_keys.py VEILFS
"""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, run, write_file  # noqa: E402

PW = "keys-test-passphrase-1"
PW2 = "second-passphrase-2"
NEWPW = "rekeyed-passphrase-3"
RK_RE = re.compile(r"^    ([0-9A-Z]{5}(?:-[0-9A-Z]{5}){15})$", re.M)


def init(veilfs, d):
    r = run([veilfs, "init", "--kdf", "interactive", d], stdin=PW + "\n")
    check(r.returncode == 0, "init failed: %s" % r.stderr)
    m = RK_RE.search(r.stdout)
    check(m is not None, "init printed no recovery key: %r" % r.stdout)
    return m.group(1)


def populate(root, nfiles, seed):
    """Files in nested directories, long names, symlinks, hard links, xattrs."""
    rnd = random.Random(seed)
    ndirs = max(1, nfiles // 100)
    for d in range(ndirs):
        os.makedirs(os.path.join(root, "dir%02d" % d, "sub"), exist_ok=True)
    for i in range(nfiles):
        d = os.path.join(root, "dir%02d" % (i % ndirs), "sub" if i % 3 == 0 else "")
        name = ("long-%d-" % i) + "n" * 190 if i % 50 == 0 else "f%05d.dat" % i
        size = rnd.choice([0, 1, 100, 4095, 4096, 4097, 9000]) if i % 97 else 70000
        write_file(os.path.join(d, name), rnd.randbytes(size), mode=0o600 + (i % 8) * 0o10)
        if i % 40 == 0:
            os.setxattr(os.path.join(d, name), "user.note", b"xattr %d" % i)
        if i % 60 == 0:
            os.link(os.path.join(d, name), os.path.join(d, "hardlink-%d" % i))
        if i % 70 == 0:
            os.symlink("../" * (i % 3) + "target-%d" % i, os.path.join(d, "link-%d" % i))
    os.symlink("x/" * 700, os.path.join(root, "very-long-link"))  # a blob target
    os.setxattr(os.path.join(root, "dir00"), "user.dir", b"on a directory")
    os.chmod(os.path.join(root, "dir00", "sub"), 0o750)


def diff_r(a, b):
    r = subprocess.run(["diff", "-r", "--no-dereference", a, b], capture_output=True, text=True)
    check(r.returncode == 0, "diff -r %s %s: %s" % (a, b, (r.stdout + r.stderr)[:2000]))


def cipher_names(d):
    out = set()
    for dp, dns, fns in os.walk(d):
        for n in dns + fns:
            if not n.startswith("veilfs."):
                out.add(n)
    return out


def dir_digest(d):
    out = {}
    for dp, dns, fns in os.walk(d):
        for n in sorted(dns + fns):
            p = os.path.join(dp, n)
            st = os.lstat(p)
            data = vfs.sha256_file(p) if os.path.isfile(p) and not os.path.islink(p) else None
            out[os.path.relpath(p, d)] = (st.st_mode, st.st_size, st.st_mtime_ns, data)
    return out


def test_recover(tap, veilfs, ws):
    vol = vfs.Volume(ws, veilfs, name="rec", passphrase=PW, create=False)
    rk = init(veilfs, vol.dir)
    ref = ws.mkdir("ref")
    populate(ref, 300, 7)
    m = vol.mount()
    try:
        r = subprocess.run(["cp", "-a", ref + "/.", m.path], capture_output=True, text=True)
        check(r.returncode == 0, "cp -a into the mount: %s" % r.stderr)
        want = vfs.tree(m.path, xattrs=True)
    finally:
        m.unmount()
    conf = vol.c("veilfs.conf")
    for what, damage in (("deleted", lambda: os.unlink(conf)),
                         ("overwritten with random bytes",
                          lambda: write_file(conf, os.urandom(os.path.getsize(conf))))):
        def one():
            damage()
            r = run([veilfs, "ls", vol.dir], stdin=PW + "\n")
            check(r.returncode in (3, 4), "the damaged volume still opened (%d)" % r.returncode)
            r = run([veilfs, "recover", "--kdf", "interactive", vol.dir],
                    stdin="%s\n%s\n" % (rk, PW2))
            check(r.returncode == 0, "recover: %d %s" % (r.returncode, r.stderr))
            mm = vol.mount(passphrase=PW2)
            try:
                diff_r(ref, mm.path)
                vfs.check_trees_equal(vfs.tree(mm.path, xattrs=True), want, "recovered tree")
            finally:
                mm.unmount()
        tap.run("header %s: recover, then the mounted tree equals the original" % what, one)

    def mistyped():
        groups = rk.split("-")
        g = groups[5]
        groups[5] = g[:2] + ("A" if g[2] != "A" else "B") + g[3:]
        os.unlink(conf)
        r = run([veilfs, "recover", "--kdf", "interactive", vol.dir],
                stdin="%s\n%s\n" % ("-".join(groups), PW2))
        check_eq(r.returncode, 5, "exit code")
        check("group 6 is wrong" in r.stderr, "the wrong group is not named: %r" % r.stderr)
        check(not os.path.exists(conf), "a header was written")
        r = run([veilfs, "recover", "--kdf", "interactive", vol.dir], stdin="%s\n%s\n" % (rk, PW2))
        check(r.returncode == 0, "recover with the right key after that: %s" % r.stderr)
    tap.run("a recovery key with one character changed is refused, its group named", mistyped)

    def mount_rk():
        mm = vol.mount(passphrase=rk)
        try:
            diff_r(ref, mm.path)
        finally:
            mm.unmount()
    tap.run("the recovery key mounts the volume in place of a passphrase", mount_rk)


def test_mounted(tap, veilfs, ws):
    vol = vfs.Volume(ws, veilfs, name="mounted", passphrase=PW, create=False)
    init(veilfs, vol.dir)
    m = vol.mount()
    try:
        write_file(m.p("before"), b"written before the key changes")

        def changes():
            r = run([veilfs, "key", "add", "--kdf", "interactive", vol.dir],
                    stdin="%s\n%s\n" % (PW, PW2))
            check(r.returncode == 0, "key add: %s" % r.stderr)
            r = run([veilfs, "key", "remove", vol.dir, "0"], stdin=PW2 + "\n")
            check(r.returncode == 0, "key remove: %s" % r.stderr)
            check_eq(vfs.read_file(m.p("before")), b"written before the key changes", "content")
            write_file(m.p("after"), b"written after")
            check_eq(vfs.read_file(m.p("after")), b"written after", "new file")
            check(m.alive(), "the daemon died")
        tap.run("key add and key remove while mounted leave the mount working", changes)
    finally:
        m.unmount()

    def after():
        r = run([veilfs, "cat", vol.dir, "after"], stdin=PW2 + "\n")
        check_eq(r.stdout, "written after", "cat with the added passphrase")
        r = run([veilfs, "ls", vol.dir], stdin=PW + "\n")
        check_eq(r.returncode, 5, "the removed passphrase")
    tap.run("after unmounting: the added passphrase opens it, the removed one does not", after)


def mtimes(root):
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            out[os.path.relpath(p, root)] = os.lstat(p).st_mtime_ns
    return out


def test_rekey(tap, veilfs, ws):
    vol = vfs.Volume(ws, veilfs, name="old", passphrase=PW, create=False)
    init(veilfs, vol.dir)
    m = vol.mount()
    try:
        tap.run("populate the old volume (3000 files)", populate, m.path, 3000, 11)
        want = vfs.tree(m.path, xattrs=True)
        want_times = mtimes(m.path)
    finally:
        m.unmount()
    before = dir_digest(vol.dir)
    new = os.path.join(ws.path, "new")
    rkfile = os.path.join(ws.path, "new.recovery")
    args = [veilfs, "rekey", "--kdf", "interactive", "--recovery-key-file", rkfile, vol.dir, new]
    stdin = "%s\n%s\n" % (PW, NEWPW)

    def killed():
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p.stdin.write(stdin.encode())
        p.stdin.close()
        end = time.monotonic() + 300
        done = 0
        while p.poll() is None and time.monotonic() < end:
            done = sum(len(fns) for _, _, fns in os.walk(new)) if os.path.isdir(new) else 0
            if done >= 1500:
                break
            time.sleep(0.05)
        check(p.poll() is None, "rekey ended before it could be killed (%s files)" % done)
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        p.stderr.close()
        check_eq(p.returncode, -signal.SIGKILL, "rekey's end")
        total = sum(len(fns) for _, _, fns in os.walk(new))
        tap.diag("killed with %d of about 3400 backing files written" % total)
        check(total < 3300, "the killed run had already finished")
    tap.run("rekey is killed with SIGKILL halfway", killed)

    def refused_mounted():
        mm = vfs.Volume(ws, veilfs, name="new", passphrase=NEWPW, create=False).mount()
        try:
            r = run(args, stdin=stdin, timeout=600)
        finally:
            mm.unmount()
        check_eq(r.returncode, 1, "rekey into a mounted NEWDIR: %s" % r.stderr)
        check("mounted or in use" in r.stderr, "the refusal says why: %r" % r.stderr)
    tap.run("a rerun is refused while the new volume is mounted", refused_mounted)

    # What a kill can leave at any step, fresh (not yet stale): a file being
    # copied, a directory made under a temporary name with its dir IV, a
    # small file written atomically. Planted in the root and in a subdirectory.
    planted = []
    sub = next(os.path.join(new, n) for n in sorted(os.listdir(new))
               if os.path.isdir(os.path.join(new, n)))
    for d in (new, sub):
        for n in ("veilfs.tmp.rekey0123abcd89abcdef", "veilfs.tmp.00000000deadbeef"):
            write_file(os.path.join(d, n), b"x" * 100)
            planted.append(os.path.join(d, n))
        td = os.path.join(d, "veilfs.tmp.d1234abcd5678ef01")
        os.mkdir(td)
        write_file(os.path.join(td, "veilfs.diriv"), os.urandom(16))
        write_file(os.path.join(td, "veilfs.tmp.0badcafe0badcafe"), b"y")
        planted.append(td)
    # An old header copy a crashed passwd of NEWDIR left (stale): its key
    # slots must be overwritten, not only unlinked. A second link outside
    # NEWDIR shows what becomes of its blocks.
    old_hdr = os.path.join(new, "veilfs.tmp.confold0123456789abcdef")
    old_bytes = open(os.path.join(new, "veilfs.conf"), "rb").read()
    write_file(old_hdr, old_bytes)
    outside = os.path.join(ws.path, "confold-outside-link")
    os.link(old_hdr, outside)
    t = time.time() - 7200
    os.utime(old_hdr, (t, t))
    planted.append(old_hdr)

    def rerun():
        r = run(args, stdin=stdin, timeout=600)
        check(r.returncode == 0, "rerun: %d %s" % (r.returncode, r.stderr))
        check("continuing" in r.stdout, "the rerun did not continue: %r" % r.stdout)
        check(not any(n.startswith("veilfs.tmp.") for _, dns, fns in os.walk(new)
                      for n in dns + fns), "temporary names left in the new volume")
        left = [p for p in planted if os.path.lexists(p)]
        check(not left, "leftovers of the killed run kept: %s" % left)
        with open(outside, "rb") as f:
            got = f.read()
        check(len(got) == len(old_bytes) and got != old_bytes,
              "the old header leftover was overwritten before it was removed")
    tap.run("the rerun with the same arguments completes it", rerun)

    def compare():
        mm = vfs.Volume(ws, veilfs, name="new", passphrase=NEWPW, create=False).mount()
        try:
            vfs.check_trees_equal(vfs.tree(mm.path, xattrs=True), want, "rekeyed tree")
            got = mtimes(mm.path)
            bad = sorted(k for k in want_times if got.get(k) != want_times[k])
            check(not bad, "modification times differ: %s" % bad[:5])
            mo = vol.mount()
            try:
                diff_r(mo.path, mm.path)
            finally:
                mo.unmount()
        finally:
            mm.unmount()
    tap.run("the new volume's tree equals the old one (contents, modes, links, xattrs, times)",
            compare)

    def keys():
        check(dir_digest(vol.dir) == before, "the old volume changed")
        some = "dir01/f00001.dat"
        for d, pw, rc in ((vol.dir, PW, 0), (vol.dir, NEWPW, 5), (new, NEWPW, 0), (new, PW, 5)):
            r = run([veilfs, "cat", d, some], stdin=pw + "\n")
            check_eq(r.returncode, rc, "cat %s with %s" % (os.path.basename(d), pw))
        with open(rkfile) as f:
            nrk = f.read().strip()
        r = run([veilfs, "ls", new], stdin=nrk + "\n")
        check_eq(r.returncode, 0, "the new volume's recovery key opens it")
        r = run([veilfs, "ls", vol.dir], stdin=nrk + "\n")
        check_eq(r.returncode, 5, "the new recovery key opens the old volume")
        common = cipher_names(vol.dir) & cipher_names(new)
        check(not common, "backing names shared by both volumes: %s" % sorted(common)[:5])
    tap.run("old ciphertext opens with the old key only, new with the new only", keys)


def test_reverse(tap, veilfs, ws):
    plain = ws.mkdir("plain")
    write_file(os.path.join(plain, "report.txt"), b"reverse mode content" * 100)
    r = run([veilfs, "init", "--reverse", "--kdf", "interactive", "--no-recovery-key", plain],
            stdin=PW + "\n")
    check(r.returncode == 0, "init --reverse: %s" % r.stderr)

    def view(pw):
        mnt = ws.mkdir("rmnt")
        p = subprocess.run([veilfs, "mount", "--reverse", plain, mnt], input=pw + "\n",
                           capture_output=True, text=True)
        check(p.returncode == 0, "mount --reverse: %s" % p.stderr)
        try:
            names = sorted(os.listdir(mnt))
            data = {n: vfs.read_file(os.path.join(mnt, n)) for n in names
                    if os.path.isfile(os.path.join(mnt, n)) and n != "veilfs.conf"}
        finally:
            subprocess.run(["fusermount3", "-u", mnt])
        return names, data

    def rekey_reverse():
        names1, data1 = view(PW)
        r = run([veilfs, "rekey", "--reverse", "--kdf", "interactive", "--no-recovery-key", plain],
                stdin="%s\n%s\n" % (PW, NEWPW))
        check(r.returncode == 0, "rekey --reverse: %s" % r.stderr)
        check("entirely new ciphertext" in r.stdout, "it does not say so: %r" % r.stdout)
        names2, data2 = view(NEWPW)
        enc1 = set(names1) - {"veilfs.conf", "veilfs.diriv"}
        enc2 = set(names2) - {"veilfs.conf", "veilfs.diriv"}
        check(enc1 and not (enc1 & enc2), "names did not all change: %s %s" % (enc1, enc2))
        check(not set(data1.values()) & set(data2.values()), "some ciphertext is unchanged")
        mnt = ws.mkdir("rmnt")
        p = subprocess.run([veilfs, "mount", "--reverse", plain, mnt], input=PW + "\n",
                           capture_output=True, text=True)
        if p.returncode == 0:
            subprocess.run(["fusermount3", "-u", mnt])
        check_eq(p.returncode, 5, "mount --reverse with the old passphrase")
    tap.run("rekey --reverse: the next reverse mount shows entirely new ciphertext", rekey_reverse)


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    ws = vfs.Workspace()
    try:
        test_recover(tap, veilfs, ws)
        test_mounted(tap, veilfs, ws)
        test_rekey(tap, veilfs, ws)
        test_reverse(tap, veilfs, ws)
    finally:
        ws.remove()
    tap.done()


if __name__ == "__main__":
    main()
