/* SPDX-License-Identifier: MIT */
/* Argon2id key derivation with bounds checked before any allocation. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "header.h"

_Static_assert(VEIL_SALT_BYTES == crypto_pwhash_argon2id_SALTBYTES, "salt size");

int veil_kdf_profile_params(enum veil_kdf_profile p, struct veil_kdf_params *out)
{
	switch (p) {
	case VEIL_KDF_INTERACTIVE:
		out->ops = 2;
		out->mem = 64ULL << 20;
		return 0;
	case VEIL_KDF_MODERATE:
		out->ops = 3;
		out->mem = 256ULL << 20;
		return 0;
	case VEIL_KDF_SENSITIVE:
		out->ops = 4;
		out->mem = 1024ULL << 20;
		return 0;
	}
	return -EINVAL;
}

int veil_kdf_profile_parse(const char *name, enum veil_kdf_profile *out)
{
	if (strcmp(name, "interactive") == 0)
		*out = VEIL_KDF_INTERACTIVE;
	else if (strcmp(name, "moderate") == 0)
		*out = VEIL_KDF_MODERATE;
	else if (strcmp(name, "sensitive") == 0)
		*out = VEIL_KDF_SENSITIVE;
	else
		return -EINVAL;
	return 0;
}

int veil_kdf_derive(uint8_t kek[static VEIL_KEY_BYTES], const char *pass, size_t plen,
		    const uint8_t salt[static VEIL_SALT_BYTES], uint64_t ops, uint64_t mem)
{
	if (ops < VEIL_KDF_OPS_MIN || ops > VEIL_KDF_OPS_MAX || mem < VEIL_KDF_MEM_MIN ||
	    mem > VEIL_KDF_MEM_MAX)
		return -EINVAL;
	if (plen == 0)
		return -EINVAL;
	if (crypto_pwhash(kek, VEIL_KEY_BYTES, pass, plen, salt, ops, (size_t)mem,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -ENOMEM;
	return 0;
}
