/* SPDX-License-Identifier: MIT */
/*
 * Temporary names and leftovers (veilfs/temp.h, docs/format.md §13.3): the
 * name predicate, the stale rule at its boundary, names in use, removal of
 * files, directories and symlinks, and what is never removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/temp.h"
#include "lib/volume.h"

#include "../tap.h"
#include "util.h"

static char root[64];
static int rootfd;

/* Set the mtime of @name in @dfd to @ago seconds in the past. */
static void age(int dfd, const char *name, long ago)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - ago;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static bool exists(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_predicates(void)
{
	struct stat st = { 0 };
	time_t now = time(NULL);
	char a[VEIL_TEMP_NAME_MAX], b[VEIL_TEMP_NAME_MAX];

	ok(veil_temp_is_name("veilfs.tmp.d0123456789abcdef"), "mkdir temp is a temporary name");
	ok(veil_temp_is_name("veilfs.tmp.conf.0badc0de"), "header temp is a temporary name");
	ok(veil_temp_is_name("veilfs.tmp."), "the bare prefix is a temporary name");
	ok(!veil_temp_is_name("veilfs.tmp"), "veilfs.tmp is not");
	ok(!veil_temp_is_name("veilfs.diriv") && !veil_temp_is_name("veilfs.conf"),
	   "reserved files are not");
	ok(!veil_temp_is_name("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "encoded names are not");
	ok(!veil_temp_is_name("xveilfs.tmp.d"), "the prefix must start the name");

	st.st_mtime = now;
	ok(!veil_temp_is_stale(&st, now), "touched now: fresh");
	st.st_mtime = now - VEIL_TEMP_STALE_SECONDS + 1;
	ok(!veil_temp_is_stale(&st, now), "one second short of the bound: fresh");
	st.st_mtime = now - VEIL_TEMP_STALE_SECONDS;
	ok(veil_temp_is_stale(&st, now), "exactly the bound old: stale");
	st.st_mtime = now + 3600;
	ok(!veil_temp_is_stale(&st, now), "mtime in the future (clock skew): fresh");

	veil_temp_new(a, "d");
	veil_temp_new(b, "d");
	ok(strncmp(a, "veilfs.tmp.d", 12) == 0 && strlen(a) == 12 + 16 && veil_temp_is_name(a),
	   "veil_temp_new makes veilfs.tmp.d<16 hex> (%s)", a);
	ok(strcmp(a, b) != 0, "two new names differ");
	ok(veil_temp_in_use(a) && veil_temp_in_use(b), "new names are in use");
	veil_temp_release(a);
	ok(!veil_temp_in_use(a) && veil_temp_in_use(b), "a released name is no longer in use");
	veil_temp_release(b);
	ok(!veil_temp_in_use(b), "...nor the other");
}

static void test_remove(void)
{
	char own[VEIL_TEMP_NAME_MAX];
	uint8_t iv[VEIL_DIRIV_BYTES];
	int r, dfd, outfd;

	/* A file: fresh ones stay under the stale rule, go without it. */
	write_file_at(rootfd, "veilfs.tmp.0000000000000001", "0123456789abcdef", 16);
	r = veil_temp_remove(rootfd, "veilfs.tmp.0000000000000001", VEIL_TEMP_STALE_ONLY);
	ok(r == -EBUSY && exists(rootfd, "veilfs.tmp.0000000000000001"),
	   "a fresh temp file is left alone by a stale-only removal (%d)", r);
	age(rootfd, "veilfs.tmp.0000000000000001", VEIL_TEMP_STALE_SECONDS - 30);
	r = veil_temp_remove(rootfd, "veilfs.tmp.0000000000000001", VEIL_TEMP_STALE_ONLY);
	ok(r == -EBUSY, "...also 30 s short of the bound (%d)", r);
	age(rootfd, "veilfs.tmp.0000000000000001", VEIL_TEMP_STALE_SECONDS + 1);
	r = veil_temp_remove(rootfd, "veilfs.tmp.0000000000000001", VEIL_TEMP_STALE_ONLY);
	ok(r == 0 && !exists(rootfd, "veilfs.tmp.0000000000000001"), "a stale one is removed (%d)",
	   r);
	r = veil_temp_remove(rootfd, "veilfs.tmp.0000000000000001", 0);
	ok(r == 0, "removing a name that is already gone is fine (%d)", r);

	/* Names in use by this process are never touched, however old. */
	veil_temp_new(own, "d");
	mkdirat(rootfd, own, 0700);
	age(rootfd, own, 10 * VEIL_TEMP_STALE_SECONDS);
	r = veil_temp_remove(rootfd, own, 0);
	ok(r == -EBUSY && exists(rootfd, own), "a name in use is never removed (%d)", r);
	r = veil_temp_sweep(rootfd, 0);
	ok(r == 1 && exists(rootfd, own), "...nor swept; the sweep counts it as left (%d)", r);
	veil_temp_release(own);

	/* An interrupted mkdir: temp dir, its IV, a temp IV file inside. */
	dfd = openat(rootfd, own, O_RDONLY | O_DIRECTORY);
	r = veil_diriv_create(dfd, iv);
	write_file_at(dfd, "veilfs.tmp.00000000000000aa", "0123456789abcdef", 16);
	mkdirat(dfd, "veilfs.tmp.d00000000000000bb", 0700);
	close(dfd);
	r = veil_temp_sweep(rootfd, 0);
	ok(r == 0 && count_prefix(rootfd, VEIL_TEMP_PREFIX) == 0,
	   "an interrupted mkdir is removed with everything inside (%d)", r);

	/* Non-temporary names are not ours: the directory stays. */
	mkdirat(rootfd, "veilfs.tmp.r00000000000000cc", 0700);
	dfd = openat(rootfd, "veilfs.tmp.r00000000000000cc", O_RDONLY | O_DIRECTORY);
	write_file_at(dfd, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "user data", 9);
	write_file_at(dfd, VEIL_DIRIV_NAME, "0123456789abcdef", 16);
	r = veil_temp_remove(rootfd, "veilfs.tmp.r00000000000000cc", 0);
	ok(r == -ENOTEMPTY, "a temp dir holding a non-temporary name is not removed (%d)", r);
	ok(exists(dfd, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
	   "...and that entry is still there (under the claimed name)");
	ok(count_prefix(rootfd, "veilfs.tmp.p") == 1, "...which is a veilfs.tmp.p* name");
	unlinkat(dfd, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0);
	close(dfd);
	r = veil_temp_sweep(rootfd, VEIL_TEMP_STALE_ONLY);
	ok(r == 1 && count_prefix(rootfd, VEIL_TEMP_PREFIX) == 1,
	   "the claimed dir is fresh: a stale-only sweep leaves it (%d)", r);
	r = veil_temp_sweep(rootfd, 0);
	ok(r == 0 && count_prefix(rootfd, VEIL_TEMP_PREFIX) == 0, "once emptied it goes (%d)", r);

	/* Symlinks are removed as links, never followed. */
	mkdirat(rootfd, "outside", 0700);
	outfd = openat(rootfd, "outside", O_RDONLY | O_DIRECTORY);
	write_file_at(outfd, "veilfs.tmp.keep", "x", 1);
	write_file_at(outfd, VEIL_DIRIV_NAME, "0123456789abcdef", 16);
	symlinkat("outside", rootfd, "veilfs.tmp.dlink");
	mkdirat(rootfd, "veilfs.tmp.dwithlink", 0700);
	dfd = openat(rootfd, "veilfs.tmp.dwithlink", O_RDONLY | O_DIRECTORY);
	symlinkat("../outside", dfd, "veilfs.tmp.inner");
	close(dfd);
	r = veil_temp_sweep(rootfd, 0);
	ok(r == 0 && count_prefix(rootfd, VEIL_TEMP_PREFIX) == 0,
	   "temp symlinks and a temp dir holding one are removed (%d)", r);
	ok(exists(outfd, "veilfs.tmp.keep") && exists(outfd, VEIL_DIRIV_NAME),
	   "...and what they point to is untouched");
	close(outfd);

	/* The sweep touches temporary names only. */
	write_file_at(rootfd, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x", 1);
	write_file_at(rootfd, "veilfs.tmp.0000000000000002", "x", 1);
	age(rootfd, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 10 * VEIL_TEMP_STALE_SECONDS);
	r = veil_temp_sweep(rootfd, 0);
	ok(r == 0 && exists(rootfd, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") &&
		   exists(rootfd, "outside") && !exists(rootfd, "veilfs.tmp.0000000000000002"),
	   "other entries stay, however old (%d)", r);
}

/* Does file @name of @dfd hold exactly @want (@n bytes)? */
static bool holds(int dfd, const char *name, const char *want, size_t n)
{
	char buf[256];
	int fd = openat(dfd, name, O_RDONLY);
	ssize_t got;

	if (fd < 0)
		return false;
	got = read(fd, buf, sizeof(buf));
	close(fd);
	return got == (ssize_t)n && memcmp(buf, want, n) == 0;
}

/* Old headers (veilfs.tmp.confold*) are overwritten before they go. */
static void test_old_header(void)
{
	static const char slots[] = "old header: key slots of a revoked passphrase";
	const size_t n = sizeof(slots) - 1;
	struct stat st;
	int r, dfd, efd;

	mkdirat(rootfd, "hdr", 0700);
	mkdirat(rootfd, "elsewhere", 0700);
	dfd = openat(rootfd, "hdr", O_RDONLY | O_DIRECTORY);
	efd = openat(rootfd, "elsewhere", O_RDONLY | O_DIRECTORY);

	/* A second link outside shows what happens to the blocks. */
	write_file_at(dfd, "veilfs.tmp.confold0123456789abcdef", slots, n);
	linkat(dfd, "veilfs.tmp.confold0123456789abcdef", efd, "copy", 0);
	r = veil_temp_remove(dfd, "veilfs.tmp.confold0123456789abcdef", 0);
	ok(r == 0 && !exists(dfd, "veilfs.tmp.confold0123456789abcdef"),
	   "an old header leftover is removed (%d)", r);
	ok(fstatat(efd, "copy", &st, 0) == 0 && st.st_size == (off_t)n && !holds(efd, "copy", slots, n),
	   "...its bytes overwritten first, not only unlinked");

	/* The same through a sweep, as the mount and a rekey rerun do. */
	write_file_at(dfd, "veilfs.tmp.confold00000000000000aa", slots, n);
	unlinkat(efd, "copy", 0);
	linkat(dfd, "veilfs.tmp.confold00000000000000aa", efd, "copy", 0);
	age(dfd, "veilfs.tmp.confold00000000000000aa", VEIL_TEMP_STALE_SECONDS + 5);
	r = veil_temp_sweep(dfd, VEIL_TEMP_STALE_ONLY);
	ok(r == 0 && count_prefix(dfd, VEIL_TEMP_PREFIX) == 0 && !holds(efd, "copy", slots, n),
	   "a stale-only sweep overwrites a stale old header too (%d)", r);

	/* A crash before the switch: the leftover is the live header itself. */
	write_file_at(dfd, VEIL_CONF_NAME, slots, n);
	linkat(dfd, VEIL_CONF_NAME, dfd, "veilfs.tmp.confold00000000000000bb", 0);
	r = veil_temp_sweep(dfd, 0);
	ok(r == 0 && !exists(dfd, "veilfs.tmp.confold00000000000000bb") &&
		   holds(dfd, VEIL_CONF_NAME, slots, n),
	   "a leftover linked to the live header is only unlinked (%d)", r);

	/* Header writers lock the header file: their fresh names may stay. */
	write_file_at(dfd, "veilfs.tmp.conf.0000abcd", slots, n);
	write_file_at(dfd, "veilfs.tmp.confold00000000000000cc", slots, n);
	unlinkat(efd, "copy", 0);
	linkat(dfd, "veilfs.tmp.confold00000000000000cc", efd, "copy", 0);
	write_file_at(dfd, "veilfs.tmp.rekey00000000000000dd", "x", 1);
	r = veil_temp_sweep(dfd, VEIL_TEMP_CONF_STALE_ONLY);
	ok(r == 2 && exists(dfd, "veilfs.tmp.conf.0000abcd") &&
		   exists(dfd, "veilfs.tmp.confold00000000000000cc") &&
		   holds(efd, "copy", slots, n) && !exists(dfd, "veilfs.tmp.rekey00000000000000dd"),
	   "VEIL_TEMP_CONF_STALE_ONLY keeps fresh header temporaries, takes others (%d)", r);
	age(dfd, "veilfs.tmp.conf.0000abcd", VEIL_TEMP_STALE_SECONDS + 5);
	age(dfd, "veilfs.tmp.confold00000000000000cc", VEIL_TEMP_STALE_SECONDS + 5);
	r = veil_temp_sweep(dfd, VEIL_TEMP_CONF_STALE_ONLY);
	ok(r == 0 && count_prefix(dfd, VEIL_TEMP_PREFIX) == 0 && !holds(efd, "copy", slots, n),
	   "...and takes them once stale, the old header overwritten (%d)", r);

	unlinkat(efd, "copy", 0);
	unlinkat(dfd, VEIL_CONF_NAME, 0);
	close(efd);
	close(dfd);
	unlinkat(rootfd, "hdr", AT_REMOVEDIR);
	unlinkat(rootfd, "elsewhere", AT_REMOVEDIR);
}

int main(void)
{
	if (veil_crypto_init() < 0)
		return 1;
	rootfd = tmpdir_new(root);
	if (rootfd < 0)
		return 1;
	test_predicates();
	test_remove();
	test_old_header();
	close(rootfd);
	tmpdir_rm(root);
	return tap_done();
}
