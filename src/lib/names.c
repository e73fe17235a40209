/* SPDX-License-Identifier: MIT */
/* Name, symlink-target and xattr encryption. Constructions: names.h. */
#include "names.h"

#include <errno.h>
#include <string.h>

#include "keys.h"

#define PAD 16
#define MAX_PADDED 256

bool veil_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > VEIL_NAME_MAX)
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL;
}

static bool is_b64url(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return n > 0;
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

enum veil_entry_kind veil_entry_classify(const char *d)
{
	size_t n = strlen(d);
	const size_t pl = sizeof(VEIL_LONGNAME_PREFIX) - 1;
	const size_t sl = sizeof(VEIL_LONGNAME_SUFFIX) - 1;

	if (strcmp(d, ".") == 0 || strcmp(d, "..") == 0)
		return VEIL_ENTRY_DOT;
	if (strcmp(d, VEIL_DIRIV_NAME) == 0)
		return VEIL_ENTRY_DIRIV;
	if (strcmp(d, "veilfs.conf") == 0)
		return VEIL_ENTRY_CONF;
	if (has_prefix(d, VEIL_LONGNAME_PREFIX)) {
		if (n == VEIL_LONGNAME_LEN && is_b64url(d + pl, 43))
			return VEIL_ENTRY_LONG;
		if (n == VEIL_LONGNAME_LEN + sl && is_b64url(d + pl, 43) &&
		    strcmp(d + VEIL_LONGNAME_LEN, VEIL_LONGNAME_SUFFIX) == 0)
			return VEIL_ENTRY_SIDECAR;
		return VEIL_ENTRY_FOREIGN;
	}
	if (has_prefix(d, VEIL_TEMP_PREFIX))
		return VEIL_ENTRY_TEMP;
	if (has_prefix(d, VEIL_LONGLINK_PREFIX))
		return n == VEIL_LONGNAME_LEN && is_b64url(d + pl, 43) ? VEIL_ENTRY_LINKBLOB
								       : VEIL_ENTRY_FOREIGN;
	return is_b64url(d, n) ? VEIL_ENTRY_NAME : VEIL_ENTRY_FOREIGN;
}

/* The SIV construction shared by file names and xattr names. */
static long siv_encrypt(const uint8_t *mac_key, const uint8_t *stream_key,
			const uint8_t iv[static VEIL_DIRIV_BYTES], const char *name, size_t len,
			char *out, size_t outsz)
{
	uint8_t buf[VEIL_SIV_BYTES + MAX_PADDED];
	uint8_t padded[MAX_PADDED];
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES] = { 0 };
	size_t plen = (len / PAD + 1) * PAD;
	size_t enclen;

	if (plen > MAX_PADDED)
		return -ENAMETOOLONG;
	memcpy(padded, name, len);
	memset(padded + len, (int)(plen - len), plen - len);
	veil_hash(buf, VEIL_SIV_BYTES, mac_key, VEIL_KEY_BYTES, iv, VEIL_DIRIV_BYTES, padded, plen,
		  NULL, 0);
	memcpy(nonce, buf, VEIL_SIV_BYTES);
	veil_stream_xor(buf + VEIL_SIV_BYTES, padded, plen, nonce, stream_key);
	enclen = veil_b64_encoded_len(VEIL_SIV_BYTES + plen);
	if (enclen + 1 > outsz)
		return -ENAMETOOLONG;
	veil_b64_encode(out, outsz, buf, VEIL_SIV_BYTES + plen);
	veil_wipe(padded, sizeof(padded));
	return (long)enclen;
}

static long siv_decrypt(const uint8_t *mac_key, const uint8_t *stream_key,
			const uint8_t iv[static VEIL_DIRIV_BYTES], const char *enc, size_t enclen,
			char *out)
{
	uint8_t buf[VEIL_SIV_BYTES + MAX_PADDED];
	uint8_t padded[MAX_PADDED];
	uint8_t siv[VEIL_SIV_BYTES];
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES] = { 0 };
	long n;
	size_t plen, pad;
	long ret = -EBADMSG;

	if (enclen > VEIL_ENCNAME_MAX || !is_b64url(enc, enclen))
		return -EINVAL;
	n = veil_b64_decode(buf, sizeof(buf), enc, enclen);
	if (n < (long)(VEIL_SIV_BYTES + PAD) || (n - VEIL_SIV_BYTES) % PAD != 0)
		return -EINVAL;
	plen = (size_t)n - VEIL_SIV_BYTES;
	memcpy(nonce, buf, VEIL_SIV_BYTES);
	veil_stream_xor(padded, buf + VEIL_SIV_BYTES, plen, nonce, stream_key);
	veil_hash(siv, sizeof(siv), mac_key, VEIL_KEY_BYTES, iv, VEIL_DIRIV_BYTES, padded, plen,
		  NULL, 0);
	if (!veil_equal(siv, buf, VEIL_SIV_BYTES))
		goto out;
	/* Authentic, so the padding was made by us; check it all the same. */
	pad = padded[plen - 1];
	if (pad < 1 || pad > PAD)
		goto out;
	for (size_t i = plen - pad; i < plen; i++)
		if (padded[i] != pad)
			goto out;
	memcpy(out, padded, plen - pad);
	out[plen - pad] = '\0';
	ret = (long)(plen - pad);
out:
	veil_wipe(padded, sizeof(padded));
	return ret;
}

long veil_name_encrypt(const struct veil_keys *k, const uint8_t iv[static VEIL_DIRIV_BYTES],
		       const char *name, size_t len, char *out)
{
	if (!veil_name_valid(name, len))
		return len > VEIL_NAME_MAX ? -ENAMETOOLONG : -EINVAL;
	return siv_encrypt(k->name_mac, k->name_stream, iv, name, len, out, VEIL_ENCNAME_MAX + 1);
}

long veil_name_decrypt(const struct veil_keys *k, const uint8_t iv[static VEIL_DIRIV_BYTES],
		       const char *enc, size_t enclen, char *out)
{
	long n = siv_decrypt(k->name_mac, k->name_stream, iv, enc, enclen, out);

	if (n >= 0 && !veil_name_valid(out, (size_t)n)) {
		out[0] = '\0';
		return -EBADMSG;
	}
	return n;
}

static void hash_name(const char *prefix, const char *enc, size_t enclen, char *out)
{
	uint8_t h[VEIL_HASH_BYTES];
	size_t pl = strlen(prefix);

	veil_hash(h, sizeof(h), NULL, 0, enc, enclen, NULL, 0, NULL, 0);
	memcpy(out, prefix, pl);
	veil_b64_encode(out + pl, 44, h, sizeof(h));
}

bool veil_name_backing(const char *enc, size_t enclen, char *out)
{
	if (enclen <= VEIL_SHORTNAME_MAX) {
		memcpy(out, enc, enclen);
		out[enclen] = '\0';
		return false;
	}
	hash_name(VEIL_LONGNAME_PREFIX, enc, enclen, out);
	return true;
}

size_t veil_link_encrypted_len(size_t tlen)
{
	return veil_b64_encoded_len(tlen + VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES);
}

void veil_link_seal(const struct veil_keys *k, const char *target, size_t tlen,
		    const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES], char *out)
{
	size_t blen = tlen + VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES;
	uint8_t buf[VEIL_LINK_TARGET_MAX + VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES];

	memcpy(buf, nonce, VEIL_AEAD_NONCE_BYTES);
	veil_aead_seal(buf + VEIL_AEAD_NONCE_BYTES, (const uint8_t *)target, tlen, NULL, 0, buf,
		       k->link);
	veil_b64_encode(out, veil_b64_encoded_len(blen) + 1, buf, blen);
}

void veil_link_encrypt(const struct veil_keys *k, const char *target, size_t tlen, char *out)
{
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES];

	veil_random(nonce, sizeof(nonce));
	veil_link_seal(k, target, tlen, nonce, out);
}

long veil_link_decrypt(const struct veil_keys *k, const char *enc, size_t enclen, char *out)
{
	uint8_t buf[VEIL_LINK_TARGET_MAX + VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES];
	long n;
	size_t tlen;

	if (!is_b64url(enc, enclen))
		return -EINVAL;
	n = veil_b64_decode(buf, sizeof(buf), enc, enclen);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n <= VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES)
		return -EBADMSG;
	tlen = (size_t)n - VEIL_AEAD_NONCE_BYTES - VEIL_AEAD_TAG_BYTES;
	if (veil_aead_open((uint8_t *)out, buf + VEIL_AEAD_NONCE_BYTES,
			   (size_t)n - VEIL_AEAD_NONCE_BYTES, NULL, 0, buf, k->link) < 0)
		return -EBADMSG;
	if (memchr(out, '\0', tlen)) {
		veil_wipe(out, tlen);
		return -EBADMSG;
	}
	out[tlen] = '\0';
	return (long)tlen;
}

void veil_link_blob_name(const char *enc, size_t enclen, char out[static VEIL_LONGNAME_LEN + 1])
{
	hash_name(VEIL_LONGLINK_PREFIX, enc, enclen, out);
}

static const uint8_t xattr_iv[VEIL_DIRIV_BYTES];

long veil_xattr_name_encrypt(const struct veil_keys *k, const char *name, char *out)
{
	const size_t up = sizeof(VEIL_XATTR_PREFIX) - 1;
	const size_t cp = sizeof(VEIL_XATTR_CIPHER_PREFIX) - 1;
	size_t len;
	long n;

	if (strncmp(name, VEIL_XATTR_PREFIX, up) != 0)
		return -EOPNOTSUPP;
	len = strlen(name + up);
	if (len == 0)
		return -EINVAL;
	if (len > VEIL_XATTR_NAME_MAX)
		return -ERANGE;
	memcpy(out, VEIL_XATTR_CIPHER_PREFIX, cp);
	n = siv_encrypt(k->xattr_name_mac, k->xattr_name_stream, xattr_iv, name + up, len, out + cp,
			256 - cp);
	if (n < 0)
		return n == -ENAMETOOLONG ? -ERANGE : n;
	return (long)cp + n;
}

long veil_xattr_name_decrypt(const struct veil_keys *k, const char *cname, char *out)
{
	const size_t up = sizeof(VEIL_XATTR_PREFIX) - 1;
	const size_t cp = sizeof(VEIL_XATTR_CIPHER_PREFIX) - 1;
	char plain[VEIL_NAME_MAX + 1];
	long n;

	if (strncmp(cname, VEIL_XATTR_CIPHER_PREFIX, cp) != 0)
		return -EINVAL;
	n = siv_decrypt(k->xattr_name_mac, k->xattr_name_stream, xattr_iv, cname + cp,
			strlen(cname + cp), plain);
	if (n < 0)
		return n;
	if (n == 0 || (size_t)n > VEIL_XATTR_NAME_MAX || memchr(plain, '\0', (size_t)n))
		return -EBADMSG;
	memcpy(out, VEIL_XATTR_PREFIX, up);
	memcpy(out + up, plain, (size_t)n + 1);
	return (long)up + n;
}

void veil_xattr_value_seal(const struct veil_keys *k, const char *cname, const uint8_t *val,
			   size_t len, const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES],
			   uint8_t *out)
{
	memcpy(out, nonce, VEIL_AEAD_NONCE_BYTES);
	veil_aead_seal(out + VEIL_AEAD_NONCE_BYTES, val, len, (const uint8_t *)cname,
		       strlen(cname), out, k->xattr_value);
}

void veil_xattr_value_encrypt(const struct veil_keys *k, const char *cname, const uint8_t *val,
			      size_t len, uint8_t *out)
{
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES];

	veil_random(nonce, sizeof(nonce));
	veil_xattr_value_seal(k, cname, val, len, nonce, out);
}

long veil_xattr_value_decrypt(const struct veil_keys *k, const char *cname, const uint8_t *in,
			      size_t len, uint8_t *out)
{
	if (len < VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES)
		return -EBADMSG;
	if (veil_aead_open(out, in + VEIL_AEAD_NONCE_BYTES, len - VEIL_AEAD_NONCE_BYTES,
			   (const uint8_t *)cname, strlen(cname), in, k->xattr_value) < 0)
		return -EBADMSG;
	return (long)(len - VEIL_AEAD_NONCE_BYTES - VEIL_AEAD_TAG_BYTES);
}
