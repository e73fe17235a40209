/* SPDX-License-Identifier: MIT */
/*
 * veilfs/recovery.h — the recovery key: a volume's master key and the
 * header fields needed to rebuild its header, in a form a person can copy
 * by hand (normative text: docs/format.md §Recovery key).
 *
 * Payload (40 bytes):
 *   OFFSET  SIZE  MEANING
 *   0       1     encoding version (1)
 *   1       1     format version of the volume
 *   2       1     log2 of the block size
 *   3       4     LE32 feature flags
 *   7       32    master key
 *   39      1     first byte of BLAKE2b-256(payload[0, 39))
 *
 * The 320 bits are cut into 64 symbols of 5 bits (most significant first),
 * written in the alphabet "0123456789ABCDEFGHJKMNPQRSTVWXYZ" (no I, L, O,
 * U). Every 4 symbols get a check symbol over GF(32) that also covers the
 * group's position, so a mistyped, missing or swapped group is named.
 * Printed: 16 groups of 5 characters joined by '-'.
 */
#ifndef VEILFS_RECOVERY_H
#define VEILFS_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define VEIL_RECOVERY_VERSION 1
#define VEIL_RECOVERY_PAYLOAD_BYTES 40
#define VEIL_RECOVERY_GROUPS 16
#define VEIL_RECOVERY_GROUP_CHARS 5
/* 16 groups of 5 and 15 dashes */
#define VEIL_RECOVERY_CHARS (VEIL_RECOVERY_GROUPS * (VEIL_RECOVERY_GROUP_CHARS + 1) - 1)

struct veil_recovery {
	uint8_t master[VEIL_KEY_BYTES]; /* the caller keeps the struct in secure memory */
	uint16_t version;               /* volume format version */
	uint32_t block_size;
	uint32_t flags;
};

/* Encode @r into @out (VEIL_RECOVERY_CHARS + 1 bytes, NUL-terminated). */
void veil_recovery_encode(const struct veil_recovery *r, char out[static VEIL_RECOVERY_CHARS + 1]);

/*
 * Does @s (@len bytes, one line) have the form of a recovery key, right or
 * wrong? Such a line is taken as a recovery key wherever a passphrase is
 * asked, and refused as a new passphrase.
 */
bool veil_recovery_looks_like(const char *s, size_t len);

/* Why a recovery key was refused (veil_recovery_decode). */
enum veil_recovery_fault {
	VEIL_RK_OK,
	VEIL_RK_CHAR,      /* a character outside the alphabet, in group @group */
	VEIL_RK_LENGTH,    /* group @group has too few or too many characters */
	VEIL_RK_GROUP,     /* group @group fails its check character */
	VEIL_RK_MISSING,   /* group @group is missing */
	VEIL_RK_EXTRA,     /* more than 16 groups */
	VEIL_RK_COUNT,     /* the wrong number of groups (which cannot be told) */
	VEIL_RK_CHECKSUM,  /* every group checks but the whole key does not */
	VEIL_RK_VERSION,   /* an encoding version or field this veilfs does not know */
};

/*
 * Decode a recovery key as typed: upper or lower case; O is read as 0 and
 * I, L as 1; groups separated by '-' or spaces (or none at all). On
 * failure returns -EINVAL with @fault and @group (1-based, 0 if none) set.
 */
int veil_recovery_decode(const char *s, size_t len, struct veil_recovery *out,
			 enum veil_recovery_fault *fault, int *group) VEIL_MUST_CHECK;

/* One line in words for a fault, e.g. "group 7 is wrong (check character)". */
const char *veil_recovery_fault_str(enum veil_recovery_fault f);

#endif
