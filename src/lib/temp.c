/* SPDX-License-Identifier: MIT */
/* Temporary names: which are in use, which are stale, removing leftovers. */
#include "temp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "names.h"

/* A temporary directory nests at most one level (mkdir's IV file). */
#define PURGE_DEPTH_MAX 4

/* The names this process is using now. A handful at a time: one array. */
static pthread_mutex_t inuse_lock = PTHREAD_MUTEX_INITIALIZER;
static char (*inuse)[VEIL_TEMP_NAME_MAX];
static size_t ninuse, inuse_cap;

bool veil_temp_is_name(const char *name)
{
	return veil_entry_classify(name) == VEIL_ENTRY_TEMP;
}

bool veil_temp_is_stale(const struct stat *st, time_t now)
{
	/* A clock behind the writer's gives a future mtime: fresh, not stale. */
	return st->st_mtime <= now - VEIL_TEMP_STALE_SECONDS;
}

void veil_temp_new(char out[static VEIL_TEMP_NAME_MAX], const char *kind)
{
	snprintf(out, VEIL_TEMP_NAME_MAX, VEIL_TEMP_PREFIX "%.8s%08x%08x", kind,
		 veil_random_u32(), veil_random_u32());
	pthread_mutex_lock(&inuse_lock);
	if (ninuse == inuse_cap) {
		size_t cap = inuse_cap ? 2 * inuse_cap : 16;
		void *p = realloc(inuse, cap * sizeof(*inuse));

		if (p) {
			inuse = p;
			inuse_cap = cap;
		}
	}
	/*
	 * Out of memory: the name goes unrecorded. Only a removal without
	 * VEIL_TEMP_STALE_ONLY (of a directory being removed) could then take
	 * it, and the claim makes our own step fail cleanly with ENOENT.
	 */
	if (ninuse < inuse_cap)
		memcpy(inuse[ninuse++], out, VEIL_TEMP_NAME_MAX);
	pthread_mutex_unlock(&inuse_lock);
}

void veil_temp_release(const char *name)
{
	pthread_mutex_lock(&inuse_lock);
	for (size_t i = 0; i < ninuse; i++)
		if (strcmp(inuse[i], name) == 0) {
			memcpy(inuse[i], inuse[--ninuse], VEIL_TEMP_NAME_MAX);
			break;
		}
	if (ninuse == 0) {
		free(inuse);
		inuse = NULL;
		inuse_cap = 0;
	}
	pthread_mutex_unlock(&inuse_lock);
}

bool veil_temp_in_use(const char *name)
{
	bool found = false;

	pthread_mutex_lock(&inuse_lock);
	for (size_t i = 0; i < ninuse && !found; i++)
		found = strcmp(inuse[i], name) == 0;
	pthread_mutex_unlock(&inuse_lock);
	return found;
}

/*
 * Empty and remove directory @name of @pfd, which we own (claimed): only
 * its dir IV and temporary names go. Returns 0 or -errno (-ENOTEMPTY when
 * something else is inside).
 */
static int purge_dir(int pfd, const char *name, int depth)
{
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	struct stat st;
	int left = 0;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	while ((de = readdir(d))) {
		const char *n = de->d_name;

		switch (veil_entry_classify(n)) {
		case VEIL_ENTRY_DOT:
			continue;
		case VEIL_ENTRY_DIRIV:
			if (unlinkat(fd, n, 0) < 0 && errno != ENOENT)
				left++;
			continue;
		case VEIL_ENTRY_TEMP:
			if (veil_temp_in_use(n) || fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				left++;
				continue;
			}
			if (!S_ISDIR(st.st_mode)) {
				if (unlinkat(fd, n, 0) < 0 && errno != ENOENT)
					left++;
			} else if (depth >= PURGE_DEPTH_MAX || purge_dir(fd, n, depth + 1) < 0) {
				left++;
			}
			continue;
		default:
			left++; /* not ours to remove: fsck decides */
			continue;
		}
	}
	closedir(d);
	if (left)
		return -ENOTEMPTY;
	return unlinkat(pfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

int veil_temp_remove(int dfd, const char *name, unsigned int flags)
{
	char own[VEIL_TEMP_NAME_MAX];
	struct stat st;
	int ret;

	if (!veil_temp_is_name(name) || veil_temp_in_use(name))
		return -EBUSY;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if ((flags & VEIL_TEMP_STALE_ONLY) && !veil_temp_is_stale(&st, time(NULL)))
		return -EBUSY;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	/* Claim it first (see veilfs/temp.h): from here on it is ours alone. */
	veil_temp_new(own, "p");
	if (renameat2(dfd, name, dfd, own, RENAME_NOREPLACE) < 0)
		ret = errno == ENOENT ? 0 : -errno;
	else
		ret = purge_dir(dfd, own, 0);
	veil_temp_release(own);
	return ret;
}

int veil_temp_sweep(int dfd, unsigned int flags)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char (*names)[NAME_MAX + 1] = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int left = 0;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		left = -errno;
		close(fd);
		return left;
	}
	/*
	 * Collect first, remove after: a claim adds a new temporary name, which
	 * the same listing could return again.
	 */
	while ((de = readdir(d))) {
		if (!veil_temp_is_name(de->d_name))
			continue;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			void *p = realloc(names, ncap * sizeof(*names));

			if (!p) {
				left = -ENOMEM;
				break;
			}
			names = p;
			cap = ncap;
		}
		snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < n && left >= 0; i++)
		if (veil_temp_remove(dfd, names[i], flags) < 0)
			left++;
	free(names);
	return left;
}
