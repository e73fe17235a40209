/* SPDX-License-Identifier: MIT */
/*
 * Fault injection for the crash suite, loaded into the veilfs daemon with
 * LD_PRELOAD. Counts the calls of one function over the whole process and
 * makes exactly the Nth one fail:
 *
 *   VEILFS_FAULT_CALL   pwrite | fsync | renameat | mkdirat
 *   VEILFS_FAULT_N      which call fails (1 = the first)
 *   VEILFS_FAULT_ERRNO  EIO | ENOSPC
 *   VEILFS_FAULT_LOG    file that gets one line "CALL N ERRNO" when it fails
 *
 * pwrite covers pwrite64, fsync covers fdatasync, renameat covers
 * renameat2 and rename: each family is one counter. Calls on fds that are
 * not regular files or directories (the FUSE device, pipes) are not counted.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum fam { F_PWRITE, F_FSYNC, F_RENAME, F_MKDIR, F_NONE };

static atomic_long counter;
static int target = -1;
static long fail_at;
static int fail_errno = EIO;
static const char *logpath;
static atomic_int initialised;

static void init(void)
{
	const char *c, *n, *e;

	if (atomic_load(&initialised))
		return;
	c = getenv("VEILFS_FAULT_CALL");
	n = getenv("VEILFS_FAULT_N");
	e = getenv("VEILFS_FAULT_ERRNO");
	logpath = getenv("VEILFS_FAULT_LOG");
	if (c && n) {
		if (!strcmp(c, "pwrite"))
			target = F_PWRITE;
		else if (!strcmp(c, "fsync"))
			target = F_FSYNC;
		else if (!strcmp(c, "renameat"))
			target = F_RENAME;
		else if (!strcmp(c, "mkdirat"))
			target = F_MKDIR;
		fail_at = atol(n);
	}
	if (e && !strcmp(e, "ENOSPC"))
		fail_errno = ENOSPC;
	atomic_store(&initialised, 1);
}

/* Should this call fail? Sets errno when it does. */
static int inject(enum fam f, const char *name)
{
	long k;

	init();
	if ((int)f != target)
		return 0;
	k = atomic_fetch_add(&counter, 1) + 1;
	if (k != fail_at)
		return 0;
	if (logpath) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0) {
			char line[96];
			int len = snprintf(line, sizeof(line), "%s %ld %s\n", name, k,
					   fail_errno == ENOSPC ? "ENOSPC" : "EIO");

			(void)!write(fd, line, (size_t)len);
			close(fd);
		}
	}
	errno = fail_errno;
	return 1;
}

static int backing_fd(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (backing_fd(fd) && inject(F_PWRITE, "pwrite"))
		return -1;
	return REAL("pwrite", ssize_t(*)(int, const void *, size_t, off_t))(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	if (backing_fd(fd) && inject(F_PWRITE, "pwrite"))
		return -1;
	return REAL("pwrite64", ssize_t(*)(int, const void *, size_t, off_t))(fd, buf, n, off);
}

int fsync(int fd)
{
	if (backing_fd(fd) && inject(F_FSYNC, "fsync"))
		return -1;
	return REAL("fsync", int (*)(int))(fd);
}

int fdatasync(int fd)
{
	if (backing_fd(fd) && inject(F_FSYNC, "fsync"))
		return -1;
	return REAL("fdatasync", int (*)(int))(fd);
}

int renameat(int a, const char *b, int c, const char *d)
{
	if (inject(F_RENAME, "renameat"))
		return -1;
	return REAL("renameat", int (*)(int, const char *, int, const char *))(a, b, c, d);
}

int renameat2(int a, const char *b, int c, const char *d, unsigned int flags)
{
	if (inject(F_RENAME, "renameat"))
		return -1;
	return REAL("renameat2", int (*)(int, const char *, int, const char *, unsigned int))(
		a, b, c, d, flags);
}

int rename(const char *a, const char *b)
{
	if (inject(F_RENAME, "renameat"))
		return -1;
	return REAL("rename", int (*)(const char *, const char *))(a, b);
}

int mkdirat(int fd, const char *path, mode_t mode)
{
	if (inject(F_MKDIR, "mkdirat"))
		return -1;
	return REAL("mkdirat", int (*)(int, const char *, mode_t))(fd, path, mode);
}
