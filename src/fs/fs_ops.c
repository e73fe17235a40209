/* SPDX-License-Identifier: MIT */
/*
 * Namespace operations of the forward front end: lookup, attributes,
 * directories, create/mkdir/mknod/symlink/link, unlink/rmdir/rename.
 * Every backing call is relative to a vnode's O_PATH fd with O_NOFOLLOW.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs_priv.h"
#include "lib/testhook.h"
#include "lib/temp.h"

/* The backing name of @name in directory @dir. Returns 1 for a long name. */
int fs_backing_name(struct veil_fs *fs, struct vnode *dir, const char *name, char *enc,
		    char *backing)
{
	uint8_t iv[VEIL_DIRIV_BYTES];
	int ret;

	if (dir->type != S_IFDIR)
		return -ENOTDIR;
	ret = vnode_iv(fs, dir, iv);
	if (ret < 0)
		return ret;
	if (strlen(name) > VEIL_NAME_MAX)
		return -ENAMETOOLONG;
	return veil_name_to_backing(fs->v, iv, name, enc, backing);
}

/*
 * The backing name of an existing entry @name of @dir: its encrypted name,
 * or, for the display name of a sync tool's conflict copy, that copy's
 * name. Returns 1 for a long name, 0 otherwise, or -errno.
 */
int fs_existing_backing(struct veil_fs *fs, struct vnode *dir, const char *name, char *enc,
			char *backing)
{
	char enc2[VEIL_ENCNAME_MAX + 1], backing2[VEIL_ENCNAME_MAX + 1];
	uint8_t iv[VEIL_DIRIV_BYTES];
	struct stat st;
	int ret = fs_backing_name(fs, dir, name, enc, backing), r;
	bool alt;

	if (ret < 0)
		return ret;
	pthread_mutex_lock(vnode_lock(fs, dir));
	alt = dir->alt == VN_ALT_SOME;
	pthread_mutex_unlock(vnode_lock(fs, dir));
	if (!alt && !veil_conflict_name(name))
		return ret;
	if (fstatat(dir->fd, backing, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
		return ret;
	if (alt) {
		r = veil_name_to_backing_secondary(fs->v, dir->fd, name, enc2, backing2);
		if (r >= 0) {
			memcpy(enc, enc2, strlen(enc2) + 1);
			memcpy(backing, backing2, strlen(backing2) + 1);
			return r;
		}
	}
	if (!veil_conflict_name(name) || vnode_iv(fs, dir, iv) < 0 ||
	    veil_conflict_find(fs->v, dir->fd, iv, name, backing) < 0)
		return ret; /* not a conflict copy either: the caller sees ENOENT */
	return 0;
}

/*
 * A lookup in @dir failed with ENOENT: if nobody looked yet, find out
 * whether @dir has a second dir IV. True if it has one (look again).
 */
static bool learn_alt(struct veil_fs *fs, struct vnode *dir)
{
	uint8_t alt[VEIL_DIRIV_SECONDARY_MAX][VEIL_DIRIV_BYTES];
	int state, n;

	pthread_mutex_lock(vnode_lock(fs, dir));
	state = dir->alt;
	pthread_mutex_unlock(vnode_lock(fs, dir));
	if (state != VN_ALT_UNKNOWN)
		return false;
	n = veil_diriv_secondary(dir->fd, alt, VEIL_DIRIV_SECONDARY_MAX);
	pthread_mutex_lock(vnode_lock(fs, dir));
	dir->alt = n > 0 ? VN_ALT_SOME : VN_ALT_NONE;
	pthread_mutex_unlock(vnode_lock(fs, dir));
	return n > 0;
}

/* Turn backing attributes into plaintext ones. */
int fs_fix_attr(struct veil_fs *fs, struct vnode *vn, struct stat *st)
{
	if (S_ISREG(st->st_mode)) {
		uint64_t size;

		if (veil_content_plain_size((uint64_t)st->st_size, fs->v->cc.bs, &size) < 0) {
			veil_log(LOG_ERR, "%s: cipher file size %lld is impossible (damaged file)",
				 vn ? path_of(fs, vn) : "?", (long long)st->st_size);
			size = 0;
		}
		st->st_size = (off_t)size;
	} else if (S_ISLNK(st->st_mode) && vn) {
		char *buf = malloc(VEIL_LINK_TARGET_MAX + 1);
		int fd = vnode_fd_get(fs, vn);
		long n = buf && fd >= 0 ? veil_readlink_at(fs->v, fd, "", buf) : -ENOMEM;

		if (fd >= 0)
			vnode_fd_put(fs, vn);
		free(buf);
		st->st_size = n < 0 ? 0 : n;
	}
	return 0;
}

int fs_stat(struct veil_fs *fs, struct vnode *vn, struct stat *st)
{
	int fd = vnode_fd_get(fs, vn), r;
	struct vcontent *c = NULL;
	bool locked = false;

	if (fd < 0)
		return fd;
	/*
	 * A write may be between two syscalls: read a file's size under the
	 * content lock. A file without content state has never been opened or
	 * resized: holding its lock keeps that so (vnode_content() takes it)
	 * while the size is read.
	 */
	if (vn->type == S_IFREG) {
		c = vnode_content_peek(vn);
		if (!c) {
			pthread_mutex_lock(vnode_lock(fs, vn));
			c = vnode_content_peek(vn);
			if (c)
				pthread_mutex_unlock(vnode_lock(fs, vn));
			else
				locked = true;
		}
		if (c)
			pthread_rwlock_rdlock(&c->io);
	}
	r = fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	if (c)
		pthread_rwlock_unlock(&c->io);
	else if (locked)
		pthread_mutex_unlock(vnode_lock(fs, vn));
	vnode_fd_put(fs, vn);
	if (r < 0)
		return r;
	return fs_fix_attr(fs, vn, st);
}

/*
 * Fill @e for the object that backing name @backing holds in @dir, taking
 * a lookup reference. @listed: @backing was just read from @dir's listing,
 * so it is known to be the backing name of the plaintext name; the
 * object is found by fstatat() and (dev, ino) without opening it when the
 * daemon knows it already, and a new one that is not a directory or a
 * symlink gets a vnode without an fd (reopened by name when first used).
 * Otherwise it is opened (O_PATH) first, as a lookup by name does.
 */
static int lookup_backing(struct veil_fs *fs, struct vnode *dir, const char *backing,
			  bool listed, struct fuse_entry_param *e)
{
	struct stat st;
	struct vnode *vn = NULL;
	bool fresh = false;
	int fd, ret, err;

	memset(e, 0, sizeof(*e));
	if (listed) {
		if (fstatat(dir->fd, backing, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		/* A symlink's size is its decrypted target's length: read through its fd. */
		if (!S_ISLNK(st.st_mode)) {
			vn = vnode_get_named(fs, dir, backing, &st, &fresh, &err);
			if (!vn && err != EINVAL) /* EINVAL: a new directory, opened below */
				return -err;
		}
	}
	if (!vn) {
		fd = openat(dir->fd, backing, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			ret = -errno;
			close(fd);
			return ret;
		}
		vn = vnode_get(fs, fd, &st, &err);
		if (!vn)
			return -err;
	}
	if (!fresh)
		vnode_set_name(fs, vn, dir, backing);
	/*
	 * A file this daemon may be writing has its size read under the
	 * content lock (fs_stat). One without content state was never opened
	 * or resized here, so the fstatat() above saw no write half done.
	 */
	if (S_ISREG(st.st_mode) && (!listed || vnode_content_peek(vn))) {
		ret = fs_stat(fs, vn, &st);
		if (ret < 0) {
			vnode_forget(fs, vn, 1);
			return ret;
		}
	} else {
		fs_fix_attr(fs, vn, &st);
	}
	e->ino = vn == &fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)vn;
	e->attr = st;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
	return 0;
}

/* Look up @name in @dir, filling @e; takes a lookup reference. */
int fs_lookup_entry(struct veil_fs *fs, struct vnode *dir, const char *name,
		    struct fuse_entry_param *e)
{
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	int ret;

	memset(e, 0, sizeof(*e));
	ret = fs_existing_backing(fs, dir, name, enc, backing);
	if (ret < 0)
		return ret;
	ret = lookup_backing(fs, dir, backing, false, e);
	if (ret == -ENOENT && learn_alt(fs, dir)) {
		ret = fs_existing_backing(fs, dir, name, enc, backing);
		if (ret < 0)
			return ret;
		ret = lookup_backing(fs, dir, backing, false, e);
	}
	return ret;
}

int fs_lookup_listed(struct veil_fs *fs, struct vnode *dir, const char *backing,
		     struct fuse_entry_param *e)
{
	return lookup_backing(fs, dir, backing, true, e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int ret = fs_lookup_entry(fs_of(req), vnode_of(req, parent), name, &e);

	if (ret == -ENOENT) {
		/* Negative entry: cache the absence as long as a positive one. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs_of(req)->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	vnode_forget(fs_of(req), vnode_of(req, ino), n);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++)
		vnode_forget(fs_of(req), vnode_of(req, f[i].ino), f[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int ret;

	(void)fi;
	ret = fs_stat(fs_of(req), vnode_of(req, ino), &st);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs_of(req)->timeout);
}

/*
 * New objects belong to the caller when the daemon runs as root. Returns
 * false when nothing needs changing. Ownership is always set through an fd
 * on the object itself, never by name: someone who can write to the cipher
 * directory could otherwise swap another file in under that name.
 */
mode_t fs_new_mode(fuse_req_t req, struct vnode *dir, mode_t mode)
{
	uint8_t acl[4 + 8 * 64];
	unsigned int u = 7, g = 7, o = 7, mask = 8;
	char proc[64];
	ssize_t n;

	if (!fs_of(req)->dont_mask)
		return mode; /* the kernel applied the umask already */
	/*
	 * The kernel left the umask to us. A local filesystem ignores it under
	 * a default ACL and masks the mode with that ACL's owner, mask (or
	 * group) and other entries instead. The backing filesystem applies the
	 * ACL to the new object as well, but veilfs sets some modes afterwards
	 * (directories are made 0700 and chmodded), so the mode is masked here.
	 * The value is the kernel's xattr form: a 4-byte version, then 8-byte
	 * entries (le16 tag, le16 perm, le32 id).
	 */
	fd_proc_path(dir->fd, proc);
	n = getxattr(proc, "system.posix_acl_default", acl, sizeof(acl));
	if (n < 4 + 8)
		return mode & ~fuse_req_ctx(req)->umask; /* none (or one we cannot read) */
	for (ssize_t i = 4; i + 8 <= n; i += 8) {
		unsigned int tag = acl[i] | (unsigned int)acl[i + 1] << 8, perm = acl[i + 2] & 7;

		if (tag == 0x01) /* ACL_USER_OBJ */
			u = perm;
		else if (tag == 0x04) /* ACL_GROUP_OBJ */
			g = perm;
		else if (tag == 0x10) /* ACL_MASK */
			mask = perm;
		else if (tag == 0x20) /* ACL_OTHER */
			o = perm;
	}
	if (mask != 8)
		g = mask;
	return (mode & ~(mode_t)0777) | (mode & (u << 6 | g << 3 | o));
}

bool fs_new_owner(fuse_req_t req, struct vnode *dir, uid_t *uid, gid_t *gid)
{
	struct veil_fs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat pst;

	if (!fs->is_root)
		return false;
	*uid = ctx->uid;
	*gid = ctx->gid;
	if (fstatat(dir->fd, "", &pst, AT_EMPTY_PATH) == 0 && (pst.st_mode & S_ISGID))
		*gid = pst.st_gid;
	return *uid != 0 || *gid != 0;
}

/* Prepare a new name: for a long name, its sidecar goes first. */
static int new_name(struct veil_fs *fs, struct vnode *dir, const char *name, char *enc,
		    char *backing, int *is_long)
{
	int ret;

	if (fs->readonly)
		return -EROFS;
	ret = fs_backing_name(fs, dir, name, enc, backing);
	if (ret < 0)
		return ret;
	*is_long = ret;
	if (ret == 1) {
		struct stat st;

		/* Don't touch the sidecar of an existing object. */
		if (fstatat(dir->fd, backing, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return -EEXIST;
		ret = veil_longname_store(dir->fd, backing, enc);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void undo_new_name(struct vnode *dir, const char *backing, int is_long)
{
	if (is_long)
		veil_longname_remove(dir->fd, backing);
}

static void reply_new_entry(fuse_req_t req, struct vnode *dir, const char *name)
{
	struct fuse_entry_param e;
	int ret = fs_lookup_entry(fs_of(req), dir, name, &e);

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *dir = vnode_of(req, parent);
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	uint8_t iv[VEIL_DIRIV_BYTES];
	struct stat pst;
	uid_t uid;
	gid_t gid;
	int is_long = 0, ret;

	mode = fs_new_mode(req, dir, mode);
	ret = new_name(fs, dir, name, enc, backing, &is_long);
	if (ret < 0)
		goto err;
	if (fstatat(dir->fd, "", &pst, AT_EMPTY_PATH) == 0 && (pst.st_mode & S_ISGID))
		mode |= S_ISGID;
	if (!fs_new_owner(req, dir, &uid, &gid))
		uid = (uid_t)-1, gid = (gid_t)-1;
	ret = veil_mkdir_diriv_owned(dir->fd, backing, mode, uid, gid, iv);
	if (ret < 0) {
		undo_new_name(dir, backing, is_long);
		goto err;
	}
	reply_new_entry(req, dir, name);
	return;
err:
	fuse_reply_err(req, -ret);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *dir = vnode_of(req, parent);
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	int is_long = 0, ret;

	mode = fs_new_mode(req, dir, mode);
	ret = new_name(fs, dir, name, enc, backing, &is_long);
	if (ret < 0)
		goto err;
	{
		/* Created with the caller's filesystem ids (per thread), so no chown by name. */
		uid_t uid;
		gid_t gid;
		bool as = fs_new_owner(req, dir, &uid, &gid);

		if (as) {
			setfsgid(gid);
			setfsuid(uid);
		}
		ret = mknodat(dir->fd, backing, mode, rdev) < 0 ? -errno : 0;
		if (as) {
			setfsuid(0);
			setfsgid(0);
		}
	}
	if (ret < 0) {
		undo_new_name(dir, backing, is_long);
		goto err;
	}
	reply_new_entry(req, dir, name);
	return;
err:
	fuse_reply_err(req, -ret);
}

/*
 * Give a new symlink to the caller through an O_PATH fd, after checking
 * that the object under the name is a symlink with the target just written
 * (a fresh random nonce makes it unique).
 */
static void chown_new_link(fuse_req_t req, struct vnode *dir, const char *backing,
			   const char *target)
{
	struct veil_fs *fs = fs_of(req);
	char *got = malloc(VEIL_LINK_TARGET_MAX + 1);
	uid_t uid;
	gid_t gid;
	int fd;

	if (!got || !fs_new_owner(req, dir, &uid, &gid)) {
		free(got);
		return;
	}
	fd = openat(dir->fd, backing, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && veil_readlink_at(fs->v, fd, "", got) >= 0 && strcmp(got, target) == 0)
		(void)!fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (fd >= 0)
		close(fd);
	free(got);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *dir = vnode_of(req, parent);
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	int is_long = 0, ret;

	ret = new_name(fs, dir, name, enc, backing, &is_long);
	if (ret < 0)
		goto err;
	ret = veil_symlink_at(fs->v, link, dir->fd, backing);
	if (ret < 0) {
		undo_new_name(dir, backing, is_long);
		goto err;
	}
	chown_new_link(req, dir, backing, link);
	reply_new_entry(req, dir, name);
	return;
err:
	fuse_reply_err(req, -ret);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino), *dir = vnode_of(req, newparent);
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	char proc[64];
	int is_long = 0, ret;

	if (vn->type == S_IFDIR) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = new_name(fs, dir, newname, enc, backing, &is_long);
	if (ret < 0)
		goto err;
	ret = vnode_fd_get(fs, vn);
	if (ret < 0) {
		undo_new_name(dir, backing, is_long);
		goto err;
	}
	fd_proc_path(ret, proc);
	ret = linkat(AT_FDCWD, proc, dir->fd, backing, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
	/* A store without hard links (sshfs -o disable_hardlink): link(2)'s EPERM. */
	if (ret == -ENOSYS || ret == -EOPNOTSUPP)
		ret = -EPERM;
	vnode_fd_put(fs, vn);
	if (ret < 0) {
		undo_new_name(dir, backing, is_long);
		goto err;
	}
	reply_new_entry(req, dir, newname);
	return;
err:
	fuse_reply_err(req, -ret);
}

/* Does cipher directory @dfd hold nothing but its dir IV (and temporaries)? */
static int dir_scan_empty(int dfd, bool temps_too)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int ret = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		enum veil_entry_kind k = veil_entry_classify(de->d_name);

		if (k != VEIL_ENTRY_DOT && k != VEIL_ENTRY_DIRIV &&
		    !(temps_too && k == VEIL_ENTRY_TEMP)) {
			ret = -ENOTEMPTY;
			break;
		}
	}
	closedir(d);
	return ret;
}

/*
 * Is the cipher directory @dfd, about to be removed or replaced, empty in
 * plaintext terms? Leftovers of interrupted operations (veilfs.tmp.*) do not
 * count: once nothing else is there they are removed (docs/format.md §13.3,
 * rule 2), except those this daemon is using right now, which make it not
 * empty. A directory that is not empty anyway keeps them: another mount's
 * work in progress in it is left alone.
 */
static int dir_plain_empty(int dfd)
{
	int ret = dir_scan_empty(dfd, true);

	if (ret < 0)
		return ret;
	ret = veil_temp_sweep(dfd, 0);
	if (ret < 0)
		return ret;
	if (ret > 0)
		return -ENOTEMPTY;
	return dir_scan_empty(dfd, false);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *dir = vnode_of(req, parent);
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	struct stat st;
	char blob[VEIL_LONGNAME_LEN + 1] = "";
	int ret;

	if (fs->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	ret = fs_existing_backing(fs, dir, name, enc, backing);
	if (ret < 0)
		goto out;
	if (fstatat(dir->fd, backing, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ret = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		goto out;
	}
	veil_symlink_blob(dir->fd, backing, blob);
	vnode_name_going(fs, dir, backing, st.st_dev, st.st_ino);
	if (unlinkat(dir->fd, backing, 0) < 0) {
		ret = -errno;
		goto out;
	}
	/* The link is gone: now its target blob, if it had one, may go too. */
	if (blob[0])
		unlinkat(fs->v->dirfd, blob, 0);
	if (ret == 1)
		veil_longname_remove(dir->fd, backing);
	ret = 0;
out:
	fuse_reply_err(req, -ret);
}

/*
 * Remove an empty cipher directory: move it to a temporary name, drop its
 * dir IV, rmdir. A crash leaves at worst a hidden veilfs.tmp.r* directory,
 * which is a leftover (docs/format.md §13.3). A directory without a dir IV
 * (a crash inside a rename over it) that is otherwise empty goes too.
 */
static int remove_dir(int pfd, const char *backing)
{
	uint8_t iv[VEIL_DIRIV_BYTES];
	char tmp[VEIL_TEMP_NAME_MAX];
	int dfd, ret, has_iv;

	dfd = openat(pfd, backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	ret = dir_plain_empty(dfd);
	if (ret < 0)
		goto out_fd;
	ret = veil_diriv_read(dfd, iv);
	if (ret < 0 && ret != -ENOENT) {
		ret = -EIO;
		goto out_fd;
	}
	has_iv = ret == 0;
	veil_temp_new(tmp, "r");
	if (renameat(pfd, backing, pfd, tmp) < 0) {
		ret = -errno;
		goto out;
	}
	if (has_iv && unlinkat(dfd, VEIL_DIRIV_NAME, 0) < 0 && errno != ENOENT) {
		ret = -errno;
		(void)!renameat(pfd, tmp, pfd, backing);
		goto out;
	}
	veil_test_pause("rmdir");
	ret = 0;
	if (unlinkat(pfd, tmp, AT_REMOVEDIR) < 0) {
		/* Something appeared in it meanwhile: put the IV and the name back. */
		ret = -errno;
		if (has_iv)
			(void)!veil_diriv_write(dfd, iv);
		(void)!renameat(pfd, tmp, pfd, backing);
	}
out:
	veil_temp_release(tmp);
out_fd:
	close(dfd);
	return ret;
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *dir = vnode_of(req, parent);
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	struct stat st;
	int ret, is_long;

	if (fs->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	ret = fs_existing_backing(fs, dir, name, enc, backing);
	if (ret < 0)
		goto out;
	is_long = ret;
	if (fstatat(dir->fd, backing, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	ret = remove_dir(dir->fd, backing);
	if (ret == 0 && is_long)
		veil_longname_remove(dir->fd, backing);
out:
	fuse_reply_err(req, -ret);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *dir = vnode_of(req, parent), *ndir = vnode_of(req, newparent);
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	char nenc[VEIL_ENCNAME_MAX + 1], nbacking[VEIL_ENCNAME_MAX + 1];
	char blob[VEIL_LONGNAME_LEN + 1] = "";
	struct stat sst, tst;
	int ret, old_long, new_long, target_exists, dropped_iv = 0;
	uint8_t tiv[VEIL_DIRIV_BYTES];

	if (fs->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = fs_existing_backing(fs, dir, name, enc, backing);
	if (ret < 0)
		goto out;
	old_long = ret;
	ret = fs_existing_backing(fs, ndir, newname, nenc, nbacking);
	if (ret < 0)
		goto out;
	new_long = ret;
	if (fstatat(dir->fd, backing, &sst, AT_SYMLINK_NOFOLLOW) < 0) {
		ret = -errno;
		goto out;
	}
	target_exists = fstatat(ndir->fd, nbacking, &tst, AT_SYMLINK_NOFOLLOW) == 0;
	if (target_exists && tst.st_dev == sst.st_dev && tst.st_ino == sst.st_ino &&
	    !(flags & RENAME_EXCHANGE)) {
		/* Both names are links to one object: POSIX says do nothing. */
		ret = flags & RENAME_NOREPLACE ? -EEXIST : 0;
		goto out;
	}
	if (new_long && !(flags & RENAME_EXCHANGE) && !target_exists) {
		ret = veil_longname_store(ndir->fd, nbacking, nenc);
		if (ret < 0)
			goto out;
	}
	if (target_exists && !flags) {
		if (S_ISDIR(sst.st_mode) && S_ISDIR(tst.st_mode)) {
			/* An empty target directory still holds its dir IV: drop it first. */
			int tfd = openat(ndir->fd, nbacking,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (tfd < 0) {
				ret = -errno;
				goto out;
			}
			ret = dir_plain_empty(tfd);
			if (ret == 0 && veil_diriv_read(tfd, tiv) == 0 &&
			    unlinkat(tfd, VEIL_DIRIV_NAME, 0) == 0)
				dropped_iv = tfd;
			else
				close(tfd);
			if (ret < 0)
				goto out;
			/* A crash from here to the rename: docs/format.md §13.3, last paragraph. */
			veil_test_pause("rename");
		} else {
			veil_symlink_blob(ndir->fd, nbacking, blob);
		}
	}
	/* Both names change meaning: keep the objects' fds open from now on. */
	vnode_name_going(fs, dir, backing, sst.st_dev, sst.st_ino);
	if (target_exists)
		vnode_name_going(fs, ndir, nbacking, tst.st_dev, tst.st_ino);
	if (renameat2(dir->fd, backing, ndir->fd, nbacking, flags) < 0) {
		ret = -errno;
		if (dropped_iv) {
			/* Put the dir IV back: the directory stays as it was. */
			(void)!veil_diriv_write(dropped_iv, tiv);
		}
		if (new_long && !(flags & RENAME_EXCHANGE) && !target_exists)
			veil_longname_remove(ndir->fd, nbacking);
		goto out;
	}
	ret = 0;
	/* The vnodes learn their new names (for log lines: they are pinned). */
	vnode_renamed(fs, sst.st_dev, sst.st_ino, dir, backing, ndir, nbacking);
	if (flags & RENAME_EXCHANGE)
		vnode_renamed(fs, tst.st_dev, tst.st_ino, ndir, nbacking, dir, backing);
	if (!(flags & RENAME_EXCHANGE) && old_long)
		veil_longname_remove(dir->fd, backing);
	if (blob[0])
		unlinkat(fs->v->dirfd, blob, 0);
	if (S_ISDIR(sst.st_mode))
		veil_fsync_dir(ndir->fd);
out:
	if (dropped_iv)
		close(dropped_iv);
	fuse_reply_err(req, -ret);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct veil_fs *fs = fs_of(req);
	struct vnode *vn = vnode_of(req, ino);
	char *buf = malloc(VEIL_LINK_TARGET_MAX + 1);
	long n;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = vnode_fd_get(fs, vn);
	if (n >= 0) {
		int fd = (int)n;

		n = veil_readlink_at(fs->v, fd, "", buf);
		vnode_fd_put(fs, vn);
	}
	if (n == -EBADMSG) {
		veil_log(LOG_ERR, "%s: symlink target does not authenticate", path_of(fs, vn));
		n = -EIO;
	}
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_readlink(req, buf);
	free(buf);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	if (fstatvfs(fs_of(req)->root.fd, &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = VEIL_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct veil_fs *fs = userdata;

	conn->max_write = 1 << 20;
	/* The kernel keeps the smaller of this and the bdi window mount.c raised. */
	conn->max_readahead = 4 << 20;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	/* Request buffers are handed between threads: they must be memory, not pipes. */
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/*
	 * The kernel checks permissions against ACLs (this turns on
	 * default_permissions) and asks for them as system.posix_acl_* xattrs,
	 * which fs_io.c keeps as the backing object's own ACLs.
	 */
	if (conn->capable & FUSE_CAP_POSIX_ACL) {
		conn->want |= FUSE_CAP_POSIX_ACL;
		fs->posix_acl = true;
		/* New objects: the umask only where no default ACL applies (fs_new_mode). */
		if (conn->capable & FUSE_CAP_DONT_MASK) {
			conn->want |= FUSE_CAP_DONT_MASK;
			fs->dont_mask = true;
		}
	}
	/* The kernel asks to clear set-id bits itself; fs_io.c completes its rule. */
	conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
}

const struct fuse_lowlevel_ops veil_fs_ops = {
	.init = fs_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = fs_op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = fs_op_open,
	.create = fs_op_create,
	.read = fs_op_read,
	.write = fs_op_write,
	/*
	 * .flush is taken out again at mount on local file systems that
	 * report write errors at write time (flush_needed() in mount.c): there the
	 * first FLUSH is answered ENOSYS and the kernel sends none after it,
	 * one round trip less per close.
	 */
	.flush = fs_op_flush,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.opendir = fs_op_opendir,
	.readdir = fs_op_readdir,
	.readdirplus = fs_op_readdirplus,
	.releasedir = fs_op_releasedir,
	.fsyncdir = fs_op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = fs_op_setxattr,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.removexattr = fs_op_removexattr,
	.fallocate = fs_op_fallocate,
};
