/* SPDX-License-Identifier: MIT */
/*
 * Offline restore and name mapping, without FUSE:
 *   veilfs export CIPHERDIR [PATH] DESTDIR
 *   veilfs path [--decrypt] CIPHERDIR PATH
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lib/walk.h"

/*
 * Hard links already restored: cipher (dev, ino) -> the restored inode and
 * its path relative to DESTDIR (opened again component by component).
 */
struct link_ent {
	dev_t dev;
	ino_t ino;
	dev_t out_dev;
	ino_t out_ino;
	char *path;
};

struct export {
	struct veil_volume *v;
	int errors;
	uint64_t files, bytes, total_bytes, total_files;
	struct link_ent *links;
	size_t nlinks, caplinks;
	int progress;
	struct timespec start;
	uint8_t *buf;
	size_t bufsz;
	int root;           /* DESTDIR */
	mode_t umask;
	int devices, setid; /* --devices, --setid */
	int owners;
	int held_back;      /* device nodes and set-id bits not restored */
};
static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress(struct export *x, int final)
{
	static double last;
	double el = since(&x->start), rate;

	if (!x->progress || (!final && el - last < 0.2))
		return;
	last = el;
	rate = el > 0 ? (double)x->bytes / el : 0;
	fprintf(stderr, "\r%llu/%llu files, %.1f/%.1f MiB, %.1f MiB/s",
		(unsigned long long)x->files, (unsigned long long)x->total_files,
		(double)x->bytes / 1048576.0, (double)x->total_bytes / 1048576.0, rate / 1048576.0);
	if (rate > 0 && !final)
		fprintf(stderr, ", ETA %.0f s   ",
			(double)(x->total_bytes - (x->bytes < x->total_bytes ? x->bytes : x->total_bytes)) /
				rate);
	else
		fputs("             ", stderr);
	if (final)
		fputc('\n', stderr);
}

static void report(struct export *x, const char *path, const char *what)
{
	if (x->progress)
		fputc('\n', stderr);
	veil_err("export: %s: %s; skipped", path, what);
	x->errors++;
}

static char *join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s%s%s", a, a[0] ? "/" : "", b) < 0)
		return NULL;
	return p;
}

/* The permission bits to restore: the stored ones, masked by the umask. */
static mode_t restored_mode(struct export *x, const struct stat *st)
{
	mode_t mode = st->st_mode & 07777;

	/*
	 * Owners and modes are not authenticated (format.md §12): set-id bits
	 * on files are restored only on request, so a tampered copy cannot
	 * plant a set-uid program.
	 */
	if (S_ISREG(st->st_mode) && (mode & (S_ISUID | S_ISGID)) && !x->setid) {
		mode &= (mode_t)~(S_ISUID | S_ISGID);
		x->held_back++;
	}
	return mode & ~x->umask;
}

/*
 * Apply owner, mode and times to a restored object through the descriptor
 * that created or opened it, never by name: a name in DESTDIR can be
 * swapped for a symlink by anyone who can write there. @fd is a real
 * descriptor of a file or directory, or (@opath) an O_PATH descriptor of a
 * symlink or special file, whose mode was given to mknodat.
 */
static void set_meta(struct export *x, int fd, const struct stat *st, int opath)
{
	struct timespec tv[2] = { st->st_atim, st->st_mtim };

	if (x->owners)
		(void)!fchownat(fd, "", st->st_uid, st->st_gid, AT_EMPTY_PATH);
	if (!opath) {
		(void)!fchmod(fd, restored_mode(x, st));
		(void)!futimens(fd, tv);
	} else {
		(void)!utimensat(fd, "", tv, AT_EMPTY_PATH);
	}
}

/* Open what was just created as @name in @ddir, checking it is of type @fmt. */
static int reopen_created(int ddir, const char *name, mode_t fmt, int flags)
{
	struct stat st;
	int fd = openat(ddir, name, flags | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != fmt) {
		close(fd);
		errno = EEXIST; /* replaced under us */
		return -1;
	}
	return fd;
}

/* Decrypt the user xattrs of cipher file @sname onto the restored file @dfd. */
static void copy_xattrs(struct export *x, int sdir, const char *sname, int dfd, const char *path)
{
	char sp[64], plain[256];
	int sfd = openat(sdir, sname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	char *list = NULL;
	uint8_t *cval = NULL, *val = NULL;
	ssize_t len;

	if (sfd < 0)
		goto out;
	snprintf(sp, sizeof(sp), "/proc/self/fd/%d", sfd);
	len = listxattr(sp, NULL, 0);
	if (len <= 0)
		goto out;
	list = malloc((size_t)len);
	cval = malloc(65536);
	val = malloc(65536);
	if (!list || !cval || !val || (len = listxattr(sp, list, (size_t)len)) < 0)
		goto out;
	for (char *p = list; p < list + len; p += strlen(p) + 1) {
		ssize_t cl;
		long vl;

		if (veil_xattr_name_decrypt(x->v->keys, p, plain) < 0)
			continue;
		cl = getxattr(sp, p, cval, 65536);
		vl = cl < 0 ? -EIO : veil_xattr_value_decrypt(x->v->keys, p, cval, (size_t)cl, val);
		if (vl < 0) {
			char msg[300];

			snprintf(msg, sizeof(msg), "xattr %s does not authenticate", plain);
			report(x, path, msg);
			continue;
		}
		if (fsetxattr(dfd, plain, val, (size_t)vl, 0) < 0 && errno != ENOTSUP)
			report(x, path, strerror(errno));
	}
out:
	if (val)
		veil_wipe(val, 65536);
	free(list);
	free(cval);
	free(val);
	if (sfd >= 0)
		close(sfd);
}

/*
 * Decrypt cipher file @sname into a new file @dname of @ddir. Returns the
 * new file's descriptor (for its metadata) or -1 after reporting; a
 * partial or unauthenticated file is never left behind.
 */
static int copy_file(struct export *x, int sdir, const char *sname, int ddir, const char *dname,
		     const char *path)
{
	struct veil_fstate st = { 0 };
	uint64_t off = 0;
	int in, out, ret = 0;

	/* Checked before it is opened: a device node swapped in is never opened. */
	in = veil_open_regular(sdir, sname, O_RDONLY, NULL);
	if (in < 0) {
		report(x, path, in == -EBADMSG || in == -EISDIR || in == -ELOOP
					? "changed into something other than a file"
					: strerror(-in));
		return -1;
	}
	out = openat(ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		report(x, path, strerror(errno));
		close(in);
		return -1;
	}
	for (;;) {
		ssize_t r = veil_file_read(&x->v->cc, in, &st, x->buf, x->bufsz, off);

		if (r == -EBADMSG) {
			char msg[200];

			snprintf(msg, sizeof(msg), "block %llu: %s", (unsigned long long)st.bad_block,
				 veil_block_fault_str(st.fault));
			ret = -1;
			report(x, path, msg);
			break;
		}
		if (r < 0) {
			ret = -1;
			report(x, path, strerror((int)-r));
			break;
		}
		if (r == 0)
			break;
		for (ssize_t w = 0; w < r;) {
			ssize_t n = write(out, x->buf + w, (size_t)(r - w));

			if (n < 0) {
				if (errno == EINTR)
					continue;
				report(x, path, strerror(errno));
				ret = -1;
				goto done;
			}
			w += n;
		}
		off += (uint64_t)r;
		x->bytes += (uint64_t)r;
		progress(x, 0);
	}
done:
	veil_wipe(x->buf, x->bufsz);
	close(in);
	if (ret < 0) {
		close(out);
		unlinkat(ddir, dname, 0);
		return -1;
	}
	return out;
}

/* Close a restored file, reporting (and removing it) if data was lost. */
static int close_file(struct export *x, int fd, int ddir, const char *dname, const char *path)
{
	if (close(fd) == 0)
		return 0;
	report(x, path, strerror(errno));
	unlinkat(ddir, dname, 0);
	return -1;
}

/*
 * Open the directory holding @rel (a path relative to DESTDIR) one
 * component at a time with O_NOFOLLOW, and point @base at its last one.
 */
static int open_parent_rel(int root, const char *rel, const char **base)
{
	const char *slash = strrchr(rel, '/'), *p = rel;
	int cur = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	*base = slash ? slash + 1 : rel;
	while (cur >= 0 && slash && p < slash) {
		const char *e = strchr(p, '/');
		char comp[VEIL_NAME_MAX + 1];
		size_t n = (size_t)(e - p);
		int next = -1;

		if (n > 0 && n <= VEIL_NAME_MAX) {
			memcpy(comp, p, n);
			comp[n] = '\0';
			next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			errno = EINVAL;
		}
		close(cur);
		cur = next;
		p = e + 1;
	}
	return cur;
}

/* Restore a further name of an already restored hard-linked file. */
static void relink(struct export *x, const struct link_ent *l, int ddir, const char *name,
		   const char *path)
{
	const char *base;
	struct stat st;
	int pfd = open_parent_rel(x->root, l->path, &base);

	if (pfd < 0 || linkat(pfd, base, ddir, name, 0) < 0) {
		report(x, path, strerror(errno));
	} else if (fstatat(ddir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != l->out_dev ||
		   st.st_ino != l->out_ino) {
		/* Not the file restored before: something replaced it meanwhile. */
		unlinkat(ddir, name, 0);
		report(x, path, "the first link of this file was replaced during the export");
	}
	if (pfd >= 0)
		close(pfd);
}

/* Remember a restored file with several links (at most a million). */
static void remember_link(struct export *x, const struct stat *cst, int fd, const char *path)
{
	struct stat st;

	if (x->nlinks >= 1000000 || fstat(fd, &st) < 0)
		return;
	if (x->nlinks == x->caplinks) {
		size_t cap = x->caplinks ? x->caplinks * 2 : 64;
		struct link_ent *g = realloc(x->links, cap * sizeof(*g));

		if (!g)
			return;
		x->links = g;
		x->caplinks = cap;
	}
	x->links[x->nlinks] = (struct link_ent){ .dev = cst->st_dev,
						 .ino = cst->st_ino,
						 .out_dev = st.st_dev,
						 .out_ino = st.st_ino,
						 .path = strdup(path) };
	if (x->links[x->nlinks].path)
		x->nlinks++;
}

/* The restored directory an entry goes into (the walker's cookie). */
struct dest {
	int fd;
};

static void export_entry(struct export *x, const struct veil_walk_entry *e, int ddir,
			 struct dest **child);

static int export_visit(void *ctx, const struct veil_walk_entry *e, void **cookie)
{
	struct export *x = ctx;
	const struct dest *parent = e->parent;
	struct dest *child = NULL;

	export_entry(x, e, parent->fd, &child);
	if (!child)
		return 0;
	*cookie = child;
	return VEIL_WALK_DESCEND;
}

/* After a directory's entries: its xattrs and metadata (times last). */
static void export_leave(void *ctx, const struct veil_walk_entry *e, void *cookie)
{
	struct export *x = ctx;
	struct dest *child = cookie;

	copy_xattrs(x, e->dfd, e->cname, child->fd, e->path);
	set_meta(x, child->fd, &e->st, 0);
	close(child->fd);
	free(child);
}

static void export_dir_error(void *ctx, const char *path, const char *cpath, int err,
			     void *cookie)
{
	(void)cpath;
	(void)cookie;
	report(ctx, path && path[0] ? path : "/", strerror(-err));
}

static const struct veil_walk_ops export_ops = {
	.visit = export_visit,
	.leave = export_leave,
	.dir_error = export_dir_error,
};

static void export_entry(struct export *x, const struct veil_walk_entry *e, int ddir,
			 struct dest **child)
{
	const char *name = e->name, *p = e->path;
	const struct stat st = e->st;
	const int sdir = e->dfd;
	const char *cname = e->cname;

	switch (e->cls) {
	case VEIL_WALK_OBJECT:
	case VEIL_WALK_CONFLICT:
		break;
	case VEIL_WALK_BADNAME:
	case VEIL_WALK_NOSIDECAR:
	case VEIL_WALK_NOIV:
	case VEIL_WALK_FOREIGN: {
		char *cp = join(e->dir_path ? e->dir_path : "", cname);

		report(x, cp ? cp : cname,
		       e->err == -EEXIST
			       ? "a sync conflict copy whose name an entry of its directory has"
			       : "name does not decrypt (not a file of this volume)");
		free(cp);
		return;
	}
	default:
		return; /* a file of the format itself */
	}
	if (!p)
		return;
	if (S_ISDIR(st.st_mode)) {
		struct dest *d;
		int d2;

		if (e->sub_fd < 0 || e->sub_iv_err < 0) {
			report(x, p, "directory without a readable dir IV");
			return;
		}
		/* 0700 until its contents are in: nobody else can add to it meanwhile. */
		if (mkdirat(ddir, name, 0700) < 0 ||
		    (d2 = reopen_created(ddir, name, S_IFDIR, O_RDONLY | O_DIRECTORY)) < 0) {
			report(x, p, strerror(errno));
			return;
		}
		d = malloc(sizeof(*d));
		if (!d) {
			report(x, p, strerror(ENOMEM));
			close(d2);
			return;
		}
		d->fd = d2;
		*child = d;
	} else if (S_ISREG(st.st_mode)) {
		int fd;

		if (st.st_nlink > 1) {
			for (size_t i = 0; i < x->nlinks; i++)
				if (x->links[i].dev == st.st_dev && x->links[i].ino == st.st_ino) {
					relink(x, &x->links[i], ddir, name, p);
					return;
				}
		}
		fd = copy_file(x, sdir, cname, ddir, name, p);
		if (fd < 0)
			return;
		copy_xattrs(x, sdir, cname, fd, p);
		set_meta(x, fd, &st, 0);
		if (st.st_nlink > 1)
			remember_link(x, &st, fd, p);
		if (close_file(x, fd, ddir, name, p) == 0)
			x->files++;
	} else if (S_ISLNK(st.st_mode)) {
		char *target = malloc(VEIL_LINK_TARGET_MAX + 1);
		long t = target ? veil_readlink_at(x->v, sdir, cname, target) : -ENOMEM;
		int fd;

		if (t < 0)
			report(x, p, t == -EBADMSG ? "symlink target does not authenticate"
						   : strerror((int)-t));
		else if (symlinkat(target, ddir, name) < 0 ||
			 (fd = reopen_created(ddir, name, S_IFLNK, O_PATH)) < 0)
			report(x, p, strerror(errno));
		else {
			set_meta(x, fd, &st, 1);
			close(fd);
		}
		free(target);
	} else if ((S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && !x->devices) {
		x->held_back++; /* a device node from unauthenticated metadata: only on request */
	} else {
		int fd;

		if (mknodat(ddir, name, (st.st_mode & S_IFMT) | restored_mode(x, &st), st.st_rdev) < 0 ||
		    (fd = reopen_created(ddir, name, st.st_mode & S_IFMT, O_PATH)) < 0) {
			report(x, p, strerror(errno));
		} else {
			set_meta(x, fd, &st, 1);
			close(fd);
		}
	}
}

/* Count files and bytes for the progress line (only on a terminal). */
static int count_visit(void *ctx, const struct veil_walk_entry *e, void **cookie)
{
	struct export *x = ctx;
	uint64_t size;

	(void)cookie;
	if (e->cls != VEIL_WALK_OBJECT)
		return 0;
	if (S_ISDIR(e->st.st_mode))
		return VEIL_WALK_DESCEND;
	if (S_ISREG(e->st.st_mode)) {
		x->total_files++;
		if (veil_content_plain_size((uint64_t)e->st.st_size, x->v->cc.bs, &size) == 0)
			x->total_bytes += size;
	}
	return 0;
}

static const struct veil_walk_ops count_ops = { .visit = count_visit };

/*
 * DESTDIR must be empty, owned by the caller and writable by nobody else:
 * another user who can add names there could swap what export creates.
 */
static int check_dest(int ddir, const char *dest, int unsafe)
{
	int fd = openat(ddir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dd = fd >= 0 ? fdopendir(fd) : NULL;
	struct stat st;

	if (!dd || fstat(ddir, &st) < 0) {
		veil_err("export: %s: %s", dest, strerror(errno));
		if (dd)
			closedir(dd);
		else if (fd >= 0)
			close(fd);
		return VEIL_EXIT_ERROR;
	}
	for (struct dirent *de; (de = readdir(dd));)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(dd);
			veil_err("export: %s is not empty; refusing to write into it", dest);
			return VEIL_EXIT_USAGE;
		}
	closedir(dd);
	if (unsafe)
		return 0;
	if (st.st_uid != geteuid()) {
		veil_err("export: %s belongs to another user; refusing to write into it "
			 "(--unsafe-destdir overrides)",
			 dest);
		return VEIL_EXIT_USAGE;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		veil_err("export: %s is writable by other users; refusing to write into it "
			 "(--unsafe-destdir overrides)",
			 dest);
		return VEIL_EXIT_USAGE;
	}
	return 0;
}

int veil_cmd_export(const struct veil_command *cmd, struct veil_args *o)
{
	struct export x;
	struct dest top;
	const char *path, *dest;
	char backing[VEIL_ENCNAME_MAX + 1];
	uint8_t iv[VEIL_DIRIV_BYTES];
	int ret, pfd = -1, sdir = -1, ddir = -1, e;

	memset(&x, 0, sizeof(x));
	(void)cmd;
	x.devices = o->devices;
	x.setid = o->setid;
	x.owners = o->owners;
	if (o->owners && geteuid() != 0) {
		veil_err("export: --owners needs root (otherwise everything restored is yours)");
		return VEIL_EXIT_USAGE;
	}
	path = o->argc == 3 ? o->argv[1] : "";
	dest = o->argv[o->argc - 1];
	if (mkdir(dest, 0700) < 0 && errno != EEXIST) {
		veil_err("export: cannot create %s: %s", dest, strerror(errno));
		return VEIL_EXIT_ERROR;
	}
	ddir = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ddir < 0) {
		veil_err("export: %s: %s", dest, strerror(errno));
		return VEIL_EXIT_ERROR;
	}
	top.fd = ddir;
	ret = check_dest(ddir, dest, o->unsafe_dest);
	if (ret != 0) {
		close(ddir);
		return ret;
	}
	ret = veil_cli_open(o->argv[0], o->config, &o->src, &x.v);
	if (ret != 0) {
		close(ddir);
		return ret;
	}
	x.umask = umask(0);
	umask(x.umask);
	x.root = ddir;
	x.bufsz = 1 << 20;
	x.buf = malloc(x.bufsz);
	x.progress = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &x.start);
	e = x.buf ? veil_path_resolve(x.v, path, &pfd, iv, backing) : -ENOMEM;
	if (e < 0) {
		veil_err("export: %s: %s", *path ? path : "/", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (!backing[0]) {
		sdir = pfd;
		pfd = -1;
	} else {
		struct stat st;

		if (fstatat(pfd, backing, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			veil_err("export: %s: %s", path, strerror(errno));
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			/* A single file (or link) goes into DESTDIR under its own name. */
			x.total_files = 1;
			(void)!veil_walk_one(x.v, pfd, iv, backing, "", "", 0, &export_ops, &x,
					     &top);
			goto done;
		}
		sdir = openat(pfd, backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sdir < 0 || veil_diriv_read(sdir, iv) < 0) {
			veil_err("export: %s: cannot open the directory", path);
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
	}
	if (x.progress)
		(void)!veil_walk_dir(x.v, sdir, NULL, "", "", VEIL_WALK_NODECODE, &count_ops, &x,
				     NULL);
	(void)!veil_walk_dir(x.v, sdir, iv, "", "", 0, &export_ops, &x, &top);
done:
	progress(&x, 1);
	if (x.held_back)
		fprintf(stderr, "veilfs: export: %d device node(s) or set-id bit(s) not restored "
				"(use --devices / --setid)\n",
			x.held_back);
	if (x.errors) {
		veil_err("export: %d item(s) could not be restored (listed above)", x.errors);
		ret = VEIL_EXIT_INTEGRITY;
	} else {
		ret = VEIL_EXIT_OK;
	}
out:
	for (size_t i = 0; i < x.nlinks; i++)
		free(x.links[i].path);
	free(x.links);
	if (x.buf) {
		veil_wipe(x.buf, x.bufsz);
		free(x.buf);
	}
	if (pfd >= 0)
		close(pfd);
	if (sdir >= 0)
		close(sdir);
	if (ddir >= 0)
		close(ddir);
	veil_volume_close(x.v);
	return ret;
}

int veil_cmd_path(const struct veil_command *cmd, struct veil_args *o)
{
	struct veil_volume *v = NULL;
	char *copy = NULL, *save = NULL, *comp, *out = NULL;
	size_t outlen = 0;
	uint8_t iv[VEIL_DIRIV_BYTES];
	int ret, cur = -1, e = 0;

	(void)cmd;
	ret = veil_cli_open(o->argv[0], o->config, &o->src, &v);
	if (ret != 0)
		return ret;
	copy = strdup(o->argv[1]);
	cur = fcntl(v->dirfd, F_DUPFD_CLOEXEC, 0);
	if (!copy || cur < 0 || (e = veil_diriv_read(cur, iv)) < 0) {
		veil_err("path: %s: cannot read the root directory IV", o->argv[0]);
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	for (comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		char enc[VEIL_ENCNAME_MAX + 1], name[VEIL_ENCNAME_MAX + 1];
		const char *piece, *next_backing;
		char *g;
		long n;

		if (o->decrypt) {
			n = veil_entry_decode(v, cur, iv, comp, name);
			if (n < 0) {
				veil_err("path: '%s' is not a name of this volume%s", comp,
					 n == -ENOENT ? " (a file of the format itself)" : "");
				ret = VEIL_EXIT_ERROR;
				goto out;
			}
			piece = name;
			next_backing = comp;
		} else {
			e = veil_name_to_backing(v, iv, comp, enc, name);
			if (e < 0) {
				veil_err("path: '%s': %s", comp, strerror(-e));
				ret = VEIL_EXIT_ERROR;
				goto out;
			}
			piece = name;
			next_backing = name;
		}
		g = realloc(out, outlen + strlen(piece) + 2);
		if (!g) {
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
		out = g;
		if (outlen)
			out[outlen++] = '/';
		memcpy(out + outlen, piece, strlen(piece) + 1);
		outlen += strlen(piece);
		/* Descend for the next component's dir IV (the last need not exist). */
		if (save && *save) {
			int nfd = openat(cur, next_backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (nfd < 0 || veil_diriv_read(nfd, iv) < 0) {
				veil_err("path: %s: not a directory of this volume", out);
				if (nfd >= 0)
					close(nfd);
				ret = VEIL_EXIT_ERROR;
				goto out;
			}
			close(cur);
			cur = nfd;
		}
	}
	{
		size_t sz = 4 * outlen + 1;
		char *shown = malloc(sz);

		if (!shown) {
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
		printf("%s\n", veil_escape(shown, sz, out ? out : ""));
		free(shown);
	}
	ret = VEIL_EXIT_OK;
out:
	if (cur >= 0)
		close(cur);
	free(copy);
	free(out);
	veil_volume_close(v);
	return ret;
}
