/* SPDX-License-Identifier: MIT */
/*
 * File and directory handles of the forward front end: open/create,
 * read/write through the content cipher, setattr, readdir, xattrs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs_priv.h"
#include "lib/safe.h"
#include "lib/temp.h"

struct vfile {
	struct veil_handle h; /* first: the handle list holds &f->h */
	int fd;
	int flags;
	bool written; /* writable: a create, O_TRUNC or WRITE may have gone to fd */
};

struct vdir {
	struct veil_handle h; /* first */
	DIR *dp;
	int fd;
	off_t offset;
	struct dirent *entry;
	uint8_t iv[VEIL_DIRIV_BYTES];
};

static struct vfile *vfile_of(struct fuse_file_info *fi)
{
	return (struct vfile *)(uintptr_t)fi->fh;
}

/*
 * Handles the kernel never released (veil_handles_destroy()). Vnode counts
 * go with the vnodes (veil_fs_destroy frees them next); only fds and memory
 * remain.
 */
static void vfile_close(struct veil_handle *h)
{
	struct vfile *f = (struct vfile *)h;

	close(f->fd);
	free(f);
}

static void vdir_close(struct veil_handle *h)
{
	struct vdir *d = (struct vdir *)h;

	closedir(d->dp);
	free(d);
}


/*
 * A block the content layer rejected (struct veil_fstate's bad_block and
 * fault), taken while the content lock is held, for boundary_err() after
 * it is released: the log line names the file, and finding its path reads
 * the backing directories (vnode_path()), which must not hold up the
 * file's other readers and writers.
 */
struct fault_seen {
	uint64_t bad_block;
	enum veil_block_fault fault;
};

static struct fault_seen fault_of(const struct veil_fstate *st)
{
	return (struct fault_seen){ st->bad_block, st->fault };
}

/*
 * Map a core error to the FUSE boundary, logging authentication failures
 * once. Call it without the content lock (see struct fault_seen).
 */
static int boundary_err(struct veil_fs *fs, struct vnode *vn, const struct fault_seen *st, int err)
{
	if (err == -EBADMSG) {
		time_t now = time(NULL);
		int again;

		struct vcontent *c = vnode_content_peek(vn);

		/* The kernel retries a failed read (readahead, then the page): log it once. */
		pthread_mutex_lock(vnode_lock(fs, vn));
		again = c && c->logged_block == st->bad_block + 1 && now - c->logged_at < 60;
		if (c) {
			c->logged_block = st->bad_block + 1;
			c->logged_at = now;
		}
		pthread_mutex_unlock(vnode_lock(fs, vn));
		if (!again)
			veil_log(LOG_ERR, "%s: block %llu: %s", path_of(fs, vn),
				 (unsigned long long)st->bad_block,
				 veil_block_fault_str(st->fault));
		return EIO;
	}
	return -err;
}

/* Backing open flags: always readable (partial blocks are read-modify-write). */
static int backing_flags(int flags)
{
	/*
	 * O_NOFOLLOW was applied by the kernel already; passed on, it would make
	 * opening the /proc/self/fd magic link fail with ELOOP.
	 */
	int f = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_DIRECT | O_ACCMODE |
			  O_NOFOLLOW | O_PATH);

	if ((flags & O_ACCMODE) != O_RDONLY)
		f |= O_RDWR;
	return f | O_CLOEXEC;
}

static bool same_ts(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Record the backing file as we leave it (caller holds c->io exclusively). */
static void stamp(struct veil_fs *fs, struct vnode *vn, struct vcontent *c, int fd)
{
	struct stat st;

	pthread_mutex_lock(vnode_lock(fs, vn));
	c->stamp_valid = fstat(fd, &st) == 0;
	if (c->stamp_valid) {
		c->stamp_mtime = st.st_mtim;
		c->stamp_ctime = st.st_ctim;
		c->stamp_size = st.st_size;
	}
	pthread_mutex_unlock(vnode_lock(fs, vn));
}

/* Does the process behind @req hold CAP_FSETID? (uid 0 if /proc says nothing.) */
static bool caller_fsetid(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char path[64], line[256];
	bool cap = ctx->uid == 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)ctx->pid);
	f = ctx->pid > 0 ? fopen(path, "re") : NULL;
	if (!f)
		return cap;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long eff;

		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			cap = eff & (1ULL << 4); /* CAP_FSETID */
			break;
		}
	}
	fclose(f);
	return cap;
}

static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[256];
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 256, groups);
	for (int i = 0; i < n && i < 256; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * A write, truncate or fallocate by a caller without CAP_FSETID clears
 * set-user-ID, and set-group-ID when the file is group-executable or the
 * caller is not in its group, as the kernel does for a local filesystem.
 * The kernel asks for part of this itself (a SETATTR before the write,
 * under FUSE's older rule: set-group-ID only when group-executable);
 * the rest is done here, after the change, through the open @fd. 1 if
 * the mode changed: a reply that carries no attributes must then be
 * preceded by veil_inval_attr(), or the kernel shows the old mode for up
 * to the attribute timeout. 0 if nothing was to be done; -errno if the
 * bits could not be cleared, for setid_log() once the content lock is
 * released.
 */
static int kill_setid(fuse_req_t req, struct vnode *vn, int fd)
{
	struct stat st;
	mode_t kill = 0;

	if (vn->type != S_IFREG || fstat(fd, &st) < 0 || !(st.st_mode & (S_ISUID | S_ISGID)))
		return 0;
	if (caller_fsetid(req))
		return 0;
	if (st.st_mode & S_ISUID)
		kill |= S_ISUID;
	if ((st.st_mode & S_ISGID) &&
	    ((st.st_mode & S_IXGRP) || !caller_in_group(req, st.st_gid)))
		kill |= S_ISGID;
	if (kill) {
		char proc[64];

		fd_proc_path(fd, proc);
		if (chmod(proc, st.st_mode & 07777 & ~kill) == 0)
			return 1;
		return -errno;
	}
	return 0;
}

/* Log a failed kill_setid() (@err < 0), after the content lock is released. */
static void setid_log(struct veil_fs *fs, struct vnode *vn, int err)
{
	if (err < 0)
		veil_log(LOG_WARNING, "%s: cannot clear set-id bits: %s", path_of(fs, vn),
			 strerror(-err));
}

/*
 * Unchanged since we last wrote or opened it: 1, the kernel's cached pages
 * are good; 0, we have no record; -1, changed behind our back (another
 * daemon on the same cipher dir, a sync client writing in place).
 */
static int unchanged(struct veil_fs *fs, struct vnode *vn, struct vcontent *c, int fd)
{
	struct stat st;
	int same;

	if (fstat(fd, &st) < 0)
		return 0;
	pthread_mutex_lock(vnode_lock(fs, vn));
	same = !c->stamp_valid ? 0 :
	       !c->changed_outside && same_ts(&st.st_mtim, &c->stamp_mtime) &&
	       same_ts(&st.st_ctim, &c->stamp_ctime) && st.st_size == c->stamp_size ? 1 : -1;
	c->changed_outside = false;
	c->stamp_valid = true;
	c->stamp_mtime = st.st_mtim;
	c->stamp_ctime = st.st_ctim;
	c->stamp_size = st.st_size;
	pthread_mutex_unlock(vnode_lock(fs, vn));
	return same;
}

/*
 * Before using the cached header without an open file (truncate by path):
 * if the backing file is not as this daemon last left it (size, mtime,
 * ctime), someone rewrote it meanwhile and the cached header may be stale.
 * Caller holds c->io exclusively.
 */
static void revalidate(struct veil_fs *fs, struct vnode *vn, struct vcontent *c, int fd)
{
	struct stat st;
	bool same;

	pthread_mutex_lock(vnode_lock(fs, vn));
	same = c->stamp_valid && fstat(fd, &st) == 0 && same_ts(&st.st_mtim, &c->stamp_mtime) &&
	       same_ts(&st.st_ctim, &c->stamp_ctime) && st.st_size == c->stamp_size;
	if (!same) {
		veil_file_forget(&c->fst);
		c->changed_outside = true;
	}
	pthread_mutex_unlock(vnode_lock(fs, vn));
}

/* First opener of a file: the backing file may have changed while closed. */
static void note_open(struct veil_fs *fs, struct vnode *vn, struct vcontent *c)
{
	pthread_rwlock_wrlock(&c->io);
	pthread_mutex_lock(vnode_lock(fs, vn));
	if (vn->opens++ == 0)
		veil_file_forget(&c->fst);
	pthread_mutex_unlock(vnode_lock(fs, vn));
	pthread_rwlock_unlock(&c->io);
}

/* What RELEASE does: drop the handle finish_open() made, its fd and its open count. */
static void release_file(struct veil_fs *fs, struct vnode *vn, struct fuse_file_info *fi)
{
	struct vfile *f = vfile_of(fi);

	veil_handle_del(&fs->handles, &f->h);
	/* RELEASE errors never reach the application; the log has them. */
	if (close(f->fd) < 0 && f->written)
		veil_log(LOG_ERR, "%s: closing the cipher file failed, data written "
			 "may be lost: %s", path_of(fs, vn), strerror(errno));
	free(f);
	pthread_mutex_lock(vnode_lock(fs, vn));
	vn->opens--;
	pthread_mutex_unlock(vnode_lock(fs, vn));
}

static int finish_open(fuse_req_t req, struct veil_fs *fs, fuse_ino_t ino, struct vnode *vn,
		       int fd, struct fuse_file_info *fi)
{
	struct vfile *f = malloc(sizeof(*f));
	struct vcontent *c = vnode_content(fs, vn);
	int ret = 0;

	if (!f || !c) {
		free(f);
		close(fd);
		return -ENOMEM;
	}
	f->fd = fd;
	f->flags = fi->flags;
	f->written = (fi->flags & O_ACCMODE) != O_RDONLY;
	note_open(fs, vn, c);
	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY) {
		struct fault_seen seen;
		int ks = 0;

		pthread_rwlock_wrlock(&c->io);
		ret = veil_file_truncate(&fs->v->cc, fd, &c->fst, 0);
		seen = fault_of(&c->fst);
		if (ret == 0)
			ks = kill_setid(req, vn, fd); /* the kernel leaves O_TRUNC to us */
		pthread_rwlock_unlock(&c->io);
		setid_log(fs, vn, ks);
		if (ret < 0) {
			ret = -boundary_err(fs, vn, &seen, ret);
			pthread_mutex_lock(vnode_lock(fs, vn));
			vn->opens--;
			pthread_mutex_unlock(vnode_lock(fs, vn));
			close(fd);
			free(f);
			return ret;
		}
	}
	fi->fh = (uint64_t)(uintptr_t)f;
	veil_handle_add(&fs->handles, &f->h, vfile_close);
	switch (unchanged(fs, vn, c, fd)) {
	case 1:
		fi->keep_cache = 1;
		break;
	case -1:
		/*
		 * Changed behind our back: besides the pages (keep_cache 0), the
		 * kernel's cached size may be up to a timeout old, and reads stop
		 * there. Drop the cached attributes only (offset -1: no page
		 * work, so no lock the opener may hold is needed).
		 */
		veil_inval_attr(fs, ino);
		/* fall through */
	default:
		fi->keep_cache = 0;
	}
	return 0;
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	int fd, ret;

	if (fs->readonly && ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fd = vnode_open(fs, vn, backing_flags(fi->flags));
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	ret = vnode_check_live(fs, vn, fd);
	if (ret < 0) {
		close(fd);
		fuse_reply_err(req, -ret);
		return;
	}
	if (vn->type == S_IFREG) {
		uint64_t size;

		/* A damaged size shows as 0 in listings; opening it must not look fine. */
		if (veil_file_size(fd, fs->v->cc.bs, &size) == -EBADMSG) {
			veil_log(LOG_ERR, "%s: cipher file has an impossible size (damaged)",
				 path_of(fs, vn));
			close(fd);
			fuse_reply_err(req, EIO);
			return;
		}
	}
	ret = finish_open(req, fs, ino, vn, fd, fi);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_open(req, fi) != 0)
		release_file(fs, vn, fi); /* the opener is gone: no RELEASE will come */
}

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *dir = vnode_of(req, parent), *vn;
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	struct fuse_entry_param e;
	int fd, ret, is_long, stored, created;
	struct stat st;

	if (fs->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	mode = fs_new_mode(req, dir, mode);
	ret = fs_backing_name(fs, dir, name, enc, backing);
	if (ret < 0)
		goto err;
	is_long = ret;
	/* The sidecar of an existing object is left alone. */
	stored = is_long && fstatat(dir->fd, backing, &st, AT_SYMLINK_NOFOLLOW) < 0;
	if (stored) {
		ret = veil_longname_store(dir->fd, backing, enc);
		if (ret < 0)
			goto err;
	}
	/*
	 * O_EXCL: only a file this call created is given to the caller. A file
	 * that appeared meanwhile (or was there) is opened as an existing one,
	 * never chowned: a name checked first and opened later could by then
	 * be a hard link to someone else's file.
	 */
	for (int tries = 0;; tries++) {
		fd = openat(dir->fd, backing,
			    backing_flags(fi->flags) | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
		created = fd >= 0;
		if (fd >= 0 || errno != EEXIST || (fi->flags & O_EXCL))
			break;
		fd = veil_open_regular(dir->fd, backing, backing_flags(fi->flags), NULL);
		if (fd != -ENOENT || tries == 3) {
			if (fd < 0) {
				errno = fd == -EBADMSG ? EEXIST : -fd;
				fd = -1;
			}
			break;
		}
	}
	if (fd < 0) {
		ret = -errno;
		/*
		 * The sidecar written above may by now be the one of an object
		 * another mount of this cipher dir created meanwhile (its bytes
		 * are the same: they follow from the name and the dir IV).
		 * Remove it only while no object of that name exists.
		 */
		if (stored && ret != -EEXIST &&
		    fstatat(dir->fd, backing, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			veil_longname_remove(dir->fd, backing);
		goto err;
	}
	if (created) {
		uid_t uid;
		gid_t gid;

		/* Through the fd just created: never by name (see fs_new_owner). */
		if (fs_new_owner(req, dir, &uid, &gid))
			(void)!fchown(fd, uid, gid);
	}
	ret = fs_lookup_entry(fs, dir, name, &e);
	if (ret < 0) {
		close(fd);
		goto err;
	}
	vn = vnode_of(req, e.ino);
	ret = finish_open(req, fs, e.ino, vn, fd, fi);
	if (ret < 0) {
		vnode_forget(fs, vn, 1);
		goto err;
	}
	if (fi->flags & O_TRUNC)
		e.attr.st_size = 0;
	if (fuse_reply_create(req, &e, fi) != 0) {
		/* The creator is gone: no RELEASE, and no FORGET for this lookup. */
		release_file(fs, vn, fi);
		vnode_forget(fs, vn, 1);
	}
	return;
err:
	fuse_reply_err(req, -ret);
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	struct veil_fstate st;
	struct vcontent *c = vnode_content(fs, vn); /* made by the open */
	uint8_t *buf = c ? malloc(size ? size : 1) : NULL;
	ssize_t n;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_rwlock_rdlock(&c->io);
	/* Readers work on a copy: only exclusive holders change c->fst. */
	st = c->fst;
	n = veil_file_read(&fs->v->cc, vfile_of(fi)->fd, &st, buf, size, (uint64_t)off);
	pthread_rwlock_unlock(&c->io);
	if (n < 0) {
		struct fault_seen seen = fault_of(&st);

		fuse_reply_err(req, boundary_err(fs, vn, &seen, (int)n));
	} else {
		fuse_reply_buf(req, (const char *)buf, (size_t)n);
	}
	veil_wipe(&st, sizeof(st));
	veil_wipe(buf, n > 0 ? (size_t)n : 0);
	free(buf);
}

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	struct vfile *f = vfile_of(fi);
	struct veil_inval_job *inval = NULL;
	struct vcontent *c;
	struct fault_seen seen;
	ssize_t n;
	int ks;

	if (fs->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	c = vnode_content(fs, vn); /* made by the open */
	if (!c) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/*
	 * fi->flags are the file's flags at the time of this write. Without
	 * O_DIRECT the data came through the page cache, which already holds
	 * it; with it, pages of the range may hold what was there before.
	 * Writeback of mmap'ed pages comes from the cache by definition, and
	 * its pages stay under writeback until answered: never wait for them.
	 */
	if ((fi->flags & O_DIRECT) && !fi->writepage) {
		inval = malloc(sizeof(*inval));
		if (!inval) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	pthread_rwlock_wrlock(&c->io);
	if (f->flags & O_APPEND) {
		/* Append at the real end of file, whatever offset the kernel guessed. */
		uint64_t end;
		int r = veil_file_size(f->fd, fs->v->cc.bs, &end);

		if (r < 0) {
			pthread_rwlock_unlock(&c->io);
			free(inval);
			fuse_reply_err(req, r == -EBADMSG ? EIO : -r);
			return;
		}
		off = (off_t)end;
	}
	n = veil_file_write(&fs->v->cc, f->fd, &c->fst, buf, size, (uint64_t)off);
	seen = fault_of(&c->fst);
	ks = n > 0 ? kill_setid(req, vn, f->fd) : 0;
	if (ks > 0)
		veil_inval_attr(fs, ino);
	stamp(fs, vn, c, f->fd);
	pthread_rwlock_unlock(&c->io);
	setid_log(fs, vn, ks);
	if (n < 0) {
		free(inval);
		fuse_reply_err(req, boundary_err(fs, vn, &seen, (int)n));
	} else if (inval) {
		veil_inval_reply_write(fs, inval, req, ino, off, (size_t)n);
	} else {
		fuse_reply_write(req, (size_t)n);
	}
}

/*
 * Installed only where the backing store may report write errors late
 * (network and FUSE file systems; flush_needed() in mount.c): a close of
 * a duplicate of the backing fd makes such a store write back and report
 * what failed (NFS, SMB and FUSE all flush on every close), and the
 * application's close() gets that error. No fsync: only what the backing
 * store itself defers to close is asked for.
 */
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vfile *f = vfile_of(fi);
	int d;

	(void)ino;
	if (!f->written) {
		fuse_reply_err(req, 0);
		return;
	}
	d = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	if (d < 0 || close(d) < 0) {
		fuse_reply_err(req, errno == EINTR ? EIO : errno);
		return;
	}
	fuse_reply_err(req, 0);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	release_file(fs_of(req), vnode_of(req, ino), fi);
	fuse_reply_err(req, 0);
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	int fd = vfile_of(fi)->fd, r;

	(void)ino;
	r = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

static int truncate_vnode(fuse_req_t req, struct veil_fs *fs, struct vnode *vn,
			  struct fuse_file_info *fi, uint64_t size)
{
	struct vcontent *c = vnode_content(fs, vn);
	struct fault_seen seen;
	int fd, ret, ks = 0;

	if (!c)
		return -ENOMEM;
	if (fi && (vfile_of(fi)->flags & O_ACCMODE) != O_RDONLY)
		fd = vfile_of(fi)->fd;
	else
		fd = vnode_open(fs, vn, O_RDWR);
	if (fd < 0)
		return fd;
	pthread_rwlock_wrlock(&c->io);
	revalidate(fs, vn, c, fd);
	ret = veil_file_truncate(&fs->v->cc, fd, &c->fst, size);
	seen = fault_of(&c->fst);
	if (ret == 0)
		ks = kill_setid(req, vn, fd); /* the SETATTR reply carries the mode */
	stamp(fs, vn, c, fd);
	pthread_rwlock_unlock(&c->io);
	setid_log(fs, vn, ks);
	if (ret < 0)
		ret = -boundary_err(fs, vn, &seen, ret);
	if (!fi || fd != vfile_of(fi)->fd)
		close(fd);
	return ret;
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	char proc[64];
	struct stat st;
	int ret = 0, fd;

	if (fs->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fd = vnode_fd_get(fs, vn);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	fd_proc_path(fd, proc);
	if (to_set & FUSE_SET_ATTR_MODE) {
		if (vn->type == S_IFLNK)
			ret = -EOPNOTSUPP;
		else if (chmod(proc, attr->st_mode & 07777) < 0)
			ret = -errno;
		if (ret < 0)
			goto out;
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = to_set & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
		gid_t gid = to_set & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;

		if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			ret = -errno;
			goto out;
		}
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (vn->type != S_IFREG) {
			ret = vn->type == S_IFDIR ? -EISDIR : -EINVAL;
			goto out;
		}
		ret = truncate_vnode(req, fs, vn, fi, (uint64_t)attr->st_size);
		if (ret < 0)
			goto out;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		if (vn->type == S_IFLNK) {
			if (utimensat(fd, "", tv, AT_EMPTY_PATH) < 0)
				ret = errno == EINVAL ? -EPERM : -errno;
		} else if (utimensat(AT_FDCWD, proc, tv, 0) < 0) {
			ret = -errno;
		}
		if (ret < 0)
			goto out;
	}
	/*
	 * Metadata changes move ctime but leave the cached contents valid. A
	 * file without content state was never opened: no pages, no record.
	 */
	if (vn->type == S_IFREG && !(to_set & FUSE_SET_ATTR_SIZE) && vnode_content_peek(vn))
		stamp(fs, vn, vnode_content_peek(vn), fd);
	ret = fs_stat(fs, vn, &st);
out:
	vnode_fd_put(fs, vn);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		     struct fuse_file_info *fi)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	struct vfile *f = vfile_of(fi);
	struct vcontent *c;
	struct fault_seen seen;
	uint64_t size;
	int ret, ks = 0;

	if (mode != 0) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (fs->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (offset < 0 || length <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	c = vnode_content(fs, vn); /* made by the open */
	if (!c) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_rwlock_wrlock(&c->io);
	ret = veil_file_size(f->fd, fs->v->cc.bs, &size);
	/* Growing writes real encrypted zero blocks: there are no holes in veilfs. */
	if (ret == 0 && (uint64_t)offset + (uint64_t)length > size)
		ret = veil_file_truncate(&fs->v->cc, f->fd, &c->fst,
					 (uint64_t)offset + (uint64_t)length);
	seen = fault_of(&c->fst);
	if (ret == 0)
		ks = kill_setid(req, vn, f->fd);
	if (ks > 0)
		veil_inval_attr(fs, ino);
	stamp(fs, vn, c, f->fd);
	pthread_rwlock_unlock(&c->io);
	setid_log(fs, vn, ks);
	if (ret < 0)
		ret = -boundary_err(fs, vn, &seen, ret);
	fuse_reply_err(req, -ret);
}

/*
 * Whether directory @dfd has no dir IV and holds nothing but veilfs's own
 * crash leftovers: the target of a rename over a directory interrupted after
 * it lost its IV, or, in a synced copy, a new directory whose IV has not
 * arrived yet. It has no name to decrypt, so it lists as empty; no IV is
 * written (with a sync tool that would make two), so nothing can be created
 * in it, but it can be removed or renamed over.
 */
static bool empty_without_iv(int dfd)
{
	struct stat st;
	struct dirent *de;
	DIR *dp;
	int fd;
	bool only = true;

	if (fstatat(dfd, VEIL_DIRIV_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
		return false;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return false;
	}
	while (only && (de = readdir(dp)))
		only = veil_entry_classify(de->d_name) == VEIL_ENTRY_DOT ||
		       veil_temp_is_name(de->d_name);
	closedir(dp);
	return only;
}

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	struct vdir *d = calloc(1, sizeof(*d));
	int ret;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Only a directory's vnode keeps its fd for good (fs.h): use no other's. */
	if (vn->type != S_IFDIR) {
		free(d);
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	/* Every entry such a directory holds is skipped as a leftover: no IV is used. */
	ret = empty_without_iv(vn->fd) ? 0 : vnode_iv(fs, vn, d->iv);
	if (ret < 0)
		goto err;
	d->fd = -1;
	if (fs_of(req)->nodiratime)
		d->fd = openat(vn->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME);
	if (d->fd < 0) /* not asked for, or EPERM: another user's directory */
		d->fd = openat(vn->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0) {
		ret = -errno;
		goto err;
	}
	d->dp = fdopendir(d->fd);
	if (!d->dp) {
		ret = -errno;
		close(d->fd);
		goto err;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->cache_readdir = 0;
	veil_handle_add(&fs_of(req)->handles, &d->h, vdir_close);
	if (fuse_reply_open(req, fi) != 0) { /* the opener is gone: no RELEASEDIR will come */
		veil_handle_del(&fs_of(req)->handles, &d->h);
		vdir_close(&d->h);
	}
	return;
err:
	free(d);
	fuse_reply_err(req, -ret);
}

/*
 * The path of directory @dir in the cipher directory ("." for the root),
 * for log lines that must not carry plaintext names. Directories keep
 * their fd for life: the kernel knows their current path.
 */
static void cipher_path(struct veil_fs *fs, struct vnode *dir, char *buf, size_t n)
{
	char proc[64], root[4096];
	ssize_t rl, dl;

	fd_proc_path(fs->root.fd, proc);
	rl = readlink(proc, root, sizeof(root) - 1);
	fd_proc_path(dir->fd, proc);
	dl = readlink(proc, buf, n - 1);
	if (rl < 0 || dl < 0) {
		snprintf(buf, n, "?");
		return;
	}
	buf[dl] = '\0';
	if (dl == rl && memcmp(buf, root, (size_t)rl) == 0)
		snprintf(buf, n, ".");
	else if (dl > rl && memcmp(buf, root, (size_t)rl) == 0 && buf[rl] == '/')
		memmove(buf, buf + rl + 1, (size_t)(dl - rl));
}

/* Remember which foreign names were reported, so each is logged once. */
static int foreign_seen(const struct vnode *dir, const char *name)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	static uint64_t seen[4096];
	static size_t nseen;
	uint8_t h[16];
	uint64_t key;
	int found = 0;

	veil_hash(h, sizeof(h), NULL, 0, &dir->ino, sizeof(dir->ino), name, strlen(name), NULL, 0);
	memcpy(&key, h, sizeof(key));
	pthread_mutex_lock(&m);
	for (size_t i = 0; i < nseen; i++)
		if (seen[i] == key) {
			found = 1;
			break;
		}
	if (!found && nseen < sizeof(seen) / sizeof(seen[0]))
		seen[nseen++] = key;
	pthread_mutex_unlock(&m);
	return found;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *dir = vnode_of(req, ino);
	struct vdir *d = (struct vdir *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t rem = size;
	char name[VEIL_NAME_MAX + 1];
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	for (;;) {
		size_t entsize;
		bool other_iv;
		off_t next;
		long n;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				if (errno && p == buf)
					err = errno;
				break;
			}
		}
		next = d->entry->d_off;
		n = veil_entry_decode_ex(fs->v, d->fd, d->iv, d->entry->d_name, name, &other_iv);
		if (n >= 0 && other_iv) {
			/* Under another dir IV (§7): lookups must try it too. */
			pthread_mutex_lock(vnode_lock(fs, dir));
			dir->alt = VN_ALT_SOME;
			pthread_mutex_unlock(vnode_lock(fs, dir));
		}
		if (n < 0 && veil_entry_classify(d->entry->d_name) == VEIL_ENTRY_DOT) {
			n = (long)strlen(d->entry->d_name); /* "." or ".." */
			memcpy(name, d->entry->d_name, (size_t)n + 1);
		} else if (n == -ENOENT) {
			/* Part of the format. Stale leftovers must not pile up (§13.3). */
			if (!fs->readonly && veil_temp_is_name(d->entry->d_name) &&
			    veil_temp_remove(d->fd, d->entry->d_name, VEIL_TEMP_STALE_ONLY) == 0)
				veil_log(LOG_INFO, "directory %s: removed a stale leftover of an "
					 "interrupted operation", path_of(fs, dir));
			goto skip;
		} else if (n < 0 && veil_diriv_conflict_name(d->entry->d_name)) {
			/* Names made on another machine may be under this second IV. */
			pthread_mutex_lock(vnode_lock(fs, dir));
			dir->alt = VN_ALT_SOME;
			pthread_mutex_unlock(vnode_lock(fs, dir));
			if (!foreign_seen(dir, d->entry->d_name))
				veil_log(LOG_NOTICE,
					 "directory %s: a second directory IV from a sync tool (%s): "
					 "names made under it are shown too",
					 path_of(fs, dir), d->entry->d_name);
			goto skip;
		} else if (n < 0) {
			if (!foreign_seen(dir, d->entry->d_name)) {
				char cpath[4096];

				cipher_path(fs, dir, cpath, sizeof(cpath));
				veil_log(LOG_WARNING,
					 "cipher directory %s: skipping '%s': %s", cpath, d->entry->d_name,
					 n == -EEXIST ? "a sync conflict copy whose name an entry of the "
							"directory has"
					 : n == -EBADMSG ? "not a name of this volume (does not "
							   "authenticate)"
							 : "not a name of this volume (foreign file)");
			}
			goto skip;
		}
		if (veil_entry_classify(d->entry->d_name) == VEIL_ENTRY_FOREIGN &&
		    !foreign_seen(dir, d->entry->d_name)) {
			char cpath[4096];

			/* Anyone can make a copy appear: its plaintext name is logged only with -d. */
			cipher_path(fs, dir, cpath, sizeof(cpath));
			if (fs->log_names)
				veil_log(LOG_NOTICE, "directory %s: sync conflict copy shown as '%s'",
					 path_of(fs, dir), name);
			else
				veil_log(LOG_NOTICE,
					 "cipher directory %s: '%s' is shown as a sync conflict copy",
					 cpath, d->entry->d_name);
		}
		if (plus) {
			struct fuse_entry_param e;

			if (veil_entry_classify(d->entry->d_name) == VEIL_ENTRY_DOT) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = d->entry->d_ino;
				e.attr.st_mode = (mode_t)d->entry->d_type << 12;
				entsize = fuse_add_direntry_plus(req, p, rem, name, &e, next);
			} else {
				int r;

				/* Whether it fits first: a lookup would have to be undone. */
				entsize = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
				if (entsize > rem)
					break;
				/*
				 * The name was decrypted under the dir IV, so the entry is its
				 * backing name. A conflict copy's shown name, or one under
				 * another dir IV, is looked up by name: another entry may have
				 * it.
				 */
				if (other_iv || veil_entry_classify(d->entry->d_name) ==
							VEIL_ENTRY_FOREIGN)
					r = fs_lookup_entry(fs, dir, name, &e);
				else
					r = fs_lookup_listed(fs, dir, d->entry->d_name, &e);
				if (r < 0)
					goto skip; /* vanished meanwhile */
				entsize = fuse_add_direntry_plus(req, p, rem, name, &e, next);
			}
		} else {
			struct stat st = { 0 };

			st.st_ino = d->entry->d_ino;
			st.st_mode = (mode_t)d->entry->d_type << 12;
			entsize = fuse_add_direntry(req, p, rem, name, &st, next);
		}
		if (entsize > rem)
			break;
		p += entsize;
		rem -= entsize;
skip:
		d->entry = NULL;
		d->offset = next;
	}
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vdir *d = (struct vdir *)(uintptr_t)fi->fh;

	(void)ino;
	veil_handle_del(&fs_of(req)->handles, &d->h);
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct vdir *d = (struct vdir *)(uintptr_t)fi->fh;
	int r;

	(void)ino;
	r = datasync ? fdatasync(d->fd) : fsync(d->fd);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

/*
 * POSIX ACLs are permission metadata like the mode bits, which veilfs
 * keeps in the clear on the backing object (docs/threat-model.md): they
 * are stored there as the backing filesystem's own ACLs, so it applies
 * default ACLs to new files and keeps the mask in step with chmod, and
 * the kernel enforces them (FUSE_CAP_POSIX_ACL, default_permissions).
 */
static bool acl_name(const struct veil_fs *fs, const char *name)
{
	return fs->posix_acl && (strcmp(name, "system.posix_acl_access") == 0 ||
				 strcmp(name, "system.posix_acl_default") == 0);
}

/* getxattr of the backing object, answered as the kernel asked (@size 0: the length). */
static void reply_backing_xattr(fuse_req_t req, struct veil_fs *fs, struct vnode *vn,
				const char *name, size_t size)
{
	char proc[64];
	char *buf = NULL;
	ssize_t n;
	int fd = vnode_fd_get(fs, vn);

	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	fd_proc_path(fd, proc);
	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		goto out;
	}
	n = getxattr(proc, name, buf, size);
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
out:
	vnode_fd_put(fs, vn);
	free(buf);
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	char cname[256], proc[64];
	uint8_t *cval;
	long n;
	int ret = 0;

	if (fs->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (acl_name(fs, name)) {
		ret = vnode_fd_get(fs, vn);
		if (ret >= 0) {
			fd_proc_path(ret, proc);
			ret = setxattr(proc, name, value, size, flags) < 0 ? errno : 0;
			vnode_fd_put(fs, vn);
		} else {
			ret = -ret;
		}
		fuse_reply_err(req, ret);
		return;
	}
	n = veil_xattr_name_encrypt(fs->v->keys, name, cname);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	/*
	 * The kernel refuses more than 64 KiB with E2BIG itself. What is left
	 * over is veilfs' own overhead (nonce and tag): a lack of space, which
	 * a local filesystem reports as ENOSPC.
	 */
	if (size > VEIL_XATTR_VALUE_MAX) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	cval = malloc(size + VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES);
	if (!cval) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	veil_xattr_value_encrypt(fs->v->keys, cname, (const uint8_t *)value, size, cval);
	ret = vnode_fd_get(fs, vn);
	if (ret >= 0) {
		int fd = ret;

		fd_proc_path(fd, proc);
		ret = setxattr(proc, cname, cval, size + VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES,
			       flags) < 0
			      ? errno
			      : 0;
		vnode_fd_put(fs, vn);
	} else {
		ret = -ret;
	}
	free(cval);
	fuse_reply_err(req, ret);
}

/*
 * The request counters, as the virtual xattr VEIL_COUNTERS_XATTR of the
 * root (a namespace veilfs stores nothing in): for the user who mounted
 * and for root only.
 */
static void reply_counters(fuse_req_t req, struct veil_fs *fs, size_t size)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	size_t len;
	char *buf;

	if (ctx->uid != 0 && ctx->uid != geteuid()) {
		fuse_reply_err(req, EACCES);
		return;
	}
	/* The whole text or an error: a reader never gets a cut line. */
	buf = veil_counters_text(fs, &len);
	if (!buf)
		fuse_reply_err(req, ENOMEM);
	else if (len > XATTR_SIZE_MAX)
		fuse_reply_err(req, E2BIG);
	else
		veil_reply_xattr(req, buf, len, size);
	free(buf);
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	char cname[256], proc[64];
	uint8_t *cval = NULL, *val = NULL;
	size_t cap = 0;
	ssize_t clen;
	long n;
	int fd;

	if (acl_name(fs, name)) {
		reply_backing_xattr(req, fs, vn, name, size);
		return;
	}
	if (vn == &fs->root && strcmp(name, VEIL_COUNTERS_XATTR) == 0) {
		reply_counters(req, fs, size);
		return;
	}
	n = veil_xattr_name_encrypt(fs->v->keys, name, cname);
	if (n < 0) {
		/* Other namespaces are not stored by veilfs: they simply don't exist. */
		fuse_reply_err(req, n == -EOPNOTSUPP ? ENODATA : (int)-n);
		return;
	}
	fd = vnode_fd_get(fs, vn);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	fd_proc_path(fd, proc);
	clen = getxattr(proc, cname, NULL, 0);
	if (clen < 0) {
		fuse_reply_err(req, errno);
		vnode_fd_put(fs, vn);
		return;
	}
	cap = (size_t)clen + 1;
	cval = malloc(cap);
	val = malloc(cap);
	if (!cval || !val) {
		fuse_reply_err(req, ENOMEM);
		goto out;
	}
	clen = getxattr(proc, cname, cval, (size_t)clen);
	if (clen < 0) {
		fuse_reply_err(req, errno == ERANGE ? EAGAIN : errno);
		goto out;
	}
	n = veil_xattr_value_decrypt(fs->v->keys, cname, cval, (size_t)clen, val);
	if (n < 0) {
		veil_log(LOG_ERR, "%s: xattr %s does not authenticate", path_of(fs, vn), name);
		fuse_reply_err(req, EIO);
	} else {
		veil_reply_xattr(req, val, (size_t)n, size);
	}
out:
	vnode_fd_put(fs, vn);
	free(cval);
	/* The decrypted value: plaintext. */
	if (val)
		veil_wipe(val, cap);
	free(val);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	char proc[64], plain[256];
	char *clist = NULL, *out = NULL;
	ssize_t clen;
	size_t olen = 0, cap = 0;
	int fd;

	if (vn->type == S_IFLNK) {
		/* Symlinks carry no user xattrs (the kernel forbids them). */
		veil_reply_xattr(req, NULL, 0, size);
		return;
	}
	fd = vnode_fd_get(fs, vn);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	fd_proc_path(fd, proc);
	clen = listxattr(proc, NULL, 0);
	if (clen < 0) {
		fuse_reply_err(req, errno);
		vnode_fd_put(fs, vn);
		return;
	}
	cap = (size_t)clen + 1;
	clist = malloc(cap);
	out = malloc(cap);
	if (!clist || !out) {
		fuse_reply_err(req, ENOMEM);
		goto done;
	}
	clen = listxattr(proc, clist, (size_t)clen);
	if (clen < 0) {
		fuse_reply_err(req, errno == ERANGE ? EAGAIN : errno);
		goto done;
	}
	for (char *p = clist; p < clist + clen; p += strlen(p) + 1) {
		long n = veil_xattr_name_decrypt(fs->v->keys, p, plain);

		if (n < 0 && acl_name(fs, p)) {
			n = (long)strlen(p);
			memcpy(plain, p, (size_t)n + 1);
		}
		if (n < 0)
			continue;
		/* Plaintext names are never longer than their encrypted form. */
		memcpy(out + olen, plain, (size_t)n + 1);
		olen += (size_t)n + 1;
	}
	veil_reply_xattr(req, out, olen, size);
done:
	vnode_fd_put(fs, vn);
	free(clist);
	/* The decrypted names: plaintext. */
	veil_wipe(plain, sizeof(plain));
	if (out)
		veil_wipe(out, cap);
	free(out);
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	char cname[256], proc[64];
	long n;

	if (fs->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (acl_name(fs, name))
		snprintf(cname, sizeof(cname), "%s", name); /* the backing object's own ACL */
	else if ((n = veil_xattr_name_encrypt(fs->v->keys, name, cname)) < 0) {
		fuse_reply_err(req, n == -EOPNOTSUPP ? ENODATA : (int)-n);
		return;
	}
	n = vnode_fd_get(fs, vn);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	fd_proc_path((int)n, proc);
	n = removexattr(proc, cname) < 0 ? errno : 0;
	vnode_fd_put(fs, vn);
	fuse_reply_err(req, (int)n);
}
