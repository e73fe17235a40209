/* SPDX-License-Identifier: MIT */
/*
 * The shared walker (veilfs/walk.h): every kind of entry of a cipher
 * directory gets its class, names decode, paths are built, directories are
 * entered only on request, and the entries of a directory without a
 * readable dir IV are told apart from names that do not decrypt.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/walk.h"

#include "../tap.h"
#include "util.h"

struct seen {
	char cpath[400];
	char path[400];
	enum veil_walk_class cls;
	int iv_err;
};

struct log {
	struct seen e[64];
	int n;
	int left;
};

static int visit(void *ctx, const struct veil_walk_entry *e, void **cookie)
{
	struct log *l = ctx;

	(void)cookie;
	if (l->n < 64) {
		snprintf(l->e[l->n].cpath, sizeof(l->e[l->n].cpath), "%s", e->cpath);
		snprintf(l->e[l->n].path, sizeof(l->e[l->n].path), "%s", e->path ? e->path : "-");
		l->e[l->n].cls = e->cls;
		l->e[l->n].iv_err = e->sub_fd >= 0 ? e->sub_iv_err : 1;
		l->n++;
	}
	return S_ISDIR(e->st.st_mode) ? VEIL_WALK_DESCEND : 0;
}

static void leave(void *ctx, const struct veil_walk_entry *e, void *cookie)
{
	(void)e;
	(void)cookie;
	((struct log *)ctx)->left++;
}

static const struct veil_walk_ops ops = { .visit = visit, .leave = leave };

static const struct seen *find(const struct log *l, const char *path)
{
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->e[i].path, path) || !strcmp(l->e[i].cpath, path))
			return &l->e[i];
	return NULL;
}

static void touch(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0)
		close(fd);
}

int main(void)
{
	char root[64], enc[VEIL_ENCNAME_MAX + 1], b[VEIL_ENCNAME_MAX + 1];
	char lb[VEIL_ENCNAME_MAX + 1], db[VEIL_ENCNAME_MAX + 1], nb[VEIL_ENCNAME_MAX + 1];
	char side[VEIL_ENCNAME_MAX + 8], conflict[400], cp[800], longname[201];
	uint8_t master[VEIL_KEY_BYTES] = { 7 }, iv[VEIL_DIRIV_BYTES], siv[VEIL_DIRIV_BYTES];
	struct veil_volume v = { .dirfd = -1, .conf_dirfd = -1 };
	struct log l = { 0 };
	const struct seen *s;
	int sub, noiv;

	if (veil_crypto_init() < 0)
		return 1;
	v.dirfd = tmpdir_new(root);
	if (v.dirfd < 0 || veil_volume_unlock_master(&v, master) < 0)
		return 1;
	v.cc.bs = 4096;
	memset(iv, 1, sizeof(iv));
	if (veil_diriv_write(v.dirfd, iv) < 0)
		return 1;
	/* a file, a long name, a conflict copy, a directory with a file */
	(void)!veil_name_to_backing(&v, iv, "file", enc, b);
	touch(v.dirfd, b);
	snprintf(conflict, sizeof(conflict), "%s (conflicted copy 2026-01-01)", b);
	touch(v.dirfd, conflict);
	memset(longname, 'L', 200);
	longname[200] = '\0';
	ok(veil_name_to_backing(&v, iv, longname, enc, lb) == 1, "a 200-byte name is long");
	touch(v.dirfd, lb);
	(void)!veil_longname_store(v.dirfd, lb, enc);
	memset(longname, 'M', 200);
	(void)!veil_name_to_backing(&v, iv, longname, enc, nb);
	touch(v.dirfd, nb); /* no sidecar */
	snprintf(side, sizeof(side), "veilfs.ln.%.43s.name", "0123456789012345678901234567890123456789abc");
	touch(v.dirfd, side); /* no object */
	(void)!veil_name_to_backing(&v, iv, "dir", enc, db);
	(void)!veil_mkdir_diriv(v.dirfd, db, 0700, siv);
	sub = openat(v.dirfd, db, O_RDONLY | O_DIRECTORY);
	(void)!veil_name_to_backing(&v, siv, "inner", enc, b);
	touch(sub, b);
	close(sub);
	/* a directory without its dir IV, holding one entry */
	(void)!veil_name_to_backing(&v, iv, "noiv", enc, b);
	(void)!veil_mkdir_diriv(v.dirfd, b, 0700, siv);
	noiv = openat(v.dirfd, b, O_RDONLY | O_DIRECTORY);
	(void)!veil_name_to_backing(&v, siv, "lost", enc, b);
	touch(noiv, b);
	unlinkat(noiv, VEIL_DIRIV_NAME, 0);
	close(noiv);
	/* junk */
	touch(v.dirfd, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	touch(v.dirfd, "veilfs.tmp.0123456789abcdef");
	touch(v.dirfd, "desktop.ini");

	ok(veil_walk_dir(&v, v.dirfd, iv, "", "", 0, &ops, &l, NULL) == 0, "walk completes");
	s = find(&l, "file");
	ok(s && s->cls == VEIL_WALK_OBJECT, "a short name decodes");
	s = find(&l, "file (conflicted copy 2026-01-01)");
	ok(s && s->cls == VEIL_WALK_CONFLICT, "a conflict copy is decoded with its suffix");
	memset(longname, 'L', 200);
	s = find(&l, longname);
	ok(s && s->cls == VEIL_WALK_OBJECT, "a long name decodes through its sidecar");
	s = find(&l, nb);
	ok(s && s->cls == VEIL_WALK_NOSIDECAR, "a long-name object without sidecar");
	s = find(&l, side);
	ok(s && s->cls == VEIL_WALK_ORPHAN_SIDECAR, "a sidecar without object");
	s = find(&l, "dir/inner");
	ok(s && s->cls == VEIL_WALK_OBJECT, "an entry of a subdirectory has its full path");
	s = find(&l, "noiv");
	ok(s && s->cls == VEIL_WALK_OBJECT && s->iv_err == -ENOENT,
	   "a directory without dir IV: sub_iv_err is -ENOENT");
	snprintf(cp, sizeof(cp), "%s/%s", s ? s->cpath : "", b);
	s = find(&l, cp);
	ok(s && s->cls == VEIL_WALK_NOIV, "its entry is NOIV, not BADNAME");
	s = find(&l, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	ok(s && s->cls == VEIL_WALK_BADNAME, "an encoded name that does not decrypt");
	s = find(&l, "veilfs.tmp.0123456789abcdef");
	ok(s && s->cls == VEIL_WALK_TEMP, "a temporary");
	s = find(&l, "desktop.ini");
	ok(s && s->cls == VEIL_WALK_FOREIGN, "a foreign file");
	s = find(&l, VEIL_DIRIV_NAME);
	ok(s && s->cls == VEIL_WALK_DIRIV, "the dir IV");
	ok(l.left == 2, "leave() once per entered directory (%d)", l.left);

	/* Without decoding: names are objects, nothing is decrypted. */
	memset(&l, 0, sizeof(l));
	ok(veil_walk_dir(&v, v.dirfd, NULL, "", "", VEIL_WALK_NODECODE, &ops, &l, NULL) == 0,
	   "NODECODE walk completes");
	s = find(&l, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	ok(s && s->cls == VEIL_WALK_OBJECT && !strcmp(s->path, "-"),
	   "NODECODE: an encoded name is an object, without a plaintext path");

	veil_keys_free(v.keys);
	close(v.dirfd);
	tmpdir_rm(root);
	return tap_done();
}
