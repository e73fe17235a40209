/* SPDX-License-Identifier: MIT */
/*
 * The public API of libveilfs (include/veilfs/veilfs.h) on its own: this
 * program includes no internal header and links libveilfs.so. It reads the
 * committed example volume tests/fixtures/v1 (path given as argv[1]) and
 * checks versions, error values, handle rules, partial reads against whole
 * reads, veilfs_secret_read's line rules, and the fixed layout of
 * struct veilfs_stat with its reserved words left zero.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <veilfs/veilfs.h>

#include "../tap.h"

#define PASS "veilfs-fixture-v1"

/* A pipe holding @s (then closed for writing): its read end. */
static int pipe_with(const char *s, size_t n)
{
	int p[2];

	if (pipe(p) < 0)
		return -1;
	if (write(p[1], s, n) != (ssize_t)n) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	return p[0];
}

/* Every reserved word of @st is zero (and on LP64, the padding after @mode). */
static bool reserved_zero(const struct veilfs_stat *st)
{
	for (size_t i = 0; i < sizeof(st->reserved) / sizeof(st->reserved[0]); i++)
		if (st->reserved[i] != 0)
			return false;
#if defined(__LP64__)
	for (size_t i = sizeof(st->mode); i < offsetof(struct veilfs_stat, size); i++)
		if (((const unsigned char *)st)[i] != 0)
			return false;
#endif
	return true;
}

/*
 * The ABI of struct veilfs_stat for soname 0 on LP64: a field added later
 * must take room from @reserved, never move a field or grow the struct.
 */
static void test_stat_layout(void)
{
#if defined(__LP64__)
	ok(sizeof(struct veilfs_stat) == 128, "struct veilfs_stat is 128 bytes (%zu)",
	   sizeof(struct veilfs_stat));
	ok(offsetof(struct veilfs_stat, mode) == 0 && offsetof(struct veilfs_stat, size) == 8 &&
		   offsetof(struct veilfs_stat, ino) == 16 &&
		   offsetof(struct veilfs_stat, nlink) == 24 &&
		   offsetof(struct veilfs_stat, uid) == 32 && offsetof(struct veilfs_stat, gid) == 36 &&
		   offsetof(struct veilfs_stat, mtime_sec) == 40 &&
		   offsetof(struct veilfs_stat, mtime_nsec) == 48 &&
		   offsetof(struct veilfs_stat, ctime_sec) == 56 &&
		   offsetof(struct veilfs_stat, ctime_nsec) == 64 &&
		   offsetof(struct veilfs_stat, reserved) == 72,
	   "struct veilfs_stat: every field at its soname-0 offset, reserved at 72");
#else
	ok(sizeof(struct veilfs_stat) ==
		   offsetof(struct veilfs_stat, reserved) + sizeof(((struct veilfs_stat *)0)->reserved),
	   "struct veilfs_stat ends with its reserved words (not LP64: offsets not pinned)");
#endif
	ok(sizeof(((struct veilfs_stat *)0)->reserved) == 7 * sizeof(uint64_t),
	   "struct veilfs_stat reserves 7 words");
}

static void test_versions(void)
{
	char want[32];

	snprintf(want, sizeof(want), "%d.%d.%d", VEILFS_VERSION_MAJOR, VEILFS_VERSION_MINOR,
		 VEILFS_VERSION_PATCH);
	ok(strcmp(veilfs_version(), want) == 0, "veilfs_version() %s matches the header's %s",
	   veilfs_version(), want);
	ok(veilfs_version_number() == VEILFS_VERSION_NUMBER, "veilfs_version_number() %d",
	   veilfs_version_number());
	ok(strstr(veilfs_strerror(-EACCES), "wrong passphrase") != NULL,
	   "veilfs_strerror(-EACCES) names a wrong passphrase");
	ok(strstr(veilfs_strerror(-EBADMSG), "authentication failed") != NULL,
	   "veilfs_strerror(-EBADMSG) says authentication failed");
	ok(veilfs_strerror(-12345) != NULL && veilfs_strerror(1) != NULL,
	   "veilfs_strerror of unknown values is never NULL");
}

static void test_secret(void)
{
	char *s = NULL;
	size_t len = 0;
	char big[5000];
	int fd, e;

	fd = pipe_with("pass word\r\nsecond line\n", 23);
	e = veilfs_secret_read(fd, &s, &len);
	ok(e == 0 && len == 9 && strcmp(s, "pass word") == 0,
	   "secret_read: first line, CR LF removed (%d, %zu)", e, len);
	veilfs_secret_free(s);
	e = veilfs_secret_read(fd, &s, &len);
	ok(e == 0 && len == 11 && strcmp(s, "second line") == 0,
	   "secret_read consumes nothing after the line (%d)", e);
	veilfs_secret_free(s);
	e = veilfs_secret_read(fd, &s, &len);
	ok(e == -ENODATA && s == NULL && len == 0, "secret_read at end of input: -ENODATA (%d)", e);
	close(fd);
	fd = pipe_with("\n", 1);
	e = veilfs_secret_read(fd, &s, &len);
	ok(e == -ENODATA && s == NULL, "secret_read of an empty line: -ENODATA (%d)", e);
	close(fd);
	memset(big, 'x', sizeof(big));
	fd = pipe_with(big, sizeof(big));
	e = veilfs_secret_read(fd, &s, &len);
	ok(e == -E2BIG && s == NULL, "secret_read of 5000 bytes: -E2BIG (%d)", e);
	close(fd);
	e = veilfs_secret_read(-1, &s, &len);
	ok(e == -EBADF && s == NULL, "secret_read of a bad fd: -EBADF (%d)", e);
	veilfs_secret_free(NULL);
}

static void test_open_errors(const char *vol)
{
	struct veilfs_volume *v = (struct veilfs_volume *)1;
	char tmpl[] = "/tmp/veilfs-api-XXXXXX";
	int e;

	e = veilfs_open(vol, NULL, "wrong", 5, &v);
	ok(e == -EACCES && v == NULL, "wrong passphrase: -EACCES, no handle (%d)", e);
	/* A line of a recovery key's form that is no key of this volume. */
	e = veilfs_open(vol, NULL, "00000-00000-00000-00000-00000-00000-00000-00000-00000-00000-"
				  "00000-00000-00000-00000-00000-00000", 95, &v);
	ok(e == -EACCES && v == NULL, "a malformed recovery key: -EACCES (%d)", e);
	e = veilfs_open(vol, NULL, PASS, strlen(PASS) - 1, &v);
	ok(e == -EACCES, "the passphrase less its last byte: -EACCES (%d)", e);
	ok(mkdtemp(tmpl) != NULL, "made an empty directory");
	e = veilfs_open(tmpl, NULL, PASS, strlen(PASS), &v);
	ok(e == -ENOENT && v == NULL, "a directory without a header: -ENOENT (%d)", e);
	rmdir(tmpl);
	e = veilfs_open("/nonexistent/veilfs", NULL, PASS, strlen(PASS), &v);
	ok(e == -ENOENT, "a missing directory: -ENOENT (%d)", e);
	e = veilfs_open(NULL, NULL, PASS, strlen(PASS), &v);
	ok(e == -EINVAL, "a NULL directory: -EINVAL (%d)", e);
	ok(veilfs_close(NULL) == 0, "veilfs_close(NULL) is a no-op");
}

static void test_read(const char *vol)
{
	struct veilfs_volume *v = NULL;
	struct veilfs_file *f = NULL;
	struct veilfs_dir *d = NULL;
	struct veilfs_stat st;
	const char *name;
	static unsigned char whole[100001], part[100001];
	ssize_t n;
	size_t got = 0;
	int e, entries = 0, ret;

	e = veilfs_open(vol, NULL, PASS, strlen(PASS), &v);
	if (!ok(e == 0 && v != NULL, "open the fixture with its passphrase (%d)", e))
		return;

	memset(&st, 0xa5, sizeof(st));
	e = veilfs_stat(v, "hundred-k.bin", &st);
	ok(e == 0 && S_ISREG(st.mode) && st.size == 100000, "stat: a 100000-byte regular file");
	ok(e == 0 && reserved_zero(&st), "stat: the reserved words are zero");
	e = veilfs_stat(v, "/docs//sub/", &st);
	ok(e == 0 && S_ISDIR(st.mode), "stat of '/docs//sub/': a directory (%d)", e);
	e = veilfs_stat(v, "", &st);
	ok(e == 0 && S_ISDIR(st.mode), "stat of the root (%d)", e);
	e = veilfs_stat(v, "link-to-one-byte", &st);
	ok(e == 0 && S_ISLNK(st.mode), "stat does not follow a symlink (%d)", e);
	e = veilfs_stat(v, "no-such-file", &st);
	ok(e == -ENOENT, "stat of a missing name: -ENOENT (%d)", e);
	e = veilfs_stat(v, "docs/../one-byte", &st);
	ok(e == -EINVAL, "stat of a path with '..': -EINVAL (%d)", e);
	e = veilfs_stat(v, "./one-byte", &st);
	ok(e == -EINVAL, "stat of a path with '.': -EINVAL (%d)", e);

	e = veilfs_file_open(v, "docs", &f);
	ok(e == -EISDIR && f == NULL, "file_open of a directory: -EISDIR (%d)", e);
	e = veilfs_file_open(v, "link-to-one-byte", &f);
	ok(e == -ELOOP && f == NULL, "file_open of a symlink: -ELOOP (%d)", e);
	e = veilfs_dir_open(v, "one-byte", &d);
	ok(e == -ENOTDIR && d == NULL, "dir_open of a file: -ENOTDIR (%d)", e);

	e = veilfs_file_open(v, "hundred-k.bin", &f);
	ok(e == 0 && f != NULL, "file_open (%d)", e);
	if (e == 0) {
		n = veilfs_file_pread(f, whole, sizeof(whole), 0);
		ok(n == 100000, "one pread of the whole file: %zd bytes", n);
		/* Odd-sized reads that straddle block boundaries give the same bytes. */
		while (got < 100000) {
			n = veilfs_file_pread(f, part + got, 1237, got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		ok(got == 100000 && memcmp(part, whole, 100000) == 0,
		   "reads of 1237 bytes at a time give the same 100000 bytes (%zu)", got);
		n = veilfs_file_pread(f, part, 10, 100000);
		ok(n == 0, "pread at the end: 0 (%zd)", n);
		n = veilfs_file_pread(f, part, 10, 1ull << 40);
		ok(n == 0, "pread far past the end: 0 (%zd)", n);
		n = veilfs_file_pread(f, part, 10, 99995);
		ok(n == 5, "pread across the end: short, 5 bytes (%zd)", n);
		memset(&st, 0xa5, sizeof(st));
		e = veilfs_file_stat(f, &st);
		ok(e == 0 && st.size == 100000, "file_stat: 100000 bytes (%d)", e);
		ok(e == 0 && reserved_zero(&st), "file_stat: the reserved words are zero");
	}

	e = veilfs_dir_open(v, "docs", &d);
	ok(e == 0 && d != NULL, "dir_open docs (%d)", e);
	if (d) {
		bool seen_readme = false, seen_sub = false, zero = true;

		memset(&st, 0xa5, sizeof(st));
		while ((e = veilfs_dir_read(d, &name, &st)) > 0) {
			entries++;
			zero = zero && reserved_zero(&st);
			if (strcmp(name, "readme.txt") == 0)
				seen_readme = S_ISREG(st.mode) && st.size == 700;
			if (strcmp(name, "sub") == 0)
				seen_sub = S_ISDIR(st.mode);
			memset(&st, 0xa5, sizeof(st));
		}
		ok(e == 0 && entries == 2 && seen_readme && seen_sub,
		   "docs lists readme.txt (700 bytes) and sub, nothing else (%d entries, %d)", entries,
		   e);
		ok(entries > 0 && zero, "dir_read: the reserved words of every entry are zero");
		ok(veilfs_dir_skipped(d) == 0, "no entry skipped");
		e = veilfs_dir_read(d, &name, NULL);
		ok(e == 0 && name == NULL, "dir_read after the end: 0 again");
		veilfs_dir_close(d);
	}
	veilfs_file_close(f);
	ret = veilfs_close(v);
	ok(ret == 0, "veilfs_close once every handle is closed: 0 (%d)", ret);
}

/*
 * veilfs_close with a file and a directory of the volume open: the volume
 * is closed (keys wiped) at once; the handles then give -EBADF and are
 * freed by their own close (ASan's leak check sees anything left).
 */
static void test_close_with_handles(const char *vol)
{
	struct veilfs_volume *v = NULL;
	struct veilfs_file *f = NULL;
	struct veilfs_dir *d = NULL;
	struct veilfs_stat st;
	const char *name = "x";
	char buf[16];
	ssize_t n;
	int e;

	e = veilfs_open(vol, NULL, PASS, strlen(PASS), &v);
	if (!ok(e == 0 && v != NULL, "open the fixture again (%d)", e))
		return;
	e = veilfs_file_open(v, "hundred-k.bin", &f);
	ok(e == 0 && f != NULL, "file_open (%d)", e);
	e = veilfs_dir_open(v, "docs", &d);
	ok(e == 0 && d != NULL, "dir_open docs (%d)", e);
	n = f ? veilfs_file_pread(f, buf, sizeof(buf), 0) : -1;
	ok(n == (ssize_t)sizeof(buf), "a read before the close (%zd)", n);
	e = veilfs_close(v);
	ok(e == 0, "veilfs_close with a file and a directory open: 0 (%d)", e);
	if (f) {
		n = veilfs_file_pread(f, buf, sizeof(buf), 0);
		ok(n == -EBADF, "pread after the volume's close: -EBADF (%zd)", n);
		e = veilfs_file_stat(f, &st);
		ok(e == -EBADF, "file_stat after the volume's close: -EBADF (%d)", e);
	}
	if (d) {
		e = veilfs_dir_read(d, &name, &st);
		ok(e == -EBADF && name == NULL, "dir_read after the volume's close: -EBADF (%d)", e);
	}
	ok(strstr(veilfs_strerror(-EBADF), "closed") != NULL,
	   "veilfs_strerror(-EBADF) says the volume was closed");
	/* In either order; the last close frees what is left of the volume. */
	veilfs_dir_close(d);
	veilfs_file_close(f);
}

/* Copy @name from directory @from to @to, keeping at most @max bytes. 0 or -1. */
static int copy_file(const char *from, const char *to, const char *name, off_t max)
{
	char src[4096], dst[4096], buf[8192];
	int in, out, ret = 0;
	off_t done = 0;

	snprintf(src, sizeof(src), "%s/%s", from, name);
	snprintf(dst, sizeof(dst), "%s/%s", to, name);
	in = open(src, O_RDONLY);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
	while (in >= 0 && out >= 0 && done < max) {
		size_t want = (size_t)(max - done) < sizeof(buf) ? (size_t)(max - done) : sizeof(buf);
		ssize_t n = read(in, buf, want);

		if (n <= 0) {
			ret = n < 0 ? -1 : 0;
			break;
		}
		if (write(out, buf, (size_t)n) != n) {
			ret = -1;
			break;
		}
		done += n;
	}
	if (in < 0 || out < 0)
		ret = -1;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return ret;
}

/*
 * Authentication is per block: hundred-k.bin cut at a block boundary (two
 * whole blocks kept) still gives its first block to a prefix read; only a
 * read covering the end block, or veilfs_file_verify, sees the cut.
 */
static void test_verify_cut(const char *vol)
{
	/* The fixture's 4096-byte blocks, each stored with 40 bytes of nonce and tag. */
	const off_t hdr = 32, bs = 4096, cbs = 4096 + 40;
	char tmpl[] = "/tmp/veilfs-api-cut-XXXXXX";
	char name[256] = "";
	off_t csize = 0;
	struct veilfs_volume *v = NULL;
	struct veilfs_file *f = NULL;
	struct veilfs_stat st;
	struct dirent *de;
	struct stat s;
	char *buf = malloc(2 * 4096);
	char path[4096];
	ssize_t n;
	DIR *d;
	int e;

	if (!ok(buf != NULL && mkdtemp(tmpl) != NULL, "made a directory for the cut copy"))
		goto out;
	/* The cipher file of hundred-k.bin: the inode veilfs_stat reports. */
	e = veilfs_open(vol, NULL, PASS, strlen(PASS), &v);
	e = e ? e : veilfs_stat(v, "hundred-k.bin", &st);
	d = opendir(vol);
	while (e == 0 && d && (de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", vol, de->d_name);
		if (lstat(path, &s) == 0 && (uint64_t)s.st_ino == st.ino) {
			snprintf(name, sizeof(name), "%s", de->d_name);
			csize = s.st_size;
		}
	}
	if (d)
		closedir(d);
	if (!ok(e == 0 && name[0] && csize == hdr + 100000 + 25 * 40,
		"found the cipher file of hundred-k.bin, 25 blocks of 4096 (%d)", e))
		goto out;
	/* The intact file verifies. */
	e = veilfs_file_open(v, "hundred-k.bin", &f);
	e = e ? e : veilfs_file_verify(f);
	ok(e == 0, "veilfs_file_verify of the intact file: 0 (%d)", e);
	veilfs_file_close(f);
	f = NULL;
	e = veilfs_close(v);
	v = NULL;

	ok(copy_file(vol, tmpl, "veilfs.conf", 1 << 20) == 0 &&
		   copy_file(vol, tmpl, "veilfs.diriv", 1 << 20) == 0 &&
		   copy_file(vol, tmpl, name, hdr + 2 * cbs) == 0,
	   "copied the header, the root IV and the file cut after its second block");
	e = veilfs_open(tmpl, NULL, PASS, strlen(PASS), &v);
	e = e ? e : veilfs_stat(v, "hundred-k.bin", &st);
	ok(e == 0 && st.size == (uint64_t)(2 * bs), "the cut file shows 8192 bytes (%d)", e);
	e = e ? e : veilfs_file_open(v, "hundred-k.bin", &f);
	if (!ok(e == 0, "file_open of the cut file (%d)", e))
		goto out;
	n = veilfs_file_pread(f, buf, (size_t)bs, 0);
	ok(n == bs, "a prefix read (the first block) succeeds: the cut is not seen (%zd)", n);
	n = veilfs_file_pread(f, buf, (size_t)bs, (uint64_t)bs);
	ok(n == -EBADMSG, "a read covering the end block: -EBADMSG (%zd)", n);
	n = veilfs_file_pread(f, buf, 10, 0);
	ok(n == 10, "the first block still reads (%zd)", n);
	e = veilfs_file_verify(f);
	ok(e == -EBADMSG, "veilfs_file_verify of the cut file: -EBADMSG (%d)", e);
out:
	veilfs_file_close(f);
	ok(veilfs_close(v) == 0, "veilfs_close");
	if (name[0]) {
		snprintf(path, sizeof(path), "%s/%s", tmpl, name);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/veilfs.conf", tmpl);
	unlink(path);
	snprintf(path, sizeof(path), "%s/veilfs.diriv", tmpl);
	unlink(path);
	rmdir(tmpl);
	free(buf);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_api FIXTURE-VOLUME\n");
		return 2;
	}
	test_versions();
	test_stat_layout();
	test_secret();
	test_open_errors(argv[1]);
	test_read(argv[1]);
	test_close_with_handles(argv[1]);
	test_verify_cut(argv[1]);
	return tap_done();
}
