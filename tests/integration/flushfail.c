// SPDX-License-Identifier: MIT
/*
 * flushfail: a small passthrough FUSE file system for test_flush.py. It
 * serves the directory BACKING at MOUNTPOINT and answers FLUSH with ENOSPC
 * for every file opened for writing whose path (relative to BACKING, one
 * per line, no leading '/') is listed in the file CONTROL at the time of
 * the FLUSH: a backing store that takes writes into a cache and reports
 * the failure only at close(2), as NFS, SMB and sync clients may. Every
 * FLUSH it receives is counted in CONTROL.count (one line per FLUSH: the
 * path).
 *
 * usage: flushfail BACKING CONTROL MOUNTPOINT   (runs in the foreground)
 * (FUSE_USE_VERSION and _GNU_SOURCE come from the build.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

static int base = -1;
static const char *control;
static char countpath[4096];

/* Path below BACKING for openat(base, ...). */
static const char *rel(const char *path)
{
	return path[1] ? path + 1 : ".";
}

static int ret(int r)
{
	return r < 0 ? -errno : r;
}

static int ff_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (fi)
		return ret(fstat((int)fi->fh, st));
	return ret(fstatat(base, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

static int ff_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlinkat(base, rel(path), buf, size - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int ff_mkdir(const char *path, mode_t mode)
{
	return ret(mkdirat(base, rel(path), mode));
}

static int ff_unlink(const char *path)
{
	return ret(unlinkat(base, rel(path), 0));
}

static int ff_rmdir(const char *path)
{
	return ret(unlinkat(base, rel(path), AT_REMOVEDIR));
}

static int ff_symlink(const char *target, const char *path)
{
	return ret(symlinkat(target, base, rel(path)));
}

static int ff_rename(const char *from, const char *to, unsigned int flags)
{
	return ret(renameat2(base, rel(from), base, rel(to), flags));
}

static int ff_link(const char *from, const char *to)
{
	return ret(linkat(base, rel(from), base, rel(to), 0));
}

static int ff_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (fi)
		return ret(fchmod((int)fi->fh, mode));
	return ret(fchmodat(base, rel(path), mode, 0));
}

static int ff_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	if (fi)
		return ret(fchown((int)fi->fh, uid, gid));
	return ret(fchownat(base, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

static int ff_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd, r;

	if (fi)
		return ret(ftruncate((int)fi->fh, size));
	fd = openat(base, rel(path), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = ret(ftruncate(fd, size));
	close(fd);
	return r;
}

static int ff_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	if (fi)
		return ret(futimens((int)fi->fh, tv));
	return ret(utimensat(base, rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

static int ff_open(const char *path, struct fuse_file_info *fi)
{
	int fd = openat(base, rel(path), (fi->flags & ~O_NOFOLLOW) | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int ff_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int fd = openat(base, rel(path), fi->flags | O_CREAT | O_CLOEXEC, mode);

	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int ff_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	return (int)ret((int)pread((int)fi->fh, buf, size, off));
}

static int ff_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)path;
	return (int)ret((int)pwrite((int)fi->fh, buf, size, off));
}

static int ff_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return ret(fstatvfs(base, sv));
}

/* Whether @path is listed in CONTROL. */
static int listed(const char *path)
{
	FILE *f = fopen(control, "re");
	char line[4096];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		found = strcmp(line, rel(path)) == 0;
	}
	fclose(f);
	return found;
}

static int ff_flush(const char *path, struct fuse_file_info *fi)
{
	FILE *c = fopen(countpath, "ae");
	int fl = fcntl((int)fi->fh, F_GETFL); /* FLUSH carries no open flags */

	if (c) {
		fprintf(c, "%s\n", rel(path));
		fclose(c);
	}
	if (fl >= 0 && (fl & O_ACCMODE) != O_RDONLY && listed(path))
		return -ENOSPC;
	return 0;
}

static int ff_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close((int)fi->fh);
	return 0;
}

static int ff_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	return ret(datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh));
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	int fd = openat(base, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *e;

	(void)off;
	(void)fi;
	(void)flags;
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d)))
		if (fill(buf, e->d_name, NULL, 0, 0))
			break;
	closedir(d);
	return 0;
}

static int ff_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	(void)path;
	return ret(fallocate((int)fi->fh, mode, off, len));
}

/* Real inode numbers: veilfs checks that a hard link is the same inode. */
static void *ff_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;
	cfg->readdir_ino = 1;
	cfg->attr_timeout = 0; /* nlink after link(2) */
	return NULL;
}

static const struct fuse_operations ops = {
	.init = ff_init,
	.getattr = ff_getattr,
	.readlink = ff_readlink,
	.mkdir = ff_mkdir,
	.unlink = ff_unlink,
	.rmdir = ff_rmdir,
	.symlink = ff_symlink,
	.rename = ff_rename,
	.link = ff_link,
	.chmod = ff_chmod,
	.chown = ff_chown,
	.truncate = ff_truncate,
	.utimens = ff_utimens,
	.open = ff_open,
	.create = ff_create,
	.read = ff_read,
	.write = ff_write,
	.statfs = ff_statfs,
	.flush = ff_flush,
	.release = ff_release,
	.fsync = ff_fsync,
	.readdir = ff_readdir,
	.fallocate = ff_fallocate,
};

int main(int argc, char **argv)
{
	char *fargv[] = { argv[0], "-f", "-s", "-o", "fsname=flushfail", NULL, NULL };

	if (argc != 4) {
		fprintf(stderr, "usage: flushfail BACKING CONTROL MOUNTPOINT\n");
		return 2;
	}
	base = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base < 0) {
		perror(argv[1]);
		return 1;
	}
	control = argv[2];
	if (snprintf(countpath, sizeof(countpath), "%s.count", control) >= (int)sizeof(countpath))
		return 2;
	fargv[5] = argv[3];
	umask(0);
	return fuse_main(6, fargv, &ops, NULL);
}
