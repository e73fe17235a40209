/* SPDX-License-Identifier: MIT */
/* Subkey derivation: one key per purpose, never the master key itself. */
#include "keys.h"

#include <stddef.h>

struct veil_keys *veil_keys_new(const uint8_t master[static VEIL_KEY_BYTES])
{
	static const struct {
		enum veil_subkey_id id;
		size_t off;
	} map[] = {
		{ VEIL_SUBKEY_CONTENT, offsetof(struct veil_keys, content) },
		{ VEIL_SUBKEY_NAME_MAC, offsetof(struct veil_keys, name_mac) },
		{ VEIL_SUBKEY_NAME_STREAM, offsetof(struct veil_keys, name_stream) },
		{ VEIL_SUBKEY_LINK, offsetof(struct veil_keys, link) },
		{ VEIL_SUBKEY_XATTR_NAME_MAC, offsetof(struct veil_keys, xattr_name_mac) },
		{ VEIL_SUBKEY_XATTR_NAME_STREAM, offsetof(struct veil_keys, xattr_name_stream) },
		{ VEIL_SUBKEY_XATTR_VALUE, offsetof(struct veil_keys, xattr_value) },
		{ VEIL_SUBKEY_REVERSE_ID, offsetof(struct veil_keys, reverse_id) },
		{ VEIL_SUBKEY_REVERSE_NONCE, offsetof(struct veil_keys, reverse_nonce) },
	};
	struct veil_keys *k = veil_secure_alloc(sizeof(*k));

	if (!k)
		return NULL;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (veil_kdf_subkey((uint8_t *)k + map[i].off, map[i].id, master) < 0) {
			veil_keys_free(k);
			return NULL;
		}
	}
	return k;
}

void veil_keys_free(struct veil_keys *k)
{
	veil_secure_free(k);
}

void veil_keys_relock(struct veil_keys *k)
{
	if (k)
		veil_mlock(k, sizeof(*k));
}
