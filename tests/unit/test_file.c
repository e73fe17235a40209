/* SPDX-License-Identifier: MIT */
/*
 * The file layer over real cipher files: blocks swapped, moved, copied from
 * another file, files cut at and inside block boundaries, zeroed blocks,
 * the crash trace of an extension, new file IDs, header-only files, far
 * writes, and a full disk (on a small tmpfs when we may mount one).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/keys.h"

#include "../tap.h"
#include "util.h"

#define BS 4096u
#define CBS (BS + VEIL_BLOCK_OVERHEAD)

static struct veil_content_ctx cc;
static int dirfd_g;
static int file_no;

/* A new, empty cipher file in the temp dir. */
static int newfile(void)
{
	char name[32];

	snprintf(name, sizeof(name), "f%d", file_no++);
	return openat(dirfd_g, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

/* Write @n bytes of @data at 0 into a new file; returns the fd or -1. */
static int make_file(const uint8_t *data, size_t n)
{
	struct veil_fstate st = { 0 };
	int fd = newfile();

	if (fd < 0)
		return -1;
	if (veil_file_write(&cc, fd, &st, data, n, 0) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read with a fresh state, as a new open would; fault details in @st. */
static ssize_t read_fresh(int fd, void *buf, size_t n, uint64_t off, struct veil_fstate *st)
{
	memset(st, 0, sizeof(*st));
	return veil_file_read(&cc, fd, st, buf, n, off);
}

static int raw_read(int fd, uint64_t idx, uint8_t *b, size_t n)
{
	return pread(fd, b, n, (off_t)veil_content_block_offset(idx, BS)) == (ssize_t)n ? 0 : -1;
}

static int raw_write(int fd, uint64_t idx, const uint8_t *b, size_t n)
{
	return pwrite(fd, b, n, (off_t)veil_content_block_offset(idx, BS)) == (ssize_t)n ? 0 : -1;
}

static uint64_t csize_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX;
}

/*
 * No 64-byte aligned all-zero run after the file header: no holes, no zero
 * blocks; -1 if the file cannot be read whole (or is over ZERO_RUNS_MAX).
 */
#define ZERO_RUNS_MAX ((uint64_t)64 << 20)
static int zero_runs(int fd)
{
	uint64_t cs = csize_of(fd);
	uint8_t *b;
	int runs = 0;

	/* UINT64_MAX: fstat failed. The files checked here are a few MiB. */
	if (cs > ZERO_RUNS_MAX)
		return -1;
	b = malloc(cs ? (size_t)cs : 1);
	if (!b)
		return -1;
	if (pread(fd, b, (size_t)cs, 0) != (ssize_t)cs) {
		free(b);
		return -1;
	}
	for (uint64_t o = VEIL_FILE_HEADER_BYTES; o + 64 <= cs; o += 64)
		if (veil_is_zero(b + o, 64))
			runs++;
	free(b);
	return runs;
}

/*
 * After a completed write every block is sealed exactly as the format says:
 * middle blocks not-last, the end block last. (A middle block sealed last is
 * only acceptable as the trace of a crash, never after a write returned.)
 * Returns the number of blocks that are not.
 */
static int bad_seals(int fd)
{
	uint64_t size, nb;
	uint8_t hdr[VEIL_FILE_HEADER_BYTES], blk[CBS], pt[BS];
	int bad = 0;

	if (veil_file_size(fd, BS, &size) < 0 ||
	    pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return -1;
	nb = veil_content_nblocks(size, BS);
	for (uint64_t i = 0; i < nb; i++) {
		size_t len = (size_t)(i + 1 < nb ? BS : size - i * BS) + VEIL_BLOCK_OVERHEAD;

		if (raw_read(fd, i, blk, len) < 0 ||
		    veil_content_open(cc.keys->content, hdr, i, i + 1 == nb, blk, len, pt) < 0) {
			if (bad++ < 3)
				diag("block %llu of %llu is not sealed as %s", (unsigned long long)i,
				     (unsigned long long)nb, i + 1 == nb ? "last" : "middle");
		}
	}
	return bad;
}

/* Writes larger than one chunk of blocks (1 MiB), from empty and as extensions. */
static void test_big(void)
{
	const size_t big = 3 * 1024 * 1024 + 777;
	uint8_t *src = malloc(big * 2), *buf = malloc(big * 2);
	struct veil_fstate st = { 0 }, rs;
	ssize_t r;
	int fd = newfile();

	veil_random(src, big * 2);
	r = veil_file_write(&cc, fd, &st, src, big, 0);
	ok(r == (ssize_t)big && bad_seals(fd) == 0, "3 MiB write into an empty file, seals clean (%zd)",
	   r);
	r = veil_file_write(&cc, fd, &st, src + big, big, big);
	r = r < 0 ? r : read_fresh(fd, buf, big * 2, 0, &rs);
	ok(r == (ssize_t)(2 * big) && memcmp(buf, src, 2 * big) == 0 && bad_seals(fd) == 0,
	   "3 MiB append from a partial end block, reads back, seals clean (%zd)", r);
	r = veil_file_truncate(&cc, fd, &st, BS + 1);
	r = r < 0 ? r : veil_file_truncate(&cc, fd, &st, 2 * big);
	memset(src + BS + 1, 0, 2 * big - BS - 1);
	r = r < 0 ? r : read_fresh(fd, buf, big * 2, 0, &rs);
	ok(r == (ssize_t)(2 * big) && memcmp(buf, src, 2 * big) == 0 && bad_seals(fd) == 0 &&
		   zero_runs(fd) == 0,
	   "truncate down then 6 MiB up: zeros, encrypted, seals clean (%zd)", r);
	r = veil_file_write(&cc, fd, &st, src, 10, 5 * big);
	ok(r == 10 && bad_seals(fd) == 0 && zero_runs(fd) == 0,
	   "far write 9 MiB past the end, seals clean (%zd)", r);
	close(fd);
	free(src);
	free(buf);
}

static void test_tamper(const uint8_t *data)
{
	uint8_t a[CBS], b[CBS], *buf = malloc(8 * BS);
	struct veil_fstate st;
	int fd = make_file(data, 4 * BS), fd2 = make_file(data, 4 * BS);
	ssize_t r;

	if (!ok(fd >= 0 && fd2 >= 0, "two 4-block files written"))
		return;
	r = read_fresh(fd, buf, 4 * BS, 0, &st);
	ok(r == 4 * BS && memcmp(buf, data, 4 * BS) == 0, "read back intact (%zd)", r);

	/* Swap blocks 1 and 2. */
	raw_read(fd, 1, a, CBS);
	raw_read(fd, 2, b, CBS);
	raw_write(fd, 1, b, CBS);
	raw_write(fd, 2, a, CBS);
	r = read_fresh(fd, buf, 4 * BS, 0, &st);
	ok(r == -EBADMSG && st.bad_block == 1 && st.fault == VEIL_FAULT_AUTH,
	   "swapped blocks 1 and 2 -> -EBADMSG at block 1 (%zd, block %llu, %s)", r,
	   (unsigned long long)st.bad_block, veil_block_fault_str(st.fault));
	r = read_fresh(fd, buf, BS, 2 * BS, &st);
	ok(r == -EBADMSG && st.bad_block == 2, "reading only block 2 fails at block 2 (%zd)", r);
	r = read_fresh(fd, buf, 10, BS + 100, &st);
	ok(r == -EBADMSG && st.bad_block == 1, "a 10-byte read inside block 1 fails (%zd)", r);
	r = read_fresh(fd, buf, BS, 0, &st);
	ok(r == BS && memcmp(buf, data, BS) == 0, "untouched block 0 still reads (%zd)", r);
	r = read_fresh(fd, buf, BS, 3 * BS, &st);
	ok(r == BS && memcmp(buf, data + 3 * BS, BS) == 0, "untouched block 3 still reads (%zd)",
	   r);
	{
		struct veil_fstate ws = { 0 };
		uint8_t x[10] = { 1 };

		r = veil_file_write(&cc, fd, &ws, x, sizeof(x), BS + 5);
		ok(r == -EBADMSG && ws.bad_block == 1,
		   "partial write into a swapped block fails, never reseals it (%zd)", r);
		raw_write(fd, 1, a, CBS);
		raw_write(fd, 2, b, CBS);
		r = read_fresh(fd, buf, 4 * BS, 0, &st);
		ok(r == 4 * BS && memcmp(buf, data, 4 * BS) == 0,
		   "swapping back restores the file, the failed write changed nothing (%zd)", r);
	}

	/* Same index, other file. */
	raw_read(fd2, 2, b, CBS);
	raw_write(fd, 2, b, CBS);
	r = read_fresh(fd, buf, 4 * BS, 0, &st);
	ok(r == -EBADMSG && st.bad_block == 2 && st.fault == VEIL_FAULT_AUTH,
	   "block 2 of another file (same plaintext) -> -EBADMSG at 2 (%zd, %llu)", r,
	   (unsigned long long)st.bad_block);
	raw_read(fd2, 3, b, CBS);
	raw_write(fd, 3, b, CBS);
	r = read_fresh(fd, buf, BS, 3 * BS, &st);
	ok(r == -EBADMSG && st.bad_block == 3, "end block of another file -> -EBADMSG (%zd)", r);
	{
		/* The whole header and every block of file 2: that is file 2, not an attack. */
		uint8_t hdr2[VEIL_FILE_HEADER_BYTES];

		pread(fd2, hdr2, sizeof(hdr2), 0);
		pwrite(fd, hdr2, sizeof(hdr2), 0);
		r = read_fresh(fd, buf, BS, 3 * BS, &st);
		ok(r == BS && memcmp(buf, data + 3 * BS, BS) == 0,
		   "with file 2's header its end block reads: per-file binding is via the ID (%zd)", r);
		r = read_fresh(fd, buf, BS, 0, &st);
		ok(r == -EBADMSG && st.bad_block == 0,
		   "...and file 1's block 0 no longer does (%zd)", r);
	}
	close(fd);

	/* Move block 2 (the middle) to index 0, and the end block to index 1. */
	fd = make_file(data, 3 * BS);
	raw_read(fd, 1, a, CBS);
	raw_write(fd, 0, a, CBS);
	r = read_fresh(fd, buf, 3 * BS, 0, &st);
	ok(r == -EBADMSG && st.bad_block == 0 && st.fault == VEIL_FAULT_AUTH,
	   "block 1 copied to index 0 -> -EBADMSG at 0 (%zd)", r);
	close(fd);
	fd = make_file(data, 3 * BS);
	raw_read(fd, 2, a, CBS);
	raw_write(fd, 1, a, CBS);
	r = read_fresh(fd, buf, 2 * BS, BS, &st);
	ok(r == -EBADMSG && st.bad_block == 1 && st.fault == VEIL_FAULT_AUTH,
	   "end block copied to index 1 -> -EBADMSG at 1 (%zd)", r);
	close(fd);

	/* Zeroed blocks and header. */
	fd = make_file(data, 3 * BS + 100);
	memset(a, 0, sizeof(a));
	raw_write(fd, 1, a, CBS);
	r = read_fresh(fd, buf, 4 * BS, 0, &st);
	ok(r == -EBADMSG && st.bad_block == 1 && st.fault == VEIL_FAULT_ZERO,
	   "zeroed middle block -> VEIL_FAULT_ZERO at 1 (%zd, %s)", r,
	   veil_block_fault_str(st.fault));
	raw_write(fd, 3, a, 140);
	r = read_fresh(fd, buf, 100, 3 * BS, &st);
	ok(r == -EBADMSG && st.bad_block == 3 && st.fault == VEIL_FAULT_ZERO,
	   "zeroed partial end block -> VEIL_FAULT_ZERO at 3 (%zd)", r);
	pwrite(fd, a, VEIL_FILE_HEADER_BYTES, 0);
	r = read_fresh(fd, buf, 10, 0, &st);
	ok(r == -EBADMSG && st.fault == VEIL_FAULT_HEADER, "zeroed file header -> VEIL_FAULT_HEADER (%zd)",
	   r);
	close(fd);
	close(fd2);
	free(buf);
}

static void test_cuts(const uint8_t *data)
{
	uint8_t *buf = malloc(8 * BS);
	struct veil_fstate st;
	uint64_t size;
	ssize_t r;
	int fd;

	for (uint64_t k = 0; k < 3; k++) {
		fd = make_file(data, 4 * BS);
		ftruncate(fd, (off_t)veil_content_block_offset(k + 1, BS));
		ok(veil_file_size(fd, BS, &size) == 0 && size == (k + 1) * BS,
		   "cut after block %llu: size is %llu", (unsigned long long)k,
		   (unsigned long long)size);
		r = read_fresh(fd, buf, 4 * BS, 0, &st);
		ok(r == -EBADMSG && st.bad_block == k && st.fault == VEIL_FAULT_TRUNCATED,
		   "cut at the end of block %llu -> VEIL_FAULT_TRUNCATED at %llu (%zd, %llu, %s)",
		   (unsigned long long)k, (unsigned long long)k, r, (unsigned long long)st.bad_block,
		   veil_block_fault_str(st.fault));
		if (k > 0) {
			r = read_fresh(fd, buf, k * BS, 0, &st);
			ok(r == (ssize_t)(k * BS) && memcmp(buf, data, k * BS) == 0,
			   "blocks before the cut still read (%zd)", r);
		}
		{
			struct veil_fstate ws = { 0 };

			r = veil_file_write(&cc, fd, &ws, data, 10, (k + 1) * BS);
			ok(r == -EBADMSG && ws.fault == VEIL_FAULT_TRUNCATED,
			   "appending to a cut file fails instead of blessing the cut (%zd)", r);
			r = veil_file_truncate(&cc, fd, &ws, (k + 1) * BS + 5000);
			ok(r == -EBADMSG, "truncating a cut file up fails too (%zd)", r);
			r = read_fresh(fd, buf, 4 * BS, 0, &st);
			ok(r == -EBADMSG && st.fault == VEIL_FAULT_TRUNCATED,
			   "...and leave the cut detectable (%zd)", r);
		}
		close(fd);
	}
	/* A partial end block, cut at the boundary before it. */
	fd = make_file(data, 3 * BS + 100);
	ftruncate(fd, (off_t)veil_content_block_offset(3, BS));
	r = read_fresh(fd, buf, 4 * BS, 0, &st);
	ok(r == -EBADMSG && st.bad_block == 2 && st.fault == VEIL_FAULT_TRUNCATED,
	   "partial end block cut off -> VEIL_FAULT_TRUNCATED at 2 (%zd)", r);
	close(fd);

	/* Cuts inside a block. */
	fd = make_file(data, 4 * BS);
	ftruncate(fd, (off_t)veil_content_block_offset(2, BS) + 100);
	r = read_fresh(fd, buf, 4 * BS, 0, &st);
	ok(r == -EBADMSG && st.bad_block == 2 && st.fault == VEIL_FAULT_AUTH,
	   "cut 100 bytes into block 2 -> -EBADMSG at 2 (%zd, %s)", r, veil_block_fault_str(st.fault));
	ftruncate(fd, (off_t)veil_content_block_offset(2, BS) + 20);
	ok(veil_file_size(fd, BS, &size) == -EBADMSG, "cut 20 bytes into block 2: size -> -EBADMSG");
	r = read_fresh(fd, buf, 4 * BS, 0, &st);
	ok(r == -EBADMSG, "cut 20 bytes into block 2: read -> -EBADMSG (%zd)", r);
	r = read_fresh(fd, buf, 10, 0, &st);
	ok(r == -EBADMSG, "...even a read of block 0 (the size is impossible) (%zd)", r);
	ftruncate(fd, 20);
	r = read_fresh(fd, buf, 10, 0, &st);
	ok(r == -EBADMSG, "cut inside the file header -> -EBADMSG (%zd)", r);
	{
		struct veil_fstate ws = { 0 };

		r = veil_file_write(&cc, fd, &ws, data, 10, 0);
		ok(r == -EBADMSG && csize_of(fd) == 20, "write to such a file fails, file unchanged (%zd)",
		   r);
	}
	close(fd);
	free(buf);
}

static void test_crash_trace(const uint8_t *data)
{
	uint8_t *buf = malloc(4 * BS), hdr[VEIL_FILE_HEADER_BYTES], blk[CBS], nonce[24];
	struct veil_fstate st;
	ssize_t r;
	int fd = make_file(data, 2 * BS);

	pread(fd, hdr, sizeof(hdr), 0);
	veil_nonce(nonce);
	veil_content_seal(cc.keys->content, hdr, 0, true, nonce, data, BS, blk);
	raw_write(fd, 0, blk, CBS);
	r = read_fresh(fd, buf, 2 * BS, 0, &st);
	ok(r == 2 * BS && memcmp(buf, data, 2 * BS) == 0,
	   "middle block sealed as last (crash during extension) reads fine (%zd)", r);
	{
		struct veil_fstate ws = { 0 };

		r = veil_file_write(&cc, fd, &ws, data + 2 * BS, BS, 2 * BS);
		r = r < 0 ? r : read_fresh(fd, buf, 3 * BS, 0, &st);
		ok(r == 3 * BS && memcmp(buf, data, 3 * BS) == 0,
		   "such a file can be extended afterwards (%zd)", r);
	}
	close(fd);
	/* The same trace with a partial old end block, completed before the crash. */
	fd = make_file(data, BS + 100);
	pread(fd, hdr, sizeof(hdr), 0);
	veil_content_seal(cc.keys->content, hdr, 1, true, nonce, data + BS, BS, blk);
	raw_write(fd, 1, blk, CBS);
	veil_content_seal(cc.keys->content, hdr, 2, true, nonce, data + 2 * BS, 50, blk);
	raw_write(fd, 2, blk, 50 + VEIL_BLOCK_OVERHEAD);
	r = read_fresh(fd, buf, 4 * BS, 0, &st);
	ok(r == 2 * BS + 50 && memcmp(buf, data, 2 * BS + 50) == 0,
	   "crash after the new end block was written, old end still sealed last (%zd)", r);
	close(fd);
	free(buf);
}

static void test_ids_and_empty(const uint8_t *data)
{
	uint8_t h1[VEIL_FILE_HEADER_BYTES], h2[VEIL_FILE_HEADER_BYTES], buf[256];
	struct veil_fstate st = { 0 }, rs;
	uint64_t size = 1;
	ssize_t r;
	int fd = make_file(data, 5000);

	pread(fd, h1, sizeof(h1), 0);
	r = veil_file_truncate(&cc, fd, &st, 0);
	ok(r == 0 && csize_of(fd) == 0, "truncate to 0 empties the cipher file (%zd)", r);
	r = veil_file_write(&cc, fd, &st, data, 100, 0);
	pread(fd, h2, sizeof(h2), 0);
	ok(r == 100 && memcmp(h1 + 8, h2 + 8, VEIL_FILE_ID_BYTES) != 0,
	   "a write after truncate to 0 uses a new file ID (%zd)", r);
	r = read_fresh(fd, buf, sizeof(buf), 0, &rs);
	ok(r == 100 && memcmp(buf, data, 100) == 0, "and reads back (%zd)", r);
	close(fd);

	/* A header-only file. */
	fd = newfile();
	veil_content_header_new(h1);
	pwrite(fd, h1, sizeof(h1), 0);
	ok(veil_file_size(fd, BS, &size) == 0 && size == 0, "header-only file has size 0");
	r = read_fresh(fd, buf, sizeof(buf), 0, &rs);
	ok(r == 0, "header-only file reads as empty (%zd)", r);
	/* Its header is checked all the same (format.md §9.4). */
	{
		uint8_t bad[VEIL_FILE_HEADER_BYTES];
		const int at[] = { 0, 1, 2, 7 };

		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
			memcpy(bad, h1, sizeof(bad));
			bad[at[i]] ^= 0x02;
			pwrite(fd, bad, sizeof(bad), 0);
			r = read_fresh(fd, buf, sizeof(buf), 0, &rs);
			ok(r == -EBADMSG && rs.fault == VEIL_FAULT_HEADER,
			   "header-only file with header byte %d changed -> -EBADMSG, header fault "
			   "(%zd)",
			   at[i], r);
		}
		pwrite(fd, h1, sizeof(h1), 0);
	}
	memset(&st, 0, sizeof(st));
	r = veil_file_write(&cc, fd, &st, data, 50, 0);
	r = r < 0 ? r : read_fresh(fd, buf, sizeof(buf), 0, &rs);
	ok(r == 50 && memcmp(buf, data, 50) == 0, "a header-only file can be written (%zd)", r);
	ftruncate(fd, VEIL_FILE_HEADER_BYTES);
	memset(&st, 0, sizeof(st));
	r = veil_file_truncate(&cc, fd, &st, 0);
	ok(r == 0 && csize_of(fd) == 0, "truncate(0) of a header-only file empties it (%zd)", r);
	r = read_fresh(fd, buf, sizeof(buf), 0, &rs);
	ok(r == 0, "empty file reads as empty (%zd)", r);
	r = read_fresh(fd, buf, 0, 0, &rs);
	ok(r == 0, "zero-length read (%zd)", r);
	close(fd);
}

static void test_far(const uint8_t *data)
{
	uint8_t *buf = malloc(16 * BS), *want = calloc(1, 16 * BS);
	struct veil_fstate st = { 0 }, rs;
	uint64_t size;
	ssize_t r;
	int fd = newfile();

	r = veil_file_write(&cc, fd, &st, data, 10, 5 * BS + 7);
	memcpy(want + 5 * BS + 7, data, 10);
	ok(r == 10 && veil_file_size(fd, BS, &size) == 0 && size == 5 * BS + 17,
	   "write at a far offset of an empty file (%zd)", r);
	r = read_fresh(fd, buf, 16 * BS, 0, &rs);
	ok(r == 5 * BS + 17 && memcmp(buf, want, (size_t)r) == 0, "gap reads as zeros (%zd)", r);
	ok(zero_runs(fd) == 0, "no all-zero run in the cipher file: the gap is encrypted");

	r = veil_file_write(&cc, fd, &st, data, 100, 12 * BS + 1);
	memcpy(want + 12 * BS + 1, data, 100);
	r = r < 0 ? r : read_fresh(fd, buf, 16 * BS, 0, &rs);
	ok(r == 12 * BS + 101 && memcmp(buf, want, (size_t)r) == 0,
	   "second far write extends with zeros, old data kept (%zd)", r);
	ok(zero_runs(fd) == 0 && bad_seals(fd) == 0, "still no all-zero run, seals clean");
	r = veil_file_truncate(&cc, fd, &st, 15 * BS + 3);
	r = r < 0 ? r : read_fresh(fd, buf, 16 * BS, 0, &rs);
	ok(r == 15 * BS + 3 && memcmp(buf, want, (size_t)r) == 0, "truncate up reads zeros (%zd)",
	   r);
	ok(zero_runs(fd) == 0 && bad_seals(fd) == 0,
	   "truncate up writes real encrypted zero blocks, sealed middle/last correctly");
	r = veil_file_truncate(&cc, fd, &st, 5 * BS + 9);
	r = r < 0 ? r : read_fresh(fd, buf, 16 * BS, 0, &rs);
	ok(r == 5 * BS + 9 && memcmp(buf, want, (size_t)r) == 0 &&
		   csize_of(fd) == veil_content_cipher_size(5 * BS + 9, BS),
	   "truncate down inside a block (%zd)", r);
	r = veil_file_truncate(&cc, fd, &st, 3 * BS);
	r = r < 0 ? r : read_fresh(fd, buf, 16 * BS, 0, &rs);
	ok(r == 3 * BS && memcmp(buf, want, (size_t)r) == 0, "truncate down to a block boundary (%zd)",
	   r);
	r = read_fresh(fd, buf, 10, 3 * BS, &rs);
	ok(r == 0, "read at EOF returns 0 (%zd)", r);
	r = read_fresh(fd, buf, 10, 1ULL << 50, &rs);
	ok(r == 0, "read far past EOF returns 0 (%zd)", r);
	r = veil_file_write(&cc, fd, &st, data, 1, (uint64_t)INT64_MAX);
	ok(r == -EFBIG, "write beyond the largest offset -> -EFBIG (%zd)", r);
	close(fd);
	free(buf);
	free(want);
}

/*
 * A write that fails half-way: RLIMIT_FSIZE stops pwrite past a limit while
 * fallocate(KEEP_SIZE), the reservation, still succeeds. The file must be
 * left exactly as it was (old end block resealed as last, size restored).
 */
static void test_midway_failure(const uint8_t *data)
{
	struct rlimit old, lim;
	uint8_t *buf = malloc(4 << 20);
	struct veil_fstate st = { 0 }, rs;
	const size_t sizes[] = { 3 * BS + 100, 4 * BS, 1 };
	const uint64_t extra[] = { 10 * BS, 2 * 256 * BS + 5, 300 * BS };

	uint8_t *src = malloc(4 << 20);

	veil_random(src, 4 << 20);
	getrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_IGN);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int fd = make_file(data, sizes[i]);
		uint64_t cs = csize_of(fd), size;
		ssize_t r;

		lim = old;
		lim.rlim_cur = cs + (i == 2 ? 260 : 1) * CBS + 7;
		setrlimit(RLIMIT_FSIZE, &lim);
		memset(&st, 0, sizeof(st));
		r = veil_file_write(&cc, fd, &st, src, (size_t)extra[i], sizes[i]);
		setrlimit(RLIMIT_FSIZE, &old);
		ok(r == -EFBIG, "%zu-byte file, %llu-byte append stopped half-way -> -EFBIG (%zd)",
		   sizes[i], (unsigned long long)extra[i], r);
		r = read_fresh(fd, buf, 4 << 20, 0, &rs);
		ok(r == (ssize_t)sizes[i] && memcmp(buf, data, sizes[i]) == 0 && csize_of(fd) == cs &&
			   veil_file_size(fd, BS, &size) == 0 && size == sizes[i] && bad_seals(fd) == 0,
		   "...and the file is exactly as before (%zd, %s)", r,
		   r < 0 ? veil_block_fault_str(rs.fault) : "read ok");
		close(fd);
	}
	/*
	 * The same for a write that grows the end block in place (no new
	 * block): the old end block is overwritten by a longer one, so a
	 * failure half-way must put it back too.
	 */
	{
		int fd = make_file(data, BS + 100);
		uint64_t cs = csize_of(fd), size;
		ssize_t r;

		lim = old;
		lim.rlim_cur = cs + 50;
		setrlimit(RLIMIT_FSIZE, &lim);
		memset(&st, 0, sizeof(st));
		r = veil_file_write(&cc, fd, &st, data + 7, 1000, BS + 100);
		setrlimit(RLIMIT_FSIZE, &old);
		ok(r == -EFBIG, "end block grown in place, stopped half-way -> -EFBIG (%zd)", r);
		r = read_fresh(fd, buf, 4 << 20, 0, &rs);
		ok(r == (ssize_t)(BS + 100) && memcmp(buf, data, BS + 100) == 0 &&
			   csize_of(fd) == cs && veil_file_size(fd, BS, &size) == 0 && size == BS + 100,
		   "...and the file is exactly as before (%zd, %s, cipher %llu -> %llu bytes)", r,
		   r < 0 ? veil_block_fault_str(rs.fault) : "read ok", (unsigned long long)cs,
		   (unsigned long long)csize_of(fd));
		close(fd);
	}
	{
		int fd = newfile();
		ssize_t r;

		lim = old;
		lim.rlim_cur = 2 * CBS;
		setrlimit(RLIMIT_FSIZE, &lim);
		memset(&st, 0, sizeof(st));
		r = veil_file_write(&cc, fd, &st, src, 10 * BS, 0);
		setrlimit(RLIMIT_FSIZE, &old);
		ok(r == -EFBIG && csize_of(fd) == 0,
		   "first write of a new file stopped half-way leaves it empty (%zd, %llu bytes)", r,
		   (unsigned long long)csize_of(fd));
		close(fd);
	}
	signal(SIGXFSZ, SIG_DFL);
	free(src);
	free(buf);
}

/* Fill the filesystem of @dfd; returns the fd of the filler. */
static int fill_fs(int dfd)
{
	static uint8_t junk[4096];
	int fd = openat(dfd, "filler", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	memset(junk, 0x5a, sizeof(junk));
	while (fd >= 0 && write(fd, junk, sizeof(junk)) > 0)
		;
	while (fd >= 0 && write(fd, junk, 1) > 0)
		;
	return fd;
}

static void test_enospc(const uint8_t *data)
{
	char dir[64];
	int dfd = tmpdir_new(dir), saved = dirfd_g, fd, filler;
	uint8_t *buf = malloc(400 * 1024);
	struct veil_fstate st = { 0 }, rs;
	uint64_t size;
	ssize_t r;
	const size_t first = 100 * 1024 + 100;

	if (dfd < 0 || mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700") < 0) {
		diag("cannot mount a tmpfs on %s (%s): skipping the full-disk checks", dir,
		     strerror(errno));
		if (dfd >= 0)
			close(dfd);
		rmdir(dir);
		free(buf);
		return;
	}
	close(dfd);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dirfd_g = dfd;
	fd = newfile();
	r = veil_file_write(&cc, fd, &st, data, first, 0);
	ok(r == (ssize_t)first, "100 KiB written on a 256 KiB tmpfs (%zd)", r);
	r = veil_file_write(&cc, fd, &st, data, 200 * 1024, first);
	ok(r == -ENOSPC, "a 200 KiB append that does not fit -> -ENOSPC (%zd)", r);
	r = read_fresh(fd, buf, 400 * 1024, 0, &rs);
	ok(r == (ssize_t)first && memcmp(buf, data, first) == 0 &&
		   csize_of(fd) == veil_content_cipher_size(first, BS),
	   "previous contents fully readable, size unchanged (%zd)", r);

	filler = fill_fs(dfd);
	r = veil_file_write(&cc, fd, &st, data + 7, 5000, 3000);
	ok(r == 5000, "in-place overwrite still works on a full disk (%zd)", r);
	memcpy(buf + 200 * 1024, data, first);
	memcpy(buf + 200 * 1024 + 3000, data + 7, 5000);
	r = veil_file_write(&cc, fd, &st, data, 16 * 1024, first);
	ok(r == -ENOSPC, "append on a full disk -> -ENOSPC (%zd)", r);
	r = veil_file_write(&cc, fd, &st, data, 16 * 1024, first + 40 * BS);
	ok(r == -ENOSPC, "far write on a full disk -> -ENOSPC (%zd)", r);
	r = veil_file_truncate(&cc, fd, &st, first + 64 * 1024);
	ok(r == -ENOSPC, "truncate up on a full disk -> -ENOSPC (%zd)", r);
	r = read_fresh(fd, buf, 200 * 1024, 0, &rs);
	ok(r == (ssize_t)first && memcmp(buf, buf + 200 * 1024, first) == 0 &&
		   veil_file_size(fd, BS, &size) == 0 && size == first,
	   "after the failures the file is exactly as before (%zd)", r);
	{
		int nf = newfile();
		struct veil_fstate ns = { 0 };

		r = veil_file_write(&cc, nf, &ns, data, 64 * 1024, 0);
		ok(r == -ENOSPC && csize_of(nf) == 0,
		   "first write of a new file on a full disk -> -ENOSPC, file stays empty (%zd)", r);
		close(nf);
	}
	if (filler >= 0)
		close(filler);
	unlinkat(dfd, "filler", 0);
	r = veil_file_write(&cc, fd, &st, data, 16 * 1024, first);
	r = r < 0 ? r : read_fresh(fd, buf, 400 * 1024, 0, &rs);
	ok(r == (ssize_t)first + 16 * 1024 && memcmp(buf + first, data, 16 * 1024) == 0,
	   "with space freed the append works (%zd)", r);
	close(fd);
	dirfd_g = saved;
	close(dfd);
	if (umount2(dir, MNT_DETACH) < 0)
		diag("umount %s: %s", dir, strerror(errno));
	rmdir(dir);
	free(buf);
}

/*
 * Large reads are decrypted on two threads (par.c), chunk by chunk (256
 * blocks). Reads of odd offsets and sizes across the split and the chunk
 * boundaries come back byte-exact; a bad block anywhere in a large read
 * fails the whole read at the lowest bad block and leaves no plaintext,
 * not even of the good blocks, in the caller's buffer.
 */
static int all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static void test_parallel_read(void)
{
	const size_t size = 600 * BS + 1234; /* three chunks, a partial end block */
	uint8_t *src = malloc(size), *buf = malloc(size + BS), blk[CBS];
	struct veil_fstate st;
	ssize_t r;
	int fd, bad = 0;
	/* offset, length: block-aligned, odd, inside one block, across chunk ends */
	static const size_t cases[][2] = {
		{ 0, 600 * BS + 1234 }, { 1, 600 * BS }, { 4095, 257 * BS + 2 },
		{ 17 * BS + 5, 100 * BS + 4091 }, { 255 * BS + 4000, 300 }, { 256 * BS - 1, 2 },
		{ 3 * BS + 7, 20 * BS }, { 599 * BS + 1, 5000 }, { 500 * BS, 1 << 20 },
		{ 123, 40 * BS - 246 },
	};

	veil_random(src, size);
	fd = make_file(src, size);
	if (!ok(fd >= 0, "a 600-block file written"))
		return;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		size_t off = cases[k][0], len = cases[k][1];
		size_t want = off >= size ? 0 : (len < size - off ? len : size - off);

		memset(buf, 0xa5, size + BS);
		r = read_fresh(fd, buf, len, off, &st);
		if (r != (ssize_t)want || memcmp(buf, src + off, want) != 0 ||
		    (want < size + BS && buf[want] != 0xa5)) {
			diag("read of %zu bytes at %zu: %zd", len, off, r);
			bad++;
		}
	}
	ok(bad == 0, "%zu reads at odd offsets and sizes across the split compare byte-exact",
	   sizeof(cases) / sizeof(cases[0]));
	for (size_t l = 1; l < 70 * BS; l += 4093) {
		size_t off = (l * 7919) % (size - l);

		r = read_fresh(fd, buf, l, off, &st);
		if (r != (ssize_t)l || memcmp(buf, src + off, l) != 0)
			bad++;
	}
	ok(bad == 0, "reads of 1 byte to 70 blocks at scattered offsets compare byte-exact");

	/* Flip one byte of block 150, in the helper's half of the first chunk. */
	raw_read(fd, 150, blk, CBS);
	blk[100] ^= 1;
	raw_write(fd, 150, blk, CBS);
	memset(buf, 0xa5, size);
	r = read_fresh(fd, buf, size, 0, &st);
	ok(r == -EBADMSG && st.bad_block == 150 && st.fault == VEIL_FAULT_AUTH,
	   "600-block read over a tampered block 150 -> -EBADMSG at 150 (%zd, %llu)", r,
	   (unsigned long long)st.bad_block);
	ok(all_zero(buf, size), "...and the buffer holds no plaintext, not even of blocks 0-149");
	r = read_fresh(fd, buf, 3 * BS, 149 * BS + 1, &st);
	ok(r == -EBADMSG && st.bad_block == 150, "an odd 3-block read around it fails too (%zd)", r);
	r = read_fresh(fd, buf, 150 * BS, 0, &st);
	ok(r == 150 * BS && memcmp(buf, src, 150 * BS) == 0,
	   "the 150 blocks before it read back (%zd)", r);
	r = read_fresh(fd, buf, 449 * BS + 1234, 151 * BS, &st);
	ok(r == 449 * BS + 1234 && memcmp(buf, src + 151 * BS, (size_t)r) == 0,
	   "the blocks after it read back (%zd)", r);

	/* A second bad block in the calling thread's half: the lowest is reported. */
	raw_read(fd, 20, blk, CBS);
	blk[CBS - 1] ^= 0x80;
	raw_write(fd, 20, blk, CBS);
	r = read_fresh(fd, buf, 200 * BS, 0, &st);
	ok(r == -EBADMSG && st.bad_block == 20, "bad blocks 20 and 150 -> reported at 20 (%zd, %llu)",
	   r, (unsigned long long)st.bad_block);
	/* A bad block in the third chunk only. */
	raw_read(fd, 590, blk, CBS);
	blk[0] ^= 1;
	raw_write(fd, 590, blk, CBS);
	memset(buf, 0xa5, size);
	r = read_fresh(fd, buf, 400 * BS, 200 * BS, &st);
	ok(r == -EBADMSG && st.bad_block == 590 && all_zero(buf, 400 * BS),
	   "read of blocks 200-599 fails at 590, buffer wiped (%zd, %llu)", r,
	   (unsigned long long)st.bad_block);
	close(fd);
	free(src);
	free(buf);
}

/* veil_file_verify: the same verdicts as a read of the whole file, tags only. */
static void test_verify(const uint8_t *data)
{
	struct veil_fstate st;
	uint8_t b[VEIL_BLOCK_OVERHEAD + BS];
	int fd, r;

	fd = make_file(data, 40 * BS + 100);
	memset(&st, 0, sizeof(st));
	r = veil_file_verify(&cc, fd, &st);
	ok(r == 0, "a 41-block file verifies (%d)", r);
	raw_read(fd, 30, b, sizeof(b));
	b[VEIL_BLOCK_OVERHEAD + 7] ^= 1;
	raw_write(fd, 30, b, sizeof(b));
	memset(&st, 0, sizeof(st));
	r = veil_file_verify(&cc, fd, &st);
	ok(r == -EBADMSG && st.bad_block == 30, "a flipped bit in block 30 is found (%d, at %llu)",
	   r, (unsigned long long)st.bad_block);
	b[VEIL_BLOCK_OVERHEAD + 7] ^= 1;
	raw_write(fd, 30, b, sizeof(b));
	ftruncate(fd, (off_t)veil_content_block_offset(40, BS));
	memset(&st, 0, sizeof(st));
	r = veil_file_verify(&cc, fd, &st);
	ok(r == -EBADMSG && st.bad_block == 39 && st.fault == VEIL_FAULT_TRUNCATED,
	   "a file cut at a block boundary is found (%d, at %llu, %s)", r,
	   (unsigned long long)st.bad_block, veil_block_fault_str(st.fault));
	close(fd);
	fd = make_file(data, 0);
	memset(&st, 0, sizeof(st));
	ok(veil_file_verify(&cc, fd, &st) == 0, "an empty file verifies");
	close(fd);
}

int main(void)
{
	uint8_t master[VEIL_KEY_BYTES];
	uint8_t *data = malloc(64 * BS);
	char dir[64];

	if (veil_crypto_init() < 0)
		return 1;
	veil_random(master, sizeof(master));
	veil_random(data, 64 * BS);
	cc.keys = veil_keys_new(master);
	cc.bs = BS;
	dirfd_g = tmpdir_new(dir);
	if (!cc.keys || dirfd_g < 0)
		return 1;
	test_tamper(data);
	test_cuts(data);
	test_crash_trace(data);
	test_ids_and_empty(data);
	test_far(data);
	test_big();
	test_parallel_read();
	test_verify(data);
	test_midway_failure(data);
	test_enospc(data);
	close(dirfd_g);
	tmpdir_rm(dir);
	veil_keys_free((struct veil_keys *)cc.keys);
	free(data);
	return tap_done();
}
