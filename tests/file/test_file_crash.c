/* SPDX-License-Identifier: MIT */
/*
 * Crash points of the file layer. Every pwrite/ftruncate the core makes is
 * counted (the test links with -Wl,--wrap; with _FILE_OFFSET_BITS=64 the
 * symbols are pwrite64 and ftruncate64); a "crash" after N calls makes
 * every later call fail without touching the file, which is then what a
 * machine would find after power loss (with ordered writes). For each
 * scenario and every N the file must read back completely, with every
 * byte either its old or its new value and a size between the two.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/keys.h"

#include "../tap.h"

ssize_t __real_pwrite64(int fd, const void *buf, size_t n, off_t off);
int __real_ftruncate64(int fd, off_t len);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off);
int __wrap_ftruncate64(int fd, off_t len);

static long calls, crash_at = -1;

static int crashed(void)
{
	long n = calls++;

	return crash_at >= 0 && n >= crash_at;
}

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	if (crashed()) {
		errno = EIO;
		return -1;
	}
	return __real_pwrite64(fd, buf, n, off);
}

int __wrap_ftruncate64(int fd, off_t len)
{
	if (crashed()) {
		errno = EIO;
		return -1;
	}
	return __real_ftruncate64(fd, len);
}

static struct veil_content_ctx cc;
static char path[] = "/tmp/veilfs-crash-XXXXXX";

/* Build a file of @size pattern bytes; returns its fd. */
static int make_file(uint64_t size, uint8_t *ref)
{
	struct veil_fstate st = { 0 };
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	for (uint64_t i = 0; i < size; i++)
		ref[i] = (uint8_t)(i * 7 + 1);
	if (size && veil_file_write(&cc, fd, &st, ref, size, 0) != (ssize_t)size)
		return -1;
	return fd;
}

/*
 * Run one scenario: a write of @n bytes at @off (or, with @trunc, a
 * truncate to @off) on a file of @size bytes, crashing at every point.
 */
static int scenario(uint64_t size, uint64_t off, uint64_t n, int trunc, uint8_t *ref,
		    uint8_t *neu, uint8_t *got, uint8_t *src)
{
	uint64_t newsize = trunc ? off : (off + n > size ? off + n : size);
	long total;
	int bad = 0;

	for (uint64_t i = 0; i < n; i++)
		src[i] = (uint8_t)(0xa0 ^ i);
	/* The expected final content. */
	memset(neu, 0, newsize + 1);
	memcpy(neu, ref, size < newsize ? size : newsize);
	if (!trunc)
		memcpy(neu + off, src, n);
	/* Count the calls of an uncrashed run. */
	for (long cp = -1;; cp++) {
		struct veil_fstate st = { 0 };
		uint64_t fsize;
		ssize_t r;
		int fd = make_file(size, ref);

		if (fd < 0)
			return 1;
		calls = 0;
		crash_at = cp;
		if (trunc)
			r = veil_file_truncate(&cc, fd, &st, off);
		else
			r = veil_file_write(&cc, fd, &st, src, n, off);
		crash_at = -1;
		if (cp == -1) {
			total = calls;
			/* No counted call means the wrapping failed: the test would prove nothing. */
			if (r < 0 || total == 0) {
				diag("uncrashed run: result %zd after %ld calls", r, total);
				return 1;
			}
		}
		memset(&st, 0, sizeof(st));
		if (veil_file_size(fd, cc.bs, &fsize) != 0) {
			diag("size %llu off %llu n %llu trunc %d crash %ld: impossible size",
			     (unsigned long long)size, (unsigned long long)off,
			     (unsigned long long)n, trunc, cp);
			bad = 1;
		} else {
			r = veil_file_read(&cc, fd, &st, got, fsize + 1, 0);
			if (r != (ssize_t)fsize) {
				/* The one documented window: a cut inside a block. */
				if (!(trunc && off % cc.bs && cp == total - 1)) {
					diag("size %llu off %llu n %llu trunc %d crash %ld/%ld: read "
					     "%zd of %llu (%s, block %llu)",
					     (unsigned long long)size, (unsigned long long)off,
					     (unsigned long long)n, trunc, cp, total, r,
					     (unsigned long long)fsize, veil_block_fault_str(st.fault),
					     (unsigned long long)st.bad_block);
					bad = 1;
				}
			} else {
				for (uint64_t i = 0; i < fsize && !bad; i++) {
					int old_ok = i < size && got[i] == ref[i];
					int new_ok = i < newsize && got[i] == neu[i];
					int zero_ok = got[i] == 0 && i >= size;

					if (!old_ok && !new_ok && !zero_ok) {
						diag("crash %ld: byte %llu is neither old nor new", cp,
						     (unsigned long long)i);
						bad = 1;
					}
				}
			}
		}
		close(fd);
		if (bad || cp + 1 >= total)
			break;
	}
	return bad;
}

int main(void)
{
	uint8_t master[VEIL_KEY_BYTES] = { 3 };
	const uint32_t bs = 4096;
	const size_t cap = 700 * 4096;
	uint8_t *ref = malloc(cap), *neu = malloc(cap), *got = malloc(cap), *src = malloc(cap);
	static const struct {
		uint64_t size, off, n;
		int trunc;
		const char *what;
	} cases[] = {
		{ 0, 0, 100, 0, "first write of a small file" },
		{ 0, 0, 600 * 4096 + 5, 0, "first write of several chunks" },
		{ 100, 100, 5000, 0, "append across a block from a partial block" },
		{ 4096, 4096, 4096, 0, "append a block to a full block" },
		{ 5000, 10, 300 * 4096, 0, "overwrite and extend by more than a chunk" },
		{ 5000, 600 * 4096, 10, 0, "write far past the end (zero blocks)" },
		{ 3 * 4096, 5000, 100, 0, "overwrite inside the file" },
		{ 5000, 500 * 4096 + 1, 0, 1, "truncate up by several chunks" },
		{ 0, 3 * 4096, 0, 1, "truncate an empty file up" },
		{ 5 * 4096 + 7, 2 * 4096, 0, 1, "truncate down at a block boundary" },
		{ 5 * 4096 + 7, 2 * 4096 + 9, 0, 1, "truncate down inside a block" },
	};

	if (veil_crypto_init() < 0)
		return 1;
	cc.keys = veil_keys_new(master);
	cc.bs = bs;
	if (mkstemp(path) < 0)
		return 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(!scenario(cases[i].size, cases[i].off, cases[i].n, cases[i].trunc, ref, neu,
			     got, src),
		   "every crash point readable: %s", cases[i].what);
	unlink(path);
	veil_keys_free((struct veil_keys *)cc.keys);
	free(ref);
	free(neu);
	free(got);
	free(src);
	return tap_done();
}
