/* SPDX-License-Identifier: MIT */
/*
 * veilfs/content.h — file contents: file header, block sealing, size
 * arithmetic. Pure functions: no I/O (see veilfs/file.h for that).
 *
 * A non-empty cipher file is (docs/format.md §File contents):
 *
 *   OFFSET                SIZE       MEANING
 *   0                     2          content format version (1), LE
 *   2                     6          reserved, zero
 *   8                     24         file ID (random)
 *   32 + i*(B+40)         24         block i nonce
 *   32 + i*(B+40) + 24    len_i      block i ciphertext (len_i = B except last)
 *   ... + len_i           16         block i Poly1305 tag
 *
 * where B is the volume block size. Block i is sealed with XChaCha20-Poly1305
 * under the CONTENT subkey, AD = file header (32) || LE64(i) || u8 last,
 * where last = 1 exactly for the final block of the file.
 * A 0-byte plaintext file is a 0-byte cipher file (no header).
 */
#ifndef VEILFS_CONTENT_H
#define VEILFS_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define VEIL_CONTENT_VERSION 1
#define VEIL_FILE_HEADER_BYTES 32
#define VEIL_FILE_ID_BYTES 24
#define VEIL_BLOCK_NONCE_BYTES VEIL_AEAD_NONCE_BYTES
#define VEIL_BLOCK_TAG_BYTES VEIL_AEAD_TAG_BYTES
#define VEIL_BLOCK_OVERHEAD (VEIL_BLOCK_NONCE_BYTES + VEIL_BLOCK_TAG_BYTES)
#define VEIL_BLOCK_AD_BYTES (VEIL_FILE_HEADER_BYTES + 8 + 1)

/* Why a block was rejected; for log messages. */
enum veil_block_fault {
	VEIL_FAULT_NONE = 0,
	VEIL_FAULT_AUTH,      /* does not authenticate at this index in this file */
	VEIL_FAULT_ZERO,      /* all-zero block (a hole or zeroed by something) */
	VEIL_FAULT_TRUNCATED, /* the end block was sealed as a middle block */
	VEIL_FAULT_SHORT,     /* the cipher file ends inside the block */
	VEIL_FAULT_HEADER,    /* the file header is malformed */
};

const char *veil_block_fault_str(enum veil_block_fault f);

/* Plaintext size of a cipher file of @csize bytes; -EBADMSG if impossible. */
int veil_content_plain_size(uint64_t csize, uint32_t bs, uint64_t *psize) VEIL_MUST_CHECK;
/* Cipher size of a @psize-byte plaintext. */
uint64_t veil_content_cipher_size(uint64_t psize, uint32_t bs);
/* Offset of block @idx in the cipher file. */
uint64_t veil_content_block_offset(uint64_t idx, uint32_t bs);
/* Number of blocks of a @psize-byte plaintext. */
uint64_t veil_content_nblocks(uint64_t psize, uint32_t bs);

/* A fresh file header with a random file ID. */
void veil_content_header_new(uint8_t hdr[static VEIL_FILE_HEADER_BYTES]);
/* Check version and reserved bytes: 0 or -EBADMSG. */
int veil_content_header_check(const uint8_t hdr[static VEIL_FILE_HEADER_BYTES]) VEIL_MUST_CHECK;

/*
 * Seal @ptlen (1..B) bytes as block @idx with @nonce into @out, which
 * receives ptlen + VEIL_BLOCK_OVERHEAD bytes.
 */
void veil_content_seal(const uint8_t key[static VEIL_KEY_BYTES],
		       const uint8_t hdr[static VEIL_FILE_HEADER_BYTES], uint64_t idx, bool last,
		       const uint8_t nonce[static VEIL_BLOCK_NONCE_BYTES], const uint8_t *pt,
		       size_t ptlen, uint8_t *out);

/*
 * Open block @idx sealed with exactly @last. -EBADMSG on failure. @pt NULL:
 * only check the tag, decrypt nothing (fsck's verification).
 */
int veil_content_open(const uint8_t key[static VEIL_KEY_BYTES],
		      const uint8_t hdr[static VEIL_FILE_HEADER_BYTES], uint64_t idx, bool last,
		      const uint8_t *in, size_t inlen, uint8_t *pt) VEIL_MUST_CHECK;

/*
 * Open block @idx of a file that has @nblocks blocks, applying the reading
 * rules: the end block must open as last; a middle block opens as not-last,
 * or as last (the trace of a crash while the file was extended). Rejects
 * all-zero blocks. Returns 0, or -EBADMSG with *@fault set. @pt NULL: the
 * same verdicts, with only the tags checked and no plaintext produced.
 */
int veil_content_open_at(const uint8_t key[static VEIL_KEY_BYTES],
			 const uint8_t hdr[static VEIL_FILE_HEADER_BYTES], uint64_t idx,
			 uint64_t nblocks, const uint8_t *in, size_t inlen, uint8_t *pt,
			 enum veil_block_fault *fault) VEIL_MUST_CHECK;

#endif
