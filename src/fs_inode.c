/* SPDX-License-Identifier: MIT */
/* The inode table of the FUSE front end and logging. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_priv.h"

static bool log_foreground = true;

void veil_log_init(bool foreground)
{
	log_foreground = foreground;
	if (!foreground)
		openlog("veilfs", LOG_PID, LOG_DAEMON);
}

void veil_log(int prio, const char *fmt, ...)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	static time_t window;
	static int in_window;
	va_list ap;
	time_t now = time(NULL);

	/* At most 20 lines a second: a damaged volume must not flood the log. */
	pthread_mutex_lock(&m);
	if (now != window) {
		if (in_window > 20) {
			if (log_foreground)
				fprintf(stderr, "veilfs: %d more messages suppressed\n",
					in_window - 20);
			else
				syslog(LOG_WARNING, "%d more messages suppressed", in_window - 20);
		}
		window = now;
		in_window = 0;
	}
	if (++in_window > 20) {
		pthread_mutex_unlock(&m);
		return;
	}
	va_start(ap, fmt);
	if (log_foreground) {
		fputs("veilfs: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
	pthread_mutex_unlock(&m);
}

static size_t bucket(const struct veil_fs *fs, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev;

	return (size_t)(h % fs->nbuckets);
}

static void vnode_init(struct vnode *vn, int fd, const struct stat *st)
{
	memset(vn, 0, sizeof(*vn));
	vn->fd = fd;
	vn->dev = st->st_dev;
	vn->ino = st->st_ino;
	vn->type = st->st_mode & S_IFMT;
	pthread_rwlock_init(&vn->io, NULL);
	pthread_mutex_init(&vn->lock, NULL);
}

int veil_fs_init(struct veil_fs *fs, struct veil_volume *v, bool readonly)
{
	struct stat st;
	int fd;

	memset(fs, 0, sizeof(*fs));
	fs->v = v;
	fs->readonly = readonly;
	fs->timeout = 1.0;
	fs->is_root = geteuid() == 0;
	pthread_mutex_init(&fs->mutex, NULL);
	fs->nbuckets = 4096;
	fs->buckets = calloc(fs->nbuckets, sizeof(*fs->buckets));
	if (!fs->buckets)
		return -ENOMEM;
	fd = openat(v->dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	vnode_init(&fs->root, fd, &st);
	fs->root.nlookup = 2;
	fs->root.path = strdup("");
	fs->proc_self_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->proc_self_fd < 0)
		return -errno;
	return 0;
}

static void vnode_free(struct vnode *vn)
{
	close(vn->fd);
	pthread_rwlock_destroy(&vn->io);
	pthread_mutex_destroy(&vn->lock);
	veil_wipe(&vn->fst, sizeof(vn->fst));
	free(vn->path);
	free(vn);
}

void veil_fs_destroy(struct veil_fs *fs)
{
	for (size_t i = 0; i < fs->nbuckets; i++) {
		struct vnode *vn = fs->buckets[i];

		while (vn) {
			struct vnode *next = vn->next;

			vnode_free(vn);
			vn = next;
		}
	}
	free(fs->buckets);
	close(fs->root.fd);
	free(fs->root.path);
	if (fs->proc_self_fd >= 0)
		close(fs->proc_self_fd);
}

struct veil_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

struct vnode *vnode_of(fuse_req_t req, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs_of(req)->root;
	return (struct vnode *)(uintptr_t)ino;
}

struct vnode *vnode_get(struct veil_fs *fs, int fd, const struct stat *st, int *err)
{
	struct vnode *vn;
	size_t b;

	*err = 0;
	if (st->st_dev == fs->root.dev && st->st_ino == fs->root.ino) {
		close(fd);
		pthread_mutex_lock(&fs->mutex);
		fs->root.nlookup++;
		pthread_mutex_unlock(&fs->mutex);
		return &fs->root;
	}
	pthread_mutex_lock(&fs->mutex);
	b = bucket(fs, st->st_dev, st->st_ino);
	for (vn = fs->buckets[b]; vn; vn = vn->next)
		if (vn->dev == st->st_dev && vn->ino == st->st_ino)
			break;
	if (vn) {
		vn->nlookup++;
		pthread_mutex_unlock(&fs->mutex);
		close(fd);
		return vn;
	}
	vn = malloc(sizeof(*vn));
	if (!vn) {
		pthread_mutex_unlock(&fs->mutex);
		close(fd);
		*err = ENOMEM;
		return NULL;
	}
	vnode_init(vn, fd, st);
	vn->nlookup = 1;
	vn->next = fs->buckets[b];
	fs->buckets[b] = vn;
	fs->count++;
	pthread_mutex_unlock(&fs->mutex);
	return vn;
}

void vnode_forget(struct veil_fs *fs, struct vnode *vn, uint64_t n)
{
	struct vnode **pp;

	pthread_mutex_lock(&fs->mutex);
	if (vn == &fs->root) {
		vn->nlookup -= n < vn->nlookup ? n : vn->nlookup;
		pthread_mutex_unlock(&fs->mutex);
		return;
	}
	if (n > vn->nlookup)
		n = vn->nlookup;
	vn->nlookup -= n;
	if (vn->nlookup) {
		pthread_mutex_unlock(&fs->mutex);
		return;
	}
	for (pp = &fs->buckets[bucket(fs, vn->dev, vn->ino)]; *pp; pp = &(*pp)->next)
		if (*pp == vn) {
			*pp = vn->next;
			break;
		}
	fs->count--;
	pthread_mutex_unlock(&fs->mutex);
	vnode_free(vn);
}

void vnode_set_path(struct vnode *vn, const struct vnode *parent, const char *name)
{
	char *p = NULL;

	pthread_mutex_lock((pthread_mutex_t *)&parent->lock);
	if (asprintf(&p, "%s/%s", parent->path ? parent->path : "?", name) < 0)
		p = NULL;
	pthread_mutex_unlock((pthread_mutex_t *)&parent->lock);
	if (!p)
		return;
	pthread_mutex_lock(&vn->lock);
	free(vn->path);
	vn->path = p;
	pthread_mutex_unlock(&vn->lock);
}

int vnode_iv(struct vnode *vn, uint8_t iv[static VEIL_DIRIV_BYTES])
{
	int ret = 0;

	pthread_mutex_lock(&vn->lock);
	if (!vn->iv_valid) {
		ret = veil_diriv_read(vn->fd, vn->iv);
		if (ret == 0)
			vn->iv_valid = true;
		else
			veil_log(LOG_ERR, "directory %s: cannot read its directory IV: %s",
				 vn->path && vn->path[0] ? vn->path : "/",
				 ret == -EBADMSG ? "malformed" : strerror(-ret));
	}
	if (ret == 0)
		memcpy(iv, vn->iv, VEIL_DIRIV_BYTES);
	pthread_mutex_unlock(&vn->lock);
	return ret == 0 ? 0 : -EIO;
}

void vnode_proc_path(const struct vnode *vn, char buf[static 64])
{
	snprintf(buf, 64, "/proc/self/fd/%d", vn->fd);
}

int vnode_open(struct veil_fs *fs, struct vnode *vn, int flags)
{
	char name[32];
	int fd;

	(void)fs;
	snprintf(name, sizeof(name), "/proc/self/fd/%d", vn->fd);
	fd = open(name, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}
