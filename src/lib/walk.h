/* SPDX-License-Identifier: MIT */
/*
 * veilfs/walk.h — one walk over a cipher directory, shared by every offline
 * consumer (fsck verifies and repairs, export decrypts to a directory,
 * rekey re-encrypts into a new volume).
 *
 * The walker reads each directory in readdir order, classifies every entry
 * (docs/format.md §2.1) and decodes what can be decoded, so that the rules
 * for conflict copies, foreign files, orphan sidecars and crash leftovers
 * live in one place (when a leftover may be removed: veilfs/temp.h). Consumers decide what to do with each class and
 * whether to enter a directory; the walker never modifies the volume.
 */
#ifndef VEILFS_WALK_H
#define VEILFS_WALK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "volume.h"

/* What an entry of a cipher directory is. */
enum veil_walk_class {
	VEIL_WALK_OBJECT,     /* a name that decrypts (short, or long with its sidecar) */
	VEIL_WALK_CONFLICT,   /* a sync tool's conflict copy, decoded to its display name */
	VEIL_WALK_BADNAME,    /* an encoded name or long-name object that does not decrypt */
	VEIL_WALK_NOSIDECAR,  /* a long-name object whose sidecar is missing */
	VEIL_WALK_NOIV,       /* an entry of a directory whose dir IV is unreadable */
	VEIL_WALK_SIDECAR,    /* the sidecar of an existing long-name object */
	VEIL_WALK_ORPHAN_SIDECAR, /* a sidecar whose object is missing */
	VEIL_WALK_LINKBLOB,   /* veilfs.lt.<hash> (meaningful at the root only) */
	VEIL_WALK_DIRIV,      /* veilfs.diriv */
	VEIL_WALK_CONF,       /* veilfs.conf */
	VEIL_WALK_TEMP,       /* veilfs.tmp.*: left by an interrupted creation */
	VEIL_WALK_FOREIGN,    /* anything else: not part of the volume */
};

/* Short lower-case description of a class, for messages. */
const char *veil_walk_class_str(enum veil_walk_class c);

struct veil_walk_entry {
	int dfd;               /* the cipher directory holding the entry */
	const uint8_t *iv;     /* its dir IV; NULL if that is unreadable */
	const char *cname;     /* backing name */
	const char *cpath;     /* cipher path from the volume root */
	const char *dir_path;  /* plaintext path of the directory; NULL if not decodable */
	const char *name;      /* plaintext (or conflict display) name; NULL if none */
	const char *path;      /* plaintext path; NULL unless dir_path and name are known */
	enum veil_walk_class cls;
	int err;               /* BADNAME: why the name does not decode; FOREIGN: -EEXIST
				  for a conflict copy hidden by the entry it is named after */
	bool long_name;        /* a veilfs.ln.<hash> object */
	struct stat st;        /* lstat of the entry */
	unsigned depth;        /* number of '/' in cpath */
	/* Directories only (sub_fd >= 0): the opened directory and its dir IV. */
	int sub_fd;
	int sub_iv_err;        /* 0, or why the dir IV is unreadable (-ENOENT, -EBADMSG...) */
	uint8_t sub_iv[VEIL_DIRIV_BYTES];
	void *parent;          /* cookie of the containing directory (see visit) */
};

/* Return value of visit: enter this directory (sub_fd >= 0 only). */
#define VEIL_WALK_DESCEND 1

struct veil_walk_ops {
	/*
	 * Called for every entry but . and ..; return 0 to go on,
	 * VEIL_WALK_DESCEND to walk a directory's entries next (they get
	 * *@cookie as their parent), or a negative errno to stop the walk.
	 */
	int (*visit)(void *ctx, const struct veil_walk_entry *e, void **cookie);
	/* Optional: after the entries of a directory that was entered. */
	void (*leave)(void *ctx, const struct veil_walk_entry *e, void *cookie);
	/* Optional: a directory that could not be listed. */
	void (*dir_error)(void *ctx, const char *path, const char *cpath, int err, void *cookie);
};

/* Flags. */
#define VEIL_WALK_NODECODE 1u /* no decryption: names/long objects are OBJECT, no dir IVs */

/*
 * Walk the entries of cipher directory @dfd (dir IV @iv, NULL if
 * unreadable), whose plaintext path is @path (NULL if unknown; "" for the
 * root) and cipher path @cpath ("" for the root). Returns 0, or the
 * first negative value a visit returned.
 */
int veil_walk_dir(const struct veil_volume *v, int dfd, const uint8_t *iv, const char *path,
		  const char *cpath, unsigned flags, const struct veil_walk_ops *ops, void *ctx,
		  void *cookie);

/* The same for the single entry @cname of @dfd (and, if entered, what is below it). */
int veil_walk_one(const struct veil_volume *v, int dfd, const uint8_t *iv, const char *cname,
		  const char *path, const char *cpath, unsigned flags,
		  const struct veil_walk_ops *ops, void *ctx, void *cookie);

#endif
