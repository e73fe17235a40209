/* SPDX-License-Identifier: MIT */
/*
 * fsck over a small real volume in a temp directory (on /dev/shm when it
 * exists). Each input builds, through the core API, a file of fuzzer
 * plaintext, a long-name file, a symlink whose target lives in a blob, a
 * subdirectory with its dir IV and an xattr; then the fuzzer damages the
 * file (overwrite, cut, copy, flip, an old block put back), replaces the
 * sidecar, the blob, the dir IV or the xattr value with its own bytes and
 * may plant temporaries. fsck must complete; with the repair bit, a second
 * check must find no more problems than the repair said it left.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/fsck.h"
#include "lib/volume.h"

#include "fuzz_common.h"

#define MAXP 6000

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void rm_tree(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Replace the contents of @name in @dfd with the next input bytes. */
static void replace(int dfd, const char *name, const uint8_t **p, size_t *n)
{
	size_t len = (size_t)take(p, n, 1) % 128;
	int fd;

	len = len < *n ? len : *n;
	unlinkat(dfd, name, 0);
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, *p, len) == (ssize_t)len);
	close(fd);
	*p += len;
	*n -= len;
}

static void damage_file(int fd, uint64_t csize, const uint8_t *old, size_t oldlen,
			const uint8_t **p, size_t *n)
{
	while (*n >= 5 && csize > 0) {
		uint8_t op = (uint8_t)take(p, n, 1);
		uint64_t a = take(p, n, 2) % csize, b = take(p, n, 2) % csize;
		uint8_t tmp[256];
		size_t len = (size_t)(op >> 3) % 200 + 1;

		if (op == 0xff)
			break;
		if (a + len > csize)
			len = (size_t)(csize - a);
		switch (op & 7) {
		case 0:
			len = len < *n ? len : *n;
			CHECK(pwrite(fd, *p, len, (off_t)a) == (ssize_t)len);
			*p += len;
			*n -= len;
			break;
		case 1:
			CHECK(ftruncate(fd, (off_t)a) == 0);
			csize = a;
			break;
		case 2:
			if (b + len > csize)
				len = (size_t)(csize - b);
			CHECK(pread(fd, tmp, len, (off_t)b) == (ssize_t)len);
			CHECK(pwrite(fd, tmp, len, (off_t)a) == (ssize_t)len);
			break;
		case 3:
			CHECK(pread(fd, tmp, 1, (off_t)a) == 1);
			tmp[0] ^= (uint8_t)(1 << (op >> 5));
			CHECK(pwrite(fd, tmp, 1, (off_t)a) == 1);
			break;
		case 4: /* put back bytes of the file's earlier, shorter state */
			if (oldlen > 32) {
				size_t o = 32 + (size_t)(b % (oldlen - 32));
				size_t l = oldlen - o < 1064 ? oldlen - o : 1064;

				CHECK(pwrite(fd, old + o, l, (off_t)o) == (ssize_t)l);
			}
			break;
		default:
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct veil_keys *k = fuzz_keys();
	struct veil_volume v = { .dirfd = -1, .conf_dirfd = -1 };
	struct veil_fsck_opts o = { 0 };
	struct veil_fsck_stats s1, s2, s3;
	char dir[] = "/dev/shm/veilfs-fuzz-fsck.XXXXXX", *tmpl = dir;
	uint8_t iv[VEIL_DIRIV_BYTES], siv[VEIL_DIRIV_BYTES], *plain, *old = NULL;
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1], lname[201];
	const uint8_t *p = data;
	size_t n = size, plen, oldlen = 0;
	struct veil_fstate st = { 0 };
	uint8_t mode;
	int fd, sub;

	if (size < 3)
		return 0;
	mode = (uint8_t)take(&p, &n, 1);
	if (access("/dev/shm", W_OK) != 0)
		snprintf(dir, sizeof(dir), "/tmp/veilfs-fuzz-fsck.XXXXXX");
	CHECK(mkdtemp(tmpl));
	v.dirfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(v.dirfd >= 0);
	v.keys = (struct veil_keys *)k;
	v.cc.keys = k;
	v.cc.bs = 1024;
	memset(iv, 0x5a, sizeof(iv));
	CHECK(veil_diriv_write(v.dirfd, iv) == 0);

	/* A file of fuzzer plaintext: first a shorter state, then the whole. */
	plen = (size_t)take(&p, &n, 2) % (n + 1);
	plen = plen < MAXP ? plen : MAXP;
	plain = malloc(plen + 1);
	memcpy(plain, p, plen);
	p += plen;
	n -= plen;
	CHECK(veil_name_to_backing(&v, iv, "f", enc, backing) == 0);
	fd = openat(v.dirfd, backing, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	if (plen > 1024 && (mode & 0x80)) {
		struct stat sb;

		CHECK(veil_file_write(&v.cc, fd, &st, plain, 1024, 0) == 1024);
		CHECK(fstat(fd, &sb) == 0);
		oldlen = (size_t)sb.st_size;
		old = malloc(oldlen);
		CHECK(pread(fd, old, oldlen, 0) == (ssize_t)oldlen);
	}
	CHECK(veil_file_write(&v.cc, fd, &st, plain, plen, 0) == (ssize_t)plen);
	{
		char cname[256];
		uint8_t val[64] = "value";
		uint8_t cval[64 + 40];
		char proc[64];

		CHECK(veil_xattr_name_encrypt(k, "user.x", cname) > 0);
		veil_xattr_value_encrypt(k, cname, val, 5, cval);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (mode & 0x08) {
			size_t l = (size_t)take(&p, &n, 1) % 60;

			l = l < n ? l : n;
			memcpy(cval, p, l);
			p += l;
			n -= l;
			(void)!setxattr(proc, cname, cval, l, 0);
		} else {
			(void)!setxattr(proc, cname, cval, 45, 0);
		}
	}
	damage_file(fd, veil_content_cipher_size(plen, 1024), old, oldlen, &p, &n);
	close(fd);

	/* A long name, its sidecar possibly replaced. */
	memset(lname, 'x', 200);
	lname[200] = '\0';
	CHECK(veil_name_to_backing(&v, iv, lname, enc, backing) == 1);
	fd = openat(v.dirfd, backing, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(veil_longname_store(v.dirfd, backing, enc) == 0);
	if (mode & 0x01) {
		char side[VEIL_ENCNAME_MAX + 8];

		snprintf(side, sizeof(side), "%s%s", backing, VEIL_LONGNAME_SUFFIX);
		replace(v.dirfd, side, &p, &n);
	}

	/* A symlink whose target is in a blob, the blob possibly replaced. */
	{
		char target[3500];
		char link[256];

		memset(target, 't', sizeof(target) - 1);
		target[sizeof(target) - 1] = '\0';
		CHECK(veil_name_to_backing(&v, iv, "s", enc, backing) == 0);
		CHECK(veil_symlink_at(&v, target, v.dirfd, backing) == 0);
		if (mode & 0x02) {
			ssize_t l = readlinkat(v.dirfd, backing, link, sizeof(link) - 1);

			CHECK(l > 0);
			link[l] = '\0';
			replace(v.dirfd, link, &p, &n);
		}
	}

	/* A subdirectory, its dir IV possibly replaced. */
	CHECK(veil_name_to_backing(&v, iv, "d", enc, backing) == 0);
	CHECK(veil_mkdir_diriv(v.dirfd, backing, 0700, siv) == 0);
	sub = openat(v.dirfd, backing, O_RDONLY | O_DIRECTORY);
	CHECK(sub >= 0);
	CHECK(veil_name_to_backing(&v, siv, "inner", enc, backing) == 0);
	fd = openat(sub, backing, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	close(fd);
	if (mode & 0x04)
		replace(sub, VEIL_DIRIV_NAME, &p, &n);
	if (mode & 0x20) {
		fd = openat(sub, VEIL_TEMP_PREFIX "0123456789abcdef", O_WRONLY | O_CREAT, 0600);
		CHECK(fd >= 0);
		close(fd);
	}
	close(sub);

	CHECK(veil_fsck_run(&v, &o, &s1) == 0);
	CHECK(s1.uncorrected == s1.problems);
	if (mode & 0x40) {
		o.repair = true;
		CHECK(veil_fsck_run(&v, &o, &s2) == 0);
		CHECK(s2.corrected + s2.uncorrected == s2.problems);
		o.repair = false;
		CHECK(veil_fsck_run(&v, &o, &s3) == 0);
		if (s3.problems > s2.uncorrected) {
			fprintf(stderr, "after repair: %llu problems, %llu were left\n",
				(unsigned long long)s3.problems, (unsigned long long)s2.uncorrected);
			CHECK(s3.problems <= s2.uncorrected);
		}
	}
	close(v.dirfd);
	rm_tree(tmpl);
	if (plen)
		veil_wipe(plain, plen);
	free(plain);
	free(old);
	return 0;
}
