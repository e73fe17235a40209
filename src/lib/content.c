/* SPDX-License-Identifier: MIT */
/* Block sealing and size arithmetic for file contents. Layout: content.h. */
#include "content.h"

#include <errno.h>
#include <string.h>

#include "le.h"

const char *veil_block_fault_str(enum veil_block_fault f)
{
	switch (f) {
	case VEIL_FAULT_NONE:
		return "no fault";
	case VEIL_FAULT_AUTH:
		return "block failed authentication (modified, moved or from another file)";
	case VEIL_FAULT_ZERO:
		return "block is all zeros (hole or zeroed by another program)";
	case VEIL_FAULT_TRUNCATED:
		return "file was cut at a block boundary (end block is not the sealed last block)";
	case VEIL_FAULT_SHORT:
		return "cipher file ends inside a block";
	case VEIL_FAULT_HEADER:
		return "file header is damaged or of an unknown version";
	}
	return "unknown fault";
}

static uint64_t cblock(uint32_t bs)
{
	return (uint64_t)bs + VEIL_BLOCK_OVERHEAD;
}

int veil_content_plain_size(uint64_t csize, uint32_t bs, uint64_t *psize)
{
	uint64_t body, full, rem;

	*psize = 0;
	if (csize == 0)
		return 0;
	if (csize < VEIL_FILE_HEADER_BYTES)
		return -EBADMSG;
	body = csize - VEIL_FILE_HEADER_BYTES;
	full = body / cblock(bs);
	rem = body % cblock(bs);
	if (rem != 0 && rem <= VEIL_BLOCK_OVERHEAD)
		return -EBADMSG;
	*psize = full * bs + (rem ? rem - VEIL_BLOCK_OVERHEAD : 0);
	return 0;
}

uint64_t veil_content_nblocks(uint64_t psize, uint32_t bs)
{
	return (psize + bs - 1) / bs;
}

uint64_t veil_content_cipher_size(uint64_t psize, uint32_t bs)
{
	if (psize == 0)
		return 0;
	return VEIL_FILE_HEADER_BYTES + psize + veil_content_nblocks(psize, bs) * VEIL_BLOCK_OVERHEAD;
}

uint64_t veil_content_block_offset(uint64_t idx, uint32_t bs)
{
	return VEIL_FILE_HEADER_BYTES + idx * cblock(bs);
}

void veil_content_header_new(uint8_t hdr[static VEIL_FILE_HEADER_BYTES])
{
	memset(hdr, 0, VEIL_FILE_HEADER_BYTES);
	le16_store(hdr, VEIL_CONTENT_VERSION);
	veil_random(hdr + 8, VEIL_FILE_ID_BYTES);
}

int veil_content_header_check(const uint8_t hdr[static VEIL_FILE_HEADER_BYTES])
{
	if (le16_load(hdr) != VEIL_CONTENT_VERSION || !veil_is_zero(hdr + 2, 6))
		return -EBADMSG;
	return 0;
}

static void block_ad(uint8_t ad[VEIL_BLOCK_AD_BYTES],
		     const uint8_t hdr[static VEIL_FILE_HEADER_BYTES], uint64_t idx, bool last)
{
	memcpy(ad, hdr, VEIL_FILE_HEADER_BYTES);
	le64_store(ad + VEIL_FILE_HEADER_BYTES, idx);
	ad[VEIL_FILE_HEADER_BYTES + 8] = last ? 1 : 0;
}

void veil_content_seal(const uint8_t key[static VEIL_KEY_BYTES],
		       const uint8_t hdr[static VEIL_FILE_HEADER_BYTES], uint64_t idx, bool last,
		       const uint8_t nonce[static VEIL_BLOCK_NONCE_BYTES], const uint8_t *pt,
		       size_t ptlen, uint8_t *out)
{
	uint8_t ad[VEIL_BLOCK_AD_BYTES];

	block_ad(ad, hdr, idx, last);
	memcpy(out, nonce, VEIL_BLOCK_NONCE_BYTES);
	veil_aead_seal(out + VEIL_BLOCK_NONCE_BYTES, pt, ptlen, ad, sizeof(ad), nonce, key);
}

int veil_content_open(const uint8_t key[static VEIL_KEY_BYTES],
		      const uint8_t hdr[static VEIL_FILE_HEADER_BYTES], uint64_t idx, bool last,
		      const uint8_t *in, size_t inlen, uint8_t *pt)
{
	uint8_t ad[VEIL_BLOCK_AD_BYTES];

	if (inlen <= VEIL_BLOCK_OVERHEAD)
		return -EBADMSG;
	block_ad(ad, hdr, idx, last);
	if (!pt)
		return veil_aead_verify(in + VEIL_BLOCK_NONCE_BYTES, inlen - VEIL_BLOCK_NONCE_BYTES, ad,
					sizeof(ad), in, key);
	return veil_aead_open(pt, in + VEIL_BLOCK_NONCE_BYTES, inlen - VEIL_BLOCK_NONCE_BYTES, ad,
			      sizeof(ad), in, key);
}

/*
 * A hole or a zeroed region: nonce and tag all zero. A real block has a zero
 * tag with probability 2^-128, so this never rejects a valid block, and any
 * block it lets through must still authenticate. The bytes are public
 * ciphertext, so no constant-time comparison is needed.
 */
static bool zero_block(const uint8_t *in, size_t inlen)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < VEIL_BLOCK_NONCE_BYTES; i++)
		acc |= in[i];
	for (size_t i = inlen - VEIL_BLOCK_TAG_BYTES; i < inlen; i++)
		acc |= in[i];
	return acc == 0;
}

int veil_content_open_at(const uint8_t key[static VEIL_KEY_BYTES],
			 const uint8_t hdr[static VEIL_FILE_HEADER_BYTES], uint64_t idx,
			 uint64_t nblocks, const uint8_t *in, size_t inlen, uint8_t *pt,
			 enum veil_block_fault *fault)
{
	bool end = idx + 1 == nblocks;

	*fault = VEIL_FAULT_NONE;
	if (inlen <= VEIL_BLOCK_OVERHEAD) {
		*fault = VEIL_FAULT_SHORT;
		return -EBADMSG;
	}
	if (zero_block(in, inlen)) {
		*fault = VEIL_FAULT_ZERO;
		return -EBADMSG;
	}
	if (veil_content_open(key, hdr, idx, end, in, inlen, pt) == 0)
		return 0;
	if (!end) {
		/* Extension crashed before the old last block was resealed. */
		if (veil_content_open(key, hdr, idx, true, in, inlen, pt) == 0)
			return 0;
		*fault = VEIL_FAULT_AUTH;
		return -EBADMSG;
	}
	*fault = veil_content_open(key, hdr, idx, false, in, inlen, pt) == 0
			 ? VEIL_FAULT_TRUNCATED
			 : VEIL_FAULT_AUTH;
	if (pt)
		veil_wipe(pt, inlen - VEIL_BLOCK_OVERHEAD);
	return -EBADMSG;
}
