/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the unit tests (static inline: one copy per test). */
#ifndef VEILFS_TEST_UTIL_H
#define VEILFS_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/crypto.h"

/* The fast KDF profile for tests: Argon2id's minimum cost. */
#define TINY_OPS 1
#define TINY_MEM 8192

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Make a fresh temp directory; returns an O_DIRECTORY fd, path in @path. */
static inline int tmpdir_new(char path[64])
{
	snprintf(path, 64, "/tmp/veilfs-unit-XXXXXX");
	if (!mkdtemp(path))
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static inline void rm_rf_at(int dfd)
{
	DIR *d;
	struct dirent *e;
	int fd = dup(dfd);

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	rewinddir(d); /* the dup shares its offset with @dfd */
	while ((e = readdir(d))) {
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
			int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

			if (sub >= 0) {
				fchmod(sub, 0700);
				rm_rf_at(sub);
				close(sub);
			}
			unlinkat(dfd, e->d_name, AT_REMOVEDIR);
		} else {
			unlinkat(dfd, e->d_name, 0);
		}
	}
	closedir(d);
}

/* Remove the temp directory @path (and everything in it). */
static inline void tmpdir_rm(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0) {
		rm_rf_at(fd);
		close(fd);
	}
	rmdir(path);
}

/* Number of entries in @dfd (without . and ..) whose name starts with @prefix. */
static inline int count_prefix(int dfd, const char *prefix)
{
	DIR *d;
	struct dirent *e;
	int fd = dup(dfd), n = 0;

	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	rewinddir(d); /* the dup shares its offset with @dfd */
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Open file descriptors of this process (for leak checks). */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline int write_file_at(int dfd, const char *name, const void *data, size_t n)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, data, n);
	close(fd);
	return w == (ssize_t)n ? 0 : -EIO;
}

static inline long read_file_at(int dfd, const char *name, void *buf, size_t cap)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = read(fd, buf, cap);
	close(fd);
	return r < 0 ? -errno : (long)r;
}

#endif
