/* SPDX-License-Identifier: MIT */
/* The inode table of the FUSE front end and logging. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
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

/* veil_log()'s rate limit: lines in the current second, under log_mutex. */
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static time_t log_window;
static int log_in_window;

bool veil_log_wanted(void)
{
	bool full;

	pthread_mutex_lock(&log_mutex);
	full = log_window == time(NULL) && log_in_window >= 20;
	pthread_mutex_unlock(&log_mutex);
	return !full;
}

void veil_log(int prio, const char *fmt, ...)
{
	char msg[2048], esc[4 * sizeof(msg)];
	va_list ap;
	time_t now = time(NULL);

	/* At most 20 lines a second: a damaged volume must not flood the log. */
	pthread_mutex_lock(&log_mutex);
	if (now != log_window) {
		if (log_in_window > 20) {
			if (log_foreground)
				fprintf(stderr, "veilfs: %d more messages suppressed\n",
					log_in_window - 20);
			else
				syslog(LOG_WARNING, "%d more messages suppressed",
				       log_in_window - 20);
		}
		log_window = now;
		log_in_window = 0;
	}
	if (++log_in_window > 20) {
		pthread_mutex_unlock(&log_mutex);
		return;
	}
	pthread_mutex_unlock(&log_mutex);
	/* Names and paths may come from an attacker: the whole line is escaped. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	veil_escape(esc, sizeof(esc), msg);
	if (log_foreground)
		fprintf(stderr, "veilfs: %s\n", esc);
	else
		syslog(prio, "%s", esc);
}

void veil_log_raw(int prio, const char *line)
{
	if (log_foreground)
		fprintf(stderr, "veilfs: %s\n", line);
	else
		syslog(prio, "%s", line);
}

/*
 * The table of vnodes by backing (dev, ino). Its size is a power of two,
 * doubled when it holds more vnodes than buckets (chains stay short at a
 * million vnodes: a fixed 4096 buckets made every lookup walk chains of
 * hundreds) and halved, when the session is idle, once it holds fewer than
 * an eighth.
 */
#define MIN_BUCKETS 4096
/* Vnodes freed since memory was last given back to the system (see veil_fs_idle()). */
#define TRIM_AFTER 4096

static size_t bucket_in(size_t nbuckets, uint32_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino ^ (uint64_t)dev << 40) * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 32) & (nbuckets - 1);
}

static size_t bucket(const struct veil_fs *fs, uint32_t dev, ino_t ino)
{
	return bucket_in(fs->nbuckets, dev, ino);
}

/* Rehash into @n buckets (fs->mutex held); on ENOMEM keep the old table. */
static void rehash(struct veil_fs *fs, size_t n)
{
	struct vnode **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return;
	for (size_t i = 0; i < fs->nbuckets; i++) {
		struct vnode *vn = fs->buckets[i];

		while (vn) {
			struct vnode *next = vn->next;
			size_t b = bucket_in(n, vn->dev, vn->ino);

			vn->next = nb[b];
			nb[b] = vn;
			vn = next;
		}
	}
	free(fs->buckets);
	fs->buckets = nb;
	fs->nbuckets = n;
}

void veil_fs_idle(struct veil_fs *fs)
{
	bool trim;

	pthread_mutex_lock(&fs->mutex);
	if (fs->nbuckets > MIN_BUCKETS && fs->count < fs->nbuckets / 8) {
		size_t n = fs->nbuckets;

		while (n > MIN_BUCKETS && fs->count < n / 8)
			n /= 2;
		rehash(fs, n);
	}
	trim = fs->freed >= TRIM_AFTER;
	if (trim)
		fs->freed = 0;
	pthread_mutex_unlock(&fs->mutex);
	/*
	 * The kernel forgot many inodes (memory pressure, drop_caches): their
	 * vnodes are free, but malloc keeps the pages of a heap it did not
	 * shrink from the top. Give them back.
	 */
	if (trim)
		malloc_trim(0);
}

static void lru_unlink(struct veil_fs *fs, struct vnode *vn);

static void vnode_init(struct vnode *vn, int fd, const struct stat *st)
{
	memset(vn, 0, sizeof(*vn));
	vn->fd = fd;
	vn->dev = (uint32_t)st->st_dev;
	vn->ino = st->st_ino;
	vn->type = (uint16_t)(st->st_mode & S_IFMT);
	atomic_init(&vn->content, NULL);
}

/* Is @vn the vnode of backing object @st? */
static bool same_object(const struct vnode *vn, const struct stat *st)
{
	return vn->ino == st->st_ino && vn->dev == (uint32_t)st->st_dev &&
	       (uint64_t)st->st_dev == vn->dev && vn->type == (st->st_mode & S_IFMT);
}

/*
 * The vnode of backing object @st in bucket @b, or NULL (fs->mutex held).
 * A vnode of the same (dev, ino) but another type belonged to an object
 * that is gone: nothing pinned its inode (a vnode without an fd) and the
 * number went to the new object. It is made stale: no lookup finds it
 * again (it stays on its hash chain only so that FORGET and the end of the
 * session find and free it), and vnode_fd_get() answers -ESTALE for it.
 */
static struct vnode *lookup_hashed(struct veil_fs *fs, size_t b, const struct stat *st)
{
	for (struct vnode *vn = fs->buckets[b]; vn; vn = vn->next) {
		if (vn->stale || vn->ino != st->st_ino || vn->dev != (uint32_t)st->st_dev)
			continue;
		if (same_object(vn, st))
			return vn;
		vn->stale = true;
		lru_unlink(fs, vn);
	}
	return NULL;
}

pthread_mutex_t *vnode_lock(struct veil_fs *fs, const struct vnode *vn)
{
	uintptr_t a = (uintptr_t)vn;

	/* Vnodes are at least 16 bytes apart: mix the higher bits in. */
	return &fs->vlocks[(a >> 4 ^ a >> 12) & (VN_LOCKS - 1)];
}

int veil_fs_init(struct veil_fs *fs, struct veil_volume *v, bool readonly, size_t fd_cache)
{
	struct stat st;
	int fd;

	memset(fs, 0, sizeof(*fs));
	fs->v = v;
	fs->readonly = readonly;
	fs->timeout = 1.0;
	fs->is_root = geteuid() == 0;
	fs->fd_cache = fd_cache < 16 ? 16 : fd_cache;
	pthread_mutex_init(&fs->mutex, NULL);
	veil_handles_init(&fs->handles);
	for (size_t i = 0; i < VN_LOCKS; i++)
		pthread_mutex_init(&fs->vlocks[i], NULL);
	fs->nbuckets = MIN_BUCKETS;
	fs->buckets = calloc(fs->nbuckets, sizeof(*fs->buckets));
	if (!fs->buckets)
		return -ENOMEM;
	fd = openat(v->dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	vnode_init(&fs->root, fd, &st);
	fs->root.nlookup = 2;
	fs->root.pinned = true;
	return 0;
}

/* Only vnodes that can be reopened by name sit on the LRU list. */
static bool evictable(const struct vnode *vn)
{
	return vn->type != S_IFDIR && !vn->pinned && !vn->stale && vn->parent && vn->bname;
}

static void lru_unlink(struct veil_fs *fs, struct vnode *vn)
{
	if (!vn->lru_prev && fs->lru_head != vn)
		return; /* not on the list */
	if (vn->lru_prev)
		vn->lru_prev->lru_next = vn->lru_next;
	else
		fs->lru_head = vn->lru_next;
	if (vn->lru_next)
		vn->lru_next->lru_prev = vn->lru_prev;
	else
		fs->lru_tail = vn->lru_prev;
	vn->lru_prev = vn->lru_next = NULL;
}

static void lru_push(struct veil_fs *fs, struct vnode *vn)
{
	lru_unlink(fs, vn);
	if (vn->fd < 0 || !evictable(vn))
		return;
	vn->lru_next = fs->lru_head;
	if (fs->lru_head)
		fs->lru_head->lru_prev = vn;
	fs->lru_head = vn;
	if (!fs->lru_tail)
		fs->lru_tail = vn;
}

/* Close the least recently used fds beyond the cache size (fs->mutex held). */
static void evict(struct veil_fs *fs, size_t keep)
{
	struct vnode *vn = fs->lru_tail;

	while (vn && fs->open_fds > keep) {
		struct vnode *prev = vn->lru_prev;

		if (vn->uses == 0) {
			lru_unlink(fs, vn);
			close(vn->fd);
			vn->fd = -1;
			fs->open_fds--;
		}
		vn = prev;
	}
}

static void vnode_free(struct veil_fs *fs, struct vnode *vn);

/* Drop a reference a child held on @vn (fs->mutex held). */
static void unref_parent(struct veil_fs *fs, struct vnode *vn)
{
	while (vn && vn != &fs->root) {
		struct vnode *up = vn->parent;
		struct vnode **pp;

		if (--vn->refs || vn->nlookup)
			return;
		for (pp = &fs->buckets[bucket(fs, vn->dev, vn->ino)]; *pp; pp = &(*pp)->next)
			if (*pp == vn) {
				*pp = vn->next;
				break;
			}
		fs->count--;
		vn->parent = NULL;
		vnode_free(fs, vn);
		vn = up;
	}
}

/*
 * Whether a directory has a second dir IV takes a scan of all of it
 * (learn_alt() in fs_ops.c): a directory of thousands of entries whose
 * vnode the kernel forgot and looked up again (memory pressure,
 * drop_caches) would be scanned again on its next failed lookup, a cost
 * that grows with the directory. A freed directory vnode that knew the
 * answer leaves a note of it with the directory's stamp (times, size,
 * links, blocks); a new vnode of that directory takes the answer over if
 * the stamp is still the same, that is, if nothing was added since: what
 * it would know had it not been freed. Direct-mapped, DIRNOTES entries;
 * only "none" is noted (a directory with one is scanned again, which is
 * only slower).
 *
 * A stamp shows a change only if the change gets other times than the
 * noted ones. A store that keeps whole seconds or coarser (FAT: 2 s, some
 * network and FUSE stores) can add a second dir IV in the same tick, with
 * size and links unchanged, and local stores stamp changes with a clock
 * tick of some milliseconds. So a note is left only when the directory's
 * times have a sub-second part (neither is a whole second: a store with
 * fine times) and are both at least a second older than the daemon's
 * clock (no change can still come in their tick). Otherwise the new vnode
 * scans, as it would without notes: directories changed in the last
 * second, or on a coarse store, pay the scan; long-unchanged ones, the
 * case the notes are for, do not.
 */
#define DIRNOTES 4096

struct dirnote {
	ino_t ino;
	uint64_t stamp;
	uint32_t dev;
	bool used;
};

static uint64_t dir_stamp(const struct stat *st)
{
	uint64_t v[7] = { (uint64_t)st->st_ctim.tv_sec, (uint64_t)st->st_ctim.tv_nsec,
			  (uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec,
			  (uint64_t)st->st_size,	(uint64_t)st->st_nlink,
			  (uint64_t)st->st_blocks };
	uint64_t h = 0x243f6a8885a308d3ULL;

	for (size_t i = 0; i < 7; i++)
		h = (h ^ v[i]) * 0x9e3779b97f4a7c15ULL + (h >> 29);
	return h;
}

/* Can @st's stamp show every later change (see above)? */
static bool stamp_settled(const struct stat *st)
{
	struct timespec now;

	if (st->st_ctim.tv_nsec == 0 && st->st_mtim.tv_nsec == 0)
		return false; /* whole seconds: a store with coarse times */
	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return false;
	/* Seconds 2 apart: at least one second of age. */
	return now.tv_sec - st->st_ctim.tv_sec >= 2 && now.tv_sec - st->st_mtim.tv_sec >= 2;
}

static struct dirnote *dirnote_at(struct veil_fs *fs, uint32_t dev, ino_t ino)
{
	return &fs->dirnotes[bucket_in(DIRNOTES, dev, ino)];
}

/* @vn, a directory, is being freed (fs->mutex held). */
static void dirnote_leave(struct veil_fs *fs, struct vnode *vn)
{
	struct dirnote *n;
	struct stat st;
	bool none;

	pthread_mutex_lock(vnode_lock(fs, vn));
	none = vn->alt == VN_ALT_NONE;
	pthread_mutex_unlock(vnode_lock(fs, vn));
	if (!none || vn->fd < 0 || fstat(vn->fd, &st) < 0 || !stamp_settled(&st))
		return;
	if (!fs->dirnotes)
		fs->dirnotes = calloc(DIRNOTES, sizeof(*fs->dirnotes));
	if (!fs->dirnotes)
		return;
	n = dirnote_at(fs, vn->dev, vn->ino);
	n->ino = vn->ino;
	n->dev = vn->dev;
	n->stamp = dir_stamp(&st);
	n->used = true;
}

/* New vnode @vn of directory @st (fs->mutex held, @vn not yet shared). */
static void dirnote_take(struct veil_fs *fs, struct vnode *vn, const struct stat *st)
{
	struct dirnote *n;

	if (!fs->dirnotes)
		return;
	n = dirnote_at(fs, vn->dev, vn->ino);
	if (n->used && n->ino == vn->ino && n->dev == vn->dev) {
		if (n->stamp == dir_stamp(st))
			vn->alt = VN_ALT_NONE;
		n->used = false;
	}
}

static void vnode_free(struct veil_fs *fs, struct vnode *vn)
{
	if (vn->type == S_IFDIR)
		dirnote_leave(fs, vn);
	lru_unlink(fs, vn);
	if (vn->fd >= 0) {
		close(vn->fd);
		if (vn->type != S_IFDIR)
			fs->open_fds--;
	}
	{
		struct vcontent *c = atomic_load_explicit(&vn->content, memory_order_relaxed);

		if (c) {
			pthread_rwlock_destroy(&c->io);
			veil_wipe(&c->fst, sizeof(c->fst));
			free(c);
		}
	}
	free(vn->bname);
	free(vn);
	fs->freed++;
}

void veil_fs_destroy(struct veil_fs *fs)
{
	veil_handles_destroy(&fs->handles);
	for (size_t i = 0; i < fs->nbuckets; i++) {
		struct vnode *vn = fs->buckets[i];

		while (vn) {
			struct vnode *next = vn->next;

			vn->parent = NULL; /* everything goes: no reference walking */
			vnode_free(fs, vn);
			vn = next;
		}
	}
	free(fs->buckets);
	free(fs->dirnotes);
	close(fs->root.fd);
	for (size_t i = 0; i < VN_LOCKS; i++)
		pthread_mutex_destroy(&fs->vlocks[i]);
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
	if (same_object(&fs->root, st)) {
		close(fd);
		pthread_mutex_lock(&fs->mutex);
		fs->root.nlookup++;
		pthread_mutex_unlock(&fs->mutex);
		return &fs->root;
	}
	pthread_mutex_lock(&fs->mutex);
	b = bucket(fs, (uint32_t)st->st_dev, st->st_ino);
	vn = lookup_hashed(fs, b, st);
	if (vn) {
		vn->nlookup++;
		if (vn->fd < 0) {
			/* Evicted earlier: adopt the fd the caller just opened. */
			vn->fd = fd;
			fs->open_fds++;
			lru_push(fs, vn);
			evict(fs, fs->fd_cache);
		} else {
			close(fd);
		}
		pthread_mutex_unlock(&fs->mutex);
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
	if (vn->type == S_IFDIR)
		dirnote_take(fs, vn, st);
	vn->next = fs->buckets[b];
	fs->buckets[b] = vn;
	fs->count++;
	if (fs->count > fs->nbuckets)
		rehash(fs, fs->nbuckets * 2);
	if (vn->type != S_IFDIR)
		fs->open_fds++;
	pthread_mutex_unlock(&fs->mutex);
	return vn;
}

struct vnode *vnode_get_named(struct veil_fs *fs, struct vnode *dir, const char *bname,
			      const struct stat *st, bool *fresh, int *err)
{
	struct vnode *vn;
	size_t b;

	*err = 0;
	*fresh = false;
	pthread_mutex_lock(&fs->mutex);
	if (same_object(&fs->root, st)) {
		fs->root.nlookup++;
		pthread_mutex_unlock(&fs->mutex);
		return &fs->root;
	}
	b = bucket(fs, (uint32_t)st->st_dev, st->st_ino);
	vn = lookup_hashed(fs, b, st);
	if (vn) {
		vn->nlookup++;
		pthread_mutex_unlock(&fs->mutex);
		return vn;
	}
	if ((st->st_mode & S_IFMT) == S_IFDIR || dir->type != S_IFDIR) {
		pthread_mutex_unlock(&fs->mutex);
		*err = EINVAL; /* directories keep an fd: vnode_get() */
		return NULL;
	}
	vn = malloc(sizeof(*vn));
	if (vn) {
		vnode_init(vn, -1, st);
		vn->bname = strdup(bname);
	}
	if (!vn || !vn->bname) {
		pthread_mutex_unlock(&fs->mutex);
		free(vn);
		*err = ENOMEM;
		return NULL;
	}
	vn->nlookup = 1;
	vn->parent = dir;
	dir->refs++;
	vn->next = fs->buckets[b];
	fs->buckets[b] = vn;
	fs->count++;
	if (fs->count > fs->nbuckets)
		rehash(fs, fs->nbuckets * 2);
	pthread_mutex_unlock(&fs->mutex);
	*fresh = true;
	return vn;
}

void vnode_forget(struct veil_fs *fs, struct vnode *vn, uint64_t n)
{
	struct vnode **pp;
	struct vnode *up;

	pthread_mutex_lock(&fs->mutex);
	if (vn == &fs->root) {
		vn->nlookup -= n < vn->nlookup ? n : vn->nlookup;
		pthread_mutex_unlock(&fs->mutex);
		return;
	}
	if (n > vn->nlookup)
		n = vn->nlookup;
	vn->nlookup -= n;
	if (vn->nlookup || vn->refs) {
		pthread_mutex_unlock(&fs->mutex);
		return;
	}
	for (pp = &fs->buckets[bucket(fs, vn->dev, vn->ino)]; *pp; pp = &(*pp)->next)
		if (*pp == vn) {
			*pp = vn->next;
			break;
		}
	fs->count--;
	up = vn->parent;
	vn->parent = NULL;
	vnode_free(fs, vn);
	if (up)
		unref_parent(fs, up);
	pthread_mutex_unlock(&fs->mutex);
}

void vnode_set_name(struct veil_fs *fs, struct vnode *vn, struct vnode *dir, const char *bname)
{
	char *copy;

	if (vn == &fs->root || vn->type == S_IFDIR)
		return; /* directories keep their fd: no name needed */
	pthread_mutex_lock(&fs->mutex);
	if (vn->parent == dir && vn->bname && strcmp(vn->bname, bname) == 0) {
		lru_push(fs, vn); /* known by this name already (a listing again) */
		pthread_mutex_unlock(&fs->mutex);
		return;
	}
	pthread_mutex_unlock(&fs->mutex);
	copy = strdup(bname);
	pthread_mutex_lock(&fs->mutex);
	if (copy) {
		struct vnode *old = vn->parent;

		free(vn->bname);
		vn->bname = copy;
		copy = NULL;
		if (dir != old) {
			dir->refs++;
			vn->parent = dir;
			if (old)
				unref_parent(fs, old);
		}
		lru_push(fs, vn);
		evict(fs, fs->fd_cache);
	}
	pthread_mutex_unlock(&fs->mutex);
	free(copy);
}

/* Reopen an evicted vnode by name; -ESTALE if the name now holds something else. */
static int reopen(struct vnode *vn)
{
	struct stat st;
	int fd = openat(vn->parent->fd, vn->bname, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? -ESTALE : -errno;
	if (fstat(fd, &st) < 0 || !same_object(vn, &st)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int vnode_fd_get(struct veil_fs *fs, struct vnode *vn)
{
	int fd;

	pthread_mutex_lock(&fs->mutex);
	if (vn->stale) {
		pthread_mutex_unlock(&fs->mutex);
		return -ESTALE;
	}
	if (vn->fd < 0) {
		fd = vn->parent && vn->bname ? reopen(vn) : -ESTALE;
		if (fd == -EMFILE || fd == -ENFILE) {
			evict(fs, fs->open_fds / 2);
			fd = reopen(vn);
		}
		if (fd < 0) {
			pthread_mutex_unlock(&fs->mutex);
			return fd;
		}
		vn->fd = fd;
		fs->open_fds++;
	}
	vn->uses++;
	lru_push(fs, vn);
	evict(fs, fs->fd_cache);
	fd = vn->fd;
	pthread_mutex_unlock(&fs->mutex);
	return fd;
}

void vnode_fd_put(struct veil_fs *fs, struct vnode *vn)
{
	pthread_mutex_lock(&fs->mutex);
	vn->uses--;
	pthread_mutex_unlock(&fs->mutex);
}

/* The vnode of (dev, ino), if there is one (fs->mutex held). */
static struct vnode *find(struct veil_fs *fs, dev_t dev, ino_t ino)
{
	struct vnode *vn;

	if ((uint64_t)dev != (uint32_t)dev)
		return NULL;
	for (vn = fs->buckets[bucket(fs, (uint32_t)dev, ino)]; vn; vn = vn->next)
		if (!vn->stale && vn->dev == (uint32_t)dev && vn->ino == ino)
			return vn;
	return NULL;
}

void vnode_name_going(struct veil_fs *fs, struct vnode *dir, const char *bname, dev_t dev,
		      ino_t ino)
{
	struct vnode *vn;

	pthread_mutex_lock(&fs->mutex);
	vn = find(fs, dev, ino);
	if (vn && vn->type != S_IFDIR && !vn->pinned && vn->parent == dir && vn->bname &&
	    strcmp(vn->bname, bname) == 0) {
		if (vn->fd < 0) {
			int fd = reopen(vn);

			if (fd >= 0) {
				vn->fd = fd;
				fs->open_fds++;
			}
		}
		/* With its fd open the object stays reachable; without, it is lost anyway. */
		vn->pinned = true;
		lru_unlink(fs, vn);
	}
	pthread_mutex_unlock(&fs->mutex);
}

void vnode_renamed(struct veil_fs *fs, dev_t dev, ino_t ino, struct vnode *dir,
		   const char *bname, struct vnode *ndir, const char *nbname)
{
	char *copy = strdup(nbname);
	struct vnode *vn;

	if (!copy)
		return; /* the old name stays: only log lines use it now (pinned) */
	pthread_mutex_lock(&fs->mutex);
	vn = find(fs, dev, ino);
	if (vn && vn->type != S_IFDIR && vn->parent == dir && vn->bname &&
	    strcmp(vn->bname, bname) == 0) {
		free(vn->bname);
		vn->bname = copy;
		copy = NULL;
		if (ndir != dir) {
			ndir->refs++;
			vn->parent = ndir;
			unref_parent(fs, dir);
		}
		lru_push(fs, vn);
	}
	pthread_mutex_unlock(&fs->mutex);
	free(copy);
}

/* The target of /proc/self/fd/@fd in @buf (terminated): its length, or -1. */
static ssize_t fd_target(int fd, char *buf, size_t n)
{
	char proc[64];
	ssize_t len;

	fd_proc_path(fd, proc);
	len = readlink(proc, buf, n - 1);
	if (len < 0 || (size_t)len >= n - 1)
		return -1;
	buf[len] = '\0';
	return len;
}

static void path_add(char *buf, size_t *len, const char *comp)
{
	int n = snprintf(buf + *len, VEIL_LOG_PATH_MAX - *len, "/%s", comp);

	if (n > 0)
		*len += (size_t)n < VEIL_LOG_PATH_MAX - *len ? (size_t)n : VEIL_LOG_PATH_MAX - 1 - *len;
}

const char *vnode_path(struct veil_fs *fs, struct vnode *vn, char buf[static VEIL_LOG_PATH_MAX])
{
	char root[VEIL_LOG_PATH_MAX], cpath[2 * VEIL_LOG_PATH_MAX], name[VEIL_NAME_MAX + 1];
	uint8_t iv[VEIL_DIRIV_BYTES];
	ssize_t rl, cl = -1;
	size_t len = 0;
	char *rel, *comp, *save = NULL;
	int dfd = fs->root.fd;
	bool blind;

	snprintf(buf, VEIL_LOG_PATH_MAX, "%s", vn == &fs->root ? "/" : "?");
	if (vn == &fs->root)
		return buf;
	rl = fd_target(fs->root.fd, root, sizeof(root));
	if (rl < 0)
		return buf;
	if (rl == 1)
		rl = 0; /* the cipher dir is "/" */
	/*
	 * The backing path, relative to the cipher dir: a directory's from its
	 * fd, the kernel's current name for it; a file's from its directory's
	 * and its last known name there. Parents keep their fd while the
	 * mutex holds them.
	 */
	pthread_mutex_lock(&fs->mutex);
	if (vn->type == S_IFDIR) {
		cl = fd_target(vn->fd, cpath, VEIL_LOG_PATH_MAX);
	} else if (vn->parent && vn->bname) {
		cl = fd_target(vn->parent->fd, cpath, VEIL_LOG_PATH_MAX);
		if (cl >= 0)
			cl += snprintf(cpath + cl, sizeof(cpath) - (size_t)cl, "/%s", vn->bname);
	}
	pthread_mutex_unlock(&fs->mutex);
	if (cl < 0 || cl < rl || memcmp(cpath, root, (size_t)rl) != 0 ||
	    (cpath[rl] != '/' && cpath[rl] != '\0'))
		return buf; /* outside the cipher dir (gone, or moved away) */
	rel = cpath + rl;
	/* Decrypt each name under its directory's IV, read afresh. */
	blind = veil_diriv_read(dfd, iv) < 0;
	for (comp = strtok_r(rel, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		bool other;
		long n = blind ? -1 : veil_entry_decode_ex(fs->v, dfd, iv, comp, name, &other);
		char *more = save && *save ? save : NULL;

		path_add(buf, &len, n >= 0 ? name : "?");
		if (!more || blind)
			continue;
		{
			int nfd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (dfd != fs->root.fd)
				close(dfd);
			dfd = nfd;
			blind = dfd < 0 || veil_diriv_read(dfd, iv) < 0;
		}
	}
	if (dfd >= 0 && dfd != fs->root.fd)
		close(dfd);
	if (len == 0)
		snprintf(buf, VEIL_LOG_PATH_MAX, "/");
	return buf;
}

int vnode_iv(struct veil_fs *fs, struct vnode *vn, uint8_t iv[static VEIL_DIRIV_BYTES])
{
	pthread_mutex_t *lock = vnode_lock(fs, vn);
	int ret = 0;

	pthread_mutex_lock(lock);
	if (!vn->iv_valid) {
		ret = veil_diriv_read(vn->fd, vn->iv);
		if (ret == 0)
			vn->iv_valid = true;
	}
	if (ret == 0)
		memcpy(iv, vn->iv, VEIL_DIRIV_BYTES);
	pthread_mutex_unlock(lock);
	if (ret < 0) {
		char path[VEIL_LOG_PATH_MAX];

		veil_log(LOG_ERR, "directory %s: cannot read its directory IV: %s",
			 veil_log_wanted() ? vnode_path(fs, vn, path) : "?",
			 ret == -EBADMSG ? "malformed" : strerror(-ret));
	}
	/* Out of fds or memory is not damage: say so rather than EIO. */
	if (ret == -EMFILE || ret == -ENFILE || ret == -ENOMEM)
		return ret;
	return ret == 0 ? 0 : -EIO;
}

struct vcontent *vnode_content_peek(struct vnode *vn)
{
	return atomic_load_explicit(&vn->content, memory_order_acquire);
}

struct vcontent *vnode_content(struct veil_fs *fs, struct vnode *vn)
{
	struct vcontent *c = vnode_content_peek(vn);

	if (c)
		return c;
	pthread_mutex_lock(vnode_lock(fs, vn));
	c = atomic_load_explicit(&vn->content, memory_order_relaxed);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (c) {
			pthread_rwlock_init(&c->io, NULL);
			atomic_store_explicit(&vn->content, c, memory_order_release);
		}
	}
	pthread_mutex_unlock(vnode_lock(fs, vn));
	return c;
}

void fd_proc_path(int fd, char buf[static 64])
{
	snprintf(buf, 64, "/proc/self/fd/%d", fd);
}

/*
 * A file deleted or replaced in the backing store behind our back (a sync
 * client renames its finished copy over the name): the kernel may keep its
 * dentry for the old object up to the entry timeout, and opening that would
 * show the old contents after the new ones arrived. -ESTALE makes open(2)
 * look the name up again (the VFS retries once with LOOKUP_REVAL) and open
 * what is there now, or fail with ENOENT. Objects whose last name we removed
 * ourselves are pinned and stay openable (open-unlinked files).
 */
int vnode_check_live(struct veil_fs *fs, struct vnode *vn, int fd)
{
	struct stat st;
	bool stale;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_nlink > 0)
		return 0;
	pthread_mutex_lock(&fs->mutex);
	stale = vn != &fs->root && !vn->pinned;
	pthread_mutex_unlock(&fs->mutex);
	return stale ? -ESTALE : 0;
}

int vnode_open(struct veil_fs *fs, struct vnode *vn, int flags)
{
	char name[64];
	int pfd = vnode_fd_get(fs, vn), fd;

	if (pfd < 0)
		return pfd;
	fd_proc_path(pfd, name);
	if (fs->noatime && vn->type != S_IFDIR) {
		/* Not permitted on another user's file without CAP_FOWNER: then plain. */
		fd = open(name, flags | O_CLOEXEC | O_NOATIME);
		if (fd < 0 && errno == EPERM)
			fd = open(name, flags | O_CLOEXEC);
	} else {
		fd = open(name, flags | O_CLOEXEC);
	}
	fd = fd < 0 ? -errno : fd;
	vnode_fd_put(fs, vn);
	return fd;
}
