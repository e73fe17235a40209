/* SPDX-License-Identifier: MIT */
/*
 * veil_header_parse on arbitrary bytes. Byte 0 selects help the fuzzer
 * cannot find alone: bit 0 recomputes the checksum (as an attacker can),
 * bit 1 writes the magic. Oracles: a parsed header serialises back to the
 * same bytes; unlock (for cheap KDF parameters only) never succeeds for a
 * header nobody made with the passphrase.
 */
#include <errno.h>

#include "lib/header.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[VEIL_HEADER_MAX_BYTES + 64], out[VEIL_HEADER_MAX_BYTES];
	struct veil_header h;
	uint8_t mode;
	int r;

	(void)fuzz_keys();
	if (size < 1 || size - 1 > sizeof(buf))
		return 0;
	mode = data[0];
	size--;
	memcpy(buf, data + 1, size);
	if ((mode & 2) && size >= VEIL_MAGIC_BYTES)
		memcpy(buf, VEIL_MAGIC, VEIL_MAGIC_BYTES);
	if ((mode & 1) && size >= VEIL_HASH_BYTES)
		veil_hash(buf + size - VEIL_HASH_BYTES, VEIL_HASH_BYTES, NULL, 0, buf,
			  size - VEIL_HASH_BYTES, NULL, 0, NULL, 0);
	/* Parse a heap copy of exactly @size bytes so ASan sees any over-read. */
	{
		uint8_t *exact = malloc(size ? size : 1);

		memcpy(exact, buf, size);
		r = veil_header_parse(exact, size, &h);
		free(exact);
	}
	CHECK(r == 0 || r == -EBADMSG || r == -EMEDIUMTYPE || r == -EPROTONOSUPPORT ||
	      r == -ENOTSUP);
	if (r < 0)
		return 0;
	CHECK(h.nslots >= 1 && h.nslots <= VEIL_MAX_SLOTS);
	CHECK(veil_header_serialize(&h, out) == size && memcmp(out, buf, size) == 0);
	for (uint32_t i = 0; i < h.nslots; i++) {
		/* The recovery slot has no KDF: its parameters must be zero. */
		if (h.slots[i].alg == VEIL_KDF_RECOVERY) {
			CHECK(h.info == 1 && h.slots[i].ops == 0 && h.slots[i].mem == 0 &&
			      h.slots[i].kind == VEIL_SLOT_RECOVERY);
			continue;
		}
		CHECK(h.slots[i].alg == VEIL_KDF_ARGON2ID13 && h.slots[i].kind == VEIL_SLOT_PASSPHRASE);
		CHECK(h.slots[i].ops >= VEIL_KDF_OPS_MIN && h.slots[i].ops <= VEIL_KDF_OPS_MAX);
		CHECK(h.slots[i].mem >= VEIL_KDF_MEM_MIN && h.slots[i].mem <= VEIL_KDF_MEM_MAX);
		CHECK(h.slots[i].label_len <= VEIL_LABEL_MAX);
		if (h.slots[i].ops > 2 || h.slots[i].mem > 65536)
			return 0;
	}
	{
		/* No key made up by the fuzzer is this header's master key. */
		uint8_t zero[VEIL_KEY_BYTES] = { 0 };

		CHECK(veil_header_check_master(&h, zero) == -EACCES);
	}
	{
		uint8_t *mk = veil_secure_alloc(VEIL_KEY_BYTES);

		r = veil_header_unlock(&h, "fuzz", 4, mk, NULL);
		CHECK(r == -EACCES || r == -EBADMSG);
		CHECK(veil_is_zero(mk, VEIL_KEY_BYTES));
		veil_secure_free(mk);
	}
	return 0;
}
