/* SPDX-License-Identifier: MIT */
/* The one walker over a cipher directory (see walk.h). */
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *veil_walk_class_str(enum veil_walk_class c)
{
	switch (c) {
	case VEIL_WALK_OBJECT:
		return "object";
	case VEIL_WALK_CONFLICT:
		return "conflict copy";
	case VEIL_WALK_BADNAME:
		return "name does not decrypt";
	case VEIL_WALK_NOSIDECAR:
		return "long-name object without its sidecar";
	case VEIL_WALK_NOIV:
		return "entry of a directory without a readable dir IV";
	case VEIL_WALK_SIDECAR:
		return "long-name sidecar";
	case VEIL_WALK_ORPHAN_SIDECAR:
		return "long-name sidecar without its object";
	case VEIL_WALK_LINKBLOB:
		return "symlink target blob";
	case VEIL_WALK_DIRIV:
		return "dir IV";
	case VEIL_WALK_CONF:
		return "volume header";
	case VEIL_WALK_TEMP:
		return "temporary file of an interrupted write";
	case VEIL_WALK_FOREIGN:
		return "foreign file (not part of the volume)";
	}
	return "?";
}

static char *join(const char *a, const char *b)
{
	char *p;

	if (!a)
		return NULL;
	if (asprintf(&p, "%s%s%s", a, a[0] ? "/" : "", b) < 0)
		return NULL;
	return p;
}

/* Classify @e->cname and decode its name where the class has one. */
static void classify(const struct veil_volume *v, struct veil_walk_entry *e, unsigned flags,
		     char *name)
{
	enum veil_entry_kind k = veil_entry_classify(e->cname);
	char obj[VEIL_LONGNAME_LEN + 1];
	struct stat st;
	long n;

	e->long_name = k == VEIL_ENTRY_LONG;
	switch (k) {
	case VEIL_ENTRY_DIRIV:
		e->cls = VEIL_WALK_DIRIV;
		return;
	case VEIL_ENTRY_CONF:
		e->cls = VEIL_WALK_CONF;
		return;
	case VEIL_ENTRY_LINKBLOB:
		e->cls = VEIL_WALK_LINKBLOB;
		return;
	case VEIL_ENTRY_TEMP:
		e->cls = VEIL_WALK_TEMP;
		return;
	case VEIL_ENTRY_SIDECAR:
		memcpy(obj, e->cname, VEIL_LONGNAME_LEN);
		obj[VEIL_LONGNAME_LEN] = '\0';
		e->cls = fstatat(e->dfd, obj, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT
				 ? VEIL_WALK_ORPHAN_SIDECAR
				 : VEIL_WALK_SIDECAR;
		return;
	case VEIL_ENTRY_FOREIGN:
		e->cls = VEIL_WALK_FOREIGN;
		if ((flags & VEIL_WALK_NODECODE) || !e->iv)
			return;
		/* Conflict copies: by the same rule as listings (veil_entry_decode). */
		n = veil_entry_decode(v, e->dfd, e->iv, e->cname, name);
		if (n >= 0) {
			e->cls = VEIL_WALK_CONFLICT;
			e->name = name;
		} else {
			e->err = (int)n; /* -EEXIST: a conflict copy an entry hides */
		}
		return;
	case VEIL_ENTRY_NAME:
	case VEIL_ENTRY_LONG:
		break;
	default:
		e->cls = VEIL_WALK_FOREIGN;
		return;
	}
	if (flags & VEIL_WALK_NODECODE) {
		e->cls = VEIL_WALK_OBJECT;
		return;
	}
	if (!e->iv) {
		e->cls = VEIL_WALK_NOIV;
		return;
	}
	n = veil_entry_decode(v, e->dfd, e->iv, e->cname, name);
	if (n >= 0) {
		e->cls = VEIL_WALK_OBJECT;
		e->name = name;
		return;
	}
	e->err = (int)n;
	e->cls = VEIL_WALK_BADNAME;
	if (k == VEIL_ENTRY_LONG) {
		char side[VEIL_LONGNAME_LEN + sizeof(VEIL_LONGNAME_SUFFIX)];

		snprintf(side, sizeof(side), "%s%s", e->cname, VEIL_LONGNAME_SUFFIX);
		if (fstatat(e->dfd, side, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			e->cls = VEIL_WALK_NOSIDECAR;
	}
}

int veil_walk_one(const struct veil_volume *v, int dfd, const uint8_t *iv, const char *cname,
		  const char *path, const char *cpath, unsigned flags,
		  const struct veil_walk_ops *ops, void *ctx, void *cookie)
{
	char name[VEIL_NAME_MAX + 1];
	struct veil_walk_entry e = { .dfd = dfd, .iv = iv, .cname = cname, .dir_path = path,
				     .sub_fd = -1, .parent = cookie };
	char *ppath = NULL, *pcpath = NULL;
	void *child = NULL;
	int ret = 0;

	if (veil_entry_classify(cname) == VEIL_ENTRY_DOT)
		return 0;
	if (fstatat(dfd, cname, &e.st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0; /* gone meanwhile */
	classify(v, &e, flags, name);
	pcpath = join(cpath, cname);
	if (!pcpath)
		return -ENOMEM;
	e.cpath = pcpath;
	if (e.name && path) {
		ppath = join(path, e.name);
		if (!ppath) {
			ret = -ENOMEM;
			goto out;
		}
		e.path = ppath;
	}
	for (const char *p = pcpath; *p; p++)
		e.depth += *p == '/';
	if (S_ISDIR(e.st.st_mode) &&
	    (e.cls == VEIL_WALK_OBJECT || e.cls == VEIL_WALK_CONFLICT ||
	     e.cls == VEIL_WALK_BADNAME || e.cls == VEIL_WALK_NOSIDECAR ||
	     e.cls == VEIL_WALK_NOIV)) {
		e.sub_fd = openat(dfd, cname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (e.sub_fd < 0)
			e.sub_iv_err = -errno;
		else if (!(flags & VEIL_WALK_NODECODE))
			e.sub_iv_err = veil_diriv_read(e.sub_fd, e.sub_iv);
	}
	ret = ops->visit(ctx, &e, &child);
	if (ret == VEIL_WALK_DESCEND && e.sub_fd >= 0) {
		const uint8_t *civ = e.sub_iv_err == 0 && !(flags & VEIL_WALK_NODECODE) ? e.sub_iv
											: NULL;

		ret = veil_walk_dir(v, e.sub_fd, civ, e.path, pcpath, flags, ops, ctx, child);
		if (ops->leave)
			ops->leave(ctx, &e, child);
	} else if (ret > 0) {
		ret = 0;
	}
out:
	if (e.sub_fd >= 0)
		close(e.sub_fd);
	free(ppath);
	free(pcpath);
	return ret;
}

int veil_walk_dir(const struct veil_volume *v, int dfd, const uint8_t *iv, const char *path,
		  const char *cpath, unsigned flags, const struct veil_walk_ops *ops, void *ctx,
		  void *cookie)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int ret = 0;

	if (!d) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		if (ops->dir_error)
			ops->dir_error(ctx, path, cpath, err, cookie);
		return 0;
	}
	while (ret >= 0 && (de = readdir(d)))
		ret = veil_walk_one(v, dfd, iv, de->d_name, path, cpath, flags, ops, ctx, cookie);
	closedir(d);
	return ret < 0 ? ret : 0;
}
