/* SPDX-License-Identifier: MIT */
/*
 * veilfs/reverse.h — deterministic encryption for reverse mode.
 *
 * Reverse mode shows a plaintext tree as the ciphertext of a forward
 * volume, byte-stable between runs (docs/format.md §Reverse mode). With
 * R = the REVERSE_ID subkey and N = the REVERSE_NONCE subkey, and P a
 * plaintext path relative to the root ("" for the root, no leading '/'):
 *   dir IV   = BLAKE2b-128(key R, "veilfs-diriv\0" || P)
 *   file ID  = BLAKE2b-192(key R, "veilfs-path\0" || P)        (nlink == 1)
 *            = BLAKE2b-192(key R, "veilfs-inode\0" || LE64 ino)  (nlink > 1)
 *   (a caller passes nlink 1 for a file on another file system than
 *   PLAINDIR's: inode numbers are unique only within one)
 *   block nonce = BLAKE2b-192(key N, file header || LE64 i || u8 last || block i)
 *   link nonce  = BLAKE2b-192(key N, "veilfs-link\0" || P || "\0" || target)
 *   xattr nonce = BLAKE2b-192(key N, "veilfs-xattr\0" ||
 *                             BLAKE2b-256(P || "\0" || cname || "\0") || value)
 * A nonce repeats only for identical inputs, which give identical output:
 * deterministic encryption reveals equality, never the keystream.
 */
#ifndef VEILFS_REVERSE_H
#define VEILFS_REVERSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "content.h"
#include "names.h"

struct veil_keys;

#define VEIL_REVERSE_CONF_NAME VEIL_REVERSE_CONF

void veil_reverse_diriv(const struct veil_keys *k, const char *relpath,
			uint8_t iv[static VEIL_DIRIV_BYTES]);

/* File header of a plaintext file (@nlink, @ino from its stat). */
void veil_reverse_file_header(const struct veil_keys *k, const char *relpath, nlink_t nlink,
			      ino_t ino, uint8_t hdr[static VEIL_FILE_HEADER_BYTES]);

/*
 * Produce @n bytes of the cipher file at cipher offset @coff for the
 * plaintext file @fd whose size is taken to be @psize (a snapshot made at
 * open: later growth is not shown). Returns the number of bytes produced
 * (short only at the end of the cipher file), or -EIO if the plaintext
 * shrank below @psize meanwhile, or -errno.
 */
ssize_t veil_reverse_read(const struct veil_keys *k, uint32_t bs, int fd,
			  const uint8_t hdr[static VEIL_FILE_HEADER_BYTES], uint64_t psize,
			  uint8_t *out, size_t n, uint64_t coff) VEIL_MUST_CHECK;

/* Deterministic symlink target encryption; @out as veil_link_encrypt. */
void veil_reverse_link(const struct veil_keys *k, const char *relpath, const char *target,
		       size_t tlen, char *out);

/* Deterministic xattr value encryption; @out receives len + 40 bytes. */
void veil_reverse_xattr(const struct veil_keys *k, const char *relpath, const char *cname,
			const uint8_t *val, size_t len, uint8_t *out);

#endif
