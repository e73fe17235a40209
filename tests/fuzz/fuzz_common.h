/* SPDX-License-Identifier: MIT */
/* Shared by the libFuzzer harnesses: a fixed volume key, a hard check. */
#ifndef VEILFS_FUZZ_COMMON_H
#define VEILFS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An oracle failure: a bug in the core, reported as a crash. */
#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
			abort();                                                     \
		}                                                                    \
	} while (0)

static inline const struct veil_keys *fuzz_keys(void)
{
	static struct veil_keys *k;

	if (!k) {
		uint8_t master[VEIL_KEY_BYTES];

		if (veil_crypto_init() < 0)
			abort();
		memset(master, 0x42, sizeof(master));
		k = veil_keys_new(master);
		if (!k)
			abort();
	}
	return k;
}

/* Consume little-endian integers from the front of the input. */
static inline uint64_t take(const uint8_t **p, size_t *n, size_t bytes)
{
	uint64_t v = 0;

	for (size_t i = 0; i < bytes && *n; i++, (*p)++, (*n)--)
		v |= (uint64_t)**p << (8 * i);
	return v;
}

#endif
