/* SPDX-License-Identifier: MIT */
/*
 * Reverse front end: a plaintext directory shown read-only as the
 * ciphertext of a forward volume (constructions: src/lib/reverse.h).
 *
 * Nodes are not shared between lookups: every lookup makes a node that
 * lives until the kernel forgets it. Inode numbers (st_ino) are those of
 * the plaintext objects of PLAINDIR's file system, so hard links keep
 * showing as hard links; objects of other file systems (--cross-mounts)
 * and the virtual files (header, dir IVs, long-name sidecars) get numbers
 * derived from their path, with the top bit set.
 */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs_reverse.h"
#include "lib/reverse.h"

enum rkind { RN_REAL, RN_DIRIV, RN_CONF, RN_SIDECAR };

struct rnode {
	enum rkind kind;
	int fd;          /* RN_REAL: O_PATH on the plaintext object; else -1 */
	mode_t type;     /* RN_REAL: S_IFMT of the plaintext object */
	bool sealed;     /* a mount point not crossed: shown as an empty directory */
	char *path;      /* plaintext path relative to the root ("" for the root) */
	uint8_t iv[VEIL_DIRIV_BYTES]; /* dirs: their dir IV; RN_DIRIV: the content */
	char *data;      /* virtual content */
	size_t datalen;
	ino_t vino;      /* virtual inode number */
	int parent_fd;   /* virtual: O_PATH of the directory holding it (borrowed attrs) */
	/*
	 * Regular files: the plaintext size last reported to the kernel. An
	 * open serves exactly that size (if the file still has it), since the
	 * kernel stops reading at the size it has cached.
	 */
	uint64_t reported_psize;
	bool reported;
	/* Directories: long-name hash file -> plaintext name, while mtime holds. */
	struct longcache *lc;
	struct rnode *prev, *next; /* every live node, freed at unmount */
};

struct longent {
	char hash[VEIL_LONGNAME_LEN + 1];
	char *plain;
};

struct longcache {
	struct timespec mtime;
	size_t n;
	struct longent *ents; /* sorted by hash */
};

static pthread_mutex_t lc_mu = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t nodes_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rnode *nodes;

struct rhandle {
	struct veil_handle h; /* first: the handle list holds &h->h */
	int fd;
	uint64_t psize;
	uint8_t hdr[VEIL_FILE_HEADER_BYTES];
};

struct rdir {
	struct veil_handle h; /* first */
	char **names;
	size_t n;
};

static struct veil_rfs *rfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct rnode *rnode_of(fuse_req_t req, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return rfs_of(req)->root;
	return (struct rnode *)(uintptr_t)ino;
}

static void longcache_free(struct longcache *lc)
{
	if (!lc)
		return;
	for (size_t i = 0; i < lc->n; i++)
		free(lc->ents[i].plain);
	free(lc->ents);
	free(lc);
}

static void rnode_track(struct rnode *n)
{
	pthread_mutex_lock(&nodes_mu);
	n->prev = NULL;
	n->next = nodes;
	if (nodes)
		nodes->prev = n;
	nodes = n;
	pthread_mutex_unlock(&nodes_mu);
}

static void rnode_free(struct rnode *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&nodes_mu);
	if (n->prev)
		n->prev->next = n->next;
	else if (nodes == n)
		nodes = n->next;
	if (n->next)
		n->next->prev = n->prev;
	pthread_mutex_unlock(&nodes_mu);
	longcache_free(n->lc);
	if (n->fd >= 0)
		close(n->fd);
	free(n->path);
	free(n->data);
	free(n);
}

static char *join(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s%s%s", dir, dir[0] ? "/" : "", name) < 0)
		return NULL;
	return p;
}

static bool excluded(const struct veil_rfs *rfs, const char *relpath)
{
	const char *base = strrchr(relpath, '/');

	base = base ? base + 1 : relpath;
	if (relpath == base && strcmp(relpath, VEIL_REVERSE_CONF_NAME) == 0)
		return true;
	for (int i = 0; i < rfs->nexclude; i++) {
		const char *p = rfs->exclude[i];

		/* "/x" is anchored at the root; "x" without a slash matches any name. */
		if (p[0] == '/') {
			if (fnmatch(p + 1, relpath, FNM_PATHNAME) == 0)
				return true;
			continue;
		}
		if (fnmatch(p, relpath, FNM_PATHNAME) == 0)
			return true;
		if (!strchr(p, '/') && fnmatch(p, base, 0) == 0)
			return true;
	}
	return false;
}

static ino_t virtual_ino(ino_t dir, const char *name)
{
	uint8_t h[8];
	uint64_t v;

	veil_hash(h, sizeof(h), NULL, 0, &dir, sizeof(dir), name, strlen(name), NULL, 0);
	memcpy(&v, h, sizeof(v));
	return (ino_t)(v | (1ULL << 63));
}

/*
 * The inode number shown for an object of another file system than
 * PLAINDIR's: its own may equal that of a different file of PLAINDIR's.
 */
static ino_t foreign_ino(const char *relpath)
{
	static const char tag[] = "foreign";
	uint8_t h[8];
	uint64_t v;

	veil_hash(h, sizeof(h), NULL, 0, tag, sizeof(tag), relpath, strlen(relpath), NULL, 0);
	memcpy(&v, h, sizeof(v));
	return (ino_t)(v | (1ULL << 63));
}

/* Is @st on another file system than PLAINDIR? Logs a new mount point once. */
static bool foreign(struct veil_rfs *rfs, const char *relpath, const struct stat *st)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	bool seen = false;

	if (st->st_dev == rfs->dev)
		return false;
	if (rfs->cross_mounts || !S_ISDIR(st->st_mode))
		return true;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < rfs->nseen_devs && !seen; i++)
		seen = rfs->seen_devs[i] == st->st_dev;
	if (!seen) {
		dev_t *g = realloc(rfs->seen_devs, (rfs->nseen_devs + 1) * sizeof(*g));

		if (g) {
			rfs->seen_devs = g;
			g[rfs->nseen_devs++] = st->st_dev;
		}
	}
	pthread_mutex_unlock(&mu);
	if (!seen)
		veil_log(LOG_NOTICE,
			 "%s: another file system is mounted here; shown as an empty directory "
			 "(--cross-mounts includes it)",
			 relpath);
	return true;
}

static struct rnode *new_virtual(struct rnode *dir, enum rkind kind, const char *name,
				 const void *data, size_t len)
{
	struct rnode *n = calloc(1, sizeof(*n));
	struct stat st;

	if (!n)
		return NULL;
	n->kind = kind;
	n->fd = -1;
	n->parent_fd = dir->fd;
	n->data = malloc(len + 1);
	if (!n->data) {
		free(n);
		return NULL;
	}
	memcpy(n->data, data, len);
	n->datalen = len;
	if (fstatat(dir->fd, "", &st, AT_EMPTY_PATH) < 0)
		st.st_ino = 0;
	n->vino = virtual_ino(st.st_ino, name);
	rnode_track(n);
	return n;
}

static struct rnode *new_real(struct veil_rfs *rfs, struct rnode *dir, const char *plain, int *err)
{
	struct rnode *n = calloc(1, sizeof(*n));
	struct stat st;

	*err = ENOMEM;
	if (!n)
		return NULL;
	n->kind = RN_REAL;
	n->path = join(dir->path, plain);
	if (!n->path)
		goto fail;
	if (excluded(rfs, n->path)) {
		*err = ENOENT;
		goto fail;
	}
	n->fd = openat(dir->fd, plain, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (n->fd < 0 || fstatat(n->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		*err = errno;
		goto fail;
	}
	n->type = st.st_mode & S_IFMT;
	n->sealed = foreign(rfs, n->path, &st) && S_ISDIR(st.st_mode) && !rfs->cross_mounts;
	if (S_ISDIR(st.st_mode))
		veil_reverse_diriv(rfs->v->keys, n->path, n->iv);
	rnode_track(n);
	return n;
fail:
	if (n && n->fd > 0)
		close(n->fd);
	if (n)
		free(n->path);
	free(n);
	return NULL;
}

/* Attributes of a node as the cipher view shows them. */
static int rnode_stat(struct veil_rfs *rfs, struct rnode *n, struct stat *st)
{
	if (n->kind != RN_REAL) {
		struct stat ds;

		if (fstatat(n->parent_fd, "", &ds, AT_EMPTY_PATH) < 0)
			return -errno;
		memset(st, 0, sizeof(*st));
		st->st_dev = ds.st_dev;
		st->st_ino = n->vino;
		st->st_mode = S_IFREG | (n->kind == RN_CONF ? 0400 : 0444);
		st->st_nlink = 1;
		st->st_uid = ds.st_uid;
		st->st_gid = ds.st_gid;
		st->st_size = (off_t)n->datalen;
		st->st_blksize = 4096;
		st->st_blocks = (blkcnt_t)((n->datalen + 511) / 512);
		/* Stable times so incremental tools don't recopy the virtual files. */
		st->st_mtim = ds.st_mtim;
		st->st_atim = ds.st_mtim;
		st->st_ctim = ds.st_mtim;
		return 0;
	}
	if (fstatat(n->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (st->st_dev != rfs->dev && n != rfs->root) {
		/* Another file system: its inode numbers may repeat PLAINDIR's. */
		st->st_ino = foreign_ino(n->path);
		if (!S_ISDIR(st->st_mode))
			st->st_nlink = 1;
		else if (n->sealed)
			st->st_nlink = 2;
	}
	if (S_ISREG(st->st_mode)) {
		__atomic_store_n(&n->reported_psize, (uint64_t)st->st_size, __ATOMIC_RELAXED);
		__atomic_store_n(&n->reported, true, __ATOMIC_RELEASE);
		st->st_size = (off_t)veil_content_cipher_size((uint64_t)st->st_size, rfs->v->cc.bs);
	} else if (S_ISLNK(st->st_mode)) {
		char buf[VEIL_LINK_TARGET_MAX + 2];
		ssize_t t = readlinkat(n->fd, "", buf, sizeof(buf));

		st->st_size = t > 0 ? (off_t)veil_link_encrypted_len((size_t)t) : 0;
	}
	/* Modes are passed on whole (set-id bits included): a FUSE mount is nosuid. */
	return 0;
}

static void fill_entry(struct veil_rfs *rfs, struct rnode *n, struct fuse_entry_param *e)
{
	e->ino = (fuse_ino_t)(uintptr_t)n;
	e->attr_timeout = rfs->timeout;
	e->entry_timeout = rfs->timeout;
}

static int longent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct longent *)a)->hash, ((const struct longent *)b)->hash);
}

/* Map every long name of @dir to its hash file name (one pass over the directory). */
static struct longcache *longcache_build(struct veil_rfs *rfs, struct rnode *dir,
					 const struct timespec *mtime)
{
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	struct longcache *lc = calloc(1, sizeof(*lc));
	int fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t cap = 0;
	struct dirent *de;
	DIR *d = NULL;

	if (!lc || fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		free(lc);
		return NULL;
	}
	lc->mtime = *mtime;
	while ((de = readdir(d))) {
		long n;

		if (strlen(de->d_name) < 160) /* shorter names never go long */
			continue;
		n = veil_name_encrypt(rfs->v->keys, dir->iv, de->d_name, strlen(de->d_name), enc);
		if (n < 0 || !veil_name_backing(enc, (size_t)n, backing))
			continue;
		if (lc->n == cap) {
			struct longent *g = realloc(lc->ents, (cap = cap ? cap * 2 : 16) * sizeof(*g));

			if (!g)
				break;
			lc->ents = g;
		}
		memcpy(lc->ents[lc->n].hash, backing, VEIL_LONGNAME_LEN + 1);
		lc->ents[lc->n].plain = strdup(de->d_name);
		if (lc->ents[lc->n].plain)
			lc->n++;
	}
	closedir(d);
	qsort(lc->ents, lc->n, sizeof(*lc->ents), longent_cmp);
	return lc;
}

/* Find the plaintext entry of @dir whose long-name hash file is @hashname. */
static int find_long(struct veil_rfs *rfs, struct rnode *dir, const char *hashname, char *plain,
		     char *enc)
{
	struct longent key, *hit;
	struct stat st;
	int ret = -ENOENT;

	if (fstatat(dir->fd, "", &st, AT_EMPTY_PATH) < 0)
		return -errno;
	pthread_mutex_lock(&lc_mu);
	if (!dir->lc || dir->lc->mtime.tv_sec != st.st_mtim.tv_sec ||
	    dir->lc->mtime.tv_nsec != st.st_mtim.tv_nsec) {
		longcache_free(dir->lc);
		dir->lc = longcache_build(rfs, dir, &st.st_mtim);
	}
	snprintf(key.hash, sizeof(key.hash), "%s", hashname);
	hit = dir->lc ? bsearch(&key, dir->lc->ents, dir->lc->n, sizeof(key), longent_cmp) : NULL;
	if (hit) {
		memcpy(plain, hit->plain, strlen(hit->plain) + 1);
		ret = 0;
	}
	pthread_mutex_unlock(&lc_mu);
	if (ret == 0 && veil_name_encrypt(rfs->v->keys, dir->iv, plain, strlen(plain), enc) < 0)
		ret = -ENOENT;
	return ret;
}

static int do_lookup(struct veil_rfs *rfs, struct rnode *dir, const char *name,
		     struct rnode **out)
{
	char plain[VEIL_NAME_MAX + 1], enc[VEIL_ENCNAME_MAX + 1];
	struct rnode *n = NULL;
	int err = 0;
	long r;

	*out = NULL;
	if (dir->kind != RN_REAL || dir->type != S_IFDIR)
		return -ENOTDIR;
	if (dir->sealed && veil_entry_classify(name) != VEIL_ENTRY_DIRIV)
		return -ENOENT;
	switch (veil_entry_classify(name)) {
	case VEIL_ENTRY_DIRIV:
		n = new_virtual(dir, RN_DIRIV, name, dir->iv, VEIL_DIRIV_BYTES);
		break;
	case VEIL_ENTRY_CONF:
		if (dir != rfs->root)
			return -ENOENT;
		n = new_virtual(dir, RN_CONF, name, rfs->conf, rfs->conf_len);
		break;
	case VEIL_ENTRY_LONG:
		err = find_long(rfs, dir, name, plain, enc);
		if (err < 0)
			return err;
		n = new_real(rfs, dir, plain, &err);
		if (!n)
			return -err;
		break;
	case VEIL_ENTRY_SIDECAR: {
		char hashname[VEIL_LONGNAME_LEN + 1];

		memcpy(hashname, name, VEIL_LONGNAME_LEN);
		hashname[VEIL_LONGNAME_LEN] = '\0';
		err = find_long(rfs, dir, hashname, plain, enc);
		if (err < 0)
			return err;
		{
			char *p = join(dir->path, plain);
			bool ex = !p || excluded(rfs, p);

			free(p);
			if (ex)
				return -ENOENT;
		}
		n = new_virtual(dir, RN_SIDECAR, name, enc, strlen(enc));
		break;
	}
	case VEIL_ENTRY_NAME:
		r = veil_name_decrypt(rfs->v->keys, dir->iv, name, strlen(name), plain);
		if (r < 0)
			return -ENOENT;
		/* Only the short form names an entry: a long name has its hash file. */
		if (strlen(name) > VEIL_SHORTNAME_MAX)
			return -ENOENT;
		n = new_real(rfs, dir, plain, &err);
		if (!n)
			return -err;
		break;
	default:
		return -ENOENT;
	}
	if (!n)
		return -ENOMEM;
	*out = n;
	return 0;
}

static void rop_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct veil_rfs *rfs = rfs_of(req);
	struct fuse_entry_param e;
	struct rnode *n;
	int ret;

	memset(&e, 0, sizeof(e));
	ret = do_lookup(rfs, rnode_of(req, parent), name, &n);
	if (ret == 0)
		ret = rnode_stat(rfs, n, &e.attr);
	if (ret < 0) {
		rnode_free(n);
		fuse_reply_err(req, -ret);
		return;
	}
	fill_entry(rfs, n, &e);
	if (fuse_reply_entry(req, &e) != 0)
		rnode_free(n);
}

static void rop_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)nlookup; /* every lookup makes its own node: one forget frees it */
	if (ino != FUSE_ROOT_ID)
		rnode_free(rnode_of(req, ino));
	fuse_reply_none(req);
}

static void rop_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++)
		if (f[i].ino != FUSE_ROOT_ID)
			rnode_free(rnode_of(req, f[i].ino));
	fuse_reply_none(req);
}

static void rop_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int ret;

	ret = rnode_stat(rfs_of(req), rnode_of(req, ino), &st);
	if (ret == 0 && fi && fi->fh && S_ISREG(st.st_mode)) {
		/* fstat of an open file: the size it is being served at. */
		struct rhandle *h = (struct rhandle *)(uintptr_t)fi->fh;

		st.st_size = (off_t)veil_content_cipher_size(h->psize, rfs_of(req)->v->cc.bs);
		__atomic_store_n(&rnode_of(req, ino)->reported_psize, h->psize, __ATOMIC_RELAXED);
	}
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, rfs_of(req)->timeout);
}

static void rop_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct veil_rfs *rfs = rfs_of(req);
	struct rnode *n = rnode_of(req, ino);
	char target[VEIL_LINK_TARGET_MAX + 2];
	char *out;
	ssize_t t;

	if (n->kind != RN_REAL || n->type != S_IFLNK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	t = readlinkat(n->fd, "", target, sizeof(target));
	if (t < 0 || t > VEIL_LINK_TARGET_MAX) {
		fuse_reply_err(req, t < 0 ? errno : ENAMETOOLONG);
		goto out;
	}
	if (veil_link_encrypted_len((size_t)t) > VEIL_LINK_INLINE_MAX) {
		veil_log(LOG_ERR, "%s: symlink target of %zd bytes is too long for reverse mode",
			 n->path, t);
		fuse_reply_err(req, ENAMETOOLONG);
		goto out;
	}
	out = malloc(veil_link_encrypted_len((size_t)t) + 1);
	if (!out) {
		fuse_reply_err(req, ENOMEM);
		goto out;
	}
	veil_reverse_link(rfs->v->keys, n->path, target, (size_t)t, out);
	fuse_reply_readlink(req, out);
	free(out);
out:
	/* The target as read from PLAINDIR: plaintext. */
	veil_wipe(target, sizeof(target));
}

/* RELEASE, or the end of the session for a handle the kernel never released. */
static void rhandle_close(struct veil_handle *vh)
{
	struct rhandle *h = (struct rhandle *)vh;

	close(h->fd);
	free(h);
}

static void rop_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct veil_rfs *rfs = rfs_of(req);
	struct rnode *n = rnode_of(req, ino);
	struct rhandle *h;
	char proc[64];
	struct stat st;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (n->kind != RN_REAL) {
		fi->fh = 0;
		fi->keep_cache = 1;
		fuse_reply_open(req, fi);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", n->fd);
	h->fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (h->fd < 0 || fstat(h->fd, &st) < 0) {
		int e = errno;

		if (h->fd >= 0)
			close(h->fd);
		free(h);
		fuse_reply_err(req, e);
		return;
	}
	/*
	 * The size is fixed at open: the size last reported to the kernel, which
	 * reads no further than that (growth shows at the next lookup). If the
	 * file has shrunk meanwhile, its current size: a shorter, consistent file.
	 */
	h->psize = (uint64_t)st.st_size;
	if (__atomic_load_n(&n->reported, __ATOMIC_ACQUIRE)) {
		uint64_t rep = __atomic_load_n(&n->reported_psize, __ATOMIC_RELAXED);

		if (rep < h->psize)
			h->psize = rep;
	}
	/* Inode numbers identify a file only within PLAINDIR's file system. */
	veil_reverse_file_header(rfs->v->keys, n->path, st.st_dev == rfs->dev ? st.st_nlink : 1,
				 st.st_ino, h->hdr);
	fi->fh = (uint64_t)(uintptr_t)h;
	veil_handle_add(&rfs->handles, &h->h, rhandle_close);
	if (fuse_reply_open(req, fi) != 0) { /* the opener is gone: no RELEASE will come */
		veil_handle_del(&rfs->handles, &h->h);
		rhandle_close(&h->h);
	}
}

static void rop_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct veil_rfs *rfs = rfs_of(req);
	struct rnode *n = rnode_of(req, ino);
	struct rhandle *h = (struct rhandle *)(uintptr_t)fi->fh;
	uint8_t *buf;
	ssize_t r;

	if (!h) {
		size_t o = (size_t)off < n->datalen ? (size_t)off : n->datalen;
		size_t len = n->datalen - o < size ? n->datalen - o : size;

		fuse_reply_buf(req, n->data + o, len);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = veil_reverse_read(rfs->v->keys, rfs->v->cc.bs, h->fd, h->hdr, h->psize, buf, size,
			      (uint64_t)off);
	if (r == -EIO)
		veil_log(LOG_WARNING, "%s: the file shrank while it was read; read it again",
			 n->path);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_buf(req, (const char *)buf, (size_t)r);
	free(buf);
}

static void rop_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rhandle *h = (struct rhandle *)(uintptr_t)fi->fh;

	(void)ino;
	if (h) {
		veil_handle_del(&rfs_of(req)->handles, &h->h);
		rhandle_close(&h->h);
	}
	fuse_reply_err(req, 0);
}

static void rdir_free(struct rdir *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->names[i]);
	free(d->names);
	free(d);
}

static void rdir_close(struct veil_handle *h)
{
	rdir_free((struct rdir *)h);
}

static int rdir_add(struct rdir *d, size_t *cap, const char *name)
{
	if (d->n == *cap) {
		char **g = realloc(d->names, (*cap = *cap ? *cap * 2 : 32) * sizeof(*g));

		if (!g)
			return -ENOMEM;
		d->names = g;
	}
	d->names[d->n] = strdup(name);
	if (!d->names[d->n])
		return -ENOMEM;
	d->n++;
	return 0;
}

static void rop_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct veil_rfs *rfs = rfs_of(req);
	struct rnode *dir = rnode_of(req, ino);
	struct rdir *d = calloc(1, sizeof(*d));
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	size_t cap = 0;
	struct dirent *de;
	DIR *dp = NULL;
	int fd, ret = 0;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(dp = fdopendir(fd))) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	/* A snapshot of the directory, in a stable order, for offsets that never move. */
	ret = rdir_add(d, &cap, ".");
	if (!ret)
		ret = rdir_add(d, &cap, "..");
	if (!ret)
		ret = rdir_add(d, &cap, VEIL_DIRIV_NAME);
	if (!ret && dir == rfs->root)
		ret = rdir_add(d, &cap, VEIL_CONF_NAME);
	while (!ret && !dir->sealed && (de = readdir(dp))) {
		char *p;
		long n;
		bool ex;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		p = join(dir->path, de->d_name);
		ex = !p || excluded(rfs, p);
		free(p);
		if (ex)
			continue;
		n = veil_name_encrypt(rfs->v->keys, dir->iv, de->d_name, strlen(de->d_name), enc);
		if (n < 0)
			continue;
		if (veil_name_backing(enc, (size_t)n, backing)) {
			char side[VEIL_ENCNAME_MAX + sizeof(VEIL_LONGNAME_SUFFIX)];

			snprintf(side, sizeof(side), "%s%s", backing, VEIL_LONGNAME_SUFFIX);
			ret = rdir_add(d, &cap, side);
		}
		if (!ret)
			ret = rdir_add(d, &cap, backing);
	}
out:
	if (dp)
		closedir(dp);
	if (ret < 0) {
		rdir_free(d);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	veil_handle_add(&rfs->handles, &d->h, rdir_close);
	if (fuse_reply_open(req, fi) != 0) { /* the opener is gone: no RELEASEDIR will come */
		veil_handle_del(&rfs->handles, &d->h);
		rdir_close(&d->h);
	}
}

static void rdo_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi, int plus)
{
	struct veil_rfs *rfs = rfs_of(req);
	struct rnode *dir = rnode_of(req, ino);
	struct rdir *d = (struct rdir *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t rem = size;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < d->n; i++) {
		const char *name = d->names[i];
		struct fuse_entry_param e;
		struct rnode *n = NULL;
		size_t es;

		memset(&e, 0, sizeof(e));
		if (!strcmp(name, ".") || !strcmp(name, "..")) {
			/* readdir(3) drops entries with inode number 0. */
			if (fstatat(dir->fd, "", &e.attr, AT_EMPTY_PATH) < 0)
				e.attr.st_ino = 1;
			e.attr.st_mode = S_IFDIR;
		} else if (do_lookup(rfs, dir, name, &n) < 0 || rnode_stat(rfs, n, &e.attr) < 0) {
			rnode_free(n);
			continue; /* vanished since opendir */
		}
		if (plus && n) {
			fill_entry(rfs, n, &e);
			es = fuse_add_direntry_plus(req, p, rem, name, &e, (off_t)i + 1);
		} else {
			es = plus ? fuse_add_direntry_plus(req, p, rem, name, &e, (off_t)i + 1)
				  : fuse_add_direntry(req, p, rem, name, &e.attr, (off_t)i + 1);
			rnode_free(n);
			n = NULL;
		}
		if (es > rem) {
			rnode_free(n);
			break;
		}
		p += es;
		rem -= es;
	}
	fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void rop_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	rdo_readdir(req, ino, size, off, fi, 0);
}

static void rop_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	rdo_readdir(req, ino, size, off, fi, 1);
}

static void rop_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rdir *d = (struct rdir *)(uintptr_t)fi->fh;

	(void)ino;
	veil_handle_del(&rfs_of(req)->handles, &d->h);
	rdir_free(d);
	fuse_reply_err(req, 0);
}

static void rop_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	if (fstatvfs(rfs_of(req)->root->fd, &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static void rop_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct veil_rfs *rfs = rfs_of(req);
	struct rnode *n = rnode_of(req, ino);
	char plain[256], proc[64];
	uint8_t *val = NULL, *out = NULL;
	size_t cap = 0;
	ssize_t len;

	if (n->kind != RN_REAL || n->type == S_IFLNK ||
	    veil_xattr_name_decrypt(rfs->v->keys, name, plain) < 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", n->fd);
	len = getxattr(proc, plain, NULL, 0);
	if (len < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	cap = (size_t)len + 1;
	val = malloc(cap);
	out = malloc((size_t)len + VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES);
	if (!val || !out) {
		fuse_reply_err(req, ENOMEM);
		goto done;
	}
	len = getxattr(proc, plain, val, (size_t)len);
	if (len < 0) {
		fuse_reply_err(req, errno);
		goto done;
	}
	veil_reverse_xattr(rfs->v->keys, n->path, name, val, (size_t)len, out);
	len += VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES;
	veil_reply_xattr(req, out, (size_t)len, size);
done:
	/* The value as read from PLAINDIR, and its name: plaintext. */
	veil_wipe(plain, sizeof(plain));
	if (val)
		veil_wipe(val, cap);
	free(val);
	free(out);
}

static void rop_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct veil_rfs *rfs = rfs_of(req);
	struct rnode *n = rnode_of(req, ino);
	char proc[64], cname[256];
	char *list = NULL, *out = NULL;
	size_t olen = 0, cap = 0, lcap;
	ssize_t len;

	if (n->kind != RN_REAL || n->type == S_IFLNK) {
		veil_reply_xattr(req, NULL, 0, size);
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", n->fd);
	len = listxattr(proc, NULL, 0);
	if (len < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	lcap = (size_t)len + 1;
	list = malloc(lcap);
	if (!list || (len = listxattr(proc, list, (size_t)len)) < 0) {
		fuse_reply_err(req, list ? errno : ENOMEM);
		if (list)
			veil_wipe(list, lcap);
		free(list);
		return;
	}
	for (char *p = list; p < list + len; p += strlen(p) + 1) {
		long c = veil_xattr_name_encrypt(rfs->v->keys, p, cname);

		if (c < 0)
			continue;
		if (olen + (size_t)c + 1 > cap) {
			char *g = realloc(out, cap = (cap + (size_t)c + 1) * 2);

			if (!g) {
				fuse_reply_err(req, ENOMEM);
				goto done;
			}
			out = g;
		}
		memcpy(out + olen, cname, (size_t)c + 1);
		olen += (size_t)c + 1;
	}
	veil_reply_xattr(req, out, olen, size);
done:
	/* The names as read from PLAINDIR: plaintext. */
	veil_wipe(list, lcap);
	free(list);
	free(out);
}

static void rop_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* The kernel keeps the smaller of this and the bdi window mount.c raised. */
	conn->max_readahead = 4 << 20;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	/* Request buffers are handed between threads: they must be memory, not pipes. */
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

const struct fuse_lowlevel_ops veil_rfs_ops = {
	.init = rop_init,
	.lookup = rop_lookup,
	.forget = rop_forget,
	.forget_multi = rop_forget_multi,
	.getattr = rop_getattr,
	.readlink = rop_readlink,
	.open = rop_open,
	.read = rop_read,
	.release = rop_release,
	.opendir = rop_opendir,
	.readdir = rop_readdir,
	.readdirplus = rop_readdirplus,
	.releasedir = rop_releasedir,
	.statfs = rop_statfs,
	.getxattr = rop_getxattr,
	.listxattr = rop_listxattr,
};

int veil_rfs_init(struct veil_rfs *rfs, struct veil_volume *v)
{
	uint8_t buf[VEIL_HEADER_MAX_BYTES];
	struct rnode *root = calloc(1, sizeof(*root));
	struct stat st;

	rfs->v = v;
	rfs->timeout = 1.0;
	rfs->root = root;
	veil_handles_init(&rfs->handles);
	if (!root)
		return -ENOMEM;
	root->kind = RN_REAL;
	root->fd = openat(v->dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	root->path = strdup("");
	if (root->fd < 0 || !root->path || fstat(root->fd, &st) < 0)
		return -ENOMEM;
	rfs->dev = st.st_dev;
	root->type = S_IFDIR;
	veil_reverse_diriv(v->keys, "", root->iv);
	rfs->conf_len = veil_header_serialize(&v->hdr, buf);
	rfs->conf = malloc(rfs->conf_len);
	if (!rfs->conf)
		return -ENOMEM;
	memcpy(rfs->conf, buf, rfs->conf_len);
	return 0;
}

void veil_rfs_destroy(struct veil_rfs *rfs)
{
	/* Handles the kernel never released (a daemon stopped by a signal). */
	veil_handles_destroy(&rfs->handles);
	/* Nodes the kernel never forgot (it does not, at unmount). */
	while (nodes && nodes != rfs->root)
		rnode_free(nodes);
	rnode_free(rfs->root);
	free(rfs->conf);
	free(rfs->seen_devs);
}
