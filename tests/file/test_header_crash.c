/* SPDX-License-Identifier: MIT */
/*
 * Crash points of the header writes (veil_header_store, veil_header_replace).
 * Every call that changes the directory or a file is counted (the test
 * links with -Wl,--wrap; with _FILE_OFFSET_BITS=64 open-style calls are
 * the *64 symbols); a "crash" after N calls makes every later one fail
 * with EIO without touching anything, which is what a machine would find
 * after power loss (with ordered writes, as in test_file_crash.c). For
 * every N the header file must be exactly the old or the new header, and
 * a second change run from that state (itself crashed at every point)
 * must leave the old, the new or the third header, never a damaged one:
 * this also checks that a leftover link to the live header is never wiped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/header.h"

#include "../tap.h"

int __real_openat64(int dfd, const char *name, int flags, ...);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __real_pwrite64(int fd, const void *buf, size_t n, off_t off);
int __real_fsync(int fd);
int __real_renameat(int a, const char *b, int c, const char *d);
int __real_renameat2(int a, const char *b, int c, const char *d, unsigned f);
int __real_linkat(int a, const char *b, int c, const char *d, int f);
int __real_unlinkat(int a, const char *b, int f);
int __real_fchmodat(int a, const char *b, mode_t m, int f);
int __real_utimensat(int a, const char *b, const struct timespec t[2], int f);

int __wrap_openat64(int dfd, const char *name, int flags, ...);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off);
int __wrap_fsync(int fd);
int __wrap_renameat(int a, const char *b, int c, const char *d);
int __wrap_renameat2(int a, const char *b, int c, const char *d, unsigned f);
int __wrap_linkat(int a, const char *b, int c, const char *d, int f);
int __wrap_unlinkat(int a, const char *b, int f);
int __wrap_fchmodat(int a, const char *b, mode_t m, int f);
int __wrap_utimensat(int a, const char *b, const struct timespec t[2], int f);

static long calls, crash_at = -1;

static int crashed(void)
{
	long n = calls++;

	if (crash_at >= 0 && n >= crash_at) {
		errno = EIO;
		return 1;
	}
	return 0;
}

int __wrap_openat64(int dfd, const char *name, int flags, ...)
{
	mode_t mode = 0;

	if (flags & O_CREAT) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	/* Opening to read changes nothing; creating or writing does. */
	if ((flags & (O_CREAT | O_WRONLY | O_RDWR)) && crashed())
		return -1;
	return __real_openat64(dfd, name, flags, mode);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	return crashed() ? -1 : __real_write(fd, buf, n);
}

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return crashed() ? -1 : __real_pwrite64(fd, buf, n, off);
}

int __wrap_fsync(int fd)
{
	return crashed() ? -1 : __real_fsync(fd);
}

int __wrap_renameat(int a, const char *b, int c, const char *d)
{
	return crashed() ? -1 : __real_renameat(a, b, c, d);
}

int __wrap_renameat2(int a, const char *b, int c, const char *d, unsigned f)
{
	return crashed() ? -1 : __real_renameat2(a, b, c, d, f);
}

int __wrap_linkat(int a, const char *b, int c, const char *d, int f)
{
	return crashed() ? -1 : __real_linkat(a, b, c, d, f);
}

int __wrap_unlinkat(int a, const char *b, int f)
{
	return crashed() ? -1 : __real_unlinkat(a, b, f);
}

int __wrap_fchmodat(int a, const char *b, mode_t m, int f)
{
	return crashed() ? -1 : __real_fchmodat(a, b, m, f);
}

int __wrap_utimensat(int a, const char *b, const struct timespec t[2], int f)
{
	return crashed() ? -1 : __real_utimensat(a, b, t, f);
}

static const struct veil_kdf_params tiny = { 1, 8192 };
static const char *pass = "crash-point passphrase";
static uint8_t master[VEIL_KEY_BYTES];
static struct veil_header hv[3]; /* old, new, third */
static uint8_t img[3][VEIL_HEADER_MAX_BYTES];
static size_t len[3];

/* Remove everything in @dfd (the test's own temp dir), uncounted. */
static void empty_dir(int dfd)
{
	int fd = __real_openat64(dfd, ".", O_RDONLY | O_DIRECTORY, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			__real_unlinkat(dfd, e->d_name, 0);
	if (d)
		closedir(d);
}

/* Which of the three headers is the header file now: 0..2, -1 none, -2 other. */
static int which(int dfd)
{
	struct veil_header h;
	uint8_t b[VEIL_HEADER_MAX_BYTES], got[VEIL_KEY_BYTES];
	size_t n;
	int r = veil_header_load(dfd, VEIL_CONF_NAME, &h);

	if (r == -ENOENT)
		return -1;
	if (r < 0 || veil_header_unlock(&h, pass, strlen(pass), got, NULL) < 0 ||
	    memcmp(got, master, sizeof(got)) != 0)
		return -2;
	n = veil_header_serialize(&h, b);
	for (int i = 0; i < 3; i++)
		if (n == len[i] && memcmp(b, img[i], n) == 0)
			return i;
	return -2;
}

static int count_prefix(int dfd, const char *prefix)
{
	int fd = __real_openat64(dfd, ".", O_RDONLY | O_DIRECTORY, 0), n = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	while (d && (e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	if (d)
		closedir(d);
	return n;
}

static void test_create(int dfd)
{
	long total;
	int bad = 0;

	empty_dir(dfd);
	calls = 0;
	crash_at = -1;
	if (!ok(veil_header_store(dfd, VEIL_CONF_NAME, &hv[0], 1) == 0, "create without a crash"))
		return;
	total = calls;
	for (long n = 0; n <= total; n++) {
		int w;

		empty_dir(dfd);
		calls = 0;
		crash_at = n;
		(void)!veil_header_store(dfd, VEIL_CONF_NAME, &hv[0], 1);
		crash_at = -1;
		w = which(dfd);
		if (w != -1 && w != 0 && bad++ < 5)
			diag("create, crash after %ld of %ld calls: header %d", n, total, w);
		if (n == total && w != 0)
			bad++;
	}
	ok(bad == 0, "create: a crash at any of %ld points leaves no header or the whole one",
	   total);
}

/* Install header @i as the live one, uncounted by crash points. */
static int install(int dfd, int i)
{
	empty_dir(dfd);
	crash_at = -1;
	return veil_header_store(dfd, VEIL_CONF_NAME, &hv[i], 1);
}

static void test_replace(int dfd)
{
	long total, total2 = 0;
	int in_place, bad = 0, bad2 = 0, runs2 = 0, leftovers = 0;

	if (install(dfd, 0) < 0)
		return;
	calls = 0;
	if (!ok(veil_header_replace(dfd, VEIL_CONF_NAME, &hv[1], NULL, &in_place) == 0 &&
			which(dfd) == 1,
		"replace without a crash"))
		return;
	total = calls;
	ok(count_prefix(dfd, VEIL_TEMP_PREFIX) == 0, "replace leaves no temporary name");
	for (long n = 0; n <= total; n++) {
		int w;

		if (install(dfd, 0) < 0)
			return;
		calls = 0;
		crash_at = n;
		(void)!veil_header_replace(dfd, VEIL_CONF_NAME, &hv[1], NULL, &in_place);
		crash_at = -1;
		w = which(dfd);
		if (w != 0 && w != 1 && bad++ < 5)
			diag("replace, crash after %ld of %ld calls: header %d", n, total, w);
		if (n == total && w != 1)
			bad++;
		/* From this state, a second change crashed at every point. */
		for (long m = 0;; m++) {
			int w2;

			/* Rebuild the state after the first crash: same calls, same crash. */
			if (install(dfd, 0) < 0)
				return;
			calls = 0;
			crash_at = n;
			(void)!veil_header_replace(dfd, VEIL_CONF_NAME, &hv[1], NULL, &in_place);
			w = which(dfd);
			calls = 0;
			crash_at = m;
			(void)!veil_header_replace(dfd, VEIL_CONF_NAME, &hv[2], NULL, &in_place);
			crash_at = -1;
			runs2++;
			w2 = which(dfd);
			if (w2 != w && w2 != 2 && bad2++ < 5)
				diag("crash after %ld, then after %ld: header %d (was %d)", n, m, w2, w);
			if (calls <= m) {
				/* The second change ran to its end. */
				if (w2 != 2)
					bad2++;
				leftovers += count_prefix(dfd, VEIL_TEMP_PREFIX "confold");
				total2 = m > total2 ? m : total2;
				break;
			}
		}
	}
	ok(bad == 0, "replace: a crash at any of %ld points leaves the old or the new header",
	   total);
	ok(bad2 == 0,
	   "a second change after each crash, itself crashed at every point (%d runs), leaves the "
	   "old, new or third header",
	   runs2);
	ok(leftovers == 0, "a completed change wipes every old-header link a crash left (%d left)",
	   leftovers);
	(void)total2;
}

int main(void)
{
	char dir[] = "/tmp/veilfs-hdrcrash-XXXXXX";
	int dfd;

	if (veil_crypto_init() < 0) {
		printf("Bail out! libsodium\n");
		return 1;
	}
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	dfd = __real_openat64(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0);
	veil_random(master, sizeof(master));
	if (veil_header_create(&hv[0], master, 4096, pass, strlen(pass), &tiny) < 0) {
		printf("Bail out! create\n");
		return 1;
	}
	hv[1] = hv[0];
	hv[2] = hv[0];
	if (veil_header_add_slot(&hv[1], master, "second", 6, &tiny) < 0 ||
	    veil_header_add_recovery(&hv[2], master, NULL) < 0) {
		printf("Bail out! slots\n");
		return 1;
	}
	for (int i = 0; i < 3; i++)
		len[i] = veil_header_serialize(&hv[i], img[i]);
	test_create(dfd);
	test_replace(dfd);
	empty_dir(dfd);
	close(dfd);
	rmdir(dir);
	veil_wipe(master, sizeof(master));
	return tap_done();
}
