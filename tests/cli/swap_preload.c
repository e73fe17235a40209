/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for tests/cli/export.sh: plays the local attacker who can
 * write into DESTDIR, at the worst moment, deterministically.
 *
 * VEIL_SWAP_VICTIM=PATH: right after veilfs creates a file (O_CREAT|O_EXCL)
 *   or a special file (mknodat) relative to a directory descriptor, move
 *   it aside (NAME.moved) and put a symlink to PATH in its place.
 * VEIL_PATHCALL_LOG=FILE: append one line to FILE for each metadata or
 *   creation call made by name where a name can be swapped (chmod, chown,
 *   utimensat, setxattr by path, links and nodes created from AT_FDCWD;
 *   also tests/cli/header_wipe.sh).
 * VEIL_PLANT_LINK=PATH (the daemon, tests/integration/test_create_race.py
 *   and test_longname_excl.py): just before the first O_CREAT open of a
 *   name that is not a temporary file ("veilfs.tmp.*"; a long-name object
 *   "veilfs.ln.*" counts) relative to a directory descriptor, hard-link
 *   PATH to that name, as a local attacker or another mount racing a
 *   create would; VEIL_CREATE_LOG=FILE gets one line per such open:
 *   "excl" or "noexcl".
 * VEIL_FAIL_DIRSYNC=1 (tests/cli/header_wipe.sh): every fsync of a
 *   directory fails with EIO, as on a failing disk.
 */
/* Define openat and openat64 both, whatever meson asks for. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The next definition of @name (dlsym's object pointer, as a function pointer). */
#define NEXT(name)                                          \
	__extension__({                                     \
		__typeof__(&name) f_;                       \
		void *p_ = dlsym(RTLD_NEXT, #name);         \
		memcpy(&f_, &p_, sizeof(f_));               \
		f_;                                         \
	})

static void note(const char *call, const char *path)
{
	const char *log = getenv("VEIL_PATHCALL_LOG");
	FILE *f;

	if (!log || !(f = fopen(log, "a")))
		return;
	fprintf(f, "%s %s\n", call, path ? path : "(null)");
	fclose(f);
}

static void swap(int dfd, const char *name)
{
	const char *victim = getenv("VEIL_SWAP_VICTIM");
	char moved[4096];

	if (!victim || dfd == AT_FDCWD)
		return;
	snprintf(moved, sizeof(moved), "%s.moved", name);
	if (renameat(dfd, name, dfd, moved) == 0)
		(void)!symlinkat(victim, dfd, name);
}

static void plant(int dfd, const char *name, int flags)
{
	static int planted;
	const char *victim = getenv("VEIL_PLANT_LINK");
	const char *log = getenv("VEIL_CREATE_LOG");
	FILE *f;

	if (!victim || dfd == AT_FDCWD || !(flags & O_CREAT) || !strncmp(name, "veilfs.tmp.", 11) ||
	    __atomic_exchange_n(&planted, 1, __ATOMIC_SEQ_CST))
		return;
	(void)!linkat(AT_FDCWD, victim, dfd, name, 0);
	if (log && (f = fopen(log, "a"))) {
		fprintf(f, "%s\n", (flags & O_EXCL) ? "excl" : "noexcl");
		fclose(f);
	}
}

static int open_and_swap(int (*real)(int, const char *, int, ...), int dfd, const char *name,
			 int flags, mode_t mode)
{
	int fd;

	plant(dfd, name, flags);
	fd = real(dfd, name, flags, mode);

	if (fd >= 0 && (flags & O_CREAT) && (flags & O_EXCL))
		swap(dfd, name);
	return fd;
}

#define OPEN_MODE(flags, mode)                                   \
	do {                                                     \
		if ((flags) & (O_CREAT | __O_TMPFILE)) {         \
			va_list ap;                              \
			va_start(ap, flags);                     \
			mode = va_arg(ap, mode_t);               \
			va_end(ap);                              \
		}                                                \
	} while (0)

int openat(int dfd, const char *name, int flags, ...);
int openat(int dfd, const char *name, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return open_and_swap(NEXT(openat), dfd, name, flags, mode);
}

int openat64(int dfd, const char *name, int flags, ...);
int openat64(int dfd, const char *name, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	return open_and_swap(NEXT(openat64), dfd, name, flags, mode);
}

int mknodat(int dfd, const char *name, mode_t mode, dev_t dev)
{
	int r = NEXT(mknodat)(dfd, name, mode, dev);

	if (dfd == AT_FDCWD)
		note("mknodat", name);
	if (r == 0)
		swap(dfd, name);
	return r;
}

int chmod(const char *path, mode_t mode)
{
	note("chmod", path);
	return NEXT(chmod)(path, mode);
}

int fchmodat(int dfd, const char *path, mode_t mode, int flags)
{
	if (path[0])
		note("fchmodat", path);
	return NEXT(fchmodat)(dfd, path, mode, flags);
}

int chown(const char *path, uid_t u, gid_t g)
{
	note("chown", path);
	return NEXT(chown)(path, u, g);
}

int lchown(const char *path, uid_t u, gid_t g)
{
	note("lchown", path);
	return NEXT(lchown)(path, u, g);
}

int fchownat(int dfd, const char *path, uid_t u, gid_t g, int flags)
{
	if (path[0])
		note("fchownat", path);
	return NEXT(fchownat)(dfd, path, u, g, flags);
}

int utimensat(int dfd, const char *path, const struct timespec tv[2], int flags)
{
	if (path[0])
		note("utimensat", path);
	return NEXT(utimensat)(dfd, path, tv, flags);
}

int setxattr(const char *path, const char *n, const void *v, size_t s, int f)
{
	note("setxattr", path);
	return NEXT(setxattr)(path, n, v, s, f);
}

int lsetxattr(const char *path, const char *n, const void *v, size_t s, int f)
{
	note("lsetxattr", path);
	return NEXT(lsetxattr)(path, n, v, s, f);
}

int linkat(int od, const char *op, int nd, const char *np, int flags)
{
	if (od == AT_FDCWD || nd == AT_FDCWD)
		note("linkat", op);
	return NEXT(linkat)(od, op, nd, np, flags);
}

int symlinkat(const char *target, int dfd, const char *name)
{
	if (dfd == AT_FDCWD)
		note("symlinkat", name);
	return NEXT(symlinkat)(target, dfd, name);
}

int mkdirat(int dfd, const char *name, mode_t mode)
{
	if (dfd == AT_FDCWD)
		note("mkdirat", name);
	return NEXT(mkdirat)(dfd, name, mode);
}

int fsync(int fd)
{
	struct stat st;

	if (getenv("VEIL_FAIL_DIRSYNC") && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		errno = EIO;
		return -1;
	}
	return NEXT(fsync)(fd);
}
