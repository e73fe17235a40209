/* SPDX-License-Identifier: MIT */
/*
 * veilfs/header.h — the volume header file (veilfs.conf).
 *
 * Layout (normative text: docs/format.md §Volume header), little-endian:
 *
 *   OFFSET      SIZE   MEANING
 *   0           8      magic "VEILFS\x1a\n"
 *   8           2      format version (1)
 *   10          2      reserved, zero
 *   12          4      required feature flags (none defined in version 1)
 *   16          4      block size (power of two, 1024..65536; 4096 by default)
 *   20          2      key slot count n (1..VEIL_MAX_SLOTS)
 *   22          2      slot info table: 0 absent (I = 0), 1 present (I = 64)
 *   24          112*n  key slots
 *   24+112n     I*n    slot info records (kind, creation time, label)
 *   24+(112+I)n 32     header MAC: keyed BLAKE2b-256 (subkey HEADER_MAC) of
 *                      every byte before it
 *   56+(112+I)n 32     checksum: unkeyed BLAKE2b-256 of every byte before it
 *
 * Key slot (112 bytes):
 *   0   4   KDF algorithm (1 = Argon2id v1.3, 2 = recovery key: no KDF)
 *   4   4   reserved, zero
 *   8   8   Argon2id opslimit
 *   16  8   Argon2id memlimit in bytes
 *   24  16  salt
 *   40  24  XChaCha20-Poly1305 nonce
 *   64  48  wrapped master key (32 bytes ciphertext + 16 bytes tag);
 *           AD = header bytes [0,20) || slot bytes [0,40)
 *
 * Slot info record (64 bytes):
 *   0   2   kind (1 = passphrase, 2 = recovery key)
 *   2   1   label length L (0..52)
 *   3   1   reserved, zero
 *   4   8   creation time (seconds since 1970, 0 = unknown)
 *   12  52  label: L bytes, then zeros
 *
 * The checksum tells accidental damage from a wrong passphrase before any
 * key derivation; the MAC, checked after a slot opens, makes every byte
 * (slot count, other slots, flags) tamper-evident.
 */
#ifndef VEILFS_HEADER_H
#define VEILFS_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "format.h"

#define VEIL_MAGIC "VEILFS\x1a\n"
#define VEIL_MAGIC_BYTES 8
#define VEIL_FORMAT_VERSION 1
#define VEIL_MAX_SLOTS 8
#define VEIL_SLOT_BYTES 112
#define VEIL_HEADER_FIXED_BYTES 24
#define VEIL_HEADER_TAIL_BYTES 64
#define VEIL_SLOT_INFO_BYTES 64
#define VEIL_LABEL_MAX 52
#define VEIL_HEADER_MAX_BYTES                                                        \
	(VEIL_HEADER_FIXED_BYTES + VEIL_MAX_SLOTS * (VEIL_SLOT_BYTES + VEIL_SLOT_INFO_BYTES) + \
	 VEIL_HEADER_TAIL_BYTES)
#define VEIL_SALT_BYTES 16
#define VEIL_WRAPPED_KEY_BYTES (VEIL_KEY_BYTES + VEIL_AEAD_TAG_BYTES)
#define VEIL_DEFAULT_BLOCK_SIZE 4096

#define VEIL_KDF_ARGON2ID13 1
#define VEIL_KDF_RECOVERY 2 /* the slot of a recovery key: KEK = subkey RECOVERY */

enum veil_slot_kind {
	VEIL_SLOT_PASSPHRASE = 1,
	VEIL_SLOT_RECOVERY = 2,
};

/* Bounds every header must respect before any key derivation runs. */
#define VEIL_KDF_OPS_MIN 1ULL
#define VEIL_KDF_OPS_MAX 16ULL
#define VEIL_KDF_MEM_MIN 8192ULL
#define VEIL_KDF_MEM_MAX (1024ULL * 1024 * 1024)

enum veil_kdf_profile {
	VEIL_KDF_INTERACTIVE, /* ops 2, 64 MiB */
	VEIL_KDF_MODERATE,    /* ops 3, 256 MiB: the default */
	VEIL_KDF_SENSITIVE,   /* ops 4, 1 GiB */
};

struct veil_kdf_params {
	uint64_t ops;
	uint64_t mem;
};

struct veil_slot {
	uint32_t alg;
	uint64_t ops;
	uint64_t mem;
	uint8_t salt[VEIL_SALT_BYTES];
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES];
	uint8_t wrapped[VEIL_WRAPPED_KEY_BYTES];
	/* From the slot info table (kind follows alg when there is none). */
	uint16_t kind;
	uint8_t label_len;
	char label[VEIL_LABEL_MAX + 1];
	uint64_t created;
};

struct veil_header {
	uint16_t version;
	uint32_t flags;
	uint32_t block_size;
	uint32_t nslots;
	uint16_t info; /* 1: the slot info table is present */
	struct veil_slot slots[VEIL_MAX_SLOTS];
	uint8_t mac[VEIL_HASH_BYTES];
};

/* Parameters of a named profile. Returns -EINVAL for an unknown name. */
int veil_kdf_profile_params(enum veil_kdf_profile p, struct veil_kdf_params *out);
int veil_kdf_profile_parse(const char *name, enum veil_kdf_profile *out) VEIL_MUST_CHECK;

/* Bounds-check, then Argon2id: @kek receives VEIL_KEY_BYTES. */
int veil_kdf_derive(uint8_t kek[static VEIL_KEY_BYTES], const char *pass, size_t plen,
		    const uint8_t salt[static VEIL_SALT_BYTES], uint64_t ops,
		    uint64_t mem) VEIL_MUST_CHECK;

/*
 * Parse a header file image. Errors:
 *   -EMEDIUMTYPE not a veilfs header (bad magic, or too short to hold one)
 *   -EBADMSG     damaged: checksum mismatch, bad sizes, reserved bits set,
 *                KDF parameters out of bounds
 *   -EPROTONOSUPPORT  unknown format version
 *   -ENOTSUP     unknown required feature flag
 */
int veil_header_parse(const uint8_t *buf, size_t len, struct veil_header *h) VEIL_MUST_CHECK;

/* Serialize (computes the checksum; @h->mac must be current). Returns size. */
size_t veil_header_serialize(const struct veil_header *h,
			     uint8_t out[static VEIL_HEADER_MAX_BYTES]);

/*
 * Create a header holding @master wrapped under @pass in slot 0.
 * @master is VEIL_KEY_BYTES of secure memory chosen by the caller.
 */
int veil_header_create(struct veil_header *h, const uint8_t master[static VEIL_KEY_BYTES],
		       uint32_t block_size, const char *pass, size_t plen,
		       const struct veil_kdf_params *kdf) VEIL_MUST_CHECK;

/*
 * Try every slot with @pass. On success writes the master key to @master
 * (secure memory), the slot index to @slot (may be NULL) and verifies the
 * header MAC. Errors: -EACCES no slot opens (wrong passphrase), -EBADMSG a
 * slot opened but the header MAC failed (the header was altered).
 */
int veil_header_unlock(const struct veil_header *h, const char *pass, size_t plen,
		       uint8_t master[static VEIL_KEY_BYTES], int *slot) VEIL_MUST_CHECK;

/* Append a slot for @pass (needs the unlocked master key); reseals the MAC. */
int veil_header_add_slot(struct veil_header *h, const uint8_t master[static VEIL_KEY_BYTES],
			 const char *pass, size_t plen,
			 const struct veil_kdf_params *kdf) VEIL_MUST_CHECK;

/* Replace slot @idx with one for @pass; reseals the MAC. */
int veil_header_set_slot(struct veil_header *h, int idx,
			 const uint8_t master[static VEIL_KEY_BYTES], const char *pass,
			 size_t plen, const struct veil_kdf_params *kdf) VEIL_MUST_CHECK;

/*
 * Append the slot of the recovery key (algorithm 2: the master key wrapped
 * under its own subkey RECOVERY); turns the slot info table on; reseals.
 * -EEXIST if the header has one already (its index goes to @idx).
 */
int veil_header_add_recovery(struct veil_header *h, const uint8_t master[static VEIL_KEY_BYTES],
			     int *idx) VEIL_MUST_CHECK;

/* Index of the recovery slot, or -1. */
int veil_header_recovery_slot(const struct veil_header *h);

/*
 * Set slot @idx's label (@label may be NULL: none) and creation time, and
 * turn the slot info table on. The caller reseals. -EINVAL if the label is
 * longer than VEIL_LABEL_MAX bytes or holds a control character.
 */
int veil_header_set_info(struct veil_header *h, int idx, const char *label,
			 uint64_t created) VEIL_MUST_CHECK;

/*
 * Check that @master is this header's master key (a recovery key): the
 * header MAC must match, and the recovery slot, if any, must open to
 * @master. -EACCES if not (another volume's key, or an altered header).
 */
int veil_header_check_master(const struct veil_header *h,
			     const uint8_t master[static VEIL_KEY_BYTES]) VEIL_MUST_CHECK;

/* Remove slot @idx (never the last one: -EINVAL); reseals the MAC. */
int veil_header_remove_slot(struct veil_header *h, int idx,
			    const uint8_t master[static VEIL_KEY_BYTES]) VEIL_MUST_CHECK;

/* Recompute the header MAC with @master. */
int veil_header_reseal(struct veil_header *h,
		       const uint8_t master[static VEIL_KEY_BYTES]) VEIL_MUST_CHECK;

/*
 * Wrap @master into @slot with an explicit salt and nonce (test vectors and
 * the create/add paths use it). The slot's alg/ops/mem must already be set.
 */
int veil_slot_wrap(const struct veil_header *h, struct veil_slot *slot,
		   const uint8_t master[static VEIL_KEY_BYTES], const char *pass,
		   size_t plen) VEIL_MUST_CHECK;

/* Read/parse the header file @name relative to @dirfd (O_NOFOLLOW). */
int veil_header_load(int dirfd, const char *name, struct veil_header *h) VEIL_MUST_CHECK;

/*
 * Write atomically: temp file in the same directory, fsync, rename over
 * @name, fsync the directory. With @exclusive, fail with -EEXIST if @name
 * already exists.
 */
int veil_header_store(int dirfd, const char *name, const struct veil_header *h,
		      int exclusive) VEIL_MUST_CHECK;

/*
 * Replace the header file @name with @h like veil_header_store, then
 * overwrite every byte of the old file with random data before letting it
 * go, so a removed or replaced key slot is not left in the freed blocks
 * (no guarantee on copy-on-write filesystems or SSD remapping). The old
 * file is held by a hard link veilfs.tmp.confold<16 hex digits> meanwhile; a crash
 * at any point leaves @name either the old or the new header.
 *
 * Writers of one header are serialised by an exclusive flock on the live
 * file. With @expect, the file must still hold exactly @expect (the header
 * the caller read and changed) or nothing is written and -ESTALE returned:
 * another command changed it meanwhile. *@in_place is 1 once @name holds
 * @h, also when an error is returned after that (the directory could not
 * be synced: the new header may not survive a crash).
 */
int veil_header_replace(int dirfd, const char *name, const struct veil_header *h,
			const struct veil_header *expect, int *in_place) VEIL_MUST_CHECK;

/*
 * renameat(2) that never replaces an existing @to: RENAME_NOREPLACE, or, on
 * a backing store that rejects the flag with EINVAL (sshfs, several network
 * filesystems), link(2) + unlink(2) for a file (atomic: link fails with
 * EEXIST) and, for a directory or where links fail too, a check that @to is
 * absent followed by a plain rename (a short window only on such stores).
 * 0 or -errno (-EEXIST if @to exists).
 */
int veil_rename_noreplace(int fromfd, const char *from, int tofd, const char *to) VEIL_MUST_CHECK;

#endif
