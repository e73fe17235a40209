/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the file layer: the same seeded random writes,
 * truncates and reads on a cipher file (through veil_file_*) and on a plain
 * reference buffer, compared after every step. The seed is printed so a
 * failure reproduces: test_file_random SEED [OPS].
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

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: reproducible from the printed seed */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t pick_size(uint32_t bs)
{
	/* Favour the edges of blocks, where the arithmetic is easiest to get wrong. */
	uint64_t b = rnd() % 12;
	int64_t d = (int64_t)(rnd() % 3) - 1;

	switch (rnd() % 4) {
	case 0:
		return rnd() % (3 * bs);
	case 1:
		return (uint64_t)((int64_t)(b * bs) + d < 0 ? 0 : (int64_t)(b * bs) + d);
	case 2:
		return rnd() % 64;
	default:
		return rnd() % (40 * bs);
	}
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	long ops = argc > 2 ? strtol(argv[2], NULL, 0) : 3000;
	uint8_t master[VEIL_KEY_BYTES] = { 7 };
	struct veil_keys *k;
	struct veil_content_ctx cc;
	struct veil_fstate st = { 0 };
	char path[] = "/tmp/veilfs-file-XXXXXX";
	const uint32_t bs = 4096;
	size_t cap = 48 * bs + 64;
	uint8_t *ref = calloc(1, cap), *buf = malloc(cap), *got = malloc(cap);
	uint64_t refsize = 0;
	int fd, bad = 0;

	if (veil_crypto_init() < 0)
		return 1;
	k = veil_keys_new(master);
	cc.keys = k;
	cc.bs = bs;
	rng_state = seed;
	printf("# seed %llu, %ld operations\n", (unsigned long long)seed, ops);
	fd = mkstemp(path);
	if (fd < 0)
		return 1;
	unlink(path);
	for (long i = 0; i < ops && !bad; i++) {
		uint64_t op = rnd() % 10, off, n, size;
		ssize_t r;

		if (op < 5) {
			off = pick_size(bs);
			n = 1 + rnd() % (op == 0 ? 9 * bs : 300);
			if (off + n > cap - 1)
				continue;
			for (uint64_t j = 0; j < n; j++)
				buf[j] = (uint8_t)rnd();
			r = veil_file_write(&cc, fd, &st, buf, n, off);
			if (r != (ssize_t)n) {
				diag("op %ld: write(%llu, %llu) = %zd", i, (unsigned long long)off,
				     (unsigned long long)n, r);
				bad = 1;
				break;
			}
			if (off > refsize)
				memset(ref + refsize, 0, off - refsize);
			memcpy(ref + off, buf, n);
			if (off + n > refsize)
				refsize = off + n;
		} else if (op < 7) {
			uint64_t ns = pick_size(bs);

			if (ns > cap - 1)
				continue;
			if (veil_file_truncate(&cc, fd, &st, ns) != 0) {
				diag("op %ld: truncate(%llu) failed", i, (unsigned long long)ns);
				bad = 1;
				break;
			}
			if (ns > refsize)
				memset(ref + refsize, 0, ns - refsize);
			refsize = ns;
		}
		/* After every operation: size and a random read, plus a full read. */
		if (veil_file_size(fd, bs, &size) != 0 || size != refsize) {
			diag("op %ld: size %llu, want %llu", i, (unsigned long long)size,
			     (unsigned long long)refsize);
			bad = 1;
			break;
		}
		off = refsize ? rnd() % (refsize + 10) : 0;
		n = 1 + rnd() % (5 * bs);
		r = veil_file_read(&cc, fd, &st, got, n, off);
		{
			ssize_t want = off >= refsize ? 0
				       : (ssize_t)(refsize - off < n ? refsize - off : n);

			if (r != want || (want > 0 && memcmp(got, ref + off, (size_t)want) != 0)) {
				diag("op %ld: read(%llu, %llu) = %zd, want %zd (fault %s at %llu)", i,
				     (unsigned long long)off, (unsigned long long)n, r, want,
				     veil_block_fault_str(st.fault),
				     (unsigned long long)st.bad_block);
				bad = 1;
				break;
			}
		}
		if (i % 50 == 0) {
			r = veil_file_read(&cc, fd, &st, got, cap, 0);
			if (r != (ssize_t)refsize || memcmp(got, ref, refsize) != 0) {
				diag("op %ld: full read differs", i);
				bad = 1;
			}
		}
	}
	ok(!bad, "seed %llu: %ld random writes/truncates/reads match the reference",
	   (unsigned long long)seed, ops);
	veil_keys_free(k);
	close(fd);
	free(ref);
	free(buf);
	free(got);
	return tap_done();
}
