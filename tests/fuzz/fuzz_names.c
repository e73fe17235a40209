/* SPDX-License-Identifier: MIT */
/*
 * Names, symlink targets, xattr names and values with a fixed key. Byte 0
 * picks the parser; the rest is the on-disk string. "Authentic" modes
 * encrypt fuzzer-chosen plaintext with the real key first, so the checks
 * after authentication (padding, name validity, NUL bytes) are reached.
 * Oracles: whatever decrypts re-encrypts to the same bytes and is valid.
 */
#include <errno.h>

#include "lib/names.h"
#include "lib/volume.h"

#include "fuzz_common.h"

static const uint8_t dir_iv[VEIL_DIRIV_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* The SIV construction of names.h, applied to arbitrary padded bytes. */
static void craft(const uint8_t *mac_key, const uint8_t *stream_key, const uint8_t *iv,
		  const uint8_t *padded, size_t plen, char *out)
{
	uint8_t buf[VEIL_SIV_BYTES + 512];
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES] = { 0 };

	veil_hash(buf, VEIL_SIV_BYTES, mac_key, VEIL_KEY_BYTES, iv, VEIL_DIRIV_BYTES, padded, plen,
		  NULL, 0);
	memcpy(nonce, buf, VEIL_SIV_BYTES);
	veil_stream_xor(buf + VEIL_SIV_BYTES, padded, plen, nonce, stream_key);
	veil_b64_encode(out, veil_b64_encoded_len(VEIL_SIV_BYTES + plen) + 1, buf,
			VEIL_SIV_BYTES + plen);
}

static void check_name(const struct veil_keys *k, const char *enc, size_t n)
{
	char out[VEIL_NAME_MAX + 1], again[VEIL_ENCNAME_MAX + 1], back[VEIL_ENCNAME_MAX + 1];
	long r = veil_name_decrypt(k, dir_iv, enc, n, out);

	CHECK(r == -EBADMSG || r == -EINVAL || r > 0);
	if (r <= 0)
		return;
	CHECK((size_t)r == strlen(out) && veil_name_valid(out, (size_t)r));
	CHECK(veil_name_encrypt(k, dir_iv, out, (size_t)r, again) == (long)n);
	CHECK(memcmp(again, enc, n) == 0);
	CHECK(veil_name_backing(again, n, back) == (n > VEIL_SHORTNAME_MAX));
}

static void check_xattr(const struct veil_keys *k, const char *cname)
{
	char out[256], again[256];
	long r = veil_xattr_name_decrypt(k, cname, out);

	CHECK(r == -EBADMSG || r == -EINVAL || r > 0);
	if (r <= 0)
		return;
	CHECK((size_t)r == strlen(out) && strncmp(out, "user.", 5) == 0);
	CHECK(veil_xattr_name_encrypt(k, out, again) == (long)strlen(cname));
	CHECK(strcmp(again, cname) == 0);
}

static void check_link(const struct veil_keys *k, const char *enc, size_t n, const char *want,
		       long wantlen)
{
	char *out = malloc(VEIL_LINK_TARGET_MAX + 1);
	long r = veil_link_decrypt(k, enc, n, out);

	CHECK(r == -EBADMSG || r == -EINVAL || r > 0);
	if (r > 0)
		CHECK((size_t)r == strlen(out) && r <= VEIL_LINK_TARGET_MAX);
	if (want && wantlen > 0 && !memchr(want, '\0', (size_t)wantlen))
		CHECK(r == wantlen && memcmp(out, want, (size_t)wantlen) == 0);
	else if (want)
		CHECK(r < 0);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct veil_keys *k = fuzz_keys();
	char *s, *enc;
	uint8_t mode;

	if (size < 1 || size > 8192)
		return 0;
	mode = data[0] % 8;
	data++;
	size--;
	/* Exact-size heap copies so ASan catches any over-read. */
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	enc = malloc(8192);
	switch (mode) {
	case 0: /* an encoded name as found in a directory */
		check_name(k, s, size);
		(void)veil_entry_classify(s);
		break;
	case 1: /* a directory entry name (NUL-terminated) */
		(void)veil_entry_classify(s);
		(void)veil_diriv_conflict_name(s);
		check_name(k, s, strlen(s));
		break;
	case 2: /* a backing xattr name */
		check_xattr(k, s);
		break;
	case 3: /* an encrypted symlink target */
		check_link(k, s, size, NULL, 0);
		break;
	case 4: /* authentic name ciphertext of arbitrary padded bytes */
		if (size >= 16 && size <= 256) {
			size_t plen = size & ~(size_t)15;

			craft(k->name_mac, k->name_stream, dir_iv, data, plen, enc);
			check_name(k, enc, strlen(enc));
		}
		break;
	case 5: /* authentic xattr name ciphertext */
		if (size >= 16 && size <= 256) {
			static const uint8_t zero_iv[VEIL_DIRIV_BYTES];
			size_t plen = size & ~(size_t)15;

			memcpy(enc, "user.veilfs.", 12);
			craft(k->xattr_name_mac, k->xattr_name_stream, zero_iv, data, plen, enc + 12);
			check_xattr(k, enc);
		}
		break;
	case 6: /* authentic symlink target of arbitrary bytes */
		if (size <= VEIL_LINK_TARGET_MAX) {
			veil_link_encrypt(k, (const char *)data, size, enc);
			check_link(k, enc, strlen(enc), (const char *)data, (long)size);
		}
		break;
	case 7: { /* xattr value, with the name as AD */
		uint8_t *out = malloc(size + 1);
		long r = veil_xattr_value_decrypt(k, "user.veilfs.x", data, size, out);

		CHECK(r == -EBADMSG);
		free(out);
		break;
	}
	}
	free(enc);
	free(s);
	return 0;
}
