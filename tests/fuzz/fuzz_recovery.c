/* SPDX-License-Identifier: MIT */
/*
 * veil_recovery_decode and veil_recovery_looks_like on arbitrary text.
 * Oracles: a decoded key encodes to a text that decodes to the same
 * fields; a failure names a group within 1..20 or none.
 */
#include <errno.h>

#include "lib/recovery.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct veil_recovery a, b;
	enum veil_recovery_fault f;
	char text[VEIL_RECOVERY_CHARS + 1];
	char *exact;
	int g, r;

	if (size > 4096)
		return 0;
	/* A heap copy of exactly @size bytes so ASan sees any over-read. */
	exact = malloc(size ? size : 1);
	memcpy(exact, data, size);
	(void)veil_recovery_looks_like(exact, size);
	r = veil_recovery_decode(exact, size, &a, &f, &g);
	free(exact);
	CHECK(r == 0 || r == -EINVAL);
	if (r < 0) {
		CHECK(f != VEIL_RK_OK && g >= 0 && g <= 20);
		CHECK(veil_recovery_fault_str(f) != NULL);
		return 0;
	}
	CHECK(a.block_size >= 1024 && a.block_size <= 65536);
	veil_recovery_encode(&a, text);
	CHECK(veil_recovery_looks_like(text, strlen(text)));
	CHECK(veil_recovery_decode(text, strlen(text), &b, &f, &g) == 0);
	CHECK(memcmp(a.master, b.master, sizeof(a.master)) == 0 && a.version == b.version &&
	      a.block_size == b.block_size && a.flags == b.flags);
	return 0;
}
