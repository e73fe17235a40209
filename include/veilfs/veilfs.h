/* SPDX-License-Identifier: MIT */
/*
 * veilfs/veilfs.h — libveilfs, the public API: read a veilfs volume
 * without FUSE.
 *
 * A program opens a cipher directory with a passphrase or a recovery key,
 * lists directories by their plaintext names, stats entries and reads
 * files as authenticated plaintext. The library only reads: it never
 * writes to, repairs or creates anything in the cipher directory.
 *
 * Build:  cc prog.c $(pkg-config --cflags --libs libveilfs)
 * Guide:  docs/libveilfs.md
 *
 * Errors. Every function that can fail returns 0 (or a byte count) on
 * success and a negative errno value on failure; veilfs_strerror() gives
 * a sentence for it in veilfs's terms. The values that mean something
 * particular here:
 *   -EACCES          the passphrase or recovery key opens no key slot
 *   -EBADMSG         authentication failed: the header or a file's content
 *                    was altered or damaged; no data of it is returned
 *   -EMEDIUMTYPE     the directory is not a veilfs cipher directory (no
 *                    veilfs magic, or a folder set up for reverse mode)
 *   -EPROTONOSUPPORT the volume's format version is not one this library reads
 *   -ENOTSUP         the volume uses a feature this library does not know
 *   -ENOENT          no such volume header or path
 *   -EINVAL          a bad argument (NULL, a path with "." or ".." components)
 *   -EBADF           a directory or file handle whose volume was closed
 * Others are the errno of the failing system call (-ENOTDIR, -EISDIR, -ELOOP
 * for a symbolic link that was not followed, -ENOMEM, -EIO, ...). On
 * failure, output parameters are left NULL / zero and nothing is returned
 * that did not authenticate.
 *
 * Paths are relative to the volume's root, components separated by '/'
 * (leading, trailing and repeated slashes are allowed; "" and "/" name the
 * root). "." and ".." are not interpreted (-EINVAL). Symbolic links are
 * never followed.
 *
 * Threads. The library keeps no global state apart from libsodium's
 * (initialised on the first veilfs_open, thread-safely). A volume may be
 * used from several threads at once: veilfs_stat, veilfs_dir_open and
 * veilfs_file_open may be called concurrently on one volume, and distinct
 * veilfs_dir / veilfs_file handles may be used concurrently. One handle
 * must not be used by two threads at the same time. veilfs_close() must
 * not race with any other call on the volume or its handles.
 *
 * Secrets. The passphrase or recovery key is only read during veilfs_open;
 * keys derived from it live in libsodium's guarded, locked memory and are
 * wiped by veilfs_close. veilfs_secret_read() reads a passphrase from a
 * file descriptor into such memory, so that a caller need not hold one in
 * ordinary memory (never pass a passphrase in argv or the environment).
 *
 * Versions. VEILFS_VERSION_* are the version of the headers a program was
 * built with; veilfs_version() the version of the library it runs with.
 * Symbols are versioned (VEILFS_0); the soname is libveilfs.so.0 and
 * changes only with an incompatible change of this API.
 */
#ifndef VEILFS_VEILFS_H
#define VEILFS_VEILFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VEILFS_VERSION_MAJOR 0
#define VEILFS_VERSION_MINOR 1
#define VEILFS_VERSION_PATCH 0
/* One number that grows with every release: 10000 * major + 100 * minor + patch. */
#define VEILFS_VERSION_NUMBER \
	(VEILFS_VERSION_MAJOR * 10000 + VEILFS_VERSION_MINOR * 100 + VEILFS_VERSION_PATCH)

#if defined(__GNUC__)
#define VEILFS_MUST_CHECK __attribute__((warn_unused_result))
#else
#define VEILFS_MUST_CHECK
#endif

/* The library's version as "MAJOR.MINOR.PATCH" (static storage). */
const char *veilfs_version(void);
/* The same as VEILFS_VERSION_NUMBER of the library's own build. */
int veilfs_version_number(void);

/* A sentence for a negative errno from this library (static storage, never NULL). */
const char *veilfs_strerror(int err);

/* An opened, unlocked volume; a directory listing; an open file. */
struct veilfs_volume;
struct veilfs_dir;
struct veilfs_file;

/*
 * Open the volume in @cipherdir and unlock it with @secret (@len bytes,
 * not NUL-terminated, no trailing newline): a passphrase, or a recovery
 * key, told apart by its form (16 groups of 5 letters and digits joined by
 * '-', as veilfs prints it; a passphrase of that form is still tried as a
 * passphrase). @config names the header file when it is kept apart from
 * the volume (veilfs's --config), or is NULL for CIPHERDIR/veilfs.conf.
 * On success *@out is the volume (free with veilfs_close).
 */
int veilfs_open(const char *cipherdir, const char *config, const char *secret, size_t len,
		struct veilfs_volume **out) VEILFS_MUST_CHECK;

/*
 * Close @vol and wipe its keys; returns 0. NULL is allowed. This holds
 * even while directories or files of @vol are open: every later call on
 * them but their close gives -EBADF, and each must still be closed with
 * veilfs_dir_close / veilfs_file_close, which frees it (and, with the
 * last one, what is left of @vol). After veilfs_close, @vol itself must
 * not be passed to any call again.
 */
int veilfs_close(struct veilfs_volume *vol);

/*
 * What veilfs_stat, veilfs_dir_read and veilfs_file_stat report of an
 * entry. The caller allocates it; the library fills every byte of it.
 *
 * Room to grow: @reserved holds space for fields of later releases, so
 * that the struct's size and the offsets of the fields below never change
 * while the soname is libveilfs.so.0 (128 bytes on LP64 systems). This
 * library sets every reserved word to zero. A later release that gives
 * some of them a meaning (taken from the front of @reserved, in a new
 * minor version) defines it so that zero still means "not known": a
 * program built with that newer header and run against this library reads
 * zero there. Programs must not use @reserved by name, nor store anything
 * in it that they expect to keep.
 */
struct veilfs_stat {
	mode_t mode;        /* file type and permission bits, as st_mode */
	uint64_t size;      /* a regular file's plaintext size; 0 for a symlink (the
	                       target is not read); else the cipher directory's st_size */
	uint64_t ino;       /* inode number in the cipher directory */
	uint64_t nlink;
	uid_t uid;
	gid_t gid;
	int64_t mtime_sec;  /* last modification, seconds since the epoch */
	long mtime_nsec;
	int64_t ctime_sec;  /* last status change */
	long ctime_nsec;
	uint64_t reserved[7]; /* zero; see above */
};

/* Stat @path (not following a final symbolic link). 0 or -errno. */
int veilfs_stat(struct veilfs_volume *vol, const char *path,
		struct veilfs_stat *st) VEILFS_MUST_CHECK;

/* Open the directory @path for listing. 0 or -errno (-ENOTDIR, ...). */
int veilfs_dir_open(struct veilfs_volume *vol, const char *path,
		    struct veilfs_dir **out) VEILFS_MUST_CHECK;

/*
 * The next entry of @dir: its plaintext name (NUL-terminated, valid until
 * the next call on @dir) in *@name and, if @st is not NULL, its attributes.
 * Returns 1 for an entry, 0 at the end, or -errno. The entries that belong
 * to the format (directory IVs, long-name sidecars, ...) are not shown;
 * "." and ".." are not listed; an entry whose name does not decrypt is
 * skipped, and counted (veilfs_dir_skipped). Order is the directory's.
 */
int veilfs_dir_read(struct veilfs_dir *dir, const char **name,
		    struct veilfs_stat *st) VEILFS_MUST_CHECK;

/* How many entries veilfs_dir_read skipped so far because their names do not decrypt. */
unsigned veilfs_dir_skipped(const struct veilfs_dir *dir);

void veilfs_dir_close(struct veilfs_dir *dir);

/* Open the regular file @path for reading. -EISDIR, -ELOOP (a symlink), -EINVAL (not regular). */
int veilfs_file_open(struct veilfs_volume *vol, const char *path,
		     struct veilfs_file **out) VEILFS_MUST_CHECK;

/*
 * Read up to @n plaintext bytes at @off into @buf: the count (short only at
 * the end of the file, 0 at or past it), or -errno. Every byte returned was
 * authenticated: a damaged or altered block gives -EBADMSG and nothing of
 * the read (the bytes of @buf are then unspecified, never plaintext of a
 * block that did not authenticate).
 *
 * Authentication is per block (4 KiB of plaintext by default): a read
 * checks only the blocks it covers. A read of a prefix cannot see that the
 * file was cut short at a block boundary, or that its end was altered or
 * rolled back; only a read that covers the end block can. To know that a
 * whole file is intact, read it to its end (until 0 is returned) or call
 * veilfs_file_verify. After -EBADMSG, discard everything already consumed
 * from this file: bytes of earlier reads did authenticate, but the file as
 * a whole is not what was written.
 */
ssize_t veilfs_file_pread(struct veilfs_file *f, void *buf, size_t n,
			  uint64_t off) VEILFS_MUST_CHECK;

/* Attributes of the open file (the plaintext size as it is now). 0 or -errno. */
int veilfs_file_stat(struct veilfs_file *f, struct veilfs_stat *st) VEILFS_MUST_CHECK;

/*
 * Read and authenticate every block of @f up to its end as it is now, the
 * end block's mark included: 0 if the whole file is intact, -EBADMSG if a
 * block was altered or damaged or the file was cut short (also at a block
 * boundary), or -errno. Returns no data and decrypts nothing: each block's
 * tag alone is checked. A later change of the file is not covered (reads
 * still check each block they return).
 */
int veilfs_file_verify(struct veilfs_file *f) VEILFS_MUST_CHECK;

void veilfs_file_close(struct veilfs_file *f);

/*
 * Read one line (a passphrase or recovery key) from @fd, without its line
 * ending, into libsodium secure memory: *@secret (NUL-terminated) and
 * *@len. At most 4096 bytes; reads byte by byte, so nothing after the line
 * is consumed. -ENODATA for an empty line or no input, -E2BIG if too long.
 */
int veilfs_secret_read(int fd, char **secret, size_t *len) VEILFS_MUST_CHECK;

/* Wipe and free a secret of veilfs_secret_read. NULL is allowed. */
void veilfs_secret_free(char *secret);

#ifdef __cplusplus
}
#endif

#endif
