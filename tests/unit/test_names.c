/* SPDX-License-Identifier: MIT */
/*
 * Names, symlink targets and xattrs: round trips for every length,
 * determinism per directory, the long-name threshold, tampering with every
 * character, invalid names, authentic-but-invalid plaintexts, entry kinds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/keys.h"
#include "lib/names.h"

#include "../tap.h"

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void random_name(char *name, size_t len)
{
	do {
		veil_random(name, len);
		for (size_t i = 0; i < len; i++)
			while (name[i] == '/' || name[i] == '\0')
				veil_random(&name[i], 1);
		name[len] = '\0';
	} while (!veil_name_valid(name, len));
}

/*
 * An authentic encryption of arbitrary padded bytes, built from the
 * construction in names.h: what only a key holder can make.
 */
static void craft(const uint8_t *mac_key, const uint8_t *stream_key, const uint8_t *iv,
		  const uint8_t *padded, size_t plen, char *out)
{
	uint8_t buf[16 + 512];
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES] = { 0 };

	veil_hash(buf, 16, mac_key, VEIL_KEY_BYTES, iv, VEIL_DIRIV_BYTES, padded, plen, NULL, 0);
	memcpy(nonce, buf, 16);
	veil_stream_xor(buf + 16, padded, plen, nonce, stream_key);
	veil_b64_encode(out, veil_b64_encoded_len(16 + plen) + 1, buf, 16 + plen);
}

static size_t pkcs7(uint8_t *out, const char *name, size_t len)
{
	size_t plen = (len / 16 + 1) * 16;

	memcpy(out, name, len);
	memset(out + len, (int)(plen - len), plen - len);
	return plen;
}

static size_t expect_enclen(size_t len)
{
	return veil_b64_encoded_len(16 + (len / 16 + 1) * 16);
}

static void test_round_trip(const struct veil_keys *k)
{
	uint8_t iv1[VEIL_DIRIV_BYTES], iv2[VEIL_DIRIV_BYTES];
	char name[VEIL_NAME_MAX + 1], e1[VEIL_ENCNAME_MAX + 1], e2[VEIL_ENCNAME_MAX + 1];
	char back[VEIL_NAME_MAX + 1], bk[VEIL_ENCNAME_MAX + 1];
	int bad_rt = 0, bad_iv = 0, bad_det = 0, bad_dot = 0, bad_len = 0, bad_long = 0,
	    bad_wrongiv = 0;
	size_t last_short = 0, first_long = 0;

	veil_random(iv1, sizeof(iv1));
	veil_random(iv2, sizeof(iv2));
	for (int rep = 0; rep < 3; rep++) {
		for (size_t len = 1; len <= VEIL_NAME_MAX; len++) {
			long n1, n2, d;
			bool lng;

			random_name(name, len);
			n1 = veil_name_encrypt(k, iv1, name, len, e1);
			d = n1 < 0 ? n1 : veil_name_decrypt(k, iv1, e1, (size_t)n1, back);
			if (d != (long)len || memcmp(back, name, len) != 0 || back[len] != '\0')
				bad_rt++;
			n2 = veil_name_encrypt(k, iv2, name, len, e2);
			if (n2 != n1 || strcmp(e1, e2) == 0)
				bad_iv++;
			if (n1 > 0 && veil_name_decrypt(k, iv2, e1, (size_t)n1, back) != -EBADMSG)
				bad_wrongiv++;
			n2 = veil_name_encrypt(k, iv1, name, len, e2);
			if (n2 != n1 || strcmp(e1, e2) != 0)
				bad_det++;
			if (strchr(e1, '.') || strspn(e1, b64chars) != strlen(e1))
				bad_dot++;
			if (n1 != (long)expect_enclen(len) || strlen(e1) != (size_t)n1 ||
			    n1 > VEIL_ENCNAME_MAX)
				bad_len++;
			lng = veil_name_backing(e1, (size_t)n1, bk);
			if (lng != (n1 > VEIL_SHORTNAME_MAX))
				bad_long++;
			if (!lng && strcmp(bk, e1) != 0)
				bad_long++;
			if (lng && (strlen(bk) != VEIL_LONGNAME_LEN ||
				    veil_entry_classify(bk) != VEIL_ENTRY_LONG))
				bad_long++;
			if (lng && !first_long)
				first_long = len;
			if (!lng)
				last_short = len;
		}
	}
	ok(bad_rt == 0, "names of every length 1..255 round trip (3 rounds; %d failed)", bad_rt);
	ok(bad_iv == 0, "same name in two directories encrypts differently (%d not)", bad_iv);
	ok(bad_wrongiv == 0, "a name does not decrypt with another directory's IV (%d did)",
	   bad_wrongiv);
	ok(bad_det == 0, "same name, same directory: same encryption (%d not)", bad_det);
	ok(bad_dot == 0, "encoded names are base64url only, never contain '.' (%d did)", bad_dot);
	ok(bad_len == 0, "encoded length is base64(16 + padded length) (%d not)", bad_len);
	ok(bad_long == 0, "long iff encoded > %d; long backing names are veilfs.ln.<43>",
	   VEIL_SHORTNAME_MAX);
	ok(last_short == 159 && first_long == 160,
	   "threshold: 159-byte names are short, 160-byte names long (%zu, %zu)", last_short,
	   first_long);
	ok(expect_enclen(255) == VEIL_ENCNAME_MAX, "a 255-byte name encodes to VEIL_ENCNAME_MAX");
	{
		char s[VEIL_ENCNAME_MAX + 1], o1[VEIL_ENCNAME_MAX + 1], o2[VEIL_ENCNAME_MAX + 1];

		memset(s, 'A', sizeof(s));
		s[VEIL_ENCNAME_MAX] = '\0';
		ok(!veil_name_backing(s, 255, o1) && strlen(o1) == 255 &&
			   veil_name_backing(s, 256, o2) && strlen(o2) == VEIL_LONGNAME_LEN,
		   "veil_name_backing: 255 chars short, 256 chars long");
		veil_name_backing(s, 257, o1);
		ok(strcmp(o1, o2) != 0, "different long names hash to different backing names");
	}
}

static void test_tamper(const struct veil_keys *k)
{
	uint8_t iv[VEIL_DIRIV_BYTES];
	char name[VEIL_NAME_MAX + 1], enc[VEIL_ENCNAME_MAX + 1], t[VEIL_ENCNAME_MAX + 2];
	char out[VEIL_NAME_MAX + 1];
	const size_t lens[] = { 1, 15, 16, 100, 159, 160, 255 };
	int success = 0, badcode = 0, tries = 0;

	veil_random(iv, sizeof(iv));
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		long n;

		random_name(name, lens[li]);
		n = veil_name_encrypt(k, iv, name, lens[li], enc);
		if (n < 0) {
			badcode++;
			continue;
		}
		for (long i = 0; i < n; i++) {
			for (const char *c = b64chars; *c; c++) {
				long r;

				if (*c == enc[i])
					continue;
				memcpy(t, enc, (size_t)n + 1);
				t[i] = *c;
				r = veil_name_decrypt(k, iv, t, (size_t)n, out);
				tries++;
				if (r >= 0)
					success++;
				else if (r != -EBADMSG && r != -EINVAL)
					badcode++;
			}
			memcpy(t, enc, (size_t)n + 1);
			t[i] = '.';
			if (veil_name_decrypt(k, iv, t, (size_t)n, out) != -EINVAL)
				badcode++;
		}
		for (long cut = 0; cut < n; cut++) {
			long r = veil_name_decrypt(k, iv, enc, (size_t)cut, out);

			if (r >= 0)
				success++;
			else if (r != -EBADMSG && r != -EINVAL)
				badcode++;
		}
		memcpy(t, enc, (size_t)n);
		t[n] = 'A';
		t[n + 1] = '\0';
		if (veil_name_decrypt(k, iv, t, (size_t)n + 1, out) >= 0)
			success++;
	}
	ok(success == 0, "no substituted character, truncation or extension decrypts (%d of %d)",
	   success, tries);
	ok(badcode == 0, "all fail with -EBADMSG or -EINVAL ('.' with -EINVAL) (%d not)", badcode);
	{
		char big[VEIL_ENCNAME_MAX + 50];

		memset(big, 'A', sizeof(big));
		ok(veil_name_decrypt(k, iv, big, sizeof(big), out) == -EINVAL,
		   "over-long encoded name -> -EINVAL");
		ok(veil_name_decrypt(k, iv, "", 0, out) == -EINVAL, "empty encoded name -> -EINVAL");
		ok(veil_name_decrypt(k, iv, "AAAA", 4, out) == -EINVAL, "too short -> -EINVAL");
	}
}

static void test_invalid(const struct veil_keys *k)
{
	uint8_t iv[VEIL_DIRIV_BYTES] = { 3 };
	char enc[VEIL_ENCNAME_MAX + 1], out[VEIL_NAME_MAX + 1], big[300];
	uint8_t padded[512];
	const struct {
		const char *name;
		size_t len;
	} badn[] = { { "", 0 }, { ".", 1 }, { "..", 2 }, { "a/b", 3 }, { "/", 1 }, { "a\0b", 3 } };
	size_t plen;
	long r;

	for (size_t i = 0; i < sizeof(badn) / sizeof(badn[0]); i++) {
		r = veil_name_encrypt(k, iv, badn[i].name, badn[i].len, enc);
		ok(r == -EINVAL, "name #%zu (\"%s\", %zu bytes) rejected -> -EINVAL (%ld)", i,
		   badn[i].name, badn[i].len, r);
	}
	memset(big, 'x', sizeof(big));
	r = veil_name_encrypt(k, iv, big, 256, enc);
	ok(r == -ENAMETOOLONG, "256-byte name -> -ENAMETOOLONG (%ld)", r);
	ok(veil_name_valid("...", 3) && veil_name_valid(".a", 2) && veil_name_valid(big, 255),
	   "'...', '.a' and 255 bytes are valid names");

	/* Authentic ciphertexts of things that are not names: only a key holder makes them. */
	{
		const struct {
			const char *p;
			size_t len;
		} evil[] = { { "..", 2 }, { ".", 1 }, { "a/b", 3 }, { "a\0b", 3 }, { "", 0 } };

		for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
			plen = pkcs7(padded, evil[i].p, evil[i].len);
			craft(k->name_mac, k->name_stream, iv, padded, plen, enc);
			r = veil_name_decrypt(k, iv, enc, strlen(enc), out);
			ok(r == -EBADMSG, "authentic encryption of invalid name #%zu -> -EBADMSG (%ld)", i,
			   r);
		}
		memset(padded, 'a', 16);
		padded[15] = 0;
		craft(k->name_mac, k->name_stream, iv, padded, 16, enc);
		ok(veil_name_decrypt(k, iv, enc, strlen(enc), out) == -EBADMSG, "pad byte 0 -> -EBADMSG");
		padded[15] = 17;
		craft(k->name_mac, k->name_stream, iv, padded, 16, enc);
		ok(veil_name_decrypt(k, iv, enc, strlen(enc), out) == -EBADMSG,
		   "pad byte 17 -> -EBADMSG");
		memset(padded, 'a', 16);
		padded[15] = 3;
		padded[14] = 3;
		padded[13] = 2;
		craft(k->name_mac, k->name_stream, iv, padded, 16, enc);
		ok(veil_name_decrypt(k, iv, enc, strlen(enc), out) == -EBADMSG,
		   "inconsistent padding -> -EBADMSG");
		/* 256 name bytes + 16 pad bytes: authentic, but longer than NAME_MAX. */
		memset(padded, 'b', 256);
		memset(padded + 256, 16, 16);
		{
			char wide[512];

			craft(k->name_mac, k->name_stream, iv, padded, 272, wide);
			r = veil_name_decrypt(k, iv, wide, strlen(wide), out);
		}
		ok(r < 0, "authentic 256-byte name is rejected (%ld)", r);
		/* A correct encoding under the name MAC key but the xattr stream key. */
		plen = pkcs7(padded, "x", 1);
		craft(k->xattr_name_mac, k->xattr_name_stream, iv, padded, plen, enc);
		ok(veil_name_decrypt(k, iv, enc, strlen(enc), out) == -EBADMSG,
		   "a name made with the xattr subkeys does not decrypt as a file name");
	}
}

static void test_classify(void)
{
	char h43[64], buf[128];
	const struct {
		const char *prefix, *suffix;
		int hlen;
		enum veil_entry_kind want;
	} v[] = {
		{ "veilfs.ln.", "", 43, VEIL_ENTRY_LONG },
		{ "veilfs.ln.", ".name", 43, VEIL_ENTRY_SIDECAR },
		{ "veilfs.ln.", "", 42, VEIL_ENTRY_FOREIGN },
		{ "veilfs.ln.", "", 44, VEIL_ENTRY_FOREIGN },
		{ "veilfs.ln.", ".nam", 43, VEIL_ENTRY_FOREIGN },
		{ "veilfs.ln.", ".name.bak", 43, VEIL_ENTRY_FOREIGN },
		{ "veilfs.ln.", ".names", 43, VEIL_ENTRY_FOREIGN },
		{ "veilfs.ln.", "=", 43, VEIL_ENTRY_FOREIGN },
		{ "veilfs.lt.", "", 43, VEIL_ENTRY_LINKBLOB },
		{ "veilfs.lt.", "", 42, VEIL_ENTRY_FOREIGN },
		{ "veilfs.lt.", ".name", 43, VEIL_ENTRY_FOREIGN },
		{ "veilfs.tmp.", "", 8, VEIL_ENTRY_TEMP },
		{ "", "", 43, VEIL_ENTRY_NAME },
	};
	const struct {
		const char *d;
		enum veil_entry_kind want;
	} w[] = {
		{ ".", VEIL_ENTRY_DOT },
		{ "..", VEIL_ENTRY_DOT },
		{ "...", VEIL_ENTRY_FOREIGN },
		{ "veilfs.diriv", VEIL_ENTRY_DIRIV },
		{ "veilfs.conf", VEIL_ENTRY_CONF },
		{ "veilfs.diriv.bak", VEIL_ENTRY_FOREIGN },
		{ "veilfs.conf~", VEIL_ENTRY_FOREIGN },
		{ "veilfs.conf.bak", VEIL_ENTRY_FOREIGN },
		{ "veilfs.tmp.", VEIL_ENTRY_TEMP },
		{ "veilfs.tmp.conf.0badc0de", VEIL_ENTRY_TEMP },
		{ "veilfs.ln.", VEIL_ENTRY_FOREIGN },
		{ "veilfs.lt.", VEIL_ENTRY_FOREIGN },
		{ "report (conflicted copy).txt", VEIL_ENTRY_FOREIGN },
		{ "abc (Case Conflict)", VEIL_ENTRY_FOREIGN },
		{ ".DS_Store", VEIL_ENTRY_FOREIGN },
		{ "Thumbs.db", VEIL_ENTRY_FOREIGN },
		{ "desktop.ini", VEIL_ENTRY_FOREIGN },
		{ ".~lock.file#", VEIL_ENTRY_FOREIGN },
		{ "a+b", VEIL_ENTRY_FOREIGN },
		{ "a=", VEIL_ENTRY_FOREIGN },
		{ "", VEIL_ENTRY_FOREIGN },
		{ "abc", VEIL_ENTRY_NAME },
		{ "A-_9", VEIL_ENTRY_NAME },
	};
	int bad = 0;

	memset(h43, 'Q', sizeof(h43));
	h43[10] = '-';
	h43[11] = '_';
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		enum veil_entry_kind got;

		snprintf(buf, sizeof(buf), "%s%.*s%s", v[i].prefix, v[i].hlen, h43, v[i].suffix);
		got = veil_entry_classify(buf);
		if (got != v[i].want) {
			bad++;
			diag("classify(\"%s\") = %d, want %d", buf, (int)got, (int)v[i].want);
		}
	}
	snprintf(buf, sizeof(buf), "veilfs.ln.%.42s+", h43);
	if (veil_entry_classify(buf) != VEIL_ENTRY_FOREIGN)
		bad++;
	snprintf(buf, sizeof(buf), "veilfs.ln.%.42s.", h43);
	if (veil_entry_classify(buf) != VEIL_ENTRY_FOREIGN)
		bad++;
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		enum veil_entry_kind got = veil_entry_classify(w[i].d);

		if (got != w[i].want) {
			bad++;
			diag("classify(\"%s\") = %d, want %d", w[i].d, (int)got, (int)w[i].want);
		}
	}
	ok(bad == 0, "veil_entry_classify on %zu reserved and junk names",
	   sizeof(v) / sizeof(v[0]) + sizeof(w) / sizeof(w[0]) + 2);
}

static void test_links(const struct veil_keys *k)
{
	const size_t lens[] = { 1, 100, 3031, 3032, 4095 };
	char *target = malloc(VEIL_LINK_TARGET_MAX + 1), *enc = malloc(8192), *t = malloc(8192);
	char *out = malloc(VEIL_LINK_TARGET_MAX + 1);

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i], elen = veil_link_encrypted_len(len);
		long r;
		int success = 0, badcode = 0;

		for (size_t j = 0; j < len; j++)
			target[j] = (char)('a' + (j * 7 + i) % 26);
		target[0] = '/';
		target[len] = '\0';
		veil_link_encrypt(k, target, len, enc);
		r = veil_link_decrypt(k, enc, strlen(enc), out);
		ok(strlen(enc) == elen && r == (long)len && strcmp(out, target) == 0,
		   "symlink target of %zu bytes round trips (%ld, encrypted %zu)", len, r, elen);
		for (size_t j = 0; j < elen; j += (elen > 200 ? 13 : 1)) {
			memcpy(t, enc, elen + 1);
			t[j] = t[j] == 'A' ? 'B' : 'A';
			r = veil_link_decrypt(k, t, elen, out);
			if (r >= 0)
				success++;
			else if (r != -EBADMSG && r != -EINVAL)
				badcode++;
		}
		r = veil_link_decrypt(k, enc, elen - 4, out);
		if (r >= 0)
			success++;
		ok(success == 0 && badcode == 0,
		   "tampered %zu-byte target never decrypts (%d succeeded, %d bad codes)", len,
		   success, badcode);
	}
	ok(veil_link_encrypted_len(3031) == VEIL_LINK_INLINE_MAX &&
		   veil_link_encrypted_len(3032) == VEIL_LINK_INLINE_MAX + 1,
	   "3031-byte targets fit a symlink, 3032 bytes go to a blob");
	{
		char a[VEIL_ENCNAME_MAX], b[VEIL_ENCNAME_MAX];
		long r;

		veil_link_encrypt(k, "same", 4, a);
		veil_link_encrypt(k, "same", 4, b);
		ok(strcmp(a, b) != 0, "symlink encryption uses a fresh nonce");
		veil_link_encrypt(k, "a\0b", 3, a);
		r = veil_link_decrypt(k, a, strlen(a), out);
		ok(r == -EBADMSG, "authentic target containing NUL -> -EBADMSG (%ld)", r);
		veil_link_blob_name(a, strlen(a), b);
		ok(strlen(b) == VEIL_LONGNAME_LEN && veil_entry_classify(b) == VEIL_ENTRY_LINKBLOB,
		   "blob name is veilfs.lt.<43> (%s)", b);
		r = veil_link_decrypt(k, "not base64!", 11, out);
		ok(r == -EINVAL, "garbage target -> -EINVAL (%ld)", r);
	}
	{
		/* An encoded target longer than any valid one must not overflow. */
		long r;

		memset(t, 'A', 8000);
		r = veil_link_decrypt(k, t, 8000, out);
		ok(r < 0, "8000-character encoded target rejected (%ld)", r);
	}
	free(target);
	free(enc);
	free(t);
	free(out);
}

static void test_xattrs(const struct veil_keys *k)
{
	char name[300], c1[256], c2[512], out[256];
	uint8_t val[300], enc[400], dec[400];
	long n, r;

	n = veil_xattr_name_encrypt(k, "user.comment", c1);
	ok(n > 0 && (size_t)n == strlen(c1) && strncmp(c1, "user.veilfs.", 12) == 0,
	   "user.comment -> %s", c1);
	r = veil_xattr_name_decrypt(k, c1, out);
	ok(r == 12 && strcmp(out, "user.comment") == 0, "xattr name round trip (%ld)", r);
	ok(veil_xattr_name_encrypt(k, "user.comment", c2) == n && strcmp(c1, c2) == 0,
	   "xattr names are deterministic (listxattr/getxattr agree)");
	{
		const char *ns[] = { "trusted.x", "security.selinux", "system.posix_acl_access",
				     "user", "User.x", "userx" };

		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			r = veil_xattr_name_encrypt(k, ns[i], c2);
			ok(r == -EOPNOTSUPP, "xattr %s -> -EOPNOTSUPP (%ld)", ns[i], r);
		}
	}
	r = veil_xattr_name_encrypt(k, "user.", c2);
	ok(r == -EINVAL, "empty user xattr name -> -EINVAL (%ld)", r);
	memcpy(name, "user.", 5);
	memset(name + 5, 'n', VEIL_XATTR_NAME_MAX);
	name[5 + VEIL_XATTR_NAME_MAX] = '\0';
	n = veil_xattr_name_encrypt(k, name, c2);
	ok(n > 0 && n <= 255 && veil_xattr_name_decrypt(k, c2, out) == 5 + VEIL_XATTR_NAME_MAX &&
		   strcmp(out, name) == 0,
	   "159-byte xattr name fits in %ld bytes and round trips", n);
	name[5 + VEIL_XATTR_NAME_MAX] = 'n';
	name[6 + VEIL_XATTR_NAME_MAX] = '\0';
	r = veil_xattr_name_encrypt(k, name, c2);
	ok(r == -ERANGE, "160-byte xattr name -> -ERANGE (%ld)", r);
	memset(name + 5, 'n', 250);
	name[255] = '\0';
	r = veil_xattr_name_encrypt(k, name, c2);
	ok(r == -ERANGE, "250-byte xattr name -> -ERANGE (%ld)", r);
	r = veil_xattr_name_decrypt(k, "user.comment", out);
	ok(r == -EINVAL, "plain user xattr is not ours -> -EINVAL (%ld)", r);
	r = veil_xattr_name_decrypt(k, "user.veilfs.", out);
	ok(r == -EINVAL, "empty cipher xattr name -> -EINVAL (%ld)", r);
	memcpy(c2, c1, sizeof(c1));
	c2[14] = c2[14] == 'A' ? 'B' : 'A';
	r = veil_xattr_name_decrypt(k, c2, out);
	ok(r == -EBADMSG || r == -EINVAL, "tampered xattr name fails (%ld)", r);
	{
		/* Authentic encryption of a 200-byte name: longer than any we make. */
		uint8_t padded[256];
		uint8_t zero_iv[VEIL_DIRIV_BYTES] = { 0 };
		size_t plen;

		memset(name, 'z', 200);
		plen = pkcs7(padded, name, 200);
		memcpy(c2, "user.veilfs.", 12);
		craft(k->xattr_name_mac, k->xattr_name_stream, zero_iv, padded, plen, c2 + 12);
		r = veil_xattr_name_decrypt(k, c2, out);
		ok(r == -EBADMSG, "authentic over-long xattr name -> -EBADMSG (%ld)", r);
		plen = pkcs7(padded, "a\0b", 3);
		craft(k->xattr_name_mac, k->xattr_name_stream, zero_iv, padded, plen, c2 + 12);
		r = veil_xattr_name_decrypt(k, c2, out);
		ok(r == -EBADMSG, "authentic xattr name with NUL -> -EBADMSG (%ld)", r);
		plen = pkcs7(padded, "comment", 7);
		craft(k->name_mac, k->name_stream, zero_iv, padded, plen, c2 + 12);
		r = veil_xattr_name_decrypt(k, c2, out);
		ok(r == -EBADMSG, "xattr name made with the file-name subkeys -> -EBADMSG (%ld)", r);
	}

	veil_random(val, sizeof(val));
	veil_xattr_value_encrypt(k, c1, val, 300, enc);
	r = veil_xattr_value_decrypt(k, c1, enc, 340, dec);
	ok(r == 300 && memcmp(dec, val, 300) == 0, "xattr value round trip (%ld)", r);
	veil_xattr_value_encrypt(k, c1, val, 0, enc);
	r = veil_xattr_value_decrypt(k, c1, enc, 40, dec);
	ok(r == 0, "empty xattr value round trip (%ld)", r);
	veil_xattr_value_encrypt(k, c1, val, 300, enc);
	n = veil_xattr_name_encrypt(k, "user.other", c2);
	r = veil_xattr_value_decrypt(k, c2, enc, 340, dec);
	ok(n > 0 && r == -EBADMSG, "value under another xattr name (AD) -> -EBADMSG (%ld)", r);
	{
		int bad = 0;

		for (size_t i = 0; i < 340; i++) {
			enc[i] ^= 0x20;
			if (veil_xattr_value_decrypt(k, c1, enc, 340, dec) != -EBADMSG)
				bad++;
			enc[i] ^= 0x20;
		}
		ok(bad == 0, "every flipped byte of an xattr value -> -EBADMSG");
		for (size_t len = 0; len < 340; len++)
			if (veil_xattr_value_decrypt(k, c1, enc, len, dec) >= 0)
				bad++;
		ok(bad == 0, "every truncation of an xattr value fails");
	}
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
	test_round_trip(k);
	test_tamper(k);
	test_invalid(k);
	test_classify();
	test_links(k);
	test_xattrs(k);
	veil_keys_free(k);
	return tap_done();
}
