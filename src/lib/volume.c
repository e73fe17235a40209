/* SPDX-License-Identifier: MIT */
/* An opened cipher directory: header, keys, dir IVs, names on disk. */
#include "volume.h"

#include "safe.h"
#include "testhook.h"
#include "temp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* fsync a directory given by any fd on it (O_PATH fds cannot be fsynced). */
int veil_fsync_dir(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Read the small regular file @name of @dfd, at most @cap bytes: a file
 * that is larger is damage (-EBADMSG), rejected without being read.
 */
static int read_small(int dfd, const char *name, uint8_t *buf, size_t cap, size_t *got)
{
	/*
	 * Checked before it is opened: a FIFO planted in the cipher directory
	 * must not hang the daemon, nor a device node be opened or read.
	 */
	struct stat st;
	int fd = veil_open_regular(dfd, name, O_RDONLY, &st);
	int ret = 0;

	*got = 0;
	if (fd < 0)
		return fd == -EISDIR ? -EBADMSG : fd;
	if ((uint64_t)st.st_size > cap) {
		close(fd);
		return -EBADMSG;
	}
	while (*got < cap) {
		ssize_t r = read(fd, buf + *got, cap - *got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	close(fd);
	return ret;
}

/* Create @name in @dfd with @data via a fsynced temp file and rename. */
static int write_atomic(int dfd, const char *name, const void *data, size_t n, mode_t mode,
			bool noreplace)
{
	char tmp[VEIL_TEMP_NAME_MAX];
	int fd, ret = 0;
	const uint8_t *p = data;

	veil_temp_new(tmp, "");
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		ret = -errno;
		veil_temp_release(tmp);
		return ret;
	}
	while (n && ret == 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno != EINTR)
				ret = -errno;
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0)
		veil_test_pause("atomic-write");
	if (ret == 0 && noreplace)
		ret = veil_rename_noreplace(dfd, tmp, dfd, name);
	else if (ret == 0 && renameat(dfd, tmp, dfd, name) < 0)
		ret = -errno;
	if (ret < 0) {
		unlinkat(dfd, tmp, 0);
	} else {
		ret = veil_fsync_dir(dfd);
		/*
		 * The caller reports the error and acts as if nothing was made: a
		 * name we made (RENAME_NOREPLACE) must not stay behind, or a link
		 * blob would outlive the symlink that failed. A replaced name
		 * stays: it may be what an existing entry uses.
		 */
		if (ret < 0 && noreplace)
			unlinkat(dfd, name, 0);
	}
	veil_temp_release(tmp);
	return ret;
}

int veil_volume_open(const char *cipherdir, const char *conf, struct veil_volume **out)
{
	int hdr_err, ret = veil_volume_open_damaged(cipherdir, conf, out, &hdr_err);

	if (ret == 0 && hdr_err < 0) {
		veil_volume_close(*out);
		*out = NULL;
		ret = hdr_err;
	}
	return ret;
}

int veil_volume_open_damaged(const char *cipherdir, const char *conf, struct veil_volume **out,
			     int *hdr_err)
{
	struct veil_volume *v = calloc(1, sizeof(*v));
	int ret;

	*out = NULL;
	*hdr_err = 0;
	if (!v)
		return -ENOMEM;
	v->conf_dirfd = -1;
	v->dirfd = open(cipherdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->dirfd < 0) {
		ret = -errno;
		goto fail;
	}
	if (conf) {
		char *copy = strdup(conf), *slash;

		if (!copy) {
			ret = -ENOMEM;
			goto fail;
		}
		slash = strrchr(copy, '/');
		if (slash) {
			*slash = '\0';
			v->conf_dirfd = open(slash == copy ? "/" : copy,
					     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			snprintf(v->conf_name, sizeof(v->conf_name), "%s", slash + 1);
		} else {
			v->conf_dirfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			snprintf(v->conf_name, sizeof(v->conf_name), "%s", copy);
		}
		free(copy);
		if (v->conf_dirfd < 0) {
			ret = -errno;
			goto fail;
		}
	} else {
		v->conf_dirfd = fcntl(v->dirfd, F_DUPFD_CLOEXEC, 0);
		snprintf(v->conf_name, sizeof(v->conf_name), "%s", VEIL_CONF_NAME);
	}
	ret = veil_header_load(v->conf_dirfd, v->conf_name, &v->hdr);
	if (ret == -ENOENT && !conf) {
		/* A plaintext folder prepared for reverse mode. */
		snprintf(v->conf_name, sizeof(v->conf_name), "%s", VEIL_REVERSE_CONF);
		ret = veil_header_load(v->conf_dirfd, v->conf_name, &v->hdr);
		if (ret == 0)
			v->reverse = true;
		else if (ret == -ENOENT)
			snprintf(v->conf_name, sizeof(v->conf_name), "%s", VEIL_CONF_NAME);
	}
	*hdr_err = ret;
	v->cc.bs = v->hdr.block_size;
	*out = v;
	return 0;
fail:
	veil_volume_close(v);
	return ret;
}

int veil_volume_unlock_master(struct veil_volume *v, const uint8_t master[static VEIL_KEY_BYTES])
{
	v->keys = veil_keys_new(master);
	if (!v->keys)
		return -ENOMEM;
	v->cc.keys = v->keys;
	return 0;
}

int veil_volume_unlock(struct veil_volume *v, const char *pass, size_t plen)
{
	uint8_t *master = veil_secure_alloc(VEIL_KEY_BYTES);
	int ret;

	if (!master)
		return -ENOMEM;
	ret = veil_header_unlock(&v->hdr, pass, plen, master, NULL);
	if (ret == 0)
		ret = veil_volume_unlock_master(v, master);
	veil_secure_free(master);
	return ret;
}

void veil_volume_close(struct veil_volume *v)
{
	if (!v)
		return;
	if (v->dirfd >= 0)
		close(v->dirfd);
	if (v->conf_dirfd >= 0)
		close(v->conf_dirfd);
	veil_keys_free(v->keys);
	free(v);
}

int veil_diriv_read(int dfd, uint8_t iv[static VEIL_DIRIV_BYTES])
{
	uint8_t buf[VEIL_DIRIV_BYTES + 1];
	size_t got;
	int ret = read_small(dfd, VEIL_DIRIV_NAME, buf, sizeof(buf), &got);

	if (ret < 0)
		return ret;
	if (got != VEIL_DIRIV_BYTES)
		return -EBADMSG;
	memcpy(iv, buf, VEIL_DIRIV_BYTES);
	return 0;
}

int veil_diriv_write(int dfd, const uint8_t iv[static VEIL_DIRIV_BYTES])
{
	return write_atomic(dfd, VEIL_DIRIV_NAME, iv, VEIL_DIRIV_BYTES, 0444, true);
}

int veil_diriv_create(int dfd, uint8_t iv[static VEIL_DIRIV_BYTES])
{
	veil_random(iv, VEIL_DIRIV_BYTES);
	return veil_diriv_write(dfd, iv);
}

int veil_mkdir_diriv(int parentfd, const char *bname, mode_t mode,
		     uint8_t iv[static VEIL_DIRIV_BYTES])
{
	return veil_mkdir_diriv_owned(parentfd, bname, mode, (uid_t)-1, (gid_t)-1, iv);
}

int veil_mkdir_diriv_owned(int parentfd, const char *bname, mode_t mode, uid_t uid, gid_t gid,
			   uint8_t iv[static VEIL_DIRIV_BYTES])
{
	char tmp[VEIL_TEMP_NAME_MAX];
	int dfd, ret;

	veil_temp_new(tmp, "d");
	if (mkdirat(parentfd, tmp, 0700) < 0) {
		ret = -errno;
		veil_temp_release(tmp);
		return ret;
	}
	dfd = openat(parentfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = veil_diriv_create(dfd, iv);
	if (ret == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(dfd, uid, gid) < 0)
		ret = -errno;
	if (ret == 0 && fchmod(dfd, mode & 07777) < 0)
		ret = -errno;
	if (ret == 0)
		ret = veil_fsync_dir(dfd);
	close(dfd);
	if (ret < 0)
		goto fail;
	veil_test_pause("mkdir");
	ret = veil_rename_noreplace(parentfd, tmp, parentfd, bname);
	if (ret < 0)
		goto fail;
	veil_temp_release(tmp);
	ret = veil_fsync_dir(parentfd);
	if (ret < 0) {
		/*
		 * The caller reports the error (and drops a long name's sidecar):
		 * the new, empty directory must not stay behind either.
		 */
		dfd = openat(parentfd, bname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd >= 0) {
			unlinkat(dfd, VEIL_DIRIV_NAME, 0);
			close(dfd);
		}
		unlinkat(parentfd, bname, AT_REMOVEDIR);
	}
	return ret;
fail:
	dfd = openat(parentfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0) {
		unlinkat(dfd, VEIL_DIRIV_NAME, 0);
		close(dfd);
	}
	unlinkat(parentfd, tmp, AT_REMOVEDIR);
	veil_temp_release(tmp);
	return ret;
}

int veil_name_to_backing(const struct veil_volume *v, const uint8_t iv[static VEIL_DIRIV_BYTES],
			 const char *name, char *enc, char *backing)
{
	long n = veil_name_encrypt(v->keys, iv, name, strlen(name), enc);

	if (n < 0)
		return (int)n;
	return veil_name_backing(enc, (size_t)n, backing) ? 1 : 0;
}

int veil_longname_store(int dfd, const char *backing, const char *enc)
{
	char side[VEIL_LONGNAME_LEN + sizeof(VEIL_LONGNAME_SUFFIX)];

	snprintf(side, sizeof(side), "%s%s", backing, VEIL_LONGNAME_SUFFIX);
	return write_atomic(dfd, side, enc, strlen(enc), 0444, false);
}

static size_t long_conflict_split(const char *dname);

/* Does directory @dfd hold a Syncthing conflict copy of long-name object @backing? */
static bool long_conflict_present(int dfd, const char *backing)
{
	const char *h = backing + sizeof(VEIL_LONGNAME_PREFIX) - 1;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	bool found = false;
	size_t dot;
	DIR *d;

	if (fd < 0)
		return false;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	while (!found && (de = readdir(d))) {
		dot = long_conflict_split(de->d_name);
		found = dot && strcmp(de->d_name + dot + 1, h) == 0;
	}
	closedir(d);
	return found;
}

int veil_longname_remove(int dfd, const char *backing)
{
	char side[VEIL_LONGNAME_LEN + sizeof(VEIL_LONGNAME_SUFFIX)];

	/* A conflict copy of this object is named by this sidecar: keep it. */
	if (long_conflict_present(dfd, backing))
		return 0;
	snprintf(side, sizeof(side), "%s%s", backing, VEIL_LONGNAME_SUFFIX);
	if (unlinkat(dfd, side, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static long entry_decode_iv(const struct veil_volume *v, int dfd,
			    const uint8_t iv[static VEIL_DIRIV_BYTES], const char *dname, char *out)
{
	char side[VEIL_LONGNAME_LEN + sizeof(VEIL_LONGNAME_SUFFIX)];
	char enc[VEIL_ENCNAME_MAX + 2];
	char check[VEIL_ENCNAME_MAX + 1];
	size_t got;
	int ret;

	switch (veil_entry_classify(dname)) {
	case VEIL_ENTRY_NAME:
		return veil_name_decrypt(v->keys, iv, dname, strlen(dname), out);
	case VEIL_ENTRY_LONG:
		snprintf(side, sizeof(side), "%s%s", dname, VEIL_LONGNAME_SUFFIX);
		ret = read_small(dfd, side, (uint8_t *)enc, VEIL_ENCNAME_MAX, &got);
		if (ret < 0)
			return ret == -ENOENT ? -EBADMSG : ret;
		enc[got] = '\0';
		/*
		 * The sidecar must belong to this object, and hold a name too long
		 * to be stored directly (a writer never makes any other sidecar:
		 * format.md §8.4), so one name never has two entries.
		 */
		if (got <= VEIL_SHORTNAME_MAX || !veil_name_backing(enc, got, check) ||
		    strcmp(check, dname) != 0)
			return -EBADMSG;
		return veil_name_decrypt(v->keys, iv, enc, got, out);
	case VEIL_ENTRY_FOREIGN: {
		char enc2[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
		struct stat st;
		long n = veil_conflict_decode(v, dfd, iv, dname, out);

		/*
		 * A conflict copy whose shown name is the name of an entry of this
		 * directory is not shown: the entry wins (format.md §2.1).
		 */
		if (n >= 0 && veil_name_to_backing(v, iv, out, enc2, backing) >= 0 &&
		    fstatat(dfd, backing, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return -EEXIST;
		return n;
	}
	default:
		return -ENOENT;
	}
}

static bool b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * The suffixes sync tools append, and nothing else: " (... conflict...)"
 * (Dropbox, Nextcloud, ownCloud) and ".sync-conflict-<date>-<time>-<id>"
 * (Syncthing). The suffix is not authenticated, so it is kept to these
 * shapes: it cannot give a file an arbitrary new extension, and holds
 * printable characters only (veil_printable): no control character or
 * escape sequence reaches a listing or a terminal through it.
 */
static bool conflict_suffix(const char *s)
{
	size_t n = strlen(s);
	static const char sync[] = ".sync-conflict-";

	if (n > 2 && s[0] == ' ' && s[1] == '(' && s[n - 1] == ')' && strcasestr(s, "conflict"))
		return memchr(s + 2, '(', n - 3) == NULL && memchr(s + 2, ')', n - 3) == NULL &&
		       veil_printable(s);
	if (strncmp(s, sync, sizeof(sync) - 1) == 0) {
		for (const char *p = s + sizeof(sync) - 1; *p; p++)
			if (!b64url_char(*p))
				return false;
		return n > sizeof(sync) - 1;
	}
	return false;
}

/*
 * The conflict copy a sync tool made of a directory IV (format.md §7):
 * "veilfs.sync-conflict-<S>.diriv" (Syncthing puts its marker before the
 * last dot) or "veilfs.diriv (... conflict ...)".
 */
bool veil_diriv_conflict_name(const char *name)
{
	static const char pre[] = "veilfs.sync-conflict-", ext[] = ".diriv";
	const size_t n = strlen(name), dl = sizeof(VEIL_DIRIV_NAME) - 1;

	if (n > dl && strncmp(name, VEIL_DIRIV_NAME, dl) == 0 && name[dl] == ' ')
		return conflict_suffix(name + dl);
	if (n <= sizeof(pre) - 1 + sizeof(ext) - 1 || strncmp(name, pre, sizeof(pre) - 1) != 0 ||
	    strcmp(name + n - (sizeof(ext) - 1), ext) != 0)
		return false;
	for (size_t k = sizeof(pre) - 1; k < n - (sizeof(ext) - 1); k++)
		if (!b64url_char(name[k]))
			return false;
	return true;
}

int veil_diriv_secondary(int dfd, uint8_t ivs[][VEIL_DIRIV_BYTES], int max)
{
	char names[VEIL_DIRIV_SECONDARY_MAX][NAME_MAX + 1];
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0, k = 0;
	struct dirent *de;
	DIR *d;

	if (max > VEIL_DIRIV_SECONDARY_MAX)
		max = VEIL_DIRIV_SECONDARY_MAX;
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		int at;

		if (!veil_diriv_conflict_name(de->d_name))
			continue;
		/* Keep the @max first in byte order, so every reader tries the same ones. */
		for (at = n; at > 0 && strcmp(names[at - 1], de->d_name) > 0; at--)
			;
		if (at >= max)
			continue;
		if (n == max)
			n--;
		memmove(names[at + 1], names[at], (size_t)(n - at) * sizeof(names[0]));
		snprintf(names[at], sizeof(names[at]), "%s", de->d_name);
		n++;
	}
	closedir(d);
	for (int i = 0; i < n; i++) {
		uint8_t buf[VEIL_DIRIV_BYTES + 1];
		size_t got;

		if (read_small(dfd, names[i], buf, sizeof(buf), &got) == 0 &&
		    got == VEIL_DIRIV_BYTES)
			memcpy(ivs[k++], buf, VEIL_DIRIV_BYTES);
	}
	return k;
}

/*
 * The IVs names of directory @dfd may be under: its veilfs.diriv as it is
 * on disk now (a caller's copy may predate a sync tool replacing it), then
 * the secondary ones. Returns their count.
 */
static int dir_ivs(int dfd, uint8_t ivs[][VEIL_DIRIV_BYTES])
{
	int n = veil_diriv_read(dfd, ivs[0]) == 0 ? 1 : 0;

	return n + veil_diriv_secondary(dfd, ivs + n, VEIL_DIRIV_SECONDARY_MAX);
}

long veil_entry_decode(const struct veil_volume *v, int dfd,
		       const uint8_t iv[static VEIL_DIRIV_BYTES], const char *dname, char *out)
{
	return veil_entry_decode_ex(v, dfd, iv, dname, out, NULL);
}

long veil_entry_decode_ex(const struct veil_volume *v, int dfd,
			  const uint8_t iv[static VEIL_DIRIV_BYTES], const char *dname, char *out,
			  bool *other_iv)
{
	uint8_t alt[VEIL_DIRIV_SECONDARY_MAX + 1][VEIL_DIRIV_BYTES];
	long r = entry_decode_iv(v, dfd, iv, dname, out), r2;
	enum veil_entry_kind kind;
	int n;

	if (other_iv)
		*other_iv = false;
	if (r != -EBADMSG)
		return r;
	kind = veil_entry_classify(dname);
	if (kind != VEIL_ENTRY_NAME && kind != VEIL_ENTRY_LONG)
		return r;
	/* Made under a second IV of a directory created on two machines (§7)? */
	n = dir_ivs(dfd, alt);
	for (int i = 0; i < n; i++) {
		if (memcmp(alt[i], iv, VEIL_DIRIV_BYTES) == 0) /* not secret */
			continue;
		r2 = entry_decode_iv(v, dfd, alt[i], dname, out);
		if (r2 >= 0) {
			if (other_iv)
				*other_iv = true;
			return r2;
		}
	}
	return r;
}

int veil_name_to_backing_secondary(const struct veil_volume *v, int dfd, const char *name,
				   char *enc, char *backing)
{
	uint8_t alt[VEIL_DIRIV_SECONDARY_MAX + 1][VEIL_DIRIV_BYTES];
	int n = dir_ivs(dfd, alt), r;
	struct stat st;

	for (int i = 0; i < n; i++) {
		r = veil_name_to_backing(v, alt[i], name, enc, backing);
		if (r < 0)
			return r;
		if (fstatat(dfd, backing, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return r;
	}
	return -ENOENT;
}

/*
 * Syncthing puts its marker before the last dot of a name, so the conflict
 * copy of long-name object "veilfs.ln.<H>" is "veilfs.ln.sync-conflict-<S>.<H>".
 * It has no sidecar of its own: the object's sidecar names it. Returns the
 * offset of ".<H>" in @dname, or 0 if @dname is not of that shape.
 */
static size_t long_conflict_split(const char *dname)
{
	static const char pre[] = VEIL_LONGNAME_PREFIX "sync-conflict-";
	const size_t p = sizeof(VEIL_LONGNAME_PREFIX) - 1;
	const char *dot = strrchr(dname, '.');
	size_t n;

	if (strncmp(dname, pre, sizeof(pre) - 1) != 0 || !dot ||
	    (size_t)(dot - dname) <= sizeof(pre) - 1 || strlen(dot + 1) != VEIL_LONGNAME_LEN - p)
		return 0;
	for (n = p; dname + n != dot; n++)
		if (!b64url_char(dname[n]))
			return 0;
	for (const char *c = dot + 1; *c; c++)
		if (!b64url_char(*c))
			return 0;
	return (size_t)(dot - dname);
}

static long long_conflict_decode(const struct veil_volume *v, int dfd,
				 const uint8_t iv[static VEIL_DIRIV_BYTES], const char *dname,
				 char *out)
{
	const size_t p = sizeof(VEIL_LONGNAME_PREFIX) - 1;
	size_t dot = long_conflict_split(dname), slen;
	char object[VEIL_LONGNAME_LEN + 1];
	long r;

	if (!dot)
		return -EINVAL;
	snprintf(object, sizeof(object), "%s%s", VEIL_LONGNAME_PREFIX, dname + dot + 1);
	r = veil_entry_decode(v, dfd, iv, object, out);
	if (r < 0)
		return -EINVAL;
	/* The suffix shown: "." followed by "sync-conflict-<S>". */
	slen = dot - p + 1;
	if ((size_t)r + slen > VEIL_NAME_MAX)
		return -EINVAL;
	out[r] = '.';
	memcpy(out + r + 1, dname + p, slen - 1);
	out[r + slen] = '\0';
	return r + (long)slen;
}

long veil_conflict_decode(const struct veil_volume *v, int dfd,
			  const uint8_t iv[static VEIL_DIRIV_BYTES], const char *dname, char *out)
{
	char plain[VEIL_NAME_MAX + 1];
	size_t n = 0, slen, plen;
	long r;

	if (strncmp(dname, VEIL_LONGNAME_PREFIX, sizeof(VEIL_LONGNAME_PREFIX) - 1) == 0)
		return long_conflict_decode(v, dfd, iv, dname, out);
	while (b64url_char(dname[n]))
		n++;
	/*
	 * The shortest encrypted name is 43 characters; a suffix that says it is
	 * a conflict copy must follow (lookups find exactly these names again).
	 */
	if (n < 43 || n > VEIL_SHORTNAME_MAX || !conflict_suffix(dname + n))
		return -EINVAL;
	r = veil_name_decrypt(v->keys, iv, dname, n, plain);
	if (r < 0)
		return -EINVAL;
	plen = (size_t)r;
	slen = strlen(dname + n);
	if (plen + slen > VEIL_NAME_MAX)
		return -EINVAL;
	memcpy(out, plain, plen);
	memcpy(out + plen, dname + n, slen + 1);
	return (long)(plen + slen);
}

bool veil_conflict_name(const char *name)
{
	return strcasestr(name, "conflict") != NULL;
}

int veil_conflict_find(const struct veil_volume *v, int dfd,
		       const uint8_t iv[static VEIL_DIRIV_BYTES], const char *name, char *backing)
{
	char shown[VEIL_NAME_MAX + 1];
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int ret = -ENOENT;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (veil_entry_classify(de->d_name) != VEIL_ENTRY_FOREIGN)
			continue;
		if (veil_conflict_decode(v, dfd, iv, de->d_name, shown) >= 0 &&
		    strcmp(shown, name) == 0) {
			memcpy(backing, de->d_name, strlen(de->d_name) + 1);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

long veil_readlink_at(const struct veil_volume *v, int dfd, const char *name, char *out)
{
	char *enc = malloc(PATH_MAX + 1);
	ssize_t n;
	long ret;

	if (!enc)
		return -ENOMEM;
	n = readlinkat(dfd, name, enc, PATH_MAX);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	enc[n] = '\0';
	if (veil_entry_classify(enc) == VEIL_ENTRY_LINKBLOB) {
		char *blob = malloc(VEIL_LINK_BLOB_MAX);
		size_t got;

		if (!blob) {
			ret = -ENOMEM;
			goto out;
		}
		/*
		 * A blob holds an encoding too long for a symlink and no longer
		 * than that of the longest target (format.md §10).
		 */
		ret = read_small(v->dirfd, enc, (uint8_t *)blob, VEIL_LINK_BLOB_MAX, &got);
		if (ret == 0) {
			char check[VEIL_LONGNAME_LEN + 1];

			veil_link_blob_name(blob, got, check);
			ret = got > VEIL_LINK_INLINE_MAX && strcmp(check, enc) == 0
				      ? veil_link_decrypt(v->keys, blob, got, out)
				      : -EBADMSG;
			if (ret == -EINVAL)
				ret = -EBADMSG; /* a planted blob is damage, not "not a link" */
		} else if (ret == -ENOENT) {
			ret = -EBADMSG;
		}
		free(blob);
		goto out;
	}
	ret = veil_link_decrypt(v->keys, enc, (size_t)n, out);
	if (ret == -EINVAL)
		ret = -EBADMSG;
out:
	free(enc);
	return ret;
}

int veil_symlink_at(const struct veil_volume *v, const char *target, int dfd, const char *name)
{
	size_t tlen = strlen(target);
	size_t elen;
	char *enc;
	int ret = 0;

	if (tlen == 0)
		return -ENOENT;
	if (tlen > VEIL_LINK_TARGET_MAX)
		return -ENAMETOOLONG;
	elen = veil_link_encrypted_len(tlen);
	enc = malloc(elen + 1);
	if (!enc)
		return -ENOMEM;
	veil_link_encrypt(v->keys, target, tlen, enc);
	if (elen <= VEIL_LINK_INLINE_MAX) {
		if (symlinkat(enc, dfd, name) < 0)
			ret = -errno;
	} else {
		char blob[VEIL_LONGNAME_LEN + 1];

		veil_link_blob_name(enc, elen, blob);
		ret = write_atomic(v->dirfd, blob, enc, elen, 0444, true);
		if (ret == 0 && symlinkat(blob, dfd, name) < 0) {
			ret = -errno;
			unlinkat(v->dirfd, blob, 0);
		}
	}
	free(enc);
	return ret;
}

bool veil_symlink_blob(int dfd, const char *name, char blob[static VEIL_LONGNAME_LEN + 1])
{
	char target[VEIL_LONGNAME_LEN + 2];
	struct stat st;
	ssize_t n;

	blob[0] = '\0';
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode) ||
	    st.st_nlink > 1)
		return false;
	n = readlinkat(dfd, name, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	if (veil_entry_classify(target) != VEIL_ENTRY_LINKBLOB)
		return false;
	memcpy(blob, target, (size_t)n + 1);
	return true;
}

void veil_symlink_release(const struct veil_volume *v, int dfd, const char *name)
{
	char blob[VEIL_LONGNAME_LEN + 1];

	if (veil_symlink_blob(dfd, name, blob))
		unlinkat(v->dirfd, blob, 0);
}

int veil_path_resolve(const struct veil_volume *v, const char *path, int *dfd,
		      uint8_t iv[static VEIL_DIRIV_BYTES], char *backing)
{
	char enc[VEIL_ENCNAME_MAX + 1];
	char *copy = strdup(path), *save = NULL, *comp, *next;
	int cur, ret;

	if (!copy)
		return -ENOMEM;
	cur = fcntl(v->dirfd, F_DUPFD_CLOEXEC, 0);
	backing[0] = '\0';
	if (cur < 0) {
		ret = -errno;
		goto out;
	}
	ret = veil_diriv_read(cur, iv);
	if (ret < 0)
		goto out;
	comp = strtok_r(copy, "/", &save);
	while (comp) {
		next = strtok_r(NULL, "/", &save);
		ret = veil_name_to_backing(v, iv, comp, enc, backing);
		if (ret < 0)
			goto out;
		ret = 0;
		{
			char enc2[VEIL_ENCNAME_MAX + 1], backing2[VEIL_ENCNAME_MAX + 1];
			struct stat st;

			if (fstatat(cur, backing, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
				/* Made under a second dir IV (§7), or a conflict copy's display name. */
				if (veil_name_to_backing_secondary(v, cur, comp, enc2, backing2) >= 0)
					memcpy(backing, backing2, strlen(backing2) + 1);
				else if (!next && veil_conflict_name(comp))
					(void)!veil_conflict_find(v, cur, iv, comp, backing);
			}
		}
		if (!next)
			break;
		int nfd = openat(cur, backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (nfd < 0) {
			ret = -errno;
			goto out;
		}
		close(cur);
		cur = nfd;
		backing[0] = '\0';
		ret = veil_diriv_read(cur, iv);
		if (ret < 0)
			goto out;
		comp = next;
	}
out:
	free(copy);
	if (ret < 0) {
		if (cur >= 0)
			close(cur);
		return ret;
	}
	*dfd = cur;
	return 0;
}
