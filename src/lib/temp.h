/* SPDX-License-Identifier: MIT */
/*
 * veilfs/temp.h — temporary names and their leftovers (docs/format.md §13).
 *
 * Every multi-step change of a cipher directory (a small file written
 * atomically, mkdir, rmdir) goes through a name "veilfs.tmp.*". A crash
 * leaves such a name behind: a leftover. Two rules decide when one may be
 * removed, and every reader of a cipher directory (the daemon, fsck, rekey)
 * uses exactly these:
 *
 *  - in use: this process made the name and has not finished with it
 *    (veil_temp_new ... veil_temp_release). Never removed.
 *  - stale: its mtime (lstat, never following a symlink) is at least
 *    VEIL_TEMP_STALE_SECONDS in the past. Every step through a temporary
 *    name touches it and finishes long before that, so a stale name is
 *    nobody's work in progress, whichever process or machine made it.
 *
 * A temporary directory is removed by first renaming it to a temporary
 * name of our own (an atomic claim): a writer that was still using it then
 * finds its name gone and fails its step cleanly (ENOENT) instead of
 * renaming a half-emptied directory into place. Inside a claimed directory
 * only veilfs.diriv and temporary names are removed (recursively, never
 * following symlinks); anything else stays, and so does the directory.
 */
#ifndef VEILFS_TEMP_H
#define VEILFS_TEMP_H

#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "format.h"

/* How long a step through a temporary name may take, at most (§13.3). */
#define VEIL_TEMP_STALE_SECONDS 600
/* Room for a name made by veil_temp_new. */
#define VEIL_TEMP_NAME_MAX 64

/* Is @name a temporary name ("veilfs.tmp." followed by anything)? */
bool veil_temp_is_name(const char *name);

/* Is a temporary whose lstat is @st stale at time @now (§13.3)? */
bool veil_temp_is_stale(const struct stat *st, time_t now);

/*
 * Write a fresh temporary name "veilfs.tmp.<kind><16 hex digits>" to @out
 * and mark it in use by this process until veil_temp_release(@out).
 * @kind is at most 8 characters.
 */
void veil_temp_new(char out[static VEIL_TEMP_NAME_MAX], const char *kind);
void veil_temp_release(const char *name);

/* Is @name in use by this process? */
bool veil_temp_in_use(const char *name);

/* veil_temp_remove / veil_temp_sweep: only stale leftovers. */
#define VEIL_TEMP_STALE_ONLY 1u
/*
 * ...only stale leftovers of the header's kinds (VEIL_TEMP_CONF_PREFIX),
 * others at once: header writers (passwd, key add/remove) lock the header
 * file, not its directory, so a directory lock does not keep them out.
 */
#define VEIL_TEMP_CONF_STALE_ONLY 2u

/*
 * Temporary names of the header (header.c): "veilfs.tmp.conf.*" a new
 * header being written, "veilfs.tmp.confold*" a link to the old header
 * kept while it is replaced. An old header holds the key slots of old
 * passphrases: such a leftover is overwritten before it is unlinked.
 */
#define VEIL_TEMP_CONF_PREFIX VEIL_TEMP_PREFIX "conf"
#define VEIL_TEMP_CONFOLD_KIND "confold"
#define VEIL_TEMP_CONFOLD_PREFIX VEIL_TEMP_PREFIX VEIL_TEMP_CONFOLD_KIND

/*
 * Overwrite every byte of the regular file @name of @dfd with random data,
 * fsync, then unlink @name. The file is reached only through the
 * descriptor of the inode checked (never through a symlink). When that
 * inode is @keep's (may be NULL; the live header a crash left linked under
 * @name), it is only unlinked. A name that is not a regular file is only
 * unlinked. Returns 0 when @name is gone, or -errno.
 */
int veil_temp_wipe_unlink(int dfd, const char *name, const struct stat *keep);

/*
 * Remove leftover @name of directory @dfd: a file or symlink is unlinked
 * (an old header, VEIL_TEMP_CONFOLD_PREFIX, is overwritten first unless it
 * is still linked under a non-temporary name of @dfd: the live header a
 * crash left), a directory claimed and emptied as described above. Names in use by this
 * process are never touched; with VEIL_TEMP_STALE_ONLY neither are fresh
 * ones. Returns 0 when the name is gone (also if someone else removed or
 * finished it first), -EBUSY when it was left alone (in use, fresh, or not
 * a temporary name), -ENOTEMPTY when a claimed directory holds something
 * other than leftovers (it stays, under its new temporary name), or -errno.
 */
int veil_temp_remove(int dfd, const char *name, unsigned int flags);

/*
 * veil_temp_remove for every temporary name in directory @dfd. Returns how
 * many temporary names could not be removed, or -errno.
 */
int veil_temp_sweep(int dfd, unsigned int flags);

#endif
