#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""File handles: what the README's "differences from a local filesystem"
promises. name_to_handle_at works on a mount and a handle opens the same
file while the kernel still holds its inode; once the daemon's node ids
are gone (a remount here; a cache drop has the same effect),
open_by_handle_at fails with ESTALE and never opens another file, not even
one made since at the same place.

usage: test_handles.py VEILFS
"""

import ctypes
import ctypes.util
import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfs  # noqa: E402
from vfs import check, check_eq, write_file  # noqa: E402

MAX_HANDLE_SZ = 128
AT_FDCWD = -100

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * MAX_HANDLE_SZ)]


def name_to_handle(path):
    fh = FileHandle(handle_bytes=MAX_HANDLE_SZ)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(AT_FDCWD, path.encode(), ctypes.byref(fh),
                              ctypes.byref(mount_id), 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)
    return fh


def open_by_handle(mount_fd, fh):
    fd = libc.open_by_handle_at(mount_fd, ctypes.byref(fh), os.O_RDONLY)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return fd


def main():
    veilfs, _ = vfs.setup()
    tap = vfs.Tap()
    if os.geteuid() != 0:
        vfs.skip_all("open_by_handle_at needs CAP_DAC_READ_SEARCH")
    ws = vfs.Workspace()
    vol = vfs.Volume(ws, veilfs)
    mnt = ws.mkdir("mnt")
    m = tap.run("mount", vol.mount, mnt)
    if not m:
        sys.exit(tap.done())
    saved = {}
    try:
        def while_cached():
            write_file(m.p("a.txt"), b"first file\n")
            saved["fh"] = name_to_handle(m.p("a.txt"))
            mfd = os.open(m.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fd = open_by_handle(mfd, saved["fh"])
                try:
                    check_eq(os.read(fd, 100), b"first file\n", "the handle opens a.txt")
                finally:
                    os.close(fd)
            finally:
                os.close(mfd)
        tap.run("a handle opens its file while the inode is cached", while_cached)
    finally:
        m.unmount()

    def after_remount():
        m2 = vol.mount(mnt)
        try:
            os.unlink(m2.p("a.txt"))
            write_file(m2.p("a.txt"), b"another file at the same name\n")
            write_file(m2.p("b.txt"), b"b\n")
            mfd = os.open(m2.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                e = vfs.errno_of(open_by_handle, mfd, saved["fh"])
                check_eq(vfs.errno_name(e), "ESTALE",
                         "the old handle after a remount (never another file)")
            finally:
                os.close(mfd)
        finally:
            m2.unmount()
    if "fh" in saved:
        tap.run("after a remount the handle is stale, never another file", after_remount)
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
