/* SPDX-License-Identifier: MIT */
/*
 * veilfs/unlock.h — unlock a volume header with one secret, a passphrase
 * or a recovery key told apart by its form: the one decision that the
 * veilfs command (src/cli/cli.c) and the public API (src/lib/api.c) share.
 * It prints nothing; the caller words the outcome from what it returns.
 */
#ifndef VEILFS_UNLOCK_H
#define VEILFS_UNLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "header.h"
#include "recovery.h"

/* Which attempt an error of veil_unlock comes from. */
enum veil_unlock_stage {
	VEIL_UNLOCK_PASS,     /* the passphrase slots (also the fallback of a
	                         recovery key's form when they fail otherwise than -EACCES) */
	VEIL_UNLOCK_RK_FORM,  /* a recovery key's form that does not decode and
	                         opens no passphrase slot: @fault, @group say why */
	VEIL_UNLOCK_RK_OTHER, /* a well-formed recovery key that is not this
	                         header's, and opens no passphrase slot */
	VEIL_UNLOCK_RK_CHECK, /* checking a recovery key failed (not -EACCES) */
};

struct veil_unlock_result {
	bool recovery;                 /* opened by the recovery key */
	int slot;                      /* the slot that opened; -1: a recovery key and no recovery slot */
	enum veil_unlock_stage stage;  /* on failure: where the error comes from */
	enum veil_recovery_fault fault; /* VEIL_UNLOCK_RK_FORM: why it does not decode */
	int group;                     /* VEIL_UNLOCK_RK_FORM: the group (1-based, 0 if none) */
};

/*
 * Unlock header @h with @s (@len bytes): a line of a recovery key's form
 * (veil_recovery_looks_like) is decoded and checked as one; if it does not
 * decode, or is not this header's recovery key, the passphrase slots still
 * get their turn with the same bytes (a passphrase chosen before recovery
 * keys existed may have that form). Any other line is a passphrase.
 * On success @master (secure memory) holds the master key and @res says
 * how. Returns 0 or -errno (-EACCES: nothing opened; @res->stage says
 * where the error comes from); @master is wiped on failure.
 */
int veil_unlock(const struct veil_header *h, const char *s, size_t len,
		uint8_t master[static VEIL_KEY_BYTES], struct veil_unlock_result *res) VEIL_MUST_CHECK;

#endif
