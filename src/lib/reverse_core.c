/* SPDX-License-Identifier: MIT */
/* Deterministic constructions of reverse mode. Definitions: reverse.h. */
#include "reverse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "le.h"
#include "keys.h"

static const char DIRIV_TAG[] = "veilfs-diriv";
static const char PATH_TAG[] = "veilfs-path";
static const char INODE_TAG[] = "veilfs-inode";
static const char LINK_TAG[] = "veilfs-link";
static const char XATTR_TAG[] = "veilfs-xattr";

void veil_reverse_diriv(const struct veil_keys *k, const char *relpath,
			uint8_t iv[static VEIL_DIRIV_BYTES])
{
	veil_hash(iv, VEIL_DIRIV_BYTES, k->reverse_id, VEIL_KEY_BYTES, DIRIV_TAG,
		  sizeof(DIRIV_TAG), relpath, strlen(relpath), NULL, 0);
}

void veil_reverse_file_header(const struct veil_keys *k, const char *relpath, nlink_t nlink,
			      ino_t ino, uint8_t hdr[static VEIL_FILE_HEADER_BYTES])
{
	memset(hdr, 0, VEIL_FILE_HEADER_BYTES);
	le16_store(hdr, VEIL_CONTENT_VERSION);
	if (nlink > 1) {
		/* Hard links: one ID for every path, whichever is read first. */
		uint8_t le[8];

		le64_store(le, (uint64_t)ino);
		veil_hash(hdr + 8, VEIL_FILE_ID_BYTES, k->reverse_id, VEIL_KEY_BYTES, INODE_TAG,
			  sizeof(INODE_TAG), le, sizeof(le), NULL, 0);
	} else {
		veil_hash(hdr + 8, VEIL_FILE_ID_BYTES, k->reverse_id, VEIL_KEY_BYTES, PATH_TAG,
			  sizeof(PATH_TAG), relpath, strlen(relpath), NULL, 0);
	}
}

static void block_nonce(const struct veil_keys *k, const uint8_t *hdr, uint64_t idx, int last,
			const uint8_t *pt, size_t len, uint8_t nonce[VEIL_AEAD_NONCE_BYTES])
{
	uint8_t meta[VEIL_FILE_HEADER_BYTES + 9];

	memcpy(meta, hdr, VEIL_FILE_HEADER_BYTES);
	le64_store(meta + VEIL_FILE_HEADER_BYTES, idx);
	meta[VEIL_FILE_HEADER_BYTES + 8] = (uint8_t)last;
	veil_hash(nonce, VEIL_AEAD_NONCE_BYTES, k->reverse_nonce, VEIL_KEY_BYTES, meta,
		  sizeof(meta), pt, len, NULL, 0);
}

static int pread_full(int fd, uint8_t *p, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO; /* the plaintext shrank below its snapshot size */
		got += (size_t)r;
	}
	return 0;
}

ssize_t veil_reverse_read(const struct veil_keys *k, uint32_t bs, int fd,
			  const uint8_t hdr[static VEIL_FILE_HEADER_BYTES], uint64_t psize,
			  uint8_t *out, size_t n, uint64_t coff)
{
	uint64_t csize = veil_content_cipher_size(psize, bs);
	uint64_t nblocks = veil_content_nblocks(psize, bs);
	uint64_t cbs = (uint64_t)bs + VEIL_BLOCK_OVERHEAD;
	uint64_t pos = coff, end;
	uint8_t *pt = NULL, *ct = NULL;
	ssize_t ret;

	if (coff >= csize || n == 0)
		return 0;
	end = coff + n < csize ? coff + n : csize;
	if (pos < VEIL_FILE_HEADER_BYTES) {
		uint64_t e = end < VEIL_FILE_HEADER_BYTES ? end : VEIL_FILE_HEADER_BYTES;

		memcpy(out, hdr + pos, (size_t)(e - pos));
		pos = e;
	}
	pt = malloc(bs);
	ct = malloc(cbs);
	if (!pt || !ct) {
		ret = -ENOMEM;
		goto out;
	}
	while (pos < end) {
		uint64_t idx = (pos - VEIL_FILE_HEADER_BYTES) / cbs;
		uint64_t bstart = veil_content_block_offset(idx, bs);
		size_t len = (size_t)(psize - idx * bs < bs ? psize - idx * bs : bs);
		int last = idx + 1 == nblocks;
		uint8_t nonce[VEIL_AEAD_NONCE_BYTES];
		uint64_t bend = bstart + len + VEIL_BLOCK_OVERHEAD;
		uint64_t e = end < bend ? end : bend;

		ret = pread_full(fd, pt, len, idx * bs);
		if (ret < 0)
			goto out;
		block_nonce(k, hdr, idx, last, pt, len, nonce);
		veil_content_seal(k->content, hdr, idx, last, nonce, pt, len, ct);
		memcpy(out + (pos - coff), ct + (pos - bstart), (size_t)(e - pos));
		pos = e;
	}
	ret = (ssize_t)(end - coff);
out:
	if (pt)
		veil_wipe(pt, bs);
	free(pt);
	free(ct);
	return ret;
}

void veil_reverse_link(const struct veil_keys *k, const char *relpath, const char *target,
		       size_t tlen, char *out)
{
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES];

	/* relpath is NUL-free, so its terminating NUL frames it unambiguously. */
	veil_hash(nonce, sizeof(nonce), k->reverse_nonce, VEIL_KEY_BYTES, LINK_TAG,
		  sizeof(LINK_TAG), relpath, strlen(relpath) + 1, target, tlen);
	veil_link_seal(k, target, tlen, nonce, out);
}

void veil_reverse_xattr(const struct veil_keys *k, const char *relpath, const char *cname,
			const uint8_t *val, size_t len, uint8_t *out)
{
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES];
	uint8_t h[VEIL_HASH_BYTES];

	/* Hash the variable-length parts first so the framing is unambiguous. */
	veil_hash(h, sizeof(h), NULL, 0, relpath, strlen(relpath) + 1, cname, strlen(cname) + 1,
		  NULL, 0);
	veil_hash(nonce, sizeof(nonce), k->reverse_nonce, VEIL_KEY_BYTES, XATTR_TAG,
		  sizeof(XATTR_TAG), h, sizeof(h), val, len);
	veil_xattr_value_seal(k, cname, val, len, nonce, out);
}
