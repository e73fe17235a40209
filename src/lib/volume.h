/* SPDX-License-Identifier: MIT */
/*
 * veilfs/volume.h — an opened cipher directory.
 *
 * A volume is the cipher directory fd, its parsed header and, once
 * unlocked, its subkeys. All access to the backing store is relative to a
 * directory fd with O_NOFOLLOW; no path is resolved from the root again.
 */
#ifndef VEILFS_VOLUME_H
#define VEILFS_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "file.h"
#include "header.h"
#include "keys.h"
#include "names.h"

struct veil_volume {
	int dirfd;     /* the cipher directory */
	int conf_dirfd; /* directory holding the header file */
	char conf_name[256];
	struct veil_header hdr;
	struct veil_keys *keys; /* NULL until unlocked */
	struct veil_content_ctx cc;
	bool reverse; /* the header is a reverse-mode one (.veilfs-reverse.conf) */
};

/*
 * Open @cipherdir and parse its header (@conf: a header file elsewhere, or
 * NULL for CIPHERDIR/veilfs.conf, or CIPHERDIR/.veilfs-reverse.conf when that
 * is absent: then @reverse is set). Errors as veil_header_parse, plus
 * -ENOENT (no header), -ENOTDIR, -errno.
 */
int veil_volume_open(const char *cipherdir, const char *conf,
		     struct veil_volume **out) VEIL_MUST_CHECK;

/*
 * Open @cipherdir and find its header like veil_volume_open, but keep the
 * volume open when the header is missing or does not parse: *@hdr_err gets
 * that error (0 if the header parsed) and @out->hdr is then all zero.
 * Errors of the directories themselves are returned. For veilfs recover.
 */
int veil_volume_open_damaged(const char *cipherdir, const char *conf, struct veil_volume **out,
			     int *hdr_err) VEIL_MUST_CHECK;

/* Unlock with @pass: -EACCES wrong passphrase, -EBADMSG header altered. */
int veil_volume_unlock(struct veil_volume *v, const char *pass, size_t plen) VEIL_MUST_CHECK;

/* Unlock from a raw master key (tests, reverse mode). */
int veil_volume_unlock_master(struct veil_volume *v,
			      const uint8_t master[static VEIL_KEY_BYTES]) VEIL_MUST_CHECK;

void veil_volume_close(struct veil_volume *v);

/* fsync a directory given by any fd on it, O_PATH included. */
int veil_fsync_dir(int dfd);

/* Read the dir IV of directory @dfd: -ENOENT, -EBADMSG if malformed. */
int veil_diriv_read(int dfd, uint8_t iv[static VEIL_DIRIV_BYTES]) VEIL_MUST_CHECK;

/* Write a fresh dir IV into the (new, empty) directory @dfd and fsync it. */
int veil_diriv_create(int dfd, uint8_t iv[static VEIL_DIRIV_BYTES]) VEIL_MUST_CHECK;

/* Write dir IV @iv into @dfd (atomic, fsynced; -EEXIST if one is there). */
int veil_diriv_write(int dfd, const uint8_t iv[static VEIL_DIRIV_BYTES]) VEIL_MUST_CHECK;

/*
 * Create directory @bname in @parentfd atomically with its dir IV: the
 * directory is built under a temporary reserved name, its IV written and
 * fsynced, then renamed into place (RENAME_NOREPLACE) and the parent fsynced.
 * A crash leaves either no directory or a complete one.
 */
int veil_mkdir_diriv(int parentfd, const char *bname, mode_t mode,
		     uint8_t iv[static VEIL_DIRIV_BYTES]) VEIL_MUST_CHECK;
/* The same, giving the directory to @uid:@gid (through its fd, before it is visible). */
int veil_mkdir_diriv_owned(int parentfd, const char *bname, mode_t mode, uid_t uid, gid_t gid,
			   uint8_t iv[static VEIL_DIRIV_BYTES]) VEIL_MUST_CHECK;

/*
 * Map a plaintext name in a directory to its backing name, writing the
 * encrypted name to @enc (VEIL_ENCNAME_MAX + 1) and the backing name to
 * @backing (VEIL_ENCNAME_MAX + 1). Returns 1 for a long name, 0 otherwise.
 */
int veil_name_to_backing(const struct veil_volume *v, const uint8_t iv[static VEIL_DIRIV_BYTES],
			 const char *name, char *enc, char *backing) VEIL_MUST_CHECK;

/* Write the sidecar of long name @backing holding @enc (atomic, fsynced). */
int veil_longname_store(int dfd, const char *backing, const char *enc) VEIL_MUST_CHECK;
/* Remove the sidecar of @backing, unless a conflict copy of it still needs it. */
int veil_longname_remove(int dfd, const char *backing);

/*
 * Decode a directory entry of the cipher directory @dfd (dir IV @iv) into
 * its plaintext name (@out, VEIL_NAME_MAX + 1), or the display name of a
 * sync tool's conflict copy (veil_conflict_decode). Returns the name length;
 * -ENOENT for entries that are part of the format (dir IV, sidecars, ...),
 * -EBADMSG / -EINVAL for entries that do not decrypt, -EEXIST for a
 * conflict copy whose display name is the name of an entry of @dfd (that
 * entry is shown instead).
 */
long veil_entry_decode(const struct veil_volume *v, int dfd,
		       const uint8_t iv[static VEIL_DIRIV_BYTES], const char *dname,
		       char *out) VEIL_MUST_CHECK;
/* The same; *@other_iv says whether it decoded under another IV than @iv (§7). */
long veil_entry_decode_ex(const struct veil_volume *v, int dfd,
			  const uint8_t iv[static VEIL_DIRIV_BYTES], const char *dname, char *out,
			  bool *other_iv) VEIL_MUST_CHECK;

/*
 * Sync tools put conflict copies next to a file, named after it with a
 * suffix: "NAME (conflicted copy 2026-01-01)", "NAME.sync-conflict-...".
 * When a foreign entry @dname starts with an encrypted name of this
 * directory followed by such a suffix, or is Syncthing's copy of a long-name
 * object of directory @dfd ("veilfs.ln.sync-conflict-<S>.<H>", named by the
 * sidecar of "veilfs.ln.<H>"), write the plaintext name followed by the
 * suffix to @out (VEIL_NAME_MAX + 1) and return its length; else -EINVAL.
 */
long veil_conflict_decode(const struct veil_volume *v, int dfd,
			  const uint8_t iv[static VEIL_DIRIV_BYTES], const char *dname,
			  char *out) VEIL_MUST_CHECK;

/*
 * A directory created on two machines before they synced has two dir IVs:
 * the sync tool keeps one as veilfs.diriv and the other as its conflict
 * copy. Is @name such a copy ("veilfs.sync-conflict-<S>.diriv",
 * "veilfs.diriv (... conflict ...)")?
 */
bool veil_diriv_conflict_name(const char *name);

#define VEIL_DIRIV_SECONDARY_MAX 4

/* Read the secondary dir IVs of @dfd (the first @max copies in byte order); their count. */
int veil_diriv_secondary(int dfd, uint8_t ivs[][VEIL_DIRIV_BYTES], int max);

/*
 * @name is not in @dfd under the dir IV the caller knows: find it under the
 * directory's veilfs.diriv as it is on disk now or under a secondary IV,
 * writing its encrypted and backing names. 1 long, 0 short, -ENOENT.
 */
int veil_name_to_backing_secondary(const struct veil_volume *v, int dfd, const char *name,
				   char *enc, char *backing) VEIL_MUST_CHECK;

/* Does @name look like the display name of a conflict copy? */
bool veil_conflict_name(const char *name);

/*
 * Find the conflict copy in directory @dfd whose display name is @name;
 * its backing name goes to @backing (NAME_MAX + 1). 0 or -ENOENT.
 */
int veil_conflict_find(const struct veil_volume *v, int dfd,
		       const uint8_t iv[static VEIL_DIRIV_BYTES], const char *name,
		       char *backing) VEIL_MUST_CHECK;

/* Read the encrypted target of backing symlink @name in @dfd and decrypt it. */
long veil_readlink_at(const struct veil_volume *v, int dfd, const char *name,
		      char *out /* VEIL_LINK_TARGET_MAX + 1 */) VEIL_MUST_CHECK;

/*
 * Create a symlink @name in @dfd whose plaintext target is @target,
 * storing a too-long encrypted target in a blob at the volume root.
 */
int veil_symlink_at(const struct veil_volume *v, const char *target, int dfd,
		    const char *name) VEIL_MUST_CHECK;

/*
 * If @name in @dfd is the last link to a symlink whose target lives in a
 * blob, write the blob's name to @blob and return true. Call before the
 * link goes; remove the blob (unlinkat(v->dirfd, blob, 0)) only once the
 * link is gone, so a failed unlink never leaves a link without its target.
 */
bool veil_symlink_blob(int dfd, const char *name, char blob[static VEIL_LONGNAME_LEN + 1]);

/* Remove the blob of a symlink being unlinked (if it was its last link). */
void veil_symlink_release(const struct veil_volume *v, int dfd, const char *name);

/*
 * Walk plaintext @path (components separated by '/') from the root. On
 * success *@dfd is an fd of the containing cipher directory, @iv its dir IV
 * and @backing the backing name of the last component (empty for the root,
 * in which case *@dfd is the root itself). -ENOENT etc. on failure.
 */
int veil_path_resolve(const struct veil_volume *v, const char *path, int *dfd,
		      uint8_t iv[static VEIL_DIRIV_BYTES], char *backing) VEIL_MUST_CHECK;

#endif
