/* SPDX-License-Identifier: MIT */
/*
 * veilfs/fsck.h — verify a volume and repair what can be repaired.
 *
 * The check walks the volume with the shared walker (walk.h) and reports
 * every problem the format defines as an event; a repair run then applies
 * one action per problem (docs/veilfs.1, "CHECKING AND REPAIRING A
 * VOLUME"). A repair never deletes readable data: what cannot stay where it
 * is goes to lost+found/ at the root of the plaintext tree. The caller must
 * make sure nothing else writes to the volume during a repair.
 */
#ifndef VEILFS_FSCK_H
#define VEILFS_FSCK_H

#include <stdbool.h>
#include <stdint.h>

#include "volume.h"

/* Kinds of findings; the names (veil_fsck_kind_name) are part of --json. */
enum veil_fsck_kind {
	VEIL_FSCK_DIRIV_MISSING,  /* a directory without veilfs.diriv */
	VEIL_FSCK_DIRIV_DAMAGED,  /* veilfs.diriv unreadable or of the wrong size */
	VEIL_FSCK_NAME,           /* a name that does not decrypt */
	VEIL_FSCK_NAME_NOIV,      /* a name in a directory without a readable dir IV */
	VEIL_FSCK_NO_SIDECAR,     /* a long-name object without its sidecar */
	VEIL_FSCK_ORPHAN_SIDECAR, /* a sidecar without its object */
	VEIL_FSCK_ORPHAN_BLOB,    /* a symlink target blob no symlink refers to */
	VEIL_FSCK_SYMLINK,        /* a symlink target that does not decrypt */
	VEIL_FSCK_XATTR,          /* an xattr whose name or value does not decrypt */
	VEIL_FSCK_FILE_HEADER,    /* a file header that is malformed */
	VEIL_FSCK_SIZE,           /* a cipher size no plaintext size maps to */
	VEIL_FSCK_BLOCK,          /* a block that does not authenticate */
	VEIL_FSCK_ZERO_BLOCK,     /* an all-zero block */
	VEIL_FSCK_TRUNCATED,      /* the end block was sealed as a middle block */
	VEIL_FSCK_SEALED_LAST,    /* a middle block sealed as last (crash leftover) */
	VEIL_FSCK_TEMP,           /* veilfs.tmp.* left by an interrupted write */
	VEIL_FSCK_IO,             /* something could not be read at all */
	VEIL_FSCK_CONFLICT,       /* note: a sync tool's conflict copy */
	VEIL_FSCK_FOREIGN,        /* note: a file that is not part of the volume */
	VEIL_FSCK_NKINDS
};

const char *veil_fsck_kind_name(enum veil_fsck_kind k);

enum veil_fsck_evtype {
	VEIL_FSCK_EV_PROBLEM, /* something is wrong */
	VEIL_FSCK_EV_NOTE,    /* listed, not an error (conflict copies, foreign files) */
	VEIL_FSCK_EV_ACTION,  /* --repair did something */
	VEIL_FSCK_EV_FAILED,  /* --repair could not do what it tried */
};

struct veil_fsck_event {
	enum veil_fsck_evtype type;
	enum veil_fsck_kind kind;
	const char *path;   /* plaintext path, or the cipher path if @cipher */
	bool cipher;        /* @path is a path in the cipher directory */
	int64_t block;      /* block index for content problems, else -1 */
	const char *what;   /* one line, lower case, no full stop */
	uint64_t bytes_lost; /* ACTION: plaintext bytes that could not be kept */
};

struct veil_fsck_stats {
	uint64_t objects, bytes;             /* checked so far */
	uint64_t total_objects, total_bytes; /* from the first pass (0 if none) */
	uint64_t problems, notes, corrected, uncorrected;
	uint64_t by_kind[VEIL_FSCK_NKINDS];
	double seconds;
};

struct veil_fsck_opts {
	bool repair;
	bool quick;        /* headers, sizes and names only: no block is decrypted */
	bool count_first;  /* a fast first pass over sizes, for progress totals */
	const char *path;  /* plaintext subtree to check ("" or NULL: everything) */
	void (*event)(void *ctx, const struct veil_fsck_event *ev);
	void (*progress)(void *ctx, const struct veil_fsck_stats *s); /* optional */
	void *ctx;
};

/*
 * Check (and with o->repair, repair) the unlocked volume @v. Fills @s.
 * Returns 0 when the run completed (problems or not), or a negative errno
 * for an operational failure (the run stopped).
 */
int veil_fsck_run(const struct veil_volume *v, const struct veil_fsck_opts *o,
		  struct veil_fsck_stats *s) VEIL_MUST_CHECK;

/* Verify the contents of one cipher file @fd (file-level events only). For the fuzzer. */
int veil_fsck_file(const struct veil_volume *v, int fd, const char *path,
		   const struct veil_fsck_opts *o, struct veil_fsck_stats *s) VEIL_MUST_CHECK;

#endif
