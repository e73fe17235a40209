/* SPDX-License-Identifier: MIT */
/*
 * aio_stale FILE SIZE OFFSET SECONDS [CYCLES]
 *
 * Do buffered reads see what an asynchronous O_DIRECT write just wrote?
 * A writer loops: open(O_DIRECT|O_CREAT|O_RDWR), one libaio write of SIZE
 * bytes at OFFSET (io_submit + io_getevents), fsync, close; then open
 * without O_DIRECT, pread of the same range and compare. Every cycle
 * writes a different pattern (the cycle number in every 8 bytes, so a
 * stale range says which cycle it came from). Meanwhile two reader
 * processes loop over open, pread of SIZE at OFFSET, close of the same
 * file, which keeps the range in the page cache and keeps attributes
 * being refreshed while writes are in flight.
 *
 * Stops after SECONDS or CYCLES cycles (0: no limit), whichever is first.
 * Exit 0: every read matched; 1: a stale or wrong read (the first bad
 * range is printed, with what an O_DIRECT read of it returns); 2: an
 * error or usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libaio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(uint8_t *p, size_t n, uint64_t cycle, uint64_t off)
{
	/* Each byte depends on the cycle and its own file offset. */
	for (size_t i = 0; i < n; i++) {
		uint64_t pos = off + i;
		uint64_t v = (cycle + 1) * 0x9e3779b97f4a7c15ULL ^ (pos / 8);

		p[i] = (uint8_t)(v >> (8 * (pos % 8)));
	}
}

static int die(const char *what)
{
	fprintf(stderr, "aio_stale: %s: %s\n", what, strerror(errno));
	return 2;
}

static void reader(const char *path, size_t size, off_t off)
{
	uint8_t *buf = malloc(size);

	if (!buf)
		_exit(2);
	for (;;) {
		int fd = open(path, O_RDONLY);

		if (fd < 0)
			_exit(2);
		if (pread(fd, buf, size, off) < 0)
			_exit(2);
		close(fd);
	}
}

/* Which earlier cycle wrote @p, if any (for the message). */
static long which_cycle(const uint8_t *p, size_t n, uint64_t off, uint64_t upto)
{
	uint8_t *want = malloc(n);
	long found = -1;

	if (!want)
		return -1;
	for (uint64_t c = 0; c <= upto && found < 0; c++) {
		fill(want, n, c, off);
		if (memcmp(want, p, n) == 0)
			found = (long)c;
	}
	free(want);
	return found;
}

int main(int argc, char **argv)
{
	const char *path;
	size_t size;
	off_t off;
	double seconds, end;
	unsigned long max_cycles = 0;
	uint8_t *wbuf, *rbuf;
	pid_t readers[2];
	io_context_t ctx = 0;
	int ret = 0, fd;
	uint64_t cycle;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: aio_stale FILE SIZE OFFSET SECONDS [CYCLES]\n");
		return 2;
	}
	path = argv[1];
	size = strtoul(argv[2], NULL, 0);
	off = (off_t)strtoull(argv[3], NULL, 0);
	seconds = strtod(argv[4], NULL);
	if (argc == 6)
		max_cycles = strtoul(argv[5], NULL, 0);
	if (size == 0)
		return 2;
	if (posix_memalign((void **)&wbuf, 4096, size) || posix_memalign((void **)&rbuf, 4096, size))
		return die("posix_memalign");

	/* The file exists with cycle 0's data before the readers start. */
	fill(wbuf, size, 0, (uint64_t)off);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0 || pwrite(fd, wbuf, size, off) != (ssize_t)size || close(fd) < 0)
		return die("prefill");
	if (io_setup(4, &ctx) < 0)
		return die("io_setup");

	for (int i = 0; i < 2; i++) {
		readers[i] = fork();
		if (readers[i] < 0)
			return die("fork");
		if (readers[i] == 0)
			reader(path, size, off);
	}

	end = now() + seconds;
	for (cycle = 1; now() < end && (!max_cycles || cycle <= max_cycles); cycle++) {
		struct iocb cb, *cbs[1] = { &cb };
		struct io_event ev;
		ssize_t n;
		int r;

		fill(wbuf, size, cycle, (uint64_t)off);
		fd = open(path, O_DIRECT | O_CREAT | O_RDWR, 0644);
		if (fd < 0) {
			ret = die("open O_DIRECT");
			break;
		}
		io_prep_pwrite(&cb, fd, wbuf, size, off);
		r = io_submit(ctx, 1, cbs);
		if (r != 1) {
			errno = -r;
			ret = die("io_submit");
			break;
		}
		r = io_getevents(ctx, 1, 1, &ev, NULL);
		if (r != 1) {
			errno = -r;
			ret = die("io_getevents");
			break;
		}
		if ((long)ev.res != (long)size) {
			fprintf(stderr, "aio_stale: cycle %" PRIu64 ": aio write returned %ld\n",
				cycle, (long)ev.res);
			ret = 2;
			break;
		}
		if (fsync(fd) < 0 || close(fd) < 0) {
			ret = die("fsync/close");
			break;
		}

		fd = open(path, O_RDONLY);
		if (fd < 0) {
			ret = die("open");
			break;
		}
		n = pread(fd, rbuf, size, off);
		close(fd);
		if (n != (ssize_t)size) {
			fprintf(stderr, "aio_stale: cycle %" PRIu64 ": short read %zd\n", cycle, n);
			ret = 2;
			break;
		}
		if (memcmp(rbuf, wbuf, size) != 0) {
			size_t a = 0, b;
			long from;
			int dfd;

			while (rbuf[a] == wbuf[a])
				a++;
			b = a;
			while (b < size && rbuf[b] != wbuf[b])
				b++;
			from = which_cycle(rbuf + a, b - a, (uint64_t)off + a, cycle);
			printf("STALE: cycle %" PRIu64 ": buffered read of file range "
			       "0x%jx-0x%jx differs from the completed O_DIRECT write (holds %s%ld)\n",
			       cycle, (uintmax_t)(off + (off_t)a), (uintmax_t)(off + (off_t)b),
			       from >= 0 ? "the data of cycle " : "unknown data, ", from);
			dfd = open(path, O_RDONLY | O_DIRECT);
			if (dfd >= 0 && pread(dfd, rbuf, size, off) == (ssize_t)size)
				printf("O_DIRECT read of the range: %s\n",
				       memcmp(rbuf, wbuf, size) == 0 ? "new data (correct)"
								      : "also differs");
			if (dfd >= 0)
				close(dfd);
			ret = 1;
			break;
		}
	}
	for (int i = 0; i < 2; i++) {
		/* A reader that died early would have made the run meaningless. */
		if (waitpid(readers[i], NULL, WNOHANG) != 0) {
			fprintf(stderr, "aio_stale: reader %d stopped early\n", i);
			ret = 2;
			continue;
		}
		kill(readers[i], SIGKILL);
		waitpid(readers[i], NULL, 0);
	}
	io_destroy(ctx);
	if (ret == 0)
		printf("ok: %" PRIu64 " cycles of %zu bytes at %jd, no stale read\n", cycle - 1,
		       size, (intmax_t)off);
	free(wbuf);
	free(rbuf);
	return ret;
}
