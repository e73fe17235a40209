#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The committed example volumes (tests/fixtures/vN/) mount and read back
exactly as their manifests say.

usage: test_fixture.py VEILFS [FIXTURES-DIR]

For every tests/fixtures/vN.manifest with its vN/ volume: copy the volume
to a temp dir (the fixture itself is never written), mount it with the
passphrase from the manifest header ('# passphrase: ...'), and check every
entry: files (type, size, SHA-256), directories, symlinks (target, size);
the mounted tree must hold exactly the manifest's entries. Then write into
the copy (new file, append, rename) and remount: the old entries are still
intact and the new ones read back. A read-only mount of the copy must work
too. Skips when no fixture exists yet.
"""

import glob
import hashlib
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, read_file, write_file  # noqa: E402


def parse_manifest(path):
    passphrase = None
    entries = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.rstrip(b"\n").decode("utf-8", "surrogateescape")
            if line.startswith("#"):
                m = re.match(r"#\s*passphrase:\s*(\S+)", line)
                if m:
                    passphrase = m.group(1)
                continue
            if not line.strip():
                continue
            parts = line.split("\t")
            kind = parts[0]
            if kind == "f":
                entries[parts[3]] = ("f", int(parts[1]), parts[2])
            elif kind == "d":
                entries[parts[3]] = ("d",)
            elif kind == "l":
                entries[parts[3]] = ("l", int(parts[1]), parts[4])
            else:
                raise AssertionError("unknown manifest line: %r" % line)
    return passphrase, entries


def readme_passphrase(fixtures, name):
    for p in glob.glob(os.path.join(fixtures, "README*")):
        for line in open(p, encoding="utf-8", errors="replace"):
            if line.startswith("|") and ("`%s/`" % name) in line:
                m = re.findall(r"`([^`]+)`", line)
                cands = [x for x in m if x != name + "/" and not x.endswith(".manifest")]
                if cands:
                    return cands[0]
    return None


def check_entries(root, entries):
    problems = []
    for rel, e in sorted(entries.items()):
        p = os.path.join(root, rel)
        try:
            st = os.lstat(p)
        except OSError as ex:
            problems.append("%s: %s" % (rel, ex.strerror))
            continue
        if e[0] == "f":
            if not os.path.isfile(p) or os.path.islink(p):
                problems.append("%s: not a regular file" % rel)
                continue
            if st.st_size != e[1]:
                problems.append("%s: size %d, manifest %d" % (rel, st.st_size, e[1]))
            try:
                h = hashlib.sha256(read_file(p)).hexdigest()
                if h != e[2]:
                    problems.append("%s: SHA-256 %s, manifest %s" % (rel, h, e[2]))
            except OSError as ex:
                problems.append("%s: read: %s" % (rel, ex.strerror))
        elif e[0] == "d":
            if not os.path.isdir(p) or os.path.islink(p):
                problems.append("%s: not a directory" % rel)
        elif e[0] == "l":
            if not os.path.islink(p):
                problems.append("%s: not a symlink" % rel)
                continue
            if os.readlink(p) != e[2]:
                problems.append("%s: target %r, manifest %r" % (rel, os.readlink(p), e[2]))
            if st.st_size != e[1]:
                problems.append("%s: symlink size %d, manifest %d" % (rel, st.st_size, e[1]))
    found = set()
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            found.add(os.path.relpath(os.path.join(dp, n), root))
    extra = sorted(found - set(entries))
    if extra:
        problems.append("entries not in the manifest: %s" % extra)
    check(not problems, "\n".join(problems))


def main():
    veilfs, extra = vfs.setup(usage="VEILFS [FIXTURES-DIR]")
    here = os.path.dirname(os.path.abspath(__file__))
    fixtures = extra[0] if extra else os.path.join(here, "..", "fixtures")
    manifests = sorted(glob.glob(os.path.join(fixtures, "v*.manifest")))
    manifests = [m for m in manifests if os.path.isdir(m[:-len(".manifest")])]
    if not manifests:
        vfs.skip_all("no example volume in %s yet" % os.path.normpath(fixtures))
    tap = vfs.Tap()
    ws = vfs.Workspace()
    for man in manifests:
        src = man[:-len(".manifest")]
        name = os.path.basename(src)
        pw, entries = parse_manifest(man)
        pw = pw or readme_passphrase(fixtures, name)
        if not pw:
            tap.ok(False, "%s: passphrase found in the manifest header or README" % name)
            continue
        before = vfs.snapshot(src)
        copy = os.path.join(ws.path, name)
        shutil.copytree(src, copy, symlinks=True)
        for dp, dns, fns in os.walk(copy):  # git checkouts may drop write bits
            os.chmod(dp, 0o700)
        vol = vfs.Volume(ws, veilfs, name=name, passphrase=pw, create=False)
        mnt = ws.mkdir("mnt")

        def ro():
            m = vol.mount(mnt, fg=True, ro=True)
            try:
                check_entries(mnt, entries)
            finally:
                m.unmount()
        tap.run("%s: --ro mount matches all %d manifest entries" % (name, len(entries)), ro)

        def rw():
            m = vol.mount(mnt, fg=True)
            try:
                check_entries(mnt, entries)
                write_file(os.path.join(mnt, "written-by-test"), b"new\n" * 3000)
                files = [k for k, e in entries.items() if e[0] == "f" and e[1] > 0]
                victim = files[0]
                with open(os.path.join(mnt, victim), "ab") as f:
                    f.write(b"appended")
                os.rename(os.path.join(mnt, victim), os.path.join(mnt, "renamed-by-test"))
                want = dict(entries)
                e = want.pop(victim)
                return want, e
            finally:
                m.unmount()
        res = tap.run("%s: read-write mount matches all manifest entries" % name, rw)

        if res:
            def after_write():
                want, old = res
                m = vol.mount(mnt, fg=True)
                try:
                    extra_entries = {"written-by-test": None, "renamed-by-test": None}
                    check_eq(read_file(os.path.join(mnt, "written-by-test")), b"new\n" * 3000, "new file")
                    data = read_file(os.path.join(mnt, "renamed-by-test"))
                    check_eq(len(data), old[1] + 8, "appended file size")
                    check_eq(hashlib.sha256(data[:-8]).hexdigest(), old[2], "old part of the appended file")
                    check_eq(data[-8:], b"appended", "appended part")
                    for k in extra_entries:
                        want[k] = ("skip",)
                    check_entries_skip(mnt, want)
                finally:
                    m.unmount()
            tap.run("%s: after writing into a copy, old and new entries read back" % name, after_write)
        tap.ok(vfs.snapshot(src) == before, "%s: the committed fixture was not modified" % name)
    sys.exit(tap.done())


def check_entries_skip(root, want):
    real = {k: v for k, v in want.items() if v != ("skip",)}
    try:
        check_entries(root, real)
    except AssertionError as e:
        lines = [x for x in str(e).split("\n") if not x.startswith("entries not in the manifest")]
        extra = set()
        for dp, dns, fns in os.walk(root):
            for n in dns + fns:
                extra.add(os.path.relpath(os.path.join(dp, n), root))
        extra -= set(want)
        if extra:
            lines.append("unexpected entries: %s" % sorted(extra))
        if lines:
            raise AssertionError("\n".join(lines))


if __name__ == "__main__":
    main()
