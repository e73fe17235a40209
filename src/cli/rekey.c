/* SPDX-License-Identifier: MIT */
/*
 * veilfs rekey CIPHERDIR NEWDIR: a complete new volume under a new master
 * key. Every file, name, long name, symlink target, xattr and dir IV is
 * re-encrypted; hard links, modes, owners (as root), times and conflict
 * copies (under their displayed names) are kept. Everything read is
 * verified: a damaged file is reported by path and skipped (exit 8), the
 * rest is still written. Memory is bounded by the largest directory (its
 * sorted name list) and the hard-link map, never by the volume's size:
 * contents stream through one 1 MiB buffer.
 *
 * Resumable: NEWDIR gets its header first, so a rerun with the same
 * arguments unlocks it with the new passphrase and walks the old volume
 * again in the same (sorted) order; every entry that is already in place
 * is kept. A file appears under its name only complete: it is written to
 * a veilfs.tmp.rekey* name, fsynced and renamed into place. Directories
 * get their modes, xattrs and times after their children, on every run.
 *
 * veilfs rekey --reverse PLAINDIR: a new header with a new master key for
 * a reverse-mode folder; its next reverse mount shows new ciphertext.
 *
 * The traversal is the shared volume walker (veilfs/walk.h), so rekey
 * classifies every entry (conflict copies, foreign files, orphans, crash
 * leftovers) exactly as fsck and export do. A resumed run relies on the
 * walker's readdir order being the same for the unchanged old volume, so
 * that the first name of a hard-linked file is the one already copied.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lib/temp.h"
#include "lib/walk.h"

#define XATTR_MAX 65536

struct link_ent {
	dev_t dev;
	ino_t ino;
	char *newpath; /* backing path in the new volume, from its root */
};

struct rekey {
	struct veil_volume *old, *neu;
	int errors;
	bool progress, is_root;
	uint64_t files, bytes, total_files, total_bytes, skipped_files;
	struct timespec start;
	double last;
	uint8_t *buf;
	size_t bufsz;
	struct link_ent *links;
	size_t nlinks, caplinks;
	char *xlist;
	uint8_t *xc, *xp, *xn; /* xattr buffers: cipher, plain, new cipher */
};

/* A directory of the new volume (the walker's cookie for its entries). */
struct rk_dir {
	int fd;
	uint8_t iv[VEIL_DIRIV_BYTES];
	char *dpath; /* backing path from the new root ("" = root) */
};

/* One entry of the old volume and where it goes. */
struct rk_entry {
	int sdir;          /* old directory */
	const char *cname; /* its backing name there */
	const char *name;  /* plaintext name */
	const char *path;  /* plaintext path from the root (for messages) */
	struct stat st;
	int ddir;              /* new directory */
	const uint8_t *div;    /* its dir IV */
	const char *dpath;     /* its backing path from the new root ("" = root) */
};

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress(struct rekey *r, int final)
{
	double el = since(&r->start), rate;

	if (!r->progress || (!final && el - r->last < 0.2))
		return;
	r->last = el;
	rate = el > 0 ? (double)r->bytes / el : 0;
	fprintf(stderr, "\r%llu/%llu files, %.1f/%.1f MiB, %.1f MB/s",
		(unsigned long long)r->files, (unsigned long long)r->total_files,
		(double)r->bytes / 1048576.0, (double)r->total_bytes / 1048576.0, rate / 1e6);
	if (rate > 0 && !final && r->total_bytes > r->bytes)
		fprintf(stderr, ", %.0f s left   ", (double)(r->total_bytes - r->bytes) / rate);
	else
		fputs("              ", stderr);
	if (final)
		fputc('\n', stderr);
}

static void report(struct rekey *r, const char *path, const char *what)
{
	if (r->progress)
		fputc('\n', stderr);
	veil_err("rekey: %s: %s; skipped", path, what);
	r->errors++;
}

static char *join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s%s%s", a, a[0] ? "/" : "", b) < 0)
		return NULL;
	return p;
}

/*
 * Re-encrypt the user xattrs of old object @sfd onto new object @dfd.
 * Returns -1 after reporting when one does not authenticate.
 */
static int copy_xattrs(struct rekey *r, int sfd, int dfd, const char *path)
{
	ssize_t len = flistxattr(sfd, r->xlist, XATTR_MAX);
	int ret = 0;

	if (len < 0)
		return errno == ENOTSUP ? 0 : (report(r, path, strerror(errno)), -1);
	for (char *p = r->xlist; p < r->xlist + len; p += strlen(p) + 1) {
		char plain[256], cname[256];
		ssize_t cl;
		long vl, nl;

		if (veil_xattr_name_decrypt(r->old->keys, p, plain) < 0)
			continue; /* not one of ours (security.*, a foreign user.* name) */
		cl = fgetxattr(sfd, p, r->xc, XATTR_MAX);
		vl = cl < 0 ? -EIO
			    : veil_xattr_value_decrypt(r->old->keys, p, r->xc, (size_t)cl, r->xp);
		if (vl < 0) {
			char msg[320];

			snprintf(msg, sizeof(msg), "xattr %s does not authenticate", plain);
			report(r, path, msg);
			ret = -1;
			continue;
		}
		nl = veil_xattr_name_encrypt(r->neu->keys, plain, cname);
		if (nl < 0 || (size_t)vl + VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES > XATTR_MAX) {
			report(r, path, "xattr too large for the new volume");
			ret = -1;
			continue;
		}
		veil_xattr_value_encrypt(r->neu->keys, cname, r->xp, (size_t)vl, r->xn);
		if (fsetxattr(dfd, cname, r->xn,
			      (size_t)vl + VEIL_AEAD_NONCE_BYTES + VEIL_AEAD_TAG_BYTES, 0) < 0) {
			report(r, path, strerror(errno));
			ret = -1;
		}
	}
	veil_wipe(r->xp, XATTR_MAX);
	return ret;
}

/* Owner (as root), mode and times of @fd from @st. */
static void set_meta_fd(struct rekey *r, int fd, const struct stat *st)
{
	struct timespec tv[2] = { st->st_atim, st->st_mtim };

	if (r->is_root)
		(void)!fchown(fd, st->st_uid, st->st_gid);
	(void)!fchmod(fd, st->st_mode & 07777);
	(void)!futimens(fd, tv);
}

static struct link_ent *link_find(struct rekey *r, const struct stat *st)
{
	for (size_t i = 0; i < r->nlinks; i++)
		if (r->links[i].dev == st->st_dev && r->links[i].ino == st->st_ino)
			return &r->links[i];
	return NULL;
}

static void link_add(struct rekey *r, const struct stat *st, const char *newpath)
{
	if (r->nlinks == r->caplinks) {
		size_t cap = r->caplinks ? r->caplinks * 2 : 64;
		struct link_ent *g = realloc(r->links, cap * sizeof(*g));

		if (!g)
			return;
		r->links = g;
		r->caplinks = cap;
	}
	r->links[r->nlinks].newpath = strdup(newpath);
	if (r->links[r->nlinks].newpath) {
		r->links[r->nlinks].dev = st->st_dev;
		r->links[r->nlinks].ino = st->st_ino;
		r->nlinks++;
	}
}

/* Stream one file: decrypt and verify every block, encrypt under the new key. */
static int copy_file(struct rekey *r, const struct rk_entry *e, const char *backing)
{
	struct veil_fstate ist = { 0 }, ost = { 0 };
	char tmp[VEIL_TEMP_NAME_MAX];
	uint64_t off = 0;
	int in, out, ret = 0;
	struct stat sb;

	in = openat(e->sdir, e->cname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0) {
		report(r, e->path, strerror(errno));
		return -1;
	}
	if (fstat(in, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		report(r, e->path, "changed into something other than a file");
		close(in);
		return -1;
	}
	veil_temp_new(tmp, "rekey");
	out = openat(e->ddir, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		report(r, e->path, strerror(errno));
		veil_temp_release(tmp);
		close(in);
		return -1;
	}
	for (;;) {
		ssize_t n = veil_file_read(&r->old->cc, in, &ist, r->buf, r->bufsz, off), w;

		if (n == -EBADMSG) {
			char msg[200];

			snprintf(msg, sizeof(msg), "block %llu: %s", (unsigned long long)ist.bad_block,
				 veil_block_fault_str(ist.fault));
			report(r, e->path, msg);
			ret = -1;
			break;
		}
		if (n < 0) {
			report(r, e->path, strerror((int)-n));
			ret = -1;
			break;
		}
		if (n == 0)
			break;
		w = veil_file_write(&r->neu->cc, out, &ost, r->buf, (size_t)n, off);
		if (w != n) {
			report(r, e->path, strerror(w < 0 ? (int)-w : EIO));
			ret = -1;
			break;
		}
		off += (uint64_t)n;
		r->bytes += (uint64_t)n;
		progress(r, 0);
	}
	veil_wipe(r->buf, r->bufsz);
	if (ret == 0 && copy_xattrs(r, in, out, e->path) < 0)
		ret = -1;
	if (ret == 0) {
		set_meta_fd(r, out, &e->st);
		if (fsync(out) < 0) {
			report(r, e->path, strerror(errno));
			ret = -1;
		}
	}
	close(in);
	if (close(out) < 0 && ret == 0) {
		report(r, e->path, strerror(errno));
		ret = -1;
	}
	/* Only a complete, verified file gets its name. */
	if (ret == 0 && renameat2(e->ddir, tmp, e->ddir, backing, RENAME_NOREPLACE) < 0) {
		report(r, e->path, strerror(errno));
		ret = -1;
	}
	if (ret < 0)
		unlinkat(e->ddir, tmp, 0);
	veil_temp_release(tmp);
	return ret;
}

/* Apply a directory's xattrs, owner, mode and times (after its children). */
static void dir_meta(struct rekey *r, int sdir_parent, const char *cname, int ddir,
		     const struct stat *st, const char *path)
{
	int s = sdir_parent >= 0
			? openat(sdir_parent, cname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			: -1;

	if (s >= 0) {
		(void)copy_xattrs(r, s, ddir, path);
		close(s);
	}
	set_meta_fd(r, ddir, st);
}

/*
 * One decoded entry of the old volume into the new one. A directory is
 * created (or found, on a rerun) and handed back in *@child for the walker
 * to enter.
 */
static void rekey_entry(struct rekey *r, const struct rk_entry *e, struct rk_dir **child)
{
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	struct stat nst;
	char *dpath = NULL;
	int islong, exists;

	islong = veil_name_to_backing(r->neu, e->div, e->name, enc, backing);
	if (islong < 0) {
		report(r, e->path, strerror(-islong));
		return;
	}
	exists = fstatat(e->ddir, backing, &nst, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && islong && veil_longname_store(e->ddir, backing, enc) < 0) {
		report(r, e->path, "cannot write the long-name file");
		return;
	}
	dpath = join(e->dpath, backing);
	if (!dpath)
		return;
	if (S_ISDIR(e->st.st_mode)) {
		uint8_t iv[VEIL_DIRIV_BYTES];
		struct rk_dir *d;
		int d2;

		if (!exists && veil_mkdir_diriv(e->ddir, backing, 0700, iv) < 0) {
			report(r, e->path, "cannot create the directory");
			goto out;
		}
		d2 = openat(e->ddir, backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (d2 < 0 || veil_diriv_read(d2, iv) < 0 || !(d = malloc(sizeof(*d)))) {
			report(r, e->path, "cannot open the directory");
			if (d2 >= 0)
				close(d2);
			goto out;
		}
		d->fd = d2;
		memcpy(d->iv, iv, sizeof(iv));
		d->dpath = dpath;
		dpath = NULL;
		*child = d;
	} else if (S_ISREG(e->st.st_mode)) {
		struct link_ent *l = e->st.st_nlink > 1 ? link_find(r, &e->st) : NULL;
		uint64_t size;

		if (l) {
			if (!exists && linkat(r->neu->dirfd, l->newpath, e->ddir, backing, 0) < 0)
				report(r, e->path, strerror(errno));
			goto out;
		}
		if (exists) {
			r->skipped_files++; /* done by an earlier run */
		} else if (copy_file(r, e, backing) < 0) {
			goto out;
		}
		r->files++;
		if (exists && veil_content_plain_size((uint64_t)e->st.st_size, r->old->cc.bs,
						      &size) == 0)
			r->bytes += size;
		if (e->st.st_nlink > 1)
			link_add(r, &e->st, dpath);
	} else if (S_ISLNK(e->st.st_mode)) {
		char *target = malloc(VEIL_LINK_TARGET_MAX + 1);
		long t;

		if (exists || !target) {
			free(target);
			goto out;
		}
		t = veil_readlink_at(r->old, e->sdir, e->cname, target);
		if (t < 0) {
			report(r, e->path,
			       t == -EBADMSG ? "symlink target does not authenticate" : strerror((int)-t));
		} else if (veil_symlink_at(r->neu, target, e->ddir, backing) < 0) {
			report(r, e->path, "cannot create the symlink");
		} else {
			struct timespec tv[2] = { e->st.st_atim, e->st.st_mtim };

			if (r->is_root)
				(void)!fchownat(e->ddir, backing, e->st.st_uid, e->st.st_gid,
						AT_SYMLINK_NOFOLLOW);
			(void)!utimensat(e->ddir, backing, tv, AT_SYMLINK_NOFOLLOW);
		}
		veil_wipe(target, VEIL_LINK_TARGET_MAX + 1);
		free(target);
	} else if (!exists) {
		if (mknodat(e->ddir, backing, e->st.st_mode, e->st.st_rdev) < 0) {
			report(r, e->path, strerror(errno));
		} else {
			struct timespec tv[2] = { e->st.st_atim, e->st.st_mtim };

			if (r->is_root)
				(void)!fchownat(e->ddir, backing, e->st.st_uid, e->st.st_gid,
						AT_SYMLINK_NOFOLLOW);
			(void)!fchmodat(e->ddir, backing, e->st.st_mode & 07777, 0);
			(void)!utimensat(e->ddir, backing, tv, AT_SYMLINK_NOFOLLOW);
		}
	}
out:
	free(dpath);
}

/*
 * Leftovers of an interrupted earlier run in a directory of NEWDIR: the
 * directory lock keeps out every other writer of NEWDIR's tree, so such a
 * temporary name is ours (a file copied under veilfs.tmp.rekey*, a
 * directory made under veilfs.tmp.d*, a dir IV or long-name sidecar
 * written under veilfs.tmp.*) and goes at once, not only when stale. Not
 * the header's (veilfs.tmp.conf*, NEWDIR's root): passwd and key add or
 * remove lock the header file, not the directory, and may be writing one
 * right now; those go only when stale, an old header overwritten first
 * (temp.h). Names this process is using are never touched.
 */
static void drop_leftovers(int ddir)
{
	(void)!veil_temp_sweep(ddir, VEIL_TEMP_CONF_STALE_ONLY);
}

/* The walker's visit: what each class of entry of the old volume becomes. */
static int rekey_visit(void *ctx, const struct veil_walk_entry *we, void **cookie)
{
	struct rekey *r = ctx;
	const struct rk_dir *parent = we->parent;
	struct rk_dir *child = NULL;
	struct rk_entry e;
	char *cp;

	switch (we->cls) {
	case VEIL_WALK_OBJECT:
	case VEIL_WALK_CONFLICT: /* kept under its displayed name */
		break;
	case VEIL_WALK_BADNAME:
	case VEIL_WALK_NOSIDECAR:
	case VEIL_WALK_NOIV:
		/* An entry of the volume that cannot be read is damage: exit 8. */
		cp = join("[cipher]", we->cpath);
		report(r, cp ? cp : we->cname, veil_walk_class_str(we->cls));
		free(cp);
		return 0;
	case VEIL_WALK_FOREIGN:
		cp = join("[cipher]", we->cpath);
		veil_err("rekey: %s: %s; left out", cp ? cp : we->cname,
			 we->err == -EEXIST ? "a sync conflict copy an entry of its directory hides"
					    : "not a file of the volume");
		free(cp);
		return 0;
	default:
		return 0; /* a file of the format itself, or a leftover */
	}
	if (S_ISDIR(we->st.st_mode) && (we->sub_fd < 0 || we->sub_iv_err < 0)) {
		report(r, we->path, "directory without a readable dir IV");
		return 0;
	}
	e = (struct rk_entry){ .sdir = we->dfd, .cname = we->cname, .name = we->name,
			       .path = we->path, .st = we->st, .ddir = parent->fd,
			       .div = parent->iv, .dpath = parent->dpath };
	rekey_entry(r, &e, &child);
	if (!child)
		return 0;
	drop_leftovers(child->fd);
	*cookie = child;
	return VEIL_WALK_DESCEND;
}

/* After a directory's entries: its xattrs, owner, mode and times. */
static void rekey_leave(void *ctx, const struct veil_walk_entry *we, void *cookie)
{
	struct rk_dir *d = cookie;
	struct rekey *r = ctx;

	dir_meta(r, we->dfd, we->cname, d->fd, &we->st, we->path);
	/*
	 * Every entry of this directory is in place: make them durable before
	 * its parent is, so that success (after which the old volume may be
	 * deleted) means the whole new tree is on disk, not only the root.
	 */
	if (veil_fsync_dir(d->fd) < 0) {
		veil_err("rekey: %s: cannot fsync the directory", we->path);
		r->errors++;
	}
	close(d->fd);
	free(d->dpath);
	free(d);
}

static void rekey_dir_error(void *ctx, const char *path, const char *cpath, int err,
			    void *cookie)
{
	(void)cookie;
	report(ctx, path && path[0] ? path : cpath && cpath[0] ? cpath : "/", strerror(-err));
}

static const struct veil_walk_ops rekey_ops = {
	.visit = rekey_visit,
	.leave = rekey_leave,
	.dir_error = rekey_dir_error,
};

/* Count files and bytes for the progress line (only on a terminal). */
static int count_visit(void *ctx, const struct veil_walk_entry *we, void **cookie)
{
	struct rekey *r = ctx;
	uint64_t size;

	(void)cookie;
	if (we->cls != VEIL_WALK_OBJECT)
		return 0;
	if (S_ISDIR(we->st.st_mode))
		return VEIL_WALK_DESCEND;
	if (S_ISREG(we->st.st_mode)) {
		r->total_files++;
		if (veil_content_plain_size((uint64_t)we->st.st_size, r->old->cc.bs, &size) == 0)
			r->total_bytes += size;
	}
	return 0;
}

static const struct veil_walk_ops count_ops = { .visit = count_visit };

/*
 * NEWDIR is bound to the old volume while a rekey is unfinished: the file
 * veilfs.rekey holds a magic and the MAC of the old header (format.md
 * 3.10), a keyed hash of it and no secret. A rerun continues only into a
 * directory holding the mark of its old volume; a finished rekey removes it.
 */
#define REKEY_MARK "veilfs.rekey"
#define REKEY_MAGIC "VEILRKY1"
#define REKEY_MARK_BYTES (sizeof(REKEY_MAGIC) - 1 + VEIL_HASH_BYTES)

static void mark_fill(const struct veil_volume *old, uint8_t m[REKEY_MARK_BYTES])
{
	memcpy(m, REKEY_MAGIC, sizeof(REKEY_MAGIC) - 1);
	memcpy(m + sizeof(REKEY_MAGIC) - 1, old->hdr.mac, VEIL_HASH_BYTES);
}

static int mark_write(int dfd, const struct veil_volume *old)
{
	uint8_t m[REKEY_MARK_BYTES];
	int fd, ret = 0;

	mark_fill(old, m);
	fd = openat(dfd, REKEY_MARK, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
	if (fd < 0)
		return -errno;
	if (write(fd, m, sizeof(m)) != (ssize_t)sizeof(m))
		ret = -EIO;
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret < 0)
		unlinkat(dfd, REKEY_MARK, 0);
	return ret;
}

/* 1 if @dir holds the mark of @old, 0 if not. */
static int mark_matches(const char *dir, const struct veil_volume *old)
{
	uint8_t want[REKEY_MARK_BYTES], got[REKEY_MARK_BYTES + 1];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;
	ssize_t n = -1;

	if (dfd < 0)
		return 0;
	fd = veil_open_regular(dfd, REKEY_MARK, O_RDONLY, NULL);
	close(dfd);
	if (fd < 0)
		return 0;
	n = read(fd, got, sizeof(got));
	close(fd);
	mark_fill(old, want);
	return n == (ssize_t)sizeof(want) && memcmp(got, want, sizeof(want)) == 0;
}

/*
 * The old volume is read like a mount reads it: a shared lock on its cipher
 * directory, so no fsck --repair starts meanwhile (and none is running).
 * A mount holding its own shared lock is refused too: files written to it
 * meanwhile could be copied half old, half new.
 */
static int lock_old(struct veil_volume *old, const char *src)
{
	if (flock(old->dirfd, LOCK_EX | LOCK_NB) == 0)
		return flock(old->dirfd, LOCK_SH) < 0 ? VEIL_EXIT_ERROR : 0;
	if (flock(old->dirfd, LOCK_SH | LOCK_NB) < 0)
		veil_err("rekey: %s is being repaired by 'veilfs fsck --repair'; rekey it when "
			 "that is done",
			 src);
	else
		veil_err("rekey: %s is mounted (or read by another rekey); unmount it first, or "
			 "files written meanwhile could be copied half old, half new",
			 src);
	return VEIL_EXIT_ERROR;
}

/* A new volume in @dir under a fresh master key, like veilfs init. */
static int create_new(struct veil_args *a, const char *dir, const struct veil_volume *old,
		      const struct veil_kdf_params *kdf, struct veil_volume **out)
{
	struct veil_pass pass = { 0 };
	struct veil_header h;
	uint8_t *master = veil_secure_alloc(VEIL_KEY_BYTES), iv[VEIL_DIRIV_BYTES];
	int ret, e, dfd = -1;

	memset(&h, 0, sizeof(h));
	if (!master)
		return VEIL_EXIT_ERROR;
	ret = veil_cli_recovery_precheck("rekey", a);
	if (ret == 0)
		ret = veil_cli_new_pass(&a->src, 1, &pass);
	if (ret != 0)
		goto out;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		veil_err("rekey: cannot create %s: %s", dir, strerror(errno));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	e = veil_cli_new_header(a, &h, master, old->hdr.block_size, &pass, kdf);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e == 0 && dfd < 0)
		e = -errno;
	if (e == 0)
		e = veil_diriv_create(dfd, iv);
	if (e == 0 && (e = mark_write(dfd, old)) < 0)
		unlinkat(dfd, VEIL_DIRIV_NAME, 0);
	if (e < 0) {
		veil_err("rekey: cannot set up the new volume in %s: %s", dir, strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (!a->no_rk && a->rkfile && (ret = veil_cli_recovery_emit("rekey", a, &h, master))) {
		unlinkat(dfd, REKEY_MARK, 0);
		unlinkat(dfd, VEIL_DIRIV_NAME, 0);
		goto out;
	}
	e = veil_header_store(dfd, VEIL_CONF_NAME, &h, 1);
	if (e < 0) {
		veil_err("rekey: cannot write the new volume header: %s", strerror(-e));
		unlinkat(dfd, REKEY_MARK, 0);
		unlinkat(dfd, VEIL_DIRIV_NAME, 0);
		if (!a->no_rk && a->rkfile)
			unlink(a->rkfile);
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	printf("created the new volume %s (KDF %s, block size %u)\n", dir,
	       a->kdf ? a->kdf : "moderate", old->hdr.block_size);
	if (!a->no_rk && !a->rkfile && (ret = veil_cli_recovery_emit("rekey", a, &h, master)))
		goto out;
	e = veil_volume_open(dir, NULL, out);
	if (e == 0)
		e = veil_volume_unlock_master(*out, master);
	if (e < 0) {
		veil_err("rekey: %s: %s", dir, strerror(-e));
		ret = VEIL_EXIT_ERROR;
	}
out:
	if (dfd >= 0)
		close(dfd);
	veil_secure_free(master);
	veil_pass_free(&pass);
	veil_wipe(&h, sizeof(h));
	return ret;
}

/* A new master key for a reverse-mode folder: only its header changes. */
static int rekey_reverse(struct veil_args *a, const struct veil_kdf_params *kdf)
{
	struct veil_volume *v = NULL;
	struct veil_pass secret = { 0 }, newp = { 0 };
	struct veil_header h;
	uint8_t *old = veil_secure_alloc(VEIL_KEY_BYTES), *master = veil_secure_alloc(VEIL_KEY_BYTES);
	const char *dir = a->argv[0];
	char *conf = NULL;
	int ret, e, slot, in_place;
	bool rec;

	memset(&h, 0, sizeof(h));
	if (!old || !master) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (!a->config && asprintf(&conf, "%s/%s", dir, VEIL_REVERSE_CONF) < 0) {
		conf = NULL;
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	e = veil_volume_open(dir, a->config ? a->config : conf, &v);
	if (e < 0) {
		ret = veil_cli_open_error(dir, e);
		goto out;
	}
	ret = veil_cli_recovery_precheck("rekey", a);
	if (ret == 0)
		ret = veil_pass_read(&a->src, "Passphrase: ", 0, 0, &secret);
	if (ret == 0)
		ret = veil_cli_unlock(dir, &v->hdr, &secret, old, &slot, &rec);
	if (ret == 0)
		ret = veil_cli_new_pass(&a->src, 1, &newp);
	if (ret != 0)
		goto out;
	e = veil_cli_new_header(a, &h, master, v->hdr.block_size, &newp, kdf);
	if (e < 0) {
		veil_err("rekey: %s", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (!a->no_rk && a->rkfile && (ret = veil_cli_recovery_emit("rekey", a, &h, master)))
		goto out;
	e = veil_header_replace(v->conf_dirfd, v->conf_name, &h, &v->hdr, &in_place);
	if (e < 0) {
		ret = veil_cli_replace_error("rekey", dir, e, in_place);
		if (!a->no_rk && a->rkfile && !in_place)
			unlink(a->rkfile);
		goto out;
	}
	printf("new master key for the reverse-mode folder %s: its next reverse mount shows "
	       "entirely new ciphertext (every name and file changes; a backup of the old view "
	       "is replaced whole, and needs the old key to be read)\n",
	       dir);
	ret = 0;
	if (!a->no_rk && !a->rkfile)
		ret = veil_cli_recovery_emit("rekey", a, &h, master);
out:
	free(conf);
	veil_secure_free(old);
	veil_secure_free(master);
	veil_pass_free(&secret);
	veil_pass_free(&newp);
	veil_volume_close(v);
	veil_wipe(&h, sizeof(h));
	return ret;
}

int veil_cmd_rekey(const struct veil_command *cmd, struct veil_args *a)
{
	struct rekey r;
	struct veil_kdf_params kdf;
	struct veil_pass secret = { 0 };
	uint8_t *master = NULL;
	const char *src, *dst;
	int ret, e, slot, n;
	bool rec;
	struct stat st;

	memset(&r, 0, sizeof(r));
	ret = veil_cli_kdf("rekey", a->kdf, VEIL_KDF_MODERATE, &kdf);
	if (ret != 0)
		return ret;
	if (a->reverse) {
		if (a->argc != 1)
			return veil_cmd_usage_err(cmd);
		return rekey_reverse(a, &kdf);
	}
	if (a->argc != 2)
		return veil_cmd_usage_err(cmd);
	src = a->argv[0];
	dst = a->argv[1];
	e = veil_volume_open(src, a->config, &r.old);
	if (e < 0)
		return veil_cli_open_error(src, e);
	if (r.old->reverse) {
		veil_err("rekey: %s is a reverse-mode folder (use 'veilfs rekey --reverse %s')", src,
			 src);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	n = veil_cli_dir_entries(dst, 1);
	if (n == -ENOENT)
		n = 0; /* rekey creates it */
	if (n < 0) {
		veil_err("rekey: %s: %s", dst, strerror(-n));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	/* A rerun continues in the new volume it made; anything else must be empty. */
	if (n > 0 && fstatat(AT_FDCWD, dst, &st, 0) == 0) {
		char *c = NULL;

		if (asprintf(&c, "%s/%s", dst, VEIL_CONF_NAME) < 0 || lstat(c, &st) < 0 ||
		    !mark_matches(dst, r.old)) {
			veil_err("rekey: %s is not empty and not a volume an unfinished rekey of %s "
				 "made; refusing to write into it",
				 dst, src);
			free(c);
			ret = VEIL_EXIT_USAGE;
			goto out;
		}
		free(c);
	}
	ret = lock_old(r.old, src);
	if (ret != 0)
		goto out;
	ret = veil_pass_read(&a->src, "Passphrase of the old volume: ", 0, 0, &secret);
	if (ret != 0)
		goto out;
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	ret = master ? veil_cli_unlock(src, &r.old->hdr, &secret, master, &slot, &rec)
		     : VEIL_EXIT_ERROR;
	veil_pass_free(&secret);
	if (ret == 0 && veil_volume_unlock_master(r.old, master) < 0)
		ret = VEIL_EXIT_ERROR;
	veil_secure_free(master);
	if (ret != 0)
		goto out;
	if (n == 0) {
		ret = create_new(a, dst, r.old, &kdf, &r.neu);
	} else {
		/* Continue: the new volume opens with the new passphrase (line 2). */
		struct veil_pass np = { 0 };
		uint8_t *nm = veil_secure_alloc(VEIL_KEY_BYTES);

		e = veil_volume_open(dst, NULL, &r.neu);
		if (e < 0) {
			ret = veil_cli_open_error(dst, e);
		} else {
			ret = veil_pass_read(&a->src, "Passphrase of the new volume: ", 0, 1, &np);
			if (ret == 0)
				ret = nm ? veil_cli_unlock(dst, &r.neu->hdr, &np, nm, &slot, &rec)
					 : VEIL_EXIT_ERROR;
			if (ret == 0 && veil_volume_unlock_master(r.neu, nm) < 0)
				ret = VEIL_EXIT_ERROR;
			if (ret == 0 && r.neu->hdr.block_size != r.old->hdr.block_size) {
				veil_err("rekey: %s has another block size than %s", dst, src);
				ret = VEIL_EXIT_USAGE;
			}
			if (ret == 0)
				printf("continuing the rekey into %s\n", dst);
		}
		veil_pass_free(&np);
		veil_secure_free(nm);
	}
	/*
	 * NEWDIR's tree is this rekey's alone until it ends: a mount of it
	 * (shared lock), fsck --repair or a second rekey into it (exclusive)
	 * is refused. Header writers (passwd, key add/remove) lock the header
	 * file instead and are not kept out: see drop_leftovers.
	 */
	if (ret == 0 && flock(r.neu->dirfd, LOCK_EX | LOCK_NB) < 0) {
		veil_err("rekey: %s is mounted or in use by another veilfs command; refusing to "
			 "write into it",
			 dst);
		ret = VEIL_EXIT_ERROR;
	}
	if (ret != 0)
		goto out;
	fflush(stdout);
	r.is_root = geteuid() == 0;
	r.bufsz = 1 << 20;
	r.buf = malloc(r.bufsz);
	r.xlist = malloc(XATTR_MAX);
	r.xc = malloc(XATTR_MAX);
	r.xp = malloc(XATTR_MAX);
	r.xn = malloc(XATTR_MAX);
	if (!r.buf || !r.xlist || !r.xc || !r.xp || !r.xn) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	r.progress = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &r.start);
	if (r.progress)
		(void)!veil_walk_dir(r.old, r.old->dirfd, NULL, "", "", VEIL_WALK_NODECODE,
				     &count_ops, &r, NULL);
	{
		uint8_t oiv[VEIL_DIRIV_BYTES];
		struct rk_dir top = { .fd = r.neu->dirfd, .dpath = (char *)"" };
		struct stat rst;
		int oe = veil_diriv_read(r.old->dirfd, oiv);

		e = veil_diriv_read(r.neu->dirfd, top.iv);
		if (e < 0 || fstat(r.old->dirfd, &rst) < 0) {
			veil_err("rekey: %s: cannot read the root directory IV", dst);
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
		if (oe < 0)
			report(&r, "/", "the root directory's dir IV is unreadable");
		drop_leftovers(r.neu->dirfd);
		(void)!veil_walk_dir(r.old, r.old->dirfd, oe < 0 ? NULL : oiv, "", "", 0, &rekey_ops,
				     &r, &top);
		/* The root's own xattrs and times, last. */
		(void)copy_xattrs(&r, r.old->dirfd, r.neu->dirfd, "/");
		set_meta_fd(&r, r.neu->dirfd, &rst);
		if (veil_fsync_dir(r.neu->dirfd) < 0)
			r.errors++;
	}
	progress(&r, 1);
	{
		double el = since(&r.start);

		printf("rekeyed %llu files (%.1f MiB) into %s in %.1f s (%.1f MB/s)%s\n",
		       (unsigned long long)r.files, (double)r.bytes / 1048576.0, dst, el,
		       el > 0 ? (double)r.bytes / el / 1e6 : 0.0,
		       r.skipped_files ? "; files already done by an earlier run were kept" : "");
	}
	if (r.errors) {
		veil_err("rekey: %d item(s) could not be rekeyed (listed above); the rest is in %s",
			 r.errors, dst);
		ret = VEIL_EXIT_INTEGRITY;
	} else if (unlinkat(r.neu->dirfd, REKEY_MARK, 0) < 0 && errno != ENOENT) {
		veil_err("rekey: %s: cannot remove %s: %s", dst, REKEY_MARK, strerror(errno));
		ret = VEIL_EXIT_ERROR;
	} else {
		/* Finished: NEWDIR is a volume of its own, no longer a rekey target. */
		ret = veil_fsync_dir(r.neu->dirfd) < 0 ? VEIL_EXIT_ERROR : VEIL_EXIT_OK;
	}
out:
	for (size_t i = 0; i < r.nlinks; i++)
		free(r.links[i].newpath);
	free(r.links);
	if (r.buf) {
		veil_wipe(r.buf, r.bufsz);
		free(r.buf);
	}
	if (r.xp)
		veil_wipe(r.xp, XATTR_MAX);
	free(r.xlist);
	free(r.xc);
	free(r.xp);
	free(r.xn);
	veil_volume_close(r.old);
	veil_volume_close(r.neu);
	return ret;
}
