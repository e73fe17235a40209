/* SPDX-License-Identifier: MIT */
/*
 * The volume header: serialise/parse/unlock round trip, every byte flipped
 * (with and without the checksum fixed up, as an attacker would), bounds on
 * the KDF parameters, truncation, key slots, atomic store/load.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/header.h"

#include "../tap.h"
#include "util.h"

static const struct veil_kdf_params tiny = { TINY_OPS, TINY_MEM };
static const char pass1[] = "correct horse battery staple";
static const char pass2[] = "second passphrase";

#define SUM_OFF(len) ((len)-VEIL_HASH_BYTES)
#define MAC_OFF(len) ((len)-2 * VEIL_HASH_BYTES)

/* Recompute the unkeyed checksum, as anyone editing the file can. */
static void fix_checksum(uint8_t *buf, size_t len)
{
	veil_hash(buf + SUM_OFF(len), VEIL_HASH_BYTES, NULL, 0, buf, SUM_OFF(len), NULL, 0, NULL,
		  0);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int is_parse_error(int r)
{
	return r == -EBADMSG || r == -EMEDIUMTYPE || r == -EPROTONOSUPPORT || r == -ENOTSUP;
}

static int unlock_buf(const uint8_t *buf, size_t len, const char *pass, uint8_t *mk, int *slot)
{
	struct veil_header h;
	int r = veil_header_parse(buf, len, &h);

	if (r < 0)
		return r;
	return veil_header_unlock(&h, pass, strlen(pass), mk, slot);
}

static void test_round_trip(const uint8_t *master, struct veil_header *h, uint8_t *img,
			    size_t *imglen)
{
	struct veil_header p;
	uint8_t *mk = veil_secure_alloc(VEIL_KEY_BYTES);
	int slot = -1, r;

	r = veil_header_create(h, master, 4096, pass1, strlen(pass1), &tiny);
	ok(r == 0, "create with tiny KDF params (%d)", r);
	*imglen = veil_header_serialize(h, img);
	ok(*imglen == VEIL_HEADER_FIXED_BYTES + VEIL_SLOT_BYTES + VEIL_HEADER_TAIL_BYTES,
	   "one-slot header is %zu bytes", *imglen);
	ok(memcmp(img, VEIL_MAGIC, VEIL_MAGIC_BYTES) == 0, "magic at offset 0");
	r = veil_header_parse(img, *imglen, &p);
	ok(r == 0, "parse of a fresh header (%d)", r);
	ok(p.version == VEIL_FORMAT_VERSION && p.flags == 0 && p.block_size == 4096 &&
		   p.nslots == 1 && p.slots[0].ops == TINY_OPS && p.slots[0].mem == TINY_MEM,
	   "parsed fields match");
	r = veil_header_unlock(&p, pass1, strlen(pass1), mk, &slot);
	ok(r == 0 && slot == 0, "unlock with the right passphrase (%d, slot %d)", r, slot);
	ok(memcmp(mk, master, VEIL_KEY_BYTES) == 0, "unlock yields the same master key");

	memset(mk, 0xaa, VEIL_KEY_BYTES);
	r = veil_header_unlock(&p, "wrong", 5, mk, NULL);
	ok(r == -EACCES, "wrong passphrase -> -EACCES (%d)", r);
	ok(veil_is_zero(mk, VEIL_KEY_BYTES), "master output wiped after a failed unlock");
	r = veil_header_unlock(&p, pass1, strlen(pass1) - 1, mk, NULL);
	ok(r == -EACCES, "passphrase missing its last character -> -EACCES (%d)", r);
	r = veil_header_unlock(&p, "", 0, mk, NULL);
	ok(r < 0, "empty passphrase never unlocks (%d)", r);

	{
		struct veil_header h2;
		uint8_t img2[VEIL_HEADER_MAX_BYTES];

		r = veil_header_create(&h2, master, 4096, pass1, strlen(pass1), &tiny);
		ok(r == 0 && veil_header_serialize(&h2, img2) == *imglen &&
			   memcmp(img2 + VEIL_HEADER_FIXED_BYTES + 24, img + VEIL_HEADER_FIXED_BYTES + 24,
				  VEIL_SALT_BYTES) != 0,
		   "two creations use different salts");
	}
	r = veil_header_create(&p, master, 3000, pass1, strlen(pass1), &tiny);
	ok(r == -EINVAL, "block size 3000 rejected at create (%d)", r);
	r = veil_header_create(&p, master, 512, pass1, strlen(pass1), &tiny);
	ok(r == -EINVAL, "block size 512 rejected at create (%d)", r);
	r = veil_header_create(&p, master, 131072, pass1, strlen(pass1), &tiny);
	ok(r == -EINVAL, "block size 131072 rejected at create (%d)", r);
	veil_secure_free(mk);
}

/* Flip every byte (xor 0x01 and 0x80): the checksum alone must catch it. */
static void test_flip_plain(const uint8_t *img, size_t len)
{
	uint8_t buf[VEIL_HEADER_MAX_BYTES];
	struct veil_header h;
	int bad = 0, badcode = 0;
	const uint8_t masks[2] = { 0x01, 0x80 };

	for (size_t i = 0; i < len; i++) {
		for (int m = 0; m < 2; m++) {
			int r;

			memcpy(buf, img, len);
			buf[i] ^= masks[m];
			r = veil_header_parse(buf, len, &h);
			if (r == 0) {
				if (bad++ < 5)
					diag("flip %zu^0x%02x parsed", i, masks[m]);
			} else if (!is_parse_error(r)) {
				if (badcode++ < 5)
					diag("flip %zu^0x%02x: unexpected %d", i, masks[m], r);
			}
			if (i < VEIL_MAGIC_BYTES && r != -EMEDIUMTYPE && badcode++ < 5)
				diag("flip in magic %zu: %d, want -EMEDIUMTYPE", i, r);
			if (i >= VEIL_MAGIC_BYTES && r != -EBADMSG && badcode++ < 5)
				diag("flip %zu: %d, want -EBADMSG (checksum)", i, r);
		}
	}
	ok(bad == 0, "no single-byte flip of %zu bytes parses (%d did)", len, bad);
	ok(badcode == 0, "every flip fails with the documented code (%d did not)", badcode);
}

/*
 * The attacker's version: flip a byte before the checksum, then recompute
 * the checksum. Parse may accept it, unlock must not.
 */
static void test_flip_fixed(const uint8_t *img, size_t len, const uint8_t *master)
{
	uint8_t buf[VEIL_HEADER_MAX_BYTES];
	uint8_t *mk = veil_secure_alloc(VEIL_KEY_BYTES);
	int opened = 0, badcode = 0, parsed = 0, macfail = 0, macbytes = 0;
	const uint8_t masks[2] = { 0x01, 0x80 };

	for (size_t i = 0; i < SUM_OFF(len); i++) {
		for (int m = 0; m < 2; m++) {
			struct veil_header h;
			int r, u;

			memcpy(buf, img, len);
			buf[i] ^= masks[m];
			fix_checksum(buf, len);
			r = veil_header_parse(buf, len, &h);
			if (r < 0) {
				if (!is_parse_error(r) && badcode++ < 5)
					diag("fixed flip %zu^0x%02x: parse %d", i, masks[m], r);
				continue;
			}
			parsed++;
			memset(mk, 0x55, VEIL_KEY_BYTES);
			u = veil_header_unlock(&h, pass1, strlen(pass1), mk, NULL);
			if (u == 0) {
				if (opened++ < 5)
					diag("fixed flip %zu^0x%02x UNLOCKED", i, masks[m]);
			} else if (u != -EACCES && u != -EBADMSG) {
				if (badcode++ < 5)
					diag("fixed flip %zu^0x%02x: unlock %d", i, masks[m], u);
			} else if (!veil_is_zero(mk, VEIL_KEY_BYTES)) {
				if (badcode++ < 5)
					diag("fixed flip %zu: master not wiped", i);
			}
			if (i >= MAC_OFF(len)) {
				macbytes++;
				if (u == -EBADMSG)
					macfail++;
			}
		}
	}
	(void)master;
	ok(opened == 0, "no checksum-fixed flip unlocks (%d did; %d parsed)", opened, parsed);
	ok(badcode == 0, "every checksum-fixed flip fails with a documented code (%d not)",
	   badcode);
	ok(macbytes == 2 * VEIL_HASH_BYTES && macfail == macbytes,
	   "a flipped MAC byte is reported as an altered header, -EBADMSG (%d/%d)", macfail,
	   macbytes);
	veil_secure_free(mk);
}

static void test_fields(const uint8_t *img, size_t len)
{
	uint8_t buf[VEIL_HEADER_MAX_BYTES];
	struct veil_header h;
	const size_t s0 = VEIL_HEADER_FIXED_BYTES;
	const struct {
		uint64_t ops, mem;
		const char *what;
	} absurd[] = {
		{ 1ULL << 40, TINY_MEM, "ops 2^40" }, { TINY_OPS, 1ULL << 62, "mem 2^62" },
		{ TINY_OPS, 0, "mem 0" },            { 0, TINY_MEM, "ops 0" },
		{ UINT64_MAX, UINT64_MAX, "ops and mem 2^64-1" },
		{ VEIL_KDF_OPS_MAX + 1, TINY_MEM, "ops max+1" },
		{ TINY_OPS, VEIL_KDF_MEM_MAX + 1, "mem max+1" },
		{ TINY_OPS, VEIL_KDF_MEM_MIN - 1, "mem min-1" },
	};
	uint8_t kek[VEIL_KEY_BYTES], salt[VEIL_SALT_BYTES] = { 1 };
	int r;

	for (uint32_t flag = 1; flag; flag <<= 1) {
		memcpy(buf, img, len);
		buf[12] = (uint8_t)flag;
		buf[13] = (uint8_t)(flag >> 8);
		buf[14] = (uint8_t)(flag >> 16);
		buf[15] = (uint8_t)(flag >> 24);
		fix_checksum(buf, len);
		r = veil_header_parse(buf, len, &h);
		if (r != -ENOTSUP) {
			ok(0, "feature flag 0x%x -> -ENOTSUP (%d)", flag, r);
			break;
		}
		if (flag == 0x80000000u)
			ok(1, "each of the 32 unknown feature flags -> -ENOTSUP");
	}
	for (unsigned v = 0; v < 4; v++) {
		if (v == VEIL_FORMAT_VERSION)
			continue;
		memcpy(buf, img, len);
		buf[8] = (uint8_t)v;
		fix_checksum(buf, len);
		r = veil_header_parse(buf, len, &h);
		ok(r == -EPROTONOSUPPORT, "version %u -> -EPROTONOSUPPORT (%d)", v, r);
	}
	memcpy(buf, img, len);
	buf[9] = 1; /* version 257 */
	fix_checksum(buf, len);
	r = veil_header_parse(buf, len, &h);
	ok(r == -EPROTONOSUPPORT, "version 257 -> -EPROTONOSUPPORT (%d)", r);
	memcpy(buf, img, len);
	buf[11] = 0x80;
	fix_checksum(buf, len);
	r = veil_header_parse(buf, len, &h);
	ok(r == -EBADMSG, "reserved header bytes set -> -EBADMSG (%d)", r);
	memcpy(buf, img, len);
	buf[s0 + 6] = 1;
	fix_checksum(buf, len);
	r = veil_header_parse(buf, len, &h);
	ok(r == -EBADMSG, "reserved slot bytes set -> -EBADMSG (%d)", r);
	memcpy(buf, img, len);
	buf[s0] = 2;
	fix_checksum(buf, len);
	r = veil_header_parse(buf, len, &h);
	ok(r == -EBADMSG, "unknown KDF algorithm -> -EBADMSG (%d)", r);
	memcpy(buf, img, len);
	buf[16] = 0;
	buf[17] = 0x30; /* block size 12288: not a power of two */
	fix_checksum(buf, len);
	r = veil_header_parse(buf, len, &h);
	ok(r == -EBADMSG, "block size 12288 -> -EBADMSG (%d)", r);
	memcpy(buf, img, len);
	buf[17] = 0;
	buf[18] = 2; /* 131072 */
	fix_checksum(buf, len);
	r = veil_header_parse(buf, len, &h);
	ok(r == -EBADMSG, "block size 131072 -> -EBADMSG (%d)", r);
	memcpy(buf, img, len);
	buf[20] = 0;
	fix_checksum(buf, len);
	r = veil_header_parse(buf, len, &h);
	ok(r == -EBADMSG, "slot count 0 -> -EBADMSG (%d)", r);

	for (size_t i = 0; i < sizeof(absurd) / sizeof(absurd[0]); i++) {
		double t0;

		memcpy(buf, img, len);
		put64(buf + s0 + 8, absurd[i].ops);
		put64(buf + s0 + 16, absurd[i].mem);
		fix_checksum(buf, len);
		t0 = now_s();
		r = veil_header_parse(buf, len, &h);
		t0 = now_s() - t0;
		ok(r == -EBADMSG && t0 < 0.05, "KDF %s: parse -> -EBADMSG (%d) in %.4f s",
		   absurd[i].what, r, t0);
		t0 = now_s();
		r = veil_kdf_derive(kek, "x", 1, salt, absurd[i].ops, absurd[i].mem);
		t0 = now_s() - t0;
		ok(r == -EINVAL && t0 < 0.05, "KDF %s: veil_kdf_derive -> -EINVAL (%d) in %.4f s",
		   absurd[i].what, r, t0);
	}
	r = veil_kdf_derive(kek, "x", 1, salt, VEIL_KDF_OPS_MIN, VEIL_KDF_MEM_MIN);
	ok(r == 0, "KDF at the minimum bounds derives (%d)", r);
	r = veil_kdf_derive(kek, "", 0, salt, VEIL_KDF_OPS_MIN, VEIL_KDF_MEM_MIN);
	ok(r == -EINVAL, "empty passphrase -> -EINVAL (%d)", r);
	{
		struct veil_kdf_params p;
		enum veil_kdf_profile prof;

		ok(veil_kdf_profile_params(VEIL_KDF_MODERATE, &p) == 0 && p.ops >= VEIL_KDF_OPS_MIN &&
			   p.ops <= VEIL_KDF_OPS_MAX && p.mem >= VEIL_KDF_MEM_MIN &&
			   p.mem <= VEIL_KDF_MEM_MAX,
		   "the default profile is within the parse bounds");
		ok(veil_kdf_profile_params(VEIL_KDF_SENSITIVE, &p) == 0 && p.mem <= VEIL_KDF_MEM_MAX &&
			   p.ops <= VEIL_KDF_OPS_MAX,
		   "the sensitive profile is within the parse bounds");
		ok(veil_kdf_profile_parse("moderate", &prof) == 0 && prof == VEIL_KDF_MODERATE &&
			   veil_kdf_profile_parse("fast", &prof) == -EINVAL,
		   "profile names parse");
	}
}

static void test_truncated(const uint8_t *img, size_t len)
{
	uint8_t buf[VEIL_HEADER_MAX_BYTES + 8];
	struct veil_header h;
	int bad = 0;

	for (size_t n = 0; n < len; n++) {
		int r = veil_header_parse(img, n, &h);

		if (!(r == -EBADMSG || (r == -EMEDIUMTYPE && n < VEIL_MAGIC_BYTES))) {
			if (bad++ < 5)
				diag("truncated to %zu: %d", n, r);
		}
	}
	ok(bad == 0, "every truncation 0..%zu fails (-EMEDIUMTYPE below the magic, else -EBADMSG)",
	   len - 1);
	memcpy(buf, img, len);
	memset(buf + len, 0, 8);
	for (size_t n = len + 1; n <= len + 8; n++)
		if (veil_header_parse(buf, n, &h) != -EBADMSG)
			bad++;
	ok(bad == 0, "trailing bytes after the header -> -EBADMSG");
	memcpy(buf, "VEILFS\x1b\n", 8);
	ok(veil_header_parse(buf, len, &h) == -EMEDIUMTYPE, "foreign magic -> -EMEDIUMTYPE");
}

static void test_slots(const uint8_t *master, struct veil_header *h)
{
	uint8_t *mk = veil_secure_alloc(VEIL_KEY_BYTES);
	uint8_t img[VEIL_HEADER_MAX_BYTES];
	struct veil_header p, other;
	size_t len;
	int r, slot = -1;
	char pw[32];

	r = veil_header_add_slot(h, master, pass2, strlen(pass2), &tiny);
	ok(r == 0 && h->nslots == 2, "add a second slot (%d)", r);
	len = veil_header_serialize(h, img);
	ok(veil_header_parse(img, len, &p) == 0 && p.nslots == 2, "two-slot header parses");
	r = veil_header_unlock(&p, pass1, strlen(pass1), mk, &slot);
	ok(r == 0 && slot == 0 && memcmp(mk, master, VEIL_KEY_BYTES) == 0,
	   "first passphrase opens slot 0 (%d, %d)", r, slot);
	r = veil_header_unlock(&p, pass2, strlen(pass2), mk, &slot);
	ok(r == 0 && slot == 1 && memcmp(mk, master, VEIL_KEY_BYTES) == 0,
	   "second passphrase opens slot 1 (%d, %d)", r, slot);

	/* An attacker removes slot 1 (and fixes the checksum): the MAC catches it. */
	{
		uint8_t cut[VEIL_HEADER_MAX_BYTES];
		size_t s1 = VEIL_HEADER_FIXED_BYTES + VEIL_SLOT_BYTES;

		memcpy(cut, img, s1);
		memcpy(cut + s1, img + s1 + VEIL_SLOT_BYTES, VEIL_HEADER_TAIL_BYTES);
		cut[20] = 1;
		fix_checksum(cut, len - VEIL_SLOT_BYTES);
		r = unlock_buf(cut, len - VEIL_SLOT_BYTES, pass1, mk, NULL);
		ok(r == -EBADMSG, "slot removed by an attacker -> -EBADMSG at unlock (%d)", r);
	}
	/* ...or grafts in a slot of their own from another volume. */
	{
		uint8_t om[VEIL_KEY_BYTES], oimg[VEIL_HEADER_MAX_BYTES], graft[VEIL_HEADER_MAX_BYTES];
		size_t olen, s1 = VEIL_HEADER_FIXED_BYTES + VEIL_SLOT_BYTES;

		veil_random(om, sizeof(om));
		r = veil_header_create(&other, om, 4096, "attacker", 8, &tiny);
		olen = veil_header_serialize(&other, oimg);
		memcpy(graft, img, s1);
		memcpy(graft + s1, oimg + VEIL_HEADER_FIXED_BYTES, VEIL_SLOT_BYTES);
		memcpy(graft + s1 + VEIL_SLOT_BYTES, img + s1 + VEIL_SLOT_BYTES,
		       VEIL_HEADER_TAIL_BYTES);
		graft[20] = 2;
		fix_checksum(graft, len);
		r = r ? r : unlock_buf(graft, len, "attacker", mk, NULL);
		ok(r == -EBADMSG && olen > 0,
		   "slot grafted from another volume -> -EBADMSG at unlock (%d)", r);
		r = unlock_buf(graft, len, pass1, mk, NULL);
		ok(r == -EBADMSG, "grafted header also refuses the owner's passphrase (%d)", r);
	}

	r = veil_header_remove_slot(h, 0, master);
	ok(r == 0 && h->nslots == 1, "remove slot 0 (%d)", r);
	len = veil_header_serialize(h, img);
	r = unlock_buf(img, len, pass1, mk, NULL);
	ok(r == -EACCES, "removed passphrase no longer opens (%d)", r);
	r = unlock_buf(img, len, pass2, mk, &slot);
	ok(r == 0 && slot == 0 && memcmp(mk, master, VEIL_KEY_BYTES) == 0,
	   "remaining passphrase opens, now slot 0 (%d)", r);
	r = veil_header_remove_slot(h, 0, master);
	ok(r == -EINVAL && h->nslots == 1, "cannot remove the last slot (%d)", r);
	r = veil_header_remove_slot(h, 1, master);
	ok(r == -EINVAL, "cannot remove a slot that does not exist (%d)", r);
	r = veil_header_remove_slot(h, -1, master);
	ok(r == -EINVAL, "negative slot index rejected (%d)", r);

	r = veil_header_set_slot(h, 0, master, pass1, strlen(pass1), &tiny);
	ok(r == 0, "set_slot 0 to a new passphrase (%d)", r);
	len = veil_header_serialize(h, img);
	r = unlock_buf(img, len, pass2, mk, NULL);
	ok(r == -EACCES, "old passphrase fails after set_slot (%d)", r);
	r = unlock_buf(img, len, pass1, mk, NULL);
	ok(r == 0 && memcmp(mk, master, VEIL_KEY_BYTES) == 0, "new passphrase opens (%d)", r);
	r = veil_header_set_slot(h, 1, master, pass2, strlen(pass2), &tiny);
	ok(r == -EINVAL, "set_slot on a missing slot -> -EINVAL (%d)", r);
	r = veil_header_set_slot(h, 0, master, "", 0, &tiny);
	len = veil_header_serialize(h, img);
	ok(r == -EINVAL && unlock_buf(img, len, pass1, mk, NULL) == 0,
	   "set_slot to an empty passphrase fails and keeps the slot (%d)", r);
	r = veil_header_add_slot(h, master, "", 0, &tiny);
	len = veil_header_serialize(h, img);
	ok(r == -EINVAL && h->nslots == 1 && unlock_buf(img, len, pass1, mk, NULL) == 0,
	   "add_slot with an empty passphrase fails, header unchanged (%d)", r);
	{
		struct veil_header e;

		r = veil_header_create(&e, master, 4096, "", 0, &tiny);
		ok(r == -EINVAL, "create with an empty passphrase -> -EINVAL (%d)", r);
	}

	for (int i = 1; i < VEIL_MAX_SLOTS; i++) {
		snprintf(pw, sizeof(pw), "slot-pass-%d", i);
		r = veil_header_add_slot(h, master, pw, strlen(pw), &tiny);
		if (r != 0)
			break;
	}
	ok(r == 0 && h->nslots == VEIL_MAX_SLOTS, "fill all %d slots (%d)", VEIL_MAX_SLOTS, r);
	r = veil_header_add_slot(h, master, "ninth", 5, &tiny);
	ok(r == -ENOSPC && h->nslots == VEIL_MAX_SLOTS, "9th slot -> -ENOSPC (%d)", r);
	len = veil_header_serialize(h, img);
	ok(len == 984, "full header without the slot info table is 984 bytes (%zu)", len);
	r = unlock_buf(img, len, "slot-pass-7", mk, &slot);
	ok(r == 0 && slot == 7 && memcmp(mk, master, VEIL_KEY_BYTES) == 0,
	   "last of 8 slots opens (%d, slot %d)", r, slot);
	r = unlock_buf(img, len, "slot-pass-8", mk, NULL);
	ok(r == -EACCES, "8-slot header, unknown passphrase -> -EACCES (%d)", r);
	r = veil_header_remove_slot(h, 3, master);
	len = veil_header_serialize(h, img);
	ok(r == 0 && unlock_buf(img, len, "slot-pass-3", mk, NULL) == -EACCES &&
		   unlock_buf(img, len, "slot-pass-4", mk, &slot) == 0 && slot == 3,
	   "removing a middle slot shifts the others down");
	/* A full header flipped everywhere with the checksum fixed never opens. */
	test_flip_fixed(img, len, master);
	veil_secure_free(mk);
}

/* The slot info table, the recovery slot and veil_header_check_master. */
static void test_slot_info(const uint8_t *master)
{
	struct veil_header h, p;
	uint8_t img[VEIL_HEADER_MAX_BYTES], other[VEIL_KEY_BYTES];
	uint8_t *mk = veil_secure_alloc(VEIL_KEY_BYTES);
	char pw[64];
	size_t len;
	int r, idx = -1, slot = -1;

	r = veil_header_create(&h, master, 4096, pass1, strlen(pass1), &tiny);
	ok(r == 0 && h.info == 0 && veil_header_recovery_slot(&h) == -1,
	   "a new header has no info table and no recovery slot (%d)", r);
	r = veil_header_add_recovery(&h, master, &idx);
	len = veil_header_serialize(&h, img);
	ok(r == 0 && idx == 1 && h.info == 1 && len == 88 + 2 * 176,
	   "add the recovery slot: slot 1, info table on, 88 + 176n bytes (%d, %zu)", r, len);
	r = veil_header_parse(img, len, &p);
	ok(r == 0 && p.nslots == 2 && p.slots[0].kind == VEIL_SLOT_PASSPHRASE &&
		   p.slots[1].kind == VEIL_SLOT_RECOVERY && p.slots[1].alg == VEIL_KDF_RECOVERY &&
		   p.slots[1].created != 0 && veil_header_recovery_slot(&p) == 1,
	   "it parses back with the slot kinds (%d)", r);
	ok(veil_header_check_master(&p, master) == 0, "the master key checks against it");
	memcpy(other, master, sizeof(other));
	other[5] ^= 1;
	ok(veil_header_check_master(&p, other) == -EACCES, "another key does not (-EACCES)");
	r = veil_header_add_recovery(&h, master, &idx);
	ok(r == -EEXIST && idx == 1 && h.nslots == 2, "a second recovery slot -> -EEXIST (%d)", r);
	r = unlock_buf(img, len, pass1, mk, &slot);
	ok(r == 0 && slot == 0, "the passphrase still opens slot 0 (%d)", r);
	ok(veil_header_set_info(&h, 0, "laptop", 1700000000) == 0 &&
		   veil_header_reseal(&h, master) == 0,
	   "label slot 0");
	len = veil_header_serialize(&h, img);
	r = veil_header_parse(img, len, &p);
	ok(r == 0 && strcmp(p.slots[0].label, "laptop") == 0 && p.slots[0].created == 1700000000,
	   "the label and the time parse back (%d)", r);
	memset(pw, 'x', sizeof(pw));
	pw[VEIL_LABEL_MAX] = '\0';
	ok(veil_header_set_info(&h, 0, pw, 1) == 0, "a %d-byte label is accepted", VEIL_LABEL_MAX);
	pw[VEIL_LABEL_MAX] = 'x';
	pw[VEIL_LABEL_MAX + 1] = '\0';
	ok(veil_header_set_info(&h, 0, pw, 1) == -EINVAL, "a longer label -> -EINVAL");
	ok(veil_header_set_info(&h, 0, "a\nb", 1) == -EINVAL, "a control character -> -EINVAL");
	/* Structure checks of the table (checksum fixed so only they can fail). */
	{
		uint8_t b[VEIL_HEADER_MAX_BYTES];
		const size_t t0 = VEIL_HEADER_FIXED_BYTES + 2 * VEIL_SLOT_BYTES;
		const struct {
			size_t off;
			uint8_t val;
			const char *what;
		} bad[] = {
			{ t0 + 0, 2, "passphrase slot recorded as kind 2" },
			{ t0 + 64 + 0, 1, "recovery slot recorded as kind 1" },
			{ t0 + 2, 60, "label length above 52" },
			{ t0 + 3, 1, "reserved byte set" },
			{ t0 + 12 + 51, 'z', "a byte after the label" },
			{ 22, 2, "info field 2" },
			{ VEIL_HEADER_FIXED_BYTES + VEIL_SLOT_BYTES + 8, 1, "recovery slot with an opslimit" },
		};

		(void)!veil_header_set_info(&h, 0, "laptop", 1700000000);
		len = veil_header_serialize(&h, img);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			memcpy(b, img, len);
			b[bad[i].off] = bad[i].val;
			fix_checksum(b, len);
			r = veil_header_parse(b, len, &p);
			ok(r == -EBADMSG, "%s -> -EBADMSG (%d)", bad[i].what, r);
		}
		memcpy(b, img, len);
		b[22] = 0; /* a recovery slot without the table */
		fix_checksum(b, len - 2 * VEIL_SLOT_INFO_BYTES);
		r = veil_header_parse(b, len - 2 * VEIL_SLOT_INFO_BYTES, &p);
		ok(r == -EBADMSG, "a recovery slot in a header without the info table -> -EBADMSG (%d)",
		   r);
	}
	r = veil_header_remove_slot(&h, 1, master);
	ok(r == 0 && veil_header_recovery_slot(&h) == -1 && h.nslots == 1,
	   "remove the recovery slot (%d)", r);
	r = veil_header_remove_slot(&h, 0, master);
	ok(r == -EINVAL, "the last slot is never removed (%d)", r);
	veil_secure_free(mk);
}

static void test_store_load(const struct veil_header *h)
{
	char dir[64];
	int dfd = tmpdir_new(dir), r;
	struct veil_header got;
	uint8_t a[VEIL_HEADER_MAX_BYTES], b[VEIL_HEADER_MAX_BYTES];
	size_t la, lb;
	struct stat st;

	if (!ok(dfd >= 0, "temp dir %s", dir))
		return;
	r = veil_header_store(dfd, VEIL_CONF_NAME, h, 1);
	ok(r == 0, "exclusive store into an empty dir (%d)", r);
	ok(count_prefix(dfd, "") == 1 && count_prefix(dfd, VEIL_TEMP_PREFIX) == 0,
	   "only the header is left behind (no temp file)");
	r = veil_header_load(dfd, VEIL_CONF_NAME, &got);
	la = veil_header_serialize(h, a);
	lb = r == 0 ? veil_header_serialize(&got, b) : 0;
	ok(r == 0 && la == lb && memcmp(a, b, la) == 0, "load gives back the same header (%d)", r);
	ok(fstatat(dfd, VEIL_CONF_NAME, &st, 0) == 0 && (size_t)st.st_size == la,
	   "file holds exactly the serialised bytes");
	r = veil_header_store(dfd, VEIL_CONF_NAME, h, 1);
	ok(r == -EEXIST, "exclusive store over an existing header -> -EEXIST (%d)", r);
	ok(count_prefix(dfd, "") == 1, "failed exclusive store leaves no temp file");
	r = veil_header_store(dfd, VEIL_CONF_NAME, h, 0);
	ok(r == 0 && count_prefix(dfd, "") == 1, "non-exclusive store replaces it (%d)", r);
	r = veil_header_load(dfd, "missing.conf", &got);
	ok(r == -ENOENT, "load of a missing file -> -ENOENT (%d)", r);
	ok(symlinkat(VEIL_CONF_NAME, dfd, "link.conf") == 0, "symlink to the header");
	r = veil_header_load(dfd, "link.conf", &got);
	ok(r == -ELOOP, "load does not follow a symlink (%d)", r);
	unlinkat(dfd, "link.conf", 0);
	/* Truncated and oversized files on disk. */
	{
		int bad = 0;

		for (size_t n = 0; n < la; n++) {
			write_file_at(dfd, "t.conf", a, n);
			r = veil_header_load(dfd, "t.conf", &got);
			if (r >= 0)
				bad++;
		}
		ok(bad == 0, "truncated header files fail to load");
		memset(b, 'x', sizeof(b));
		write_file_at(dfd, "big.conf", b, sizeof(b));
		r = veil_header_load(dfd, "big.conf", &got);
		ok(r == -EMEDIUMTYPE, "large foreign file -> -EMEDIUMTYPE (%d)", r);
		{
			uint8_t *big = calloc(1, 1 << 20);

			memcpy(big, a, la);
			write_file_at(dfd, "huge.conf", big, 1 << 20);
			free(big);
		}
		r = veil_header_load(dfd, "huge.conf", &got);
		ok(r == -EBADMSG, "1 MiB file with our magic -> -EBADMSG (%d)", r);
	}
	close(dfd);
	tmpdir_rm(dir);
}

int main(void)
{
	uint8_t *master;
	struct veil_header h;
	uint8_t img[VEIL_HEADER_MAX_BYTES];
	size_t len = 0;

	if (veil_crypto_init() < 0)
		return 1;
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	veil_random(master, VEIL_KEY_BYTES);
	test_round_trip(master, &h, img, &len);
	test_flip_plain(img, len);
	test_flip_fixed(img, len, master);
	test_fields(img, len);
	test_truncated(img, len);
	test_store_load(&h);
	test_slots(master, &h);
	test_slot_info(master);
	veil_secure_free(master);
	return tap_done();
}
