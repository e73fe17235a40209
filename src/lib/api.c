/* SPDX-License-Identifier: MIT */
/*
 * The public API of libveilfs (include/veilfs/veilfs.h): a read-only view
 * of a volume over the core's volume, names and file modules. Contracts,
 * error values and thread rules are in that header and docs/libveilfs.md.
 */
#include "veilfs/veilfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "file.h"
#include "header.h"
#include "safe.h"
#include "unlock.h"
#include "volume.h"

#define SECRET_MAX 4096

/*
 * @v is NULL once veilfs_close() has closed the volume (and wiped its
 * keys); the struct itself lives on while handles of it are open, which
 * then fail with -EBADF. @refs: one for the open volume, one per open
 * veilfs_dir and veilfs_file; the last put frees it.
 */
struct veilfs_volume {
	struct veil_volume *v;
	atomic_uint refs;
};

struct veilfs_dir {
	struct veilfs_volume *vol;
	int dfd;
	DIR *d;
	uint8_t iv[VEIL_DIRIV_BYTES];
	unsigned skipped;
	char name[VEIL_NAME_MAX + 1];
};

struct veilfs_file {
	struct veilfs_volume *vol;
	int fd;
	struct veil_fstate st;
};

const char *veilfs_version(void)
{
	return VEILFS_VERSION;
}

int veilfs_version_number(void)
{
	return VEILFS_VERSION_NUMBER;
}

const char *veilfs_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EACCES:
		return "wrong passphrase or recovery key (no key slot opens with it)";
	case -EBADMSG:
		return "authentication failed: the volume header or the file's content was "
		       "altered or damaged";
	case -EMEDIUMTYPE:
		return "not a veilfs cipher directory";
	case -EPROTONOSUPPORT:
		return "unsupported volume format version";
	case -ENOTSUP:
		return "the volume uses a feature this libveilfs does not know";
	case -ENOENT:
		return "no such file, directory or volume header";
	case -EINVAL:
		return "invalid argument";
	case -EBADF:
		return "the volume of this directory or file was closed";
	case -ENODATA:
		return "no passphrase given (empty input)";
	case -E2BIG:
		return "the passphrase is too long";
	case -ELOOP:
		return "is a symbolic link (not followed)";
	default:
		return err < 0 ? strerror(-err) : "not an error value";
	}
}

int veilfs_open(const char *cipherdir, const char *config, const char *secret, size_t len,
		struct veilfs_volume **out)
{
	struct veilfs_volume *vol = NULL;
	struct veil_volume *v = NULL;
	struct veil_unlock_result how;
	uint8_t *master = NULL;
	int e;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cipherdir || (!secret && len))
		return -EINVAL;
	e = veil_crypto_init();
	if (e < 0)
		return e;
	e = veil_volume_open(cipherdir, config, &v);
	if (e < 0)
		return e;
	if (v->reverse) {
		/* A plaintext folder with a reverse-mode header: nothing to decrypt. */
		e = -EMEDIUMTYPE;
		goto out;
	}
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	vol = calloc(1, sizeof(*vol));
	if (!master || !vol) {
		e = -ENOMEM;
		goto out;
	}
	e = veil_unlock(&v->hdr, secret ? secret : "", len, master, &how);
	if (e == 0)
		e = veil_volume_unlock_master(v, master);
	if (e < 0)
		goto out;
	vol->v = v;
	atomic_init(&vol->refs, 1);
	*out = vol;
	vol = NULL;
	v = NULL;
out:
	veil_secure_free(master);
	free(vol);
	if (v)
		veil_volume_close(v);
	return e;
}

static void vol_get(struct veilfs_volume *vol)
{
	atomic_fetch_add(&vol->refs, 1);
}

static void vol_put(struct veilfs_volume *vol)
{
	if (atomic_fetch_sub(&vol->refs, 1) == 1)
		free(vol);
}

int veilfs_close(struct veilfs_volume *vol)
{
	if (!vol)
		return 0;
	/* Keys wiped and the cipher directory closed now, open handles or not. */
	veil_volume_close(vol->v);
	vol->v = NULL;
	vol_put(vol);
	return 0;
}

/* "." and ".." components are refused, not interpreted. */
static int check_path(const char *path)
{
	const char *p = path;

	if (!path)
		return -EINVAL;
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		if (n > VEIL_NAME_MAX)
			return -ENAMETOOLONG;
		p += n;
	}
	return 0;
}

/*
 * Resolve @path: *@pfd the containing cipher directory (the root itself,
 * with @backing empty, for the root), @iv its dir IV.
 */
static int resolve(struct veilfs_volume *vol, const char *path, int *pfd,
		   uint8_t iv[static VEIL_DIRIV_BYTES], char backing[static VEIL_ENCNAME_MAX + 1])
{
	int e = check_path(path);

	*pfd = -1;
	if (e < 0)
		return e;
	return veil_path_resolve(vol->v, path, pfd, iv, backing);
}

/* Backing attributes as plaintext ones (a regular file's size, as the FUSE front end shows it). */
static void to_stat(const struct veil_volume *v, const struct stat *s, struct veilfs_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->mode = s->st_mode;
	st->ino = (uint64_t)s->st_ino;
	st->nlink = (uint64_t)s->st_nlink;
	st->uid = s->st_uid;
	st->gid = s->st_gid;
	st->mtime_sec = (int64_t)s->st_mtim.tv_sec;
	st->mtime_nsec = s->st_mtim.tv_nsec;
	st->ctime_sec = (int64_t)s->st_ctim.tv_sec;
	st->ctime_nsec = s->st_ctim.tv_nsec;
	/*
	 * As "veilfs ls" shows them: a regular file's plaintext size (0 when
	 * the cipher size is impossible; reading it then gives -EBADMSG), 0
	 * for a symlink (its target is not read), else the backing size.
	 */
	if (S_ISREG(s->st_mode)) {
		if (veil_content_plain_size((uint64_t)s->st_size, v->cc.bs, &st->size) < 0)
			st->size = 0;
	} else if (!S_ISLNK(s->st_mode)) {
		st->size = (uint64_t)s->st_size;
	}
}

int veilfs_stat(struct veilfs_volume *vol, const char *path, struct veilfs_stat *st)
{
	uint8_t iv[VEIL_DIRIV_BYTES];
	char backing[VEIL_ENCNAME_MAX + 1];
	struct stat s;
	int e, pfd;

	if (!vol || !st)
		return -EINVAL;
	if (!vol->v)
		return -EBADF;
	e = resolve(vol, path, &pfd, iv, backing);
	if (e < 0)
		return e;
	if (backing[0] ? fstatat(pfd, backing, &s, AT_SYMLINK_NOFOLLOW) : fstat(pfd, &s))
		e = -errno;
	else
		to_stat(vol->v, &s, st);
	close(pfd);
	return e;
}

int veilfs_dir_open(struct veilfs_volume *vol, const char *path, struct veilfs_dir **out)
{
	struct veilfs_dir *dir;
	char backing[VEIL_ENCNAME_MAX + 1];
	int e, pfd, fd;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!vol)
		return -EINVAL;
	if (!vol->v)
		return -EBADF;
	dir = calloc(1, sizeof(*dir));
	if (!dir)
		return -ENOMEM;
	dir->dfd = -1;
	e = resolve(vol, path, &pfd, dir->iv, backing);
	if (e < 0)
		goto fail;
	if (backing[0]) {
		dir->dfd = openat(pfd, backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = dir->dfd < 0 ? (errno == ELOOP ? -ENOTDIR : -errno) : 0;
		close(pfd);
		if (e == 0)
			e = veil_diriv_read(dir->dfd, dir->iv);
		if (e < 0)
			goto fail;
	} else {
		dir->dfd = pfd;
	}
	fd = fcntl(dir->dfd, F_DUPFD_CLOEXEC, 0);
	dir->d = fd < 0 ? NULL : fdopendir(fd);
	if (!dir->d) {
		e = -errno;
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	dir->vol = vol;
	vol_get(vol);
	*out = dir;
	return 0;
fail:
	if (dir->dfd >= 0)
		close(dir->dfd);
	free(dir);
	return e;
}

int veilfs_dir_read(struct veilfs_dir *dir, const char **name, struct veilfs_stat *st)
{
	struct dirent *de;

	if (!dir || !name)
		return -EINVAL;
	*name = NULL;
	if (!dir->vol->v)
		return -EBADF;
	for (;;) {
		struct stat s;
		long n;

		errno = 0;
		de = readdir(dir->d);
		if (!de)
			return errno ? -errno : 0;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n = veil_entry_decode(dir->vol->v, dir->dfd, dir->iv, de->d_name, dir->name);
		if (n == -ENOENT)
			continue; /* a file of the format, not an entry */
		if (n < 0) {
			dir->skipped++;
			continue;
		}
		if (st) {
			if (fstatat(dir->dfd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue; /* gone since readdir */
				return -errno;
			}
			to_stat(dir->vol->v, &s, st);
		}
		*name = dir->name;
		return 1;
	}
}

unsigned veilfs_dir_skipped(const struct veilfs_dir *dir)
{
	return dir ? dir->skipped : 0;
}

void veilfs_dir_close(struct veilfs_dir *dir)
{
	if (!dir)
		return;
	closedir(dir->d);
	close(dir->dfd);
	vol_put(dir->vol);
	veil_wipe(dir->name, sizeof(dir->name));
	free(dir);
}

int veilfs_file_open(struct veilfs_volume *vol, const char *path, struct veilfs_file **out)
{
	struct veilfs_file *f;
	uint8_t iv[VEIL_DIRIV_BYTES];
	char backing[VEIL_ENCNAME_MAX + 1];
	int e, pfd;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!vol)
		return -EINVAL;
	if (!vol->v)
		return -EBADF;
	e = resolve(vol, path, &pfd, iv, backing);
	if (e < 0)
		return e;
	if (!backing[0]) {
		close(pfd);
		return -EISDIR;
	}
	/* Checked before it is opened: a planted device node or FIFO is never opened. */
	e = veil_open_regular(pfd, backing, O_RDONLY, NULL);
	close(pfd);
	if (e < 0)
		return e == -EBADMSG ? -EINVAL : e;
	f = calloc(1, sizeof(*f));
	if (!f) {
		close(e);
		return -ENOMEM;
	}
	f->fd = e;
	f->vol = vol;
	vol_get(vol);
	*out = f;
	return 0;
}

ssize_t veilfs_file_pread(struct veilfs_file *f, void *buf, size_t n, uint64_t off)
{
	if (!f || (!buf && n))
		return -EINVAL;
	if (!f->vol->v)
		return -EBADF;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	return veil_file_read(&f->vol->v->cc, f->fd, &f->st, buf, n, off);
}

int veilfs_file_stat(struct veilfs_file *f, struct veilfs_stat *st)
{
	struct stat s;

	if (!f || !st)
		return -EINVAL;
	if (!f->vol->v)
		return -EBADF;
	if (fstat(f->fd, &s) < 0)
		return -errno;
	to_stat(f->vol->v, &s, st);
	return 0;
}

int veilfs_file_verify(struct veilfs_file *f)
{
	if (!f)
		return -EINVAL;
	if (!f->vol->v)
		return -EBADF;
	/*
	 * Up to the end of the file as it is now, by the blocks' tags alone
	 * (no plaintext is made): the end block's last-block mark tells a file
	 * cut at a block boundary (docs/format.md §9.4); a file of a header
	 * only has its header checked.
	 */
	return veil_file_verify(&f->vol->v->cc, f->fd, &f->st);
}

void veilfs_file_close(struct veilfs_file *f)
{
	if (!f)
		return;
	close(f->fd);
	vol_put(f->vol);
	free(f);
}

int veilfs_secret_read(int fd, char **secret, size_t *len)
{
	char *buf;
	size_t n = 0;
	int e = 0;

	if (!secret || !len)
		return -EINVAL;
	*secret = NULL;
	*len = 0;
	e = veil_crypto_init();
	if (e < 0)
		return e;
	buf = veil_secure_alloc(SECRET_MAX + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = -errno;
			break;
		}
		if (r == 0 || c == '\n')
			break;
		if (n == SECRET_MAX) {
			e = -E2BIG;
			break;
		}
		buf[n++] = c;
	}
	if (e == 0 && n > 0 && buf[n - 1] == '\r')
		n--;
	if (e == 0 && n == 0)
		e = -ENODATA;
	if (e < 0) {
		veil_secure_free(buf);
		return e;
	}
	buf[n] = '\0';
	*secret = buf;
	*len = n;
	return 0;
}

void veilfs_secret_free(char *secret)
{
	veil_secure_free(secret);
}
