/* SPDX-License-Identifier: MIT */
/*
 * Content blocks: size arithmetic on arbitrary cipher sizes and block
 * sizes, veil_content_open_at on arbitrary bytes, and on real blocks
 * (sealed from fuzzer plaintext with the real key) opened with
 * fuzzer-chosen index, block count and damage.
 */
#include <errno.h>

#include "lib/content.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct veil_keys *k = fuzz_keys();
	const uint8_t *p = data;
	size_t n = size;
	uint8_t hdr[VEIL_FILE_HEADER_BYTES] = { 1 };
	uint64_t csize, psize, idx, nblocks;
	uint32_t bs;
	uint8_t mode;
	enum veil_block_fault f;
	int r;

	if (size < 1 || size > 70000)
		return 0;
	mode = (uint8_t)take(&p, &n, 1);
	bs = 1024u << (mode >> 5 & 7) % 7; /* 1024..65536 */
	csize = take(&p, &n, 8);
	r = veil_content_plain_size(csize, bs, &psize);
	CHECK(r == 0 || r == -EBADMSG);
	if (r == 0 && csize != VEIL_FILE_HEADER_BYTES) {
		CHECK(veil_content_cipher_size(psize, bs) == csize);
		CHECK(veil_content_nblocks(psize, bs) == 0 ||
		      veil_content_block_offset(veil_content_nblocks(psize, bs) - 1, bs) < csize);
	}
	if (r == 0 && psize <= (UINT64_MAX >> 2))
		CHECK(veil_content_plain_size(veil_content_cipher_size(psize, bs), bs, &psize) == 0);
	idx = take(&p, &n, 2);
	nblocks = take(&p, &n, 2);
	memcpy(hdr + 8, p, n < 24 ? n : 24);
	if (mode & 1) {
		/* Arbitrary bytes as a block: must never open. */
		uint8_t *in = malloc(n ? n : 1), *pt = malloc(n ? n : 1);

		memcpy(in, p, n);
		r = veil_content_open_at(k->content, hdr, idx, nblocks, in, n, pt, &f);
		CHECK(r == -EBADMSG && f != VEIL_FAULT_NONE);
		free(in);
		free(pt);
	} else if (n > 0) {
		/* A real block, sealed at index 5 (last iff mode bit 1), then damaged. */
		size_t len = n > bs ? bs : n, cut;
		uint8_t *blk = malloc(len + VEIL_BLOCK_OVERHEAD), *pt = malloc(len + 1);
		uint8_t nonce[VEIL_BLOCK_NONCE_BYTES] = { 9 };
		bool last = mode & 2;

		veil_content_seal(k->content, hdr, 5, last, nonce, p, len, blk);
		idx %= 8;
		nblocks %= 8;
		if (nblocks <= idx) /* the contract: idx < nblocks */
			nblocks = idx + 1;
		cut = (mode & 4) ? (size_t)(csize % (len + VEIL_BLOCK_OVERHEAD + 1))
				 : len + VEIL_BLOCK_OVERHEAD;
		if (mode & 8)
			blk[csize % (len + VEIL_BLOCK_OVERHEAD)] ^= (uint8_t)(1 + (csize >> 32) % 255);
		r = veil_content_open_at(k->content, hdr, idx, nblocks, blk, cut, pt, &f);
		if (r == 0) {
			/* Only the intact block at its own index opens, and only as the rules allow. */
			CHECK(!(mode & 8) && cut == len + VEIL_BLOCK_OVERHEAD && idx == 5);
			CHECK(last ? idx < nblocks : idx + 1 < nblocks);
			CHECK(memcmp(pt, p, len) == 0);
		} else {
			CHECK(r == -EBADMSG && f != VEIL_FAULT_NONE);
			if (!(mode & 8) && cut == len + VEIL_BLOCK_OVERHEAD && idx == 5 &&
			    idx + 1 == nblocks && !last)
				CHECK(f == VEIL_FAULT_TRUNCATED);
		}
		free(blk);
		free(pt);
	}
	return 0;
}
