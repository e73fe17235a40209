/* SPDX-License-Identifier: MIT */
/*
 * veilfs/crypto.h — thin wrappers over libsodium.
 *
 * Contract: this is the only layer that talks to libsodium (together with
 * kdf.c). Everything above it sees fixed-size byte arrays and these
 * functions. Functions that can fail return 0 or a negative errno; an
 * authentication failure is -EBADMSG and leaves the output buffer zeroed.
 * Secrets live in memory from veil_secure_alloc() and are wiped by
 * veil_secure_free().
 */
#ifndef VEILFS_CRYPTO_H
#define VEILFS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VEIL_MUST_CHECK __attribute__((warn_unused_result))

#define VEIL_KEY_BYTES 32
#define VEIL_AEAD_NONCE_BYTES 24
#define VEIL_AEAD_TAG_BYTES 16
#define VEIL_SIV_BYTES 16
#define VEIL_HASH_BYTES 32

/* Subkey identifiers for veil_kdf_subkey(); see docs/format.md §Keys. */
enum veil_subkey_id {
	VEIL_SUBKEY_CONTENT = 1,
	VEIL_SUBKEY_NAME_MAC = 2,
	VEIL_SUBKEY_NAME_STREAM = 3,
	VEIL_SUBKEY_LINK = 4,
	VEIL_SUBKEY_XATTR_NAME_MAC = 5,
	VEIL_SUBKEY_XATTR_NAME_STREAM = 6,
	VEIL_SUBKEY_XATTR_VALUE = 7,
	VEIL_SUBKEY_HEADER_MAC = 8,
	VEIL_SUBKEY_REVERSE_ID = 9,
	VEIL_SUBKEY_REVERSE_NONCE = 10,
	VEIL_SUBKEY_RECOVERY = 11,
};

/* The 8-byte crypto_kdf context shared by every subkey. */
#define VEIL_KDF_CONTEXT "veilfs01"

/* Initialise libsodium; call once before anything else. */
int veil_crypto_init(void) VEIL_MUST_CHECK;

/* Secure memory: guarded, locked, wiped on free. NULL on failure. */
void *veil_secure_alloc(size_t n);
void veil_secure_free(void *p);
void veil_wipe(void *p, size_t n);
/* Lock @n bytes at @p in memory (best effort). */
void veil_mlock(void *p, size_t n);

void veil_random(void *buf, size_t n);
uint32_t veil_random_u32(void);

/* Fill @n bytes of nonces; faster than veil_random for the block path. */
void veil_nonce(uint8_t nonce[static VEIL_AEAD_NONCE_BYTES]);

/* Derive subkey @id of @master into @out (crypto_kdf_derive_from_key). */
int veil_kdf_subkey(uint8_t out[static VEIL_KEY_BYTES], enum veil_subkey_id id,
		    const uint8_t master[static VEIL_KEY_BYTES]) VEIL_MUST_CHECK;

/*
 * XChaCha20-Poly1305 (IETF). seal writes mlen + VEIL_AEAD_TAG_BYTES bytes
 * to @c. open reads clen bytes (clen >= tag) and writes clen - tag bytes to
 * @m; on failure returns -EBADMSG and zeroes @m.
 */
void veil_aead_seal(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad,
		    size_t adlen, const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES],
		    const uint8_t key[static VEIL_KEY_BYTES]);
int veil_aead_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad,
		   size_t adlen, const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES],
		   const uint8_t key[static VEIL_KEY_BYTES]) VEIL_MUST_CHECK;
/*
 * Check @c as veil_aead_open() would, decrypting nothing: only the tag is
 * computed (no plaintext anywhere, no keystream past the Poly1305 key).
 * 0 or -EBADMSG.
 */
int veil_aead_verify(const uint8_t *c, size_t clen, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES],
		     const uint8_t key[static VEIL_KEY_BYTES]) VEIL_MUST_CHECK;

/* XChaCha20 stream XOR (no authentication; the caller MACs). */
void veil_stream_xor(uint8_t *out, const uint8_t *in, size_t n,
		     const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES],
		     const uint8_t key[static VEIL_KEY_BYTES]);

/*
 * BLAKE2b over the concatenation of up to three parts (NULL parts are
 * skipped). @key may be NULL for an unkeyed hash. @outlen 16..64.
 */
void veil_hash(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
	       const void *p1, size_t n1, const void *p2, size_t n2, const void *p3,
	       size_t n3);

/* Constant-time equality of two buffers of @n bytes (16, 32 or any). */
bool veil_equal(const void *a, const void *b, size_t n);
bool veil_is_zero(const void *a, size_t n);

/*
 * base64url without padding (RFC 4648 §5), constant time.
 * veil_b64_encode writes a NUL-terminated string; @outsz must be at least
 * veil_b64_encoded_len(n) + 1. veil_b64_decode returns the decoded length
 * or -EINVAL for a malformed string (bad character, trailing bits, length).
 */
size_t veil_b64_encoded_len(size_t n);
void veil_b64_encode(char *out, size_t outsz, const uint8_t *in, size_t n);
long veil_b64_decode(uint8_t *out, size_t outsz, const char *in, size_t inlen) VEIL_MUST_CHECK;

/* Make the process non-dumpable and unable to be ptrace-attached by peers. */
void veil_harden_process(void);

#endif
