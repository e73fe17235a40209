/* SPDX-License-Identifier: MIT */
/*
 * veilfs/keys.h — the subkeys of an unlocked volume.
 *
 * The master key is never used directly: every purpose has its own subkey,
 * crypto_kdf_derive_from_key(id, context "veilfs01", master). The struct
 * lives in secure memory (veil_keys_new) and is wiped by veil_keys_free.
 */
#ifndef VEILFS_KEYS_H
#define VEILFS_KEYS_H

#include <stdint.h>

#include "crypto.h"

struct veil_keys {
	uint8_t content[VEIL_KEY_BYTES];
	uint8_t name_mac[VEIL_KEY_BYTES];
	uint8_t name_stream[VEIL_KEY_BYTES];
	uint8_t link[VEIL_KEY_BYTES];
	uint8_t xattr_name_mac[VEIL_KEY_BYTES];
	uint8_t xattr_name_stream[VEIL_KEY_BYTES];
	uint8_t xattr_value[VEIL_KEY_BYTES];
	uint8_t reverse_id[VEIL_KEY_BYTES];
	uint8_t reverse_nonce[VEIL_KEY_BYTES];
};

/* Derive every subkey of @master. NULL on allocation failure. */
struct veil_keys *veil_keys_new(const uint8_t master[static VEIL_KEY_BYTES]);
void veil_keys_free(struct veil_keys *k);
/* Lock the keys in memory again (memory locks are not inherited by fork). */
void veil_keys_relock(struct veil_keys *k);

#endif
