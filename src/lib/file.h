/* SPDX-License-Identifier: MIT */
/*
 * veilfs/file.h — plaintext I/O on one cipher file through its fd.
 *
 * Contract: the caller serialises every size-changing call (write,
 * truncate) on one file with an exclusive lock and holds at least a shared
 * lock for reads; these functions do no locking. They never return
 * unauthenticated data: a block that fails its checks makes the read fail
 * with -EBADMSG and records the block index and the fault in @st.
 *
 * Write ordering (docs/format.md §Extending a file): when a write moves the
 * end of file past the current last block, a partial old last block is
 * first completed and sealed as last, then the new blocks are written, and
 * only then is the old last block resealed as a middle block, so every
 * crash point leaves a readable file.
 */
#ifndef VEILFS_FILE_H
#define VEILFS_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "content.h"

struct veil_keys;

/* What the core keeps per open cipher file. Zero-initialise before use. */
struct veil_fstate {
	uint8_t hdr[VEIL_FILE_HEADER_BYTES];
	bool hdr_valid;            /* hdr holds the file's header */
	uint64_t bad_block;        /* last rejected block index (for logs) */
	enum veil_block_fault fault;
};

struct veil_content_ctx {
	const struct veil_keys *keys;
	uint32_t bs;
};

/* Plaintext size from fstat of @fd: 0, or -EBADMSG / -errno. */
int veil_file_size(int fd, uint32_t bs, uint64_t *size) VEIL_MUST_CHECK;

/*
 * pread @n bytes of @fd at @off into @p, retrying short reads and EINTR;
 * stops early only at end of file. *@got is what was read. 0 or -errno.
 */
int veil_pread_full(int fd, uint8_t *p, size_t n, uint64_t off, size_t *got);

/* Forget the cached header (the cipher file was replaced or emptied). */
void veil_file_forget(struct veil_fstate *st);

ssize_t veil_file_read(const struct veil_content_ctx *c, int fd, struct veil_fstate *st,
		       void *buf, size_t n, uint64_t off) VEIL_MUST_CHECK;
/*
 * Check the whole file as veil_file_read would read it, from its header to
 * its end block, by the blocks' tags alone: no plaintext is produced.
 * 0, or what veil_file_read would return (-EBADMSG with the fault in @st).
 */
int veil_file_verify(const struct veil_content_ctx *c, int fd,
		     struct veil_fstate *st) VEIL_MUST_CHECK;
ssize_t veil_file_write(const struct veil_content_ctx *c, int fd, struct veil_fstate *st,
			const void *buf, size_t n, uint64_t off) VEIL_MUST_CHECK;
int veil_file_truncate(const struct veil_content_ctx *c, int fd, struct veil_fstate *st,
		       uint64_t size) VEIL_MUST_CHECK;

#endif
