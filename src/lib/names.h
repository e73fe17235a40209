/* SPDX-License-Identifier: MIT */
/*
 * veilfs/names.h — file names, symlink targets and xattrs.
 *
 * Names (docs/format.md §Names): deterministic authenticated encryption per
 * directory. With P = name padded to a multiple of 16 (PKCS#7, 1..16 bytes):
 *   siv   = BLAKE2b-128(key = NAME_MAC, dir IV || P)
 *   nonce = siv || 8 zero bytes
 *   C     = P xor XChaCha20(NAME_STREAM, nonce)
 *   name  = base64url-nopad(siv || C)
 * Decryption verifies siv in constant time before looking at the padding.
 * Encoded names never contain '.', so the reserved names below, which all
 * do, can never collide with one.
 */
#ifndef VEILFS_NAMES_H
#define VEILFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "format.h"

struct veil_keys;

#define VEIL_NAME_MAX 255
#define VEIL_DIRIV_BYTES 16
/* Length of "veilfs.ln." + 43 characters of base64url(BLAKE2b-256). */
#define VEIL_LONGNAME_LEN (sizeof(VEIL_LONGNAME_PREFIX) - 1 + 43)
/* Longest encoded name: base64 of 16 + 256 bytes. */
#define VEIL_ENCNAME_MAX 363
/* Encoded names longer than this go to a long-name file. */
#define VEIL_SHORTNAME_MAX 255
/* Encrypted symlink targets longer than this are stored in a blob file. */
#define VEIL_LINK_INLINE_MAX 4095
#define VEIL_LINK_TARGET_MAX 4095
/* Longest link blob: the encoding of the longest target, b64len(4095 + 40). */
#define VEIL_LINK_BLOB_MAX ((4 * (VEIL_LINK_TARGET_MAX + 40) + 2) / 3)
#define VEIL_XATTR_PREFIX "user."
#define VEIL_XATTR_CIPHER_PREFIX "user.veilfs."
#define VEIL_XATTR_VALUE_MAX (65536 - VEIL_BLOCK_OVERHEAD_X)
#define VEIL_BLOCK_OVERHEAD_X (VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES)
/* Longest plaintext xattr name after "user." that fits the backing name. */
#define VEIL_XATTR_NAME_MAX 159

/* Kinds of entries found in a cipher directory. */
enum veil_entry_kind {
	VEIL_ENTRY_NAME,     /* an encoded name */
	VEIL_ENTRY_LONG,     /* veilfs.ln.<hash>: the object of a long name */
	VEIL_ENTRY_SIDECAR,  /* veilfs.ln.<hash>.name */
	VEIL_ENTRY_DIRIV,    /* veilfs.diriv */
	VEIL_ENTRY_CONF,     /* veilfs.conf */
	VEIL_ENTRY_LINKBLOB, /* veilfs.lt.<hash> */
	VEIL_ENTRY_DOT,      /* . or .. */
	VEIL_ENTRY_TEMP,     /* veilfs.tmp.*: left by an interrupted creation */
	VEIL_ENTRY_FOREIGN,  /* anything else */
};

enum veil_entry_kind veil_entry_classify(const char *dname);

/* True if @name (length @len) is a valid plaintext file name. */
bool veil_name_valid(const char *name, size_t len);

/*
 * Encrypt @name (1..255 bytes) for the directory with IV @iv. Writes the
 * encoded name (NUL-terminated, at most VEIL_ENCNAME_MAX chars) to @out
 * (size >= VEIL_ENCNAME_MAX + 1) and returns its length, or -EINVAL /
 * -ENAMETOOLONG.
 */
long veil_name_encrypt(const struct veil_keys *k, const uint8_t iv[static VEIL_DIRIV_BYTES],
		       const char *name, size_t len, char *out) VEIL_MUST_CHECK;

/*
 * Decrypt an encoded name. Writes the plaintext (NUL-terminated) to @out
 * (size >= VEIL_NAME_MAX + 1) and returns its length; -EBADMSG if it does
 * not authenticate for this directory, -EINVAL if it is not an encoded name.
 */
long veil_name_decrypt(const struct veil_keys *k, const uint8_t iv[static VEIL_DIRIV_BYTES],
		       const char *enc, size_t enclen, char *out) VEIL_MUST_CHECK;

/*
 * The name used in the cipher directory for an encoded name: the encoded
 * name itself if it is at most VEIL_SHORTNAME_MAX characters, else
 * veilfs.ln.<base64url(BLAKE2b-256(encoded))>. Returns true for a long name.
 * @out needs VEIL_ENCNAME_MAX + 1 bytes.
 */
bool veil_name_backing(const char *enc, size_t enclen, char *out);

/* Symlink targets: XChaCha20-Poly1305 under LINK, random nonce, base64url. */
size_t veil_link_encrypted_len(size_t tlen);
/* @out needs veil_link_encrypted_len(tlen) + 1 bytes. */
void veil_link_encrypt(const struct veil_keys *k, const char *target, size_t tlen, char *out);
/* The same with a caller-chosen nonce (reverse mode derives it). */
void veil_link_seal(const struct veil_keys *k, const char *target, size_t tlen,
		    const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES], char *out);
/* @out needs VEIL_LINK_TARGET_MAX + 1 bytes; returns the target length. */
long veil_link_decrypt(const struct veil_keys *k, const char *enc, size_t enclen,
		       char *out) VEIL_MUST_CHECK;
/* Name of the blob holding an encrypted target too long for a symlink. */
void veil_link_blob_name(const char *enc, size_t enclen, char out[static VEIL_LONGNAME_LEN + 1]);

/*
 * Xattr names: "user.X" <-> "user.veilfs." + SIV-encrypt(X) with the xattr
 * name subkeys and an all-zero IV. Returns the backing name length, or
 * -EOPNOTSUPP for names outside the user namespace, -ERANGE if too long.
 * @out needs 256 bytes.
 */
long veil_xattr_name_encrypt(const struct veil_keys *k, const char *name,
			     char *out) VEIL_MUST_CHECK;
/* Inverse; -EINVAL for a backing name that is not ours. @out: 256 bytes. */
long veil_xattr_name_decrypt(const struct veil_keys *k, const char *cname,
			     char *out) VEIL_MUST_CHECK;
/* Values: nonce || AEAD(XATTR_VALUE, AD = backing name) ; len + 40 bytes. */
void veil_xattr_value_encrypt(const struct veil_keys *k, const char *cname, const uint8_t *val,
			      size_t len, uint8_t *out);
void veil_xattr_value_seal(const struct veil_keys *k, const char *cname, const uint8_t *val,
			   size_t len, const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES],
			   uint8_t *out);
long veil_xattr_value_decrypt(const struct veil_keys *k, const char *cname, const uint8_t *in,
			      size_t len, uint8_t *out) VEIL_MUST_CHECK;

#endif
