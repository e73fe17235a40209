/* SPDX-License-Identifier: MIT */
/*
 * veilfs/safe.h — handling what an attacker may have put in a directory.
 *
 * Used by the core, the daemon and the command-line tools alike.
 */
#ifndef VEILFS_SAFE_H
#define VEILFS_SAFE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/*
 * Open @name in @dfd with @flags only if it is a regular file: it is first
 * opened with O_PATH|O_NOFOLLOW (which opens nothing: a planted device node
 * or FIFO has no side effect and cannot block), checked with fstat, and
 * only then reopened through /proc/self/fd, which reaches exactly the
 * inode that was checked. O_CLOEXEC and O_NOCTTY are always added. @st
 * (may be NULL) receives the attributes of what @name is, also when it is
 * refused (then st_mode tells what it was). Returns the descriptor,
 * -EISDIR for a directory, -ELOOP for a symlink (never followed, as with
 * O_NOFOLLOW), -EBADMSG for any other non-regular file, or -errno.
 */
int veil_open_regular(int dfd, const char *name, int flags, struct stat *st);

/*
 * The one escaping of names (and whole lines) for terminals and logs:
 * every name veilfs prints or logs passes through it, since names, paths
 * and conflict suffixes may come from an attacker. Printable characters
 * are kept: ASCII 0x20-0x7e and valid UTF-8 from U+00A0 up, except the
 * line separators U+2028, U+2029 and the bidirectional controls (U+200E,
 * U+200F, U+202A-U+202E, U+2066-U+2069), which could disguise a line.
 * Every other byte (control characters, DEL, C1 controls, malformed
 * UTF-8) becomes \xHH, and a backslash becomes \\, so the result is
 * unambiguous. Writes a NUL-terminated string of at most @outsz bytes to
 * @out (cut at a character boundary and ended with "..." if too long) and
 * returns @out. An output of 4 * strlen(@in) + 1 bytes is never cut.
 */
char *veil_escape(char *out, size_t outsz, const char *in);

/* True if veil_escape leaves @s unchanged except for backslashes. */
bool veil_printable(const char *s);

#endif
