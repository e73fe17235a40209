/* SPDX-License-Identifier: MIT */
/* The recovery key: encoding and decoding. Layout: veilfs/recovery.h. */
#include "recovery.h"

#include <errno.h>
#include <string.h>

#include "le.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#define SYMBOLS (VEIL_RECOVERY_PAYLOAD_BYTES * 8 / 5)   /* 64 */
#define DATA_PER_GROUP (SYMBOLS / VEIL_RECOVERY_GROUPS) /* 4 */

/* GF(2^5) with the primitive polynomial x^5 + x^2 + 1; alpha = x = 2. */
static unsigned gf_mul(unsigned a, unsigned b)
{
	unsigned r = 0;

	while (b) {
		if (b & 1)
			r ^= a;
		b >>= 1;
		a <<= 1;
		if (a & 0x20)
			a ^= 0x25;
	}
	return r & 0x1f;
}

static unsigned gf_pow_alpha(unsigned e)
{
	unsigned r = 1;

	while (e--)
		r = gf_mul(r, 2);
	return r;
}

/*
 * Check symbol of group @idx (0-based): alpha^(5 + idx) + sum over j of
 * alpha^(j + 1) * s_j. Distinct nonzero weights catch every single changed
 * symbol and every swap of two neighbours; the position term catches a
 * group typed in the wrong place.
 */
static unsigned group_check(const unsigned s[DATA_PER_GROUP], unsigned idx)
{
	unsigned c = gf_pow_alpha(5 + idx);

	for (unsigned j = 0; j < DATA_PER_GROUP; j++)
		c ^= gf_mul(gf_pow_alpha(j + 1), s[j]);
	return c;
}

static void checksum(const uint8_t *p, uint8_t *out)
{
	uint8_t h[VEIL_HASH_BYTES];

	veil_hash(h, sizeof(h), NULL, 0, p, VEIL_RECOVERY_PAYLOAD_BYTES - 1, NULL, 0, NULL, 0);
	*out = h[0];
}

static int log2_bs(uint32_t bs)
{
	int n = 0;

	while (bs > 1) {
		bs >>= 1;
		n++;
	}
	return n;
}

void veil_recovery_encode(const struct veil_recovery *r, char out[static VEIL_RECOVERY_CHARS + 1])
{
	uint8_t p[VEIL_RECOVERY_PAYLOAD_BYTES];
	unsigned sym[DATA_PER_GROUP];
	size_t o = 0;

	p[0] = VEIL_RECOVERY_VERSION;
	p[1] = (uint8_t)r->version;
	p[2] = (uint8_t)log2_bs(r->block_size);
	le32_store(p + 3, r->flags);
	memcpy(p + 7, r->master, VEIL_KEY_BYTES);
	checksum(p, p + 39);
	for (unsigned g = 0; g < VEIL_RECOVERY_GROUPS; g++) {
		if (g)
			out[o++] = '-';
		for (unsigned j = 0; j < DATA_PER_GROUP; j++) {
			unsigned bit = (g * DATA_PER_GROUP + j) * 5, v = 0;

			for (unsigned b = 0; b < 5; b++, bit++)
				v = (v << 1) | ((p[bit / 8] >> (7 - bit % 8)) & 1);
			sym[j] = v;
			out[o++] = alphabet[v];
		}
		out[o++] = alphabet[group_check(sym, g)];
	}
	out[o] = '\0';
	veil_wipe(p, sizeof(p));
	veil_wipe(sym, sizeof(sym));
}

/* The value of a typed character, or -1. */
static int char_value(char c)
{
	const char *p;

	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	if (c == 'O')
		c = '0';
	if (c == 'I' || c == 'L')
		c = '1';
	p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

static int is_sep(char c)
{
	return c == '-' || c == ' ' || c == '\t';
}

bool veil_recovery_looks_like(const char *s, size_t len)
{
	size_t alnum = 0, groups = 0;
	int in_group = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			alnum++;
			if (!in_group)
				groups++;
			in_group = 1;
		} else if (is_sep(c)) {
			in_group = 0;
		} else {
			return false;
		}
	}
	return groups >= 12 && alnum >= 55 && alnum <= 100;
}

int veil_recovery_decode(const char *s, size_t len, struct veil_recovery *out,
			 enum veil_recovery_fault *fault, int *group)
{
	/* Up to 20 groups of up to 8 symbols are kept; longer ones are errors anyway. */
	unsigned sym[20][8] = { { 0 } };
	unsigned glen[20] = { 0 };
	uint8_t p[VEIL_RECOVERY_PAYLOAD_BYTES] = { 0 };
	unsigned ng = 0, nsep = 0, total = 0;
	int in_group = 0, ret = -EINVAL, first_bad = -1;

	*fault = VEIL_RK_OK;
	*group = 0;
	for (size_t i = 0; i < len; i++) {
		int v;

		if (is_sep(s[i])) {
			in_group = 0;
			nsep++;
			continue;
		}
		if (!in_group) {
			if (ng == 20) {
				*fault = VEIL_RK_EXTRA;
				goto out;
			}
			ng++;
			in_group = 1;
		}
		v = char_value(s[i]);
		if (v < 0) {
			*fault = VEIL_RK_CHAR;
			*group = (int)ng;
			goto out;
		}
		if (glen[ng - 1] < 8)
			sym[ng - 1][glen[ng - 1]] = (unsigned)v;
		glen[ng - 1]++;
		total++;
	}
	/* Typed without separators: cut into groups of five. */
	if (ng == 1 && total == VEIL_RECOVERY_GROUPS * VEIL_RECOVERY_GROUP_CHARS) {
		unsigned flat[VEIL_RECOVERY_GROUPS * VEIL_RECOVERY_GROUP_CHARS], k = 0;

		for (size_t i = 0; i < len; i++)
			if (!is_sep(s[i]))
				flat[k++] = (unsigned)char_value(s[i]);
		ng = VEIL_RECOVERY_GROUPS;
		for (unsigned g = 0; g < ng; g++) {
			glen[g] = VEIL_RECOVERY_GROUP_CHARS;
			for (unsigned j = 0; j < VEIL_RECOVERY_GROUP_CHARS; j++)
				sym[g][j] = flat[g * VEIL_RECOVERY_GROUP_CHARS + j];
		}
		veil_wipe(flat, sizeof(flat));
	}
	(void)nsep;
	for (unsigned g = 0; g < ng; g++)
		if (glen[g] != VEIL_RECOVERY_GROUP_CHARS) {
			*fault = VEIL_RK_LENGTH;
			*group = (int)g + 1;
			goto out;
		}
	if (ng > VEIL_RECOVERY_GROUPS) {
		*fault = VEIL_RK_EXTRA;
		goto out;
	}
	for (unsigned g = 0; g < ng; g++)
		if (group_check(sym[g], g) != sym[g][DATA_PER_GROUP]) {
			first_bad = (int)g;
			break;
		}
	if (ng == VEIL_RECOVERY_GROUPS - 1) {
		/* One group left out: the groups after it check one position later. */
		unsigned from = first_bad < 0 ? ng : (unsigned)first_bad, g;

		for (g = from; g < ng; g++)
			if (group_check(sym[g], g + 1) != sym[g][DATA_PER_GROUP])
				break;
		if (g == ng) {
			*fault = VEIL_RK_MISSING;
			*group = (int)from + 1;
		} else {
			*fault = VEIL_RK_COUNT;
		}
		goto out;
	}
	if (ng != VEIL_RECOVERY_GROUPS) {
		*fault = VEIL_RK_COUNT;
		goto out;
	}
	if (first_bad >= 0) {
		*fault = VEIL_RK_GROUP;
		*group = first_bad + 1;
		goto out;
	}
	for (unsigned k = 0; k < SYMBOLS; k++) {
		unsigned v = sym[k / DATA_PER_GROUP][k % DATA_PER_GROUP];

		for (unsigned b = 0; b < 5; b++) {
			unsigned bit = k * 5 + b;

			if (v & (1u << (4 - b)))
				p[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
		}
	}
	{
		uint8_t c;

		checksum(p, &c);
		if (!veil_equal(&c, p + 39, 1)) {
			*fault = VEIL_RK_CHECKSUM;
			goto out;
		}
	}
	if (p[0] != VEIL_RECOVERY_VERSION || p[2] < 10 || p[2] > 16) {
		*fault = VEIL_RK_VERSION;
		goto out;
	}
	out->version = p[1];
	out->block_size = 1u << p[2];
	out->flags = le32_load(p + 3);
	memcpy(out->master, p + 7, VEIL_KEY_BYTES);
	ret = 0;
out:
	veil_wipe(p, sizeof(p));
	veil_wipe(sym, sizeof(sym));
	return ret;
}

const char *veil_recovery_fault_str(enum veil_recovery_fault f)
{
	switch (f) {
	case VEIL_RK_OK:
		return "valid";
	case VEIL_RK_CHAR:
		return "has a character that is not in the recovery key alphabet";
	case VEIL_RK_LENGTH:
		return "does not have 5 characters";
	case VEIL_RK_GROUP:
		return "is wrong (its check character does not match)";
	case VEIL_RK_MISSING:
		return "is missing";
	case VEIL_RK_EXTRA:
		return "has more than 16 groups";
	case VEIL_RK_COUNT:
		return "does not have 16 groups";
	case VEIL_RK_CHECKSUM:
		return "has a checksum mismatch (two or more characters are wrong)";
	case VEIL_RK_VERSION:
		return "was made by a newer veilfs (unknown encoding)";
	}
	return "is invalid";
}
