/* SPDX-License-Identifier: MIT */
/*
 * File contents without I/O: size arithmetic, block sealing, tampering,
 * block index and file binding, the last-block reading rules, file header.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/content.h"
#include "lib/crypto.h"
#include "lib/keys.h"

#include "../tap.h"

#define BS 4096u
#define CBS (BS + VEIL_BLOCK_OVERHEAD)

static void test_sizes(void)
{
	const struct {
		uint64_t plain, cipher;
	} v[] = {
		{ 0, 0 },
		{ 1, 32 + 1 + 40 },
		{ 4095, 32 + 4095 + 40 },
		{ 4096, 32 + 4136 },
		{ 4097, 32 + 4136 + 1 + 40 },
		{ 8192, 32 + 2 * 4136 },
		{ 1 << 20, 32 + 256 * 4136 },
		{ 1ULL << 40, 32 + (1ULL << 28) * 4136 },
		{ (1ULL << 40) + 1, 32 + (1ULL << 28) * 4136 + 41 },
	};
	int bad = 0, exceptions = 0;
	uint64_t p;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t c = veil_content_cipher_size(v[i].plain, BS);
		int r = veil_content_plain_size(v[i].cipher, BS, &p);

		ok(c == v[i].cipher && r == 0 && p == v[i].plain,
		   "plain %llu <-> cipher %llu (got %llu, back %llu, %d)",
		   (unsigned long long)v[i].plain, (unsigned long long)v[i].cipher,
		   (unsigned long long)c, (unsigned long long)p, r);
	}
	ok(veil_content_nblocks(0, BS) == 0 && veil_content_nblocks(1, BS) == 1 &&
		   veil_content_nblocks(4096, BS) == 1 && veil_content_nblocks(4097, BS) == 2,
	   "nblocks at the edges");
	ok(veil_content_block_offset(0, BS) == 32 && veil_content_block_offset(3, BS) == 32 + 3 * 4136,
	   "block offsets");

	/* Every cipher size in a range: rejected, or it maps back exactly. */
	for (uint64_t c = 0; c <= 3 * CBS + 100; c++) {
		uint64_t body = c - 32, rem = body % CBS;
		int want_reject = (c > 0 && c < 32) || (c >= 32 && rem >= 1 && rem <= 40);
		int r = veil_content_plain_size(c, BS, &p);

		if (c == 32) {
			/* A header-only file: an empty file left by a crash or truncate. */
			if (r == 0 && p == 0)
				exceptions++;
			else
				bad++;
			continue;
		}
		if (r == 0 && veil_content_cipher_size(p, BS) != c) {
			if (bad++ < 5)
				diag("cipher %llu -> plain %llu -> cipher %llu", (unsigned long long)c,
				     (unsigned long long)p,
				     (unsigned long long)veil_content_cipher_size(p, BS));
		} else if (r != 0 && r != -EBADMSG) {
			bad++;
		} else if ((r != 0) != want_reject) {
			if (bad++ < 5)
				diag("cipher %llu: %d, expected %s", (unsigned long long)c, r,
				     want_reject ? "reject" : "accept");
		}
	}
	ok(bad == 0 && exceptions == 1,
	   "cipher sizes 0..%u: each rejected with -EBADMSG or mapping back exactly", 3 * CBS + 100);

	/* The same over other block sizes and near the top of the range. */
	{
		const uint32_t bss[] = { 1024, 65536 };

		bad = 0;
		for (size_t j = 0; j < 2; j++) {
			uint32_t bs = bss[j];

			for (uint64_t c = 33; c < 3 * (bs + 40ull) + 100; c++) {
				int r = veil_content_plain_size(c, bs, &p);

				if (r == 0 && veil_content_cipher_size(p, bs) != c)
					bad++;
			}
			for (uint64_t pl = 1; pl < 3 * (uint64_t)bs + 10; pl += 7)
				if (veil_content_plain_size(veil_content_cipher_size(pl, bs), bs, &p) != 0 ||
				    p != pl)
					bad++;
		}
		for (uint64_t c = UINT64_MAX - 50000; c != 0; c++) {
			int r = veil_content_plain_size(c, BS, &p);

			if (r == 0 && veil_content_cipher_size(p, BS) != c)
				bad++;
		}
		ok(bad == 0, "round trips for block sizes 1024 and 65536 and near 2^64");
	}
}

static void test_header_fmt(void)
{
	uint8_t a[VEIL_FILE_HEADER_BYTES], b[VEIL_FILE_HEADER_BYTES], t[VEIL_FILE_HEADER_BYTES];
	int bad = 0;

	veil_content_header_new(a);
	veil_content_header_new(b);
	ok(a[0] == VEIL_CONTENT_VERSION && a[1] == 0 && veil_is_zero(a + 2, 6),
	   "new header: version 1, reserved zero");
	ok(memcmp(a + 8, b + 8, VEIL_FILE_ID_BYTES) != 0, "two new headers have different IDs");
	ok(veil_content_header_check(a) == 0, "header_check accepts a new header");
	for (int v = 0; v < 0x10000; v += (v < 16 ? 1 : 251)) {
		if (v == VEIL_CONTENT_VERSION)
			continue;
		memcpy(t, a, sizeof(t));
		t[0] = (uint8_t)v;
		t[1] = (uint8_t)(v >> 8);
		if (veil_content_header_check(t) != -EBADMSG)
			bad++;
	}
	ok(bad == 0, "header_check rejects other versions");
	bad = 0;
	for (int i = 2; i < 8; i++) {
		for (int m = 0; m < 8; m++) {
			memcpy(t, a, sizeof(t));
			t[i] ^= (uint8_t)(1 << m);
			if (veil_content_header_check(t) != -EBADMSG)
				bad++;
		}
	}
	ok(bad == 0, "header_check rejects every set reserved bit");
	memset(t, 0, sizeof(t));
	ok(veil_content_header_check(t) == -EBADMSG, "all-zero header rejected");
	memset(t, 0xff, sizeof(t));
	t[0] = 1;
	t[1] = 0;
	memset(t + 2, 0, 6);
	ok(veil_content_header_check(t) == 0, "file ID bytes are not constrained");
	for (int f = VEIL_FAULT_NONE; f <= VEIL_FAULT_HEADER; f++)
		if (!veil_block_fault_str((enum veil_block_fault)f) ||
		    !*veil_block_fault_str((enum veil_block_fault)f))
			bad++;
	ok(bad == 0, "every fault has a message");
}

static void test_seal(const struct veil_keys *k)
{
	uint8_t hdr[VEIL_FILE_HEADER_BYTES], hdr2[VEIL_FILE_HEADER_BYTES];
	uint8_t nonce[VEIL_BLOCK_NONCE_BYTES];
	uint8_t pt[BS], out[BS], blk[CBS], t[CBS];
	uint8_t h[VEIL_FILE_HEADER_BYTES];
	const size_t lens[] = { 1, 15, 100, 4095, 4096 };
	enum veil_block_fault f;
	int bad = 0, r;

	veil_content_header_new(hdr);
	veil_content_header_new(hdr2);
	veil_random(pt, sizeof(pt));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		veil_nonce(nonce);
		veil_content_seal(k->content, hdr, 5, i & 1, nonce, pt, lens[i], blk);
		memset(out, 0, sizeof(out));
		r = veil_content_open(k->content, hdr, 5, i & 1, blk, lens[i] + VEIL_BLOCK_OVERHEAD,
				      out);
		ok(r == 0 && memcmp(out, pt, lens[i]) == 0 && memcmp(blk, nonce, 24) == 0,
		   "seal/open round trip, %zu bytes (%d)", lens[i], r);
	}
	veil_nonce(nonce);
	{
		uint8_t n2[VEIL_BLOCK_NONCE_BYTES];

		veil_nonce(n2);
		ok(memcmp(nonce, n2, sizeof(n2)) != 0, "two nonces differ");
	}
	veil_content_seal(k->content, hdr, 1, false, nonce, pt, BS, blk);
	ok(memcmp(blk + 24, pt, 64) != 0, "the block is not the plaintext");

	/* Flip every byte of the sealed block. */
	for (size_t i = 0; i < CBS; i++) {
		for (int m = 0; m < 2; m++) {
			memcpy(t, blk, CBS);
			t[i] ^= m ? 0x80 : 0x01;
			memset(out, 0xee, sizeof(out));
			r = veil_content_open(k->content, hdr, 1, false, t, CBS, out);
			if (r != -EBADMSG || !veil_is_zero(out, BS))
				bad++;
		}
	}
	ok(bad == 0, "every flipped byte of a block -> -EBADMSG, output zeroed (%d not)", bad);
	bad = 0;
	for (size_t i = 0; i < VEIL_FILE_HEADER_BYTES; i++) {
		for (int m = 0; m < 2; m++) {
			memcpy(h, hdr, sizeof(h));
			h[i] ^= m ? 0x80 : 0x01;
			if (veil_content_open(k->content, h, 1, false, blk, CBS, out) != -EBADMSG)
				bad++;
		}
	}
	ok(bad == 0, "every flipped byte of the file header (AD) -> -EBADMSG");
	bad = 0;
	for (size_t n = 0; n < CBS; n += (n < 64 ? 1 : 97))
		if (veil_content_open(k->content, hdr, 1, false, blk, n, out) != -EBADMSG)
			bad++;
	ok(bad == 0, "a shortened block -> -EBADMSG");

	bad = 0;
	for (uint64_t j = 0; j < 70; j++) {
		if (j == 1)
			continue;
		if (veil_content_open(k->content, hdr, j, false, blk, CBS, out) != -EBADMSG ||
		    veil_content_open(k->content, hdr, j, true, blk, CBS, out) != -EBADMSG)
			bad++;
	}
	if (veil_content_open(k->content, hdr, 1ULL << 32 | 1, false, blk, CBS, out) != -EBADMSG ||
	    veil_content_open(k->content, hdr, 1ULL << 63 | 1, false, blk, CBS, out) != -EBADMSG)
		bad++;
	ok(bad == 0, "block 1 does not open at any other index (high bits included)");
	r = veil_content_open(k->content, hdr2, 1, false, blk, CBS, out);
	ok(r == -EBADMSG, "block does not open under another file ID (%d)", r);
	r = veil_content_open(k->content, hdr, 1, true, blk, CBS, out);
	ok(r == -EBADMSG, "block sealed not-last does not open as last (%d)", r);
	{
		uint8_t mk[VEIL_KEY_BYTES];
		struct veil_keys *k2;

		veil_random(mk, sizeof(mk));
		k2 = veil_keys_new(mk);
		r = veil_content_open(k2->content, hdr, 1, false, blk, CBS, out);
		ok(r == -EBADMSG, "block does not open under another volume's key (%d)", r);
		ok(memcmp(k->content, k->name_mac, VEIL_KEY_BYTES) != 0 &&
			   memcmp(k->content, k->link, VEIL_KEY_BYTES) != 0,
		   "subkeys differ from each other");
		veil_keys_free(k2);
	}

	/* Reading rules of veil_content_open_at. */
	r = veil_content_open_at(k->content, hdr, 1, 4, blk, CBS, out, &f);
	ok(r == 0 && f == VEIL_FAULT_NONE && memcmp(out, pt, BS) == 0,
	   "middle block sealed not-last opens as a middle block (%d)", r);
	memset(out, 0xee, sizeof(out));
	r = veil_content_open_at(k->content, hdr, 1, 2, blk, CBS, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_TRUNCATED,
	   "end block sealed not-last -> VEIL_FAULT_TRUNCATED (%d, %s)", r, veil_block_fault_str(f));
	ok(veil_is_zero(out, BS), "no plaintext is left in the output of a truncated end block");
	veil_content_seal(k->content, hdr, 1, true, nonce, pt, BS, blk);
	r = veil_content_open_at(k->content, hdr, 1, 2, blk, CBS, out, &f);
	ok(r == 0 && f == VEIL_FAULT_NONE && memcmp(out, pt, BS) == 0,
	   "end block sealed last opens (%d)", r);
	r = veil_content_open_at(k->content, hdr, 1, 3, blk, CBS, out, &f);
	ok(r == 0 && f == VEIL_FAULT_NONE && memcmp(out, pt, BS) == 0,
	   "middle block sealed last (crash trace of an extension) is accepted (%d)", r);
	r = veil_content_open_at(k->content, hdr, 2, 3, blk, CBS, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_AUTH, "block moved to the end -> VEIL_FAULT_AUTH (%d, %d)",
	   r, (int)f);
	r = veil_content_open_at(k->content, hdr, 0, 3, blk, CBS, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_AUTH, "block moved to the front -> VEIL_FAULT_AUTH (%d)",
	   r);
	memset(t, 0, sizeof(t));
	r = veil_content_open_at(k->content, hdr, 1, 3, t, CBS, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_ZERO, "all-zero middle block -> VEIL_FAULT_ZERO (%d)", r);
	r = veil_content_open_at(k->content, hdr, 2, 3, t, 100, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_ZERO, "all-zero short end block -> VEIL_FAULT_ZERO (%d)",
	   r);
	r = veil_content_open_at(k->content, hdr, 2, 3, blk, 40, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_SHORT, "40-byte block -> VEIL_FAULT_SHORT (%d)", r);
	r = veil_content_open_at(k->content, hdr, 2, 3, blk, 0, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_SHORT, "0-byte block -> VEIL_FAULT_SHORT (%d)", r);
	memcpy(t, blk, CBS);
	t[100] ^= 1;
	r = veil_content_open_at(k->content, hdr, 1, 3, t, CBS, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_AUTH && veil_is_zero(out, BS),
	   "tampered middle block -> VEIL_FAULT_AUTH, output zeroed (%d)", r);
	r = veil_content_open_at(k->content, hdr, 1, 2, t, CBS, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_AUTH, "tampered end block -> VEIL_FAULT_AUTH (%d)", r);
	/* A single-block file: block 0 is the end block. */
	veil_content_seal(k->content, hdr, 0, false, nonce, pt, 10, blk);
	r = veil_content_open_at(k->content, hdr, 0, 1, blk, 50, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_TRUNCATED,
	   "single block sealed not-last -> VEIL_FAULT_TRUNCATED (%d)", r);
	veil_content_seal(k->content, hdr, 0, true, nonce, pt, 10, blk);
	r = veil_content_open_at(k->content, hdr, 0, 1, blk, 50, out, &f);
	ok(r == 0 && memcmp(out, pt, 10) == 0, "single block sealed last opens (%d)", r);
	r = veil_content_open_at(k->content, hdr, 0, 1, blk, 49, out, &f);
	ok(r == -EBADMSG && f == VEIL_FAULT_AUTH, "block one byte short -> VEIL_FAULT_AUTH (%d)", r);
}

/*
 * Verifying (no plaintext buffer: fsck) gives the verdict and the fault that
 * opening gives, on every fault kind: blocks sealed last and not last,
 * tampered in the nonce, the ciphertext and the tag, cut short, zeroed,
 * under another file ID and another key, at every index of 1- to 3-block
 * files.
 */
static void test_verify(const struct veil_keys *k)
{
	enum { NV = 10 };
	uint8_t hdr[VEIL_FILE_HEADER_BYTES], hdr2[VEIL_FILE_HEADER_BYTES];
	uint8_t nonce[VEIL_BLOCK_NONCE_BYTES], mk[VEIL_KEY_BYTES];
	uint8_t pt[BS], out[BS];
	static uint8_t v[NV][CBS];
	size_t vlen[NV];
	unsigned seen[VEIL_FAULT_HEADER + 1] = { 0 };
	struct veil_keys *k2;
	int differ = 0, opened = 0, cases = 0;

	veil_content_header_new(hdr);
	veil_content_header_new(hdr2);
	veil_random(pt, sizeof(pt));
	veil_random(mk, sizeof(mk));
	k2 = veil_keys_new(mk);
	if (!k2) {
		ok(0, "veil_keys_new");
		return;
	}
	veil_nonce(nonce);
	veil_content_seal(k->content, hdr, 1, false, nonce, pt, BS, v[0]); /* middle 1 */
	veil_content_seal(k->content, hdr, 1, true, nonce, pt, BS, v[1]);  /* last 1 */
	veil_content_seal(k->content, hdr, 0, true, nonce, pt, 10, v[2]);  /* last 0, short */
	memcpy(v[3], v[0], CBS);
	v[3][5] ^= 1; /* nonce */
	memcpy(v[4], v[0], CBS);
	v[4][VEIL_BLOCK_NONCE_BYTES + 7] ^= 0x80; /* ciphertext */
	memcpy(v[5], v[1], CBS);
	v[5][CBS - 1] ^= 1; /* tag */
	memset(v[6], 0, CBS); /* zeroed */
	veil_content_seal(k->content, hdr2, 1, false, nonce, pt, BS, v[7]); /* other file */
	veil_content_seal(k2->content, hdr, 1, true, nonce, pt, BS, v[8]);  /* other key */
	veil_content_seal(k->content, hdr, 2, false, nonce, pt, 100, v[9]); /* middle 2, short */
	for (int i = 0; i < NV; i++)
		vlen[i] = CBS;
	vlen[2] = 10 + VEIL_BLOCK_OVERHEAD;
	vlen[9] = 100 + VEIL_BLOCK_OVERHEAD;

	for (int i = 0; i < NV; i++) {
		/* Whole, cut by one byte, cut to the overhead, to nothing. */
		const size_t cut[] = { vlen[i], vlen[i] - 1, VEIL_BLOCK_OVERHEAD, 0 };

		for (size_t c = 0; c < sizeof(cut) / sizeof(cut[0]); c++) {
			for (uint64_t n = 1; n <= 3; n++) {
				for (uint64_t idx = 0; idx < n; idx++) {
					enum veil_block_fault f1, f2;
					int r1 = veil_content_open_at(k->content, hdr, idx, n, v[i],
								      cut[c], out, &f1);
					int r2 = veil_content_open_at(k->content, hdr, idx, n, v[i],
								      cut[c], NULL, &f2);

					cases++;
					if (r1 != r2 || f1 != f2) {
						differ++;
						diag("block %d cut to %zu, idx %llu of %llu: open %d %s, "
						     "verify %d %s",
						     i, cut[c], (unsigned long long)idx,
						     (unsigned long long)n, r1, veil_block_fault_str(f1),
						     r2, veil_block_fault_str(f2));
					}
					opened += r2 == 0;
					seen[f2]++;
					for (int last = 0; last < 2; last++) {
						r1 = veil_content_open(k->content, hdr, idx, last, v[i],
								       cut[c], out);
						r2 = veil_content_open(k->content, hdr, idx, last, v[i],
								       cut[c], NULL);
						if (r1 != r2)
							differ++;
					}
				}
			}
		}
	}
	ok(differ == 0, "verify-only gives open's verdict and fault in all %d cases", cases);
	ok(opened > 0 && opened < cases, "both verdicts occur (%d of %d authenticate)", opened, cases);
	ok(seen[VEIL_FAULT_NONE] && seen[VEIL_FAULT_AUTH] && seen[VEIL_FAULT_ZERO] &&
		   seen[VEIL_FAULT_TRUNCATED] && seen[VEIL_FAULT_SHORT],
	   "every block fault occurs (none %u, auth %u, zero %u, truncated %u, short %u)",
	   seen[VEIL_FAULT_NONE], seen[VEIL_FAULT_AUTH], seen[VEIL_FAULT_ZERO],
	   seen[VEIL_FAULT_TRUNCATED], seen[VEIL_FAULT_SHORT]);
	ok(veil_aead_verify(v[0] + VEIL_BLOCK_NONCE_BYTES, 15, NULL, 0, v[0], k->content) ==
		   -EBADMSG,
	   "veil_aead_verify: shorter than a tag -> -EBADMSG");
	veil_keys_free(k2);
}

int main(void)
{
	uint8_t master[VEIL_KEY_BYTES];
	struct veil_keys *k;

	if (veil_crypto_init() < 0)
		return 1;
	veil_random(master, sizeof(master));
	k = veil_keys_new(master);
	if (!k)
		return 1;
	test_sizes();
	test_header_fmt();
	test_seal(k);
	test_verify(k);
	veil_keys_free(k);
	return tap_done();
}
