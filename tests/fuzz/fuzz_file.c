/* SPDX-License-Identifier: MIT */
/*
 * The file layer on a memfd. Mode 0: the input is a cipher file, read in
 * full and in pieces. Mode 1: a real file of fuzzer plaintext, then
 * fuzzer-chosen damage (overwrite, cut, copy); a read that succeeds must
 * return the original plaintext or nothing. Mode 2: a sequence of writes
 * and truncates checked against a plain reference buffer.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/file.h"

#include "fuzz_common.h"

#define MAXF (64 * 1024)

static int memfd(void)
{
	int fd = memfd_create("veilfs-fuzz", MFD_CLOEXEC);

	CHECK(fd >= 0);
	return fd;
}

static void read_all(const struct veil_content_ctx *c, int fd, uint8_t *buf, size_t cap,
		     const uint8_t *want, uint64_t wantlen)
{
	struct veil_fstate st = { 0 };
	uint64_t size;
	ssize_t r = veil_file_read(c, fd, &st, buf, cap, 0);

	CHECK(r >= 0 || r == -EBADMSG);
	if (r >= 0) {
		CHECK(veil_file_size(fd, c->bs, &size) == 0 && (uint64_t)r == (size < cap ? size : cap));
		if (want)
			CHECK(r == 0 || ((uint64_t)r == wantlen && memcmp(buf, want, wantlen) == 0));
	}
	/* Small reads at every block edge take the same paths piecewise. */
	if (veil_file_size(fd, c->bs, &size) < 0)
		size = 0;
	for (uint64_t off = 0; off < cap && off <= size + c->bs; off += c->bs - 1) {
		ssize_t q;

		memset(&st, 0, sizeof(st));
		q = veil_file_read(c, fd, &st, buf, 3, off);
		CHECK(q >= 0 || q == -EBADMSG);
		if (q > 0 && want)
			CHECK(off + (uint64_t)q <= wantlen && memcmp(buf, want + off, (size_t)q) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct veil_keys *k = fuzz_keys();
	struct veil_content_ctx c = { .keys = k };
	const uint8_t *p = data;
	size_t n = size;
	uint8_t *buf, *ref;
	uint8_t mode;
	int fd;

	if (size < 2 || size > MAXF)
		return 0;
	mode = (uint8_t)take(&p, &n, 1);
	c.bs = (mode & 0x10) ? 1024 : 4096;
	buf = malloc(4 * MAXF);
	ref = calloc(1, 4 * MAXF);
	fd = memfd();
	switch (mode % 3) {
	case 0:
		CHECK(write(fd, p, n) == (ssize_t)n);
		read_all(&c, fd, buf, 4 * MAXF, NULL, 0);
		break;
	case 1: {
		struct veil_fstate st = { 0 };
		size_t plen = (size_t)take(&p, &n, 2) % (n + 1);
		uint64_t csize;

		memcpy(ref, p, plen);
		CHECK(veil_file_write(&c, fd, &st, ref, plen, 0) == (ssize_t)plen);
		p += plen;
		n -= plen;
		csize = veil_content_cipher_size(plen, c.bs);
		while (n >= 5 && csize > 0) {
			uint8_t op = (uint8_t)take(&p, &n, 1);
			uint64_t a = take(&p, &n, 2) % csize, b = take(&p, &n, 2) % csize;
			uint8_t tmp[256];
			size_t len = (size_t)(op >> 2) % 200 + 1;

			if (a + len > csize)
				len = (size_t)(csize - a);
			switch (op & 3) {
			case 0: /* overwrite with the next input bytes */
				len = len < n ? len : n;
				CHECK(pwrite(fd, p, len, (off_t)a) == (ssize_t)len);
				p += len;
				n -= len;
				break;
			case 1: /* cut */
				CHECK(ftruncate(fd, (off_t)a) == 0);
				csize = a;
				break;
			case 2: /* copy bytes within the file */
				if (b + len > csize)
					len = (size_t)(csize - b);
				CHECK(pread(fd, tmp, len, (off_t)b) == (ssize_t)len);
				CHECK(pwrite(fd, tmp, len, (off_t)a) == (ssize_t)len);
				break;
			case 3: /* flip one bit */
				CHECK(pread(fd, tmp, 1, (off_t)a) == 1);
				tmp[0] ^= (uint8_t)(1 << (op >> 5));
				CHECK(pwrite(fd, tmp, 1, (off_t)a) == 1);
				break;
			}
		}
		read_all(&c, fd, buf, 4 * MAXF, ref, plen);
		break;
	}
	case 2: {
		struct veil_fstate st = { 0 };
		uint64_t refsize = 0;

		while (n >= 5) {
			uint8_t op = (uint8_t)take(&p, &n, 1);
			uint64_t off = take(&p, &n, 2) % (3 * MAXF);
			size_t len = (size_t)take(&p, &n, 2) % 9000;
			ssize_t r;

			if (op & 1) {
				r = veil_file_truncate(&c, fd, &st, off);
				CHECK(r == 0);
				if (off > refsize)
					memset(ref + refsize, 0, (size_t)(off - refsize));
				refsize = off;
			} else {
				uint8_t *src = malloc(len ? len : 1);

				for (size_t i = 0; i < len; i++)
					src[i] = (uint8_t)(op + i + (i < n ? p[i] : 0));
				if (off + len > 4 * MAXF)
					len = (size_t)(4 * MAXF - off);
				r = veil_file_write(&c, fd, &st, src, len, off);
				CHECK(r == (ssize_t)len);
				if (len) {
					if (off > refsize)
						memset(ref + refsize, 0, (size_t)(off - refsize));
					memcpy(ref + off, src, len);
					if (off + len > refsize)
						refsize = off + len;
				}
				free(src);
			}
			if (op & 2)
				veil_file_forget(&st);
			{
				uint64_t sz;

				CHECK(veil_file_size(fd, c.bs, &sz) == 0 && sz == refsize);
				CHECK(lseek(fd, 0, SEEK_END) ==
				      (off_t)veil_content_cipher_size(refsize, c.bs));
			}
		}
		{
			struct veil_fstate rs = { 0 };
			ssize_t r = veil_file_read(&c, fd, &rs, buf, 4 * MAXF, 0);

			CHECK(r == (ssize_t)refsize && memcmp(buf, ref, refsize) == 0);
		}
		break;
	}
	}
	close(fd);
	free(buf);
	free(ref);
	return 0;
}
