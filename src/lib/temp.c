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
#include "safe.h"

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

int veil_temp_wipe_unlink(int dfd, const char *name, const struct stat *keep)
{
	uint8_t junk[4096];
	struct stat st, wst;
	int rfd, fd;

	rfd = veil_open_regular(dfd, name, O_RDONLY | O_NONBLOCK, &st);
	if (rfd < 0)
		goto unlink;
	if (keep && st.st_ino == keep->st_ino && st.st_dev == keep->st_dev)
		goto close;
	/* An old header is mode 0400: its owner may make it writable again. */
	if (fchmod(rfd, 0600) < 0)
		goto close;
	/* Whoever can write @dfd may swap @name meanwhile: same inode only. */
	fd = veil_open_regular(dfd, name, O_WRONLY, &wst);
	if (fd < 0)
		goto close;
	if (wst.st_ino == st.st_ino && wst.st_dev == st.st_dev) {
		for (off_t off = 0; off < st.st_size; off += (off_t)sizeof(junk)) {
			size_t n = (size_t)(st.st_size - off) < sizeof(junk)
					   ? (size_t)(st.st_size - off)
					   : sizeof(junk);

			veil_random(junk, n);
			if (pwrite(fd, junk, n, off) != (ssize_t)n)
				break;
		}
		(void)!fsync(fd);
	}
	close(fd);
close:
	close(rfd);
unlink:
	return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

/*
 * Old header leftover @name (lstat @st) of @dfd: overwrite and unlink it,
 * unless it is still linked under a non-temporary name of @dfd. That is
 * the live header itself, which a crash between the link and the switch
 * leaves under both names: then it is only unlinked.
 */
static int remove_old_header(int dfd, const char *name, const struct stat *st)
{
	struct stat live, *keep = NULL;
	struct dirent *de;
	DIR *d = NULL;
	int fd;

	if (S_ISREG(st->st_mode) && st->st_nlink > 1) {
		fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		d = fd >= 0 ? fdopendir(fd) : NULL;
		if (!d) {
			if (fd >= 0)
				close(fd);
			/* Cannot tell: never risk overwriting a live header. */
			return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
		}
		while (!keep && (de = readdir(d)))
			if (veil_entry_classify(de->d_name) != VEIL_ENTRY_TEMP &&
			    veil_entry_classify(de->d_name) != VEIL_ENTRY_DOT &&
			    fstatat(dfd, de->d_name, &live, AT_SYMLINK_NOFOLLOW) == 0 &&
			    live.st_ino == st->st_ino && live.st_dev == st->st_dev)
				keep = &live;
		closedir(d);
	}
	return veil_temp_wipe_unlink(dfd, name, keep);
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
	if ((flags & VEIL_TEMP_CONF_STALE_ONLY) &&
	    strncmp(name, VEIL_TEMP_CONF_PREFIX, strlen(VEIL_TEMP_CONF_PREFIX)) == 0 &&
	    !veil_temp_is_stale(&st, time(NULL)))
		return -EBUSY;
	if (strncmp(name, VEIL_TEMP_CONFOLD_PREFIX, strlen(VEIL_TEMP_CONFOLD_PREFIX)) == 0 &&
	    !S_ISDIR(st.st_mode))
		return remove_old_header(dfd, name, &st);
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
