/* SPDX-License-Identifier: MIT */
/*
 * veilfs/safe.h — handling what an attacker may have put in a directory.
 *
 * Used by the core, the daemon and the command-line tools alike.
 */
#ifndef VEILFS_SAFE_H
#define VEILFS_SAFE_H

#include <sys/stat.h>

/*
 * Open @name in @dfd with @flags only if it is a regular file: it is first
 * opened with O_PATH|O_NOFOLLOW (which opens nothing: a planted device node
 * or FIFO has no side effect and cannot block), checked with fstat, and
 * only then reopened through /proc/self/fd, which reaches exactly the
 * inode that was checked. O_CLOEXEC and O_NOCTTY are always added. @st
 * (may be NULL) receives the file's attributes. Returns the descriptor,
 * -EISDIR for a directory, -EBADMSG for any other non-regular file (a
 * symlink included), or -errno.
 */
int veil_open_regular(int dfd, const char *name, int flags, struct stat *st);

#endif
