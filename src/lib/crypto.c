/* SPDX-License-Identifier: MIT */
/* Thin wrappers over libsodium: the only file besides kdf.c that includes it. */
#include "crypto.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <sodium.h>

_Static_assert(VEIL_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(VEIL_AEAD_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	       "nonce size");
_Static_assert(VEIL_AEAD_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(VEIL_KEY_BYTES == crypto_kdf_KEYBYTES, "kdf key size");
_Static_assert(sizeof(VEIL_KDF_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES, "kdf context");
_Static_assert(VEIL_AEAD_NONCE_BYTES == crypto_stream_xchacha20_NONCEBYTES, "stream nonce");

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/*
 * Nonces for content blocks come from a per-thread pool refilled from the
 * system generator in one call, so a block costs one memcpy instead of one
 * getrandom(2). A forked child must never reuse its parent's pool: the
 * generation counter below invalidates every pool in the child.
 */
#define NONCE_POOL_BYTES (VEIL_AEAD_NONCE_BYTES * 170)
static _Thread_local uint8_t nonce_pool[NONCE_POOL_BYTES];
static _Thread_local size_t nonce_left;
static _Thread_local unsigned nonce_gen;
static unsigned fork_gen;

static void child_after_fork(void)
{
	__atomic_add_fetch(&fork_gen, 1, __ATOMIC_SEQ_CST);
	nonce_left = 0;
}

static void install_atfork(void)
{
	pthread_atfork(NULL, NULL, child_after_fork);
}

int veil_crypto_init(void)
{
	if (sodium_init() < 0)
		return -EIO;
	pthread_once(&atfork_once, install_atfork);
	return 0;
}

void *veil_secure_alloc(size_t n)
{
	void *p = sodium_malloc(n);

	if (p)
		memset(p, 0, n);
	return p;
}

void veil_secure_free(void *p)
{
	if (p)
		sodium_free(p); /* sodium_free wipes before releasing */
}

void veil_wipe(void *p, size_t n)
{
	if (p && n)
		sodium_memzero(p, n);
}

void veil_mlock(void *p, size_t n)
{
	sodium_mlock(p, n);
}

void veil_random(void *buf, size_t n)
{
	randombytes_buf(buf, n);
}

uint32_t veil_random_u32(void)
{
	return randombytes_random();
}

void veil_nonce(uint8_t nonce[static VEIL_AEAD_NONCE_BYTES])
{
	unsigned gen = __atomic_load_n(&fork_gen, __ATOMIC_SEQ_CST);

	if (nonce_left < VEIL_AEAD_NONCE_BYTES || nonce_gen != gen) {
		randombytes_buf(nonce_pool, sizeof(nonce_pool));
		nonce_left = sizeof(nonce_pool);
		nonce_gen = gen;
	}
	nonce_left -= VEIL_AEAD_NONCE_BYTES;
	memcpy(nonce, nonce_pool + nonce_left, VEIL_AEAD_NONCE_BYTES);
	sodium_memzero(nonce_pool + nonce_left, VEIL_AEAD_NONCE_BYTES);
}

int veil_kdf_subkey(uint8_t out[static VEIL_KEY_BYTES], enum veil_subkey_id id,
		    const uint8_t master[static VEIL_KEY_BYTES])
{
	if (crypto_kdf_derive_from_key(out, VEIL_KEY_BYTES, (uint64_t)id, VEIL_KDF_CONTEXT,
				       master) != 0)
		return -EINVAL;
	return 0;
}

void veil_aead_seal(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad,
		    size_t adlen, const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES],
		    const uint8_t key[static VEIL_KEY_BYTES])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(c, NULL, m, mlen, ad, adlen, NULL, nonce,
						   key);
}

int veil_aead_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad,
		   size_t adlen, const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES],
		   const uint8_t key[static VEIL_KEY_BYTES])
{
	if (clen < VEIL_AEAD_TAG_BYTES)
		return -EBADMSG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(m, NULL, NULL, c, clen, ad, adlen,
						       nonce, key) != 0) {
		sodium_memzero(m, clen - VEIL_AEAD_TAG_BYTES);
		return -EBADMSG;
	}
	return 0;
}

int veil_aead_verify(const uint8_t *c, size_t clen, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES],
		     const uint8_t key[static VEIL_KEY_BYTES])
{
	size_t mlen;

	if (clen < VEIL_AEAD_TAG_BYTES)
		return -EBADMSG;
	mlen = clen - VEIL_AEAD_TAG_BYTES;
	/* m == NULL: libsodium (1.0.17 and later) checks the tag and returns. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(NULL, NULL, c, mlen, c + mlen, ad,
								adlen, nonce, key) != 0)
		return -EBADMSG;
	return 0;
}

void veil_stream_xor(uint8_t *out, const uint8_t *in, size_t n,
		     const uint8_t nonce[static VEIL_AEAD_NONCE_BYTES],
		     const uint8_t key[static VEIL_KEY_BYTES])
{
	crypto_stream_xchacha20_xor(out, in, n, nonce, key);
}

void veil_hash(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
	       const void *p1, size_t n1, const void *p2, size_t n2, const void *p3,
	       size_t n3)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, key ? keylen : 0, outlen);
	if (p1)
		crypto_generichash_update(&st, p1, n1);
	if (p2)
		crypto_generichash_update(&st, p2, n2);
	if (p3)
		crypto_generichash_update(&st, p3, n3);
	crypto_generichash_final(&st, out, outlen);
	sodium_memzero(&st, sizeof(st));
}

bool veil_equal(const void *a, const void *b, size_t n)
{
	if (n == 16)
		return crypto_verify_16(a, b) == 0;
	if (n == 32)
		return crypto_verify_32(a, b) == 0;
	return sodium_memcmp(a, b, n) == 0;
}

bool veil_is_zero(const void *a, size_t n)
{
	return sodium_is_zero(a, n) == 1;
}

size_t veil_b64_encoded_len(size_t n)
{
	return sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
}

void veil_b64_encode(char *out, size_t outsz, const uint8_t *in, size_t n)
{
	sodium_bin2base64(out, outsz, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

long veil_b64_decode(uint8_t *out, size_t outsz, const char *in, size_t inlen)
{
	size_t got = 0;
	const char *end = NULL;

	if (sodium_base642bin(out, outsz, in, inlen, NULL, &got, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -EINVAL;
	if (end != in + inlen)
		return -EINVAL;
	/* Canonical form only: re-encoding must give back the same length. */
	if (veil_b64_encoded_len(got) != inlen)
		return -EINVAL;
	return (long)got;
}

void veil_harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &rl);
}
