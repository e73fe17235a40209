/* SPDX-License-Identifier: MIT */
/* The offline commands: init, passwd, info, ls, cat. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int veil_cli_open_error(const char *what, int err)
{
	switch (err) {
	case -ENOENT:
		veil_err("%s: not a veilfs volume (no %s header found)", what, VEIL_CONF_NAME);
		return VEIL_EXIT_NOTVOL;
	case -EMEDIUMTYPE:
		veil_err("%s: not a veilfs volume (the header has no veilfs magic)", what);
		return VEIL_EXIT_NOTVOL;
	case -EBADMSG:
		veil_err("%s: the volume header is damaged (checksum or structure is wrong)", what);
		return VEIL_EXIT_CORRUPT;
	case -EPROTONOSUPPORT:
		veil_err("%s: unsupported volume format version (this veilfs reads version %d)",
			 what, VEIL_FORMAT_VERSION);
		return VEIL_EXIT_VERSION;
	case -ENOTSUP:
		veil_err("%s: the volume uses a feature this veilfs does not know; refusing to "
			 "open it",
			 what);
		return VEIL_EXIT_VERSION;
	default:
		veil_err("%s: %s", what, strerror(-err));
		return VEIL_EXIT_ERROR;
	}
}

static int unlock_error(const char *what, int err)
{
	if (err == -EACCES) {
		veil_err("%s: wrong passphrase (no key slot opens with it)", what);
		return VEIL_EXIT_PASS;
	}
	if (err == -EBADMSG) {
		veil_err("%s: the passphrase is right but the volume header was altered "
			 "(header MAC mismatch)",
			 what);
		return VEIL_EXIT_CORRUPT;
	}
	veil_err("%s: cannot unlock: %s", what, strerror(-err));
	return VEIL_EXIT_ERROR;
}

int veil_cli_open(const char *cipherdir, const char *conf, const struct veil_passsrc *src,
		  struct veil_volume **out)
{
	struct veil_pass pass;
	int ret;

	ret = veil_volume_open(cipherdir, conf, out);
	if (ret < 0)
		return veil_cli_open_error(cipherdir, ret);
	if ((*out)->reverse) {
		veil_err("%s is a plaintext folder set up for reverse mode, not a cipher "
			 "directory (use 'veilfs mount --reverse')",
			 cipherdir);
		ret = VEIL_EXIT_NOTVOL;
		goto fail;
	}
	ret = veil_pass_read(src, "Passphrase: ", 0, 0, &pass);
	if (ret != 0)
		goto fail;
	ret = veil_volume_unlock(*out, pass.buf, pass.len);
	veil_pass_free(&pass);
	if (ret < 0) {
		ret = unlock_error(cipherdir, ret);
		goto fail;
	}
	return 0;
fail:
	veil_volume_close(*out);
	*out = NULL;
	return ret;
}

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

/*
 * Open the directory that will hold a header file: for @path with
 * @name == NULL, the directory part of @path (the file is its last part);
 * else @path itself (the file is @name). *@base receives the file name.
 */
static int open_parent(const char *path, const char *name, char **base)
{
	char *copy = strdup(path), *slash;
	int fd;

	*base = NULL;
	if (!copy)
		return -ENOMEM;
	if (name) {
		fd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*base = strdup(name);
	} else {
		slash = strrchr(copy, '/');
		if (slash)
			*slash = '\0';
		fd = open(slash ? (slash == copy ? "/" : copy) : ".",
			  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*base = strdup(slash ? slash + 1 : copy);
	}
	fd = fd < 0 ? -errno : fd;
	free(copy);
	if (fd >= 0 && !*base) {
		close(fd);
		fd = -ENOMEM;
	}
	return fd;
}

/* Reverse mode: the plaintext folder stays as it is; only a header is added. */
static int init_reverse(const struct veil_args *c, const char *dir,
			const struct veil_kdf_params *kdf)
{
	struct veil_header h;
	struct veil_pass pass = { 0 };
	uint8_t *master = NULL;
	struct stat st;
	char *copy = NULL;
	int ret, e, cfd = -1;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		veil_err("init: %s: %s", dir, errno ? strerror(errno) : "not a directory");
		return VEIL_EXIT_USAGE;
	}
	cfd = open_parent(c->config ? c->config : dir, c->config ? NULL : VEIL_REVERSE_CONF,
			  &copy);
	if (cfd < 0) {
		veil_err("init: %s: %s", c->config ? c->config : dir, strerror(-cfd));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (faccessat(cfd, copy, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		veil_err("init: %s already holds a veilfs header; refusing to overwrite it",
			 c->config ? c->config : dir);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	ret = veil_pass_read(&c->src, "New passphrase: ", 1, 0, &pass);
	if (ret != 0)
		goto out;
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	if (!master) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	veil_random(master, VEIL_KEY_BYTES);
	e = veil_header_create(&h, master, VEIL_DEFAULT_BLOCK_SIZE, pass.buf, pass.len, kdf);
	if (e == 0)
		e = veil_header_store(cfd, copy, &h, 1);
	if (e < 0) {
		veil_err("init: cannot write the volume header: %s", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	{
		char *msg = NULL, *shown;
		size_t sz;

		if (asprintf(&msg, "prepared %s for reverse mode (header: %s%s%s)", dir,
			     c->config ? "" : dir, c->config ? "" : "/",
			     c->config ? c->config : copy) >= 0 &&
		    (shown = malloc(sz = 4 * strlen(msg) + 1))) {
			printf("%s\n", veil_escape(shown, sz, msg));
			free(shown);
		}
		free(msg);
	}
	ret = VEIL_EXIT_OK;
out:
	if (cfd >= 0)
		close(cfd);
	free(copy);
	veil_secure_free(master);
	veil_pass_free(&pass);
	veil_wipe(&h, sizeof(h));
	return ret;
}

int veil_cmd_init(const struct veil_command *cmd, struct veil_args *c)
{
	struct veil_kdf_params kdf;
	enum veil_kdf_profile prof = VEIL_KDF_MODERATE;
	struct veil_header h;
	struct veil_pass pass = { 0 };
	uint8_t *master = NULL;
	uint8_t iv[VEIL_DIRIV_BYTES];
	const char *dir;
	int ret, dfd = -1, created = 0, e;

	(void)cmd;
	dir = c->argv[0];
	if (c->kdf && veil_kdf_profile_parse(c->kdf, &prof) < 0) {
		veil_err("init: unknown KDF profile '%s' (interactive, moderate, sensitive)", c->kdf);
		return VEIL_EXIT_USAGE;
	}
	(void)!veil_kdf_profile_params(prof, &kdf);
	if (c->reverse)
		return init_reverse(c, dir, &kdf);
	if (mkdir(dir, 0700) == 0) {
		created = 1;
	} else if (errno != EEXIST) {
		veil_err("init: cannot create %s: %s", dir, strerror(errno));
		return VEIL_EXIT_ERROR;
	}
	e = dir_is_empty(dir);
	if (e < 0) {
		veil_err("init: %s: %s", dir, strerror(-e));
		return VEIL_EXIT_ERROR;
	}
	if (!e) {
		veil_err("init: %s is not empty; refusing to create a volume there", dir);
		return VEIL_EXIT_USAGE;
	}
	if (c->config && access(c->config, F_OK) == 0) {
		veil_err("init: %s already exists; refusing to overwrite it", c->config);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	ret = veil_pass_read(&c->src, "New passphrase: ", 1, 0, &pass);
	if (ret != 0)
		goto out;
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	if (!master) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	veil_random(master, VEIL_KEY_BYTES);
	e = veil_header_create(&h, master, VEIL_DEFAULT_BLOCK_SIZE, pass.buf, pass.len, &kdf);
	if (e < 0) {
		veil_err("init: key derivation failed: %s", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (e = veil_diriv_create(dfd, iv)) < 0) {
		veil_err("init: cannot write the root directory IV in %s: %s", dir,
			 strerror(dfd < 0 ? errno : -e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (c->config) {
		char *base;
		int cfd = open_parent(c->config, NULL, &base);

		e = cfd < 0 ? cfd : veil_header_store(cfd, base, &h, 1);
		if (cfd >= 0)
			close(cfd);
		free(base);
	} else {
		e = veil_header_store(dfd, VEIL_CONF_NAME, &h, 1);
	}
	if (e < 0) {
		veil_err("init: cannot write the volume header: %s", strerror(-e));
		unlinkat(dfd, VEIL_DIRIV_NAME, 0);
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	{
		char shown[4 * PATH_MAX + 1];

		printf("created veilfs volume in %s (KDF %s, block size %u)\n",
		       veil_escape(shown, sizeof(shown), dir), c->kdf ? c->kdf : "moderate",
		       VEIL_DEFAULT_BLOCK_SIZE);
	}
	ret = VEIL_EXIT_OK;
out:
	if (ret != 0 && created)
		rmdir(dir);
	if (dfd >= 0)
		close(dfd);
	veil_secure_free(master);
	veil_pass_free(&pass);
	veil_wipe(&h, sizeof(h));
	return ret;
}

int veil_cmd_passwd(const struct veil_command *cmd, struct veil_args *c)
{
	struct veil_volume *v = NULL;
	struct veil_pass oldp = { 0 }, newp = { 0 };
	uint8_t *master = NULL;
	struct veil_kdf_params kdf;
	enum veil_kdf_profile prof;
	int slot = 0, ret, e;

	(void)cmd;
	if (c->kdf && veil_kdf_profile_parse(c->kdf, &prof) < 0) {
		veil_err("passwd: unknown KDF profile '%s'", c->kdf);
		return VEIL_EXIT_USAGE;
	}
	e = veil_volume_open(c->argv[0], c->config, &v);
	if (e < 0)
		return veil_cli_open_error(c->argv[0], e);
	ret = veil_pass_read(&c->src, "Old passphrase: ", 0, 0, &oldp);
	if (ret != 0)
		goto out;
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	if (!master) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	e = veil_header_unlock(&v->hdr, oldp.buf, oldp.len, master, &slot);
	if (e < 0) {
		ret = unlock_error(c->argv[0], e);
		goto out;
	}
	/* With --passfile/--extpass both passphrases come from the same source. */
	ret = veil_pass_read(&c->src, "New passphrase: ", 1, 1, &newp);
	if (ret != 0)
		goto out;
	if (c->kdf) {
		(void)!veil_kdf_profile_params(prof, &kdf);
	} else {
		kdf.ops = v->hdr.slots[slot].ops;
		kdf.mem = v->hdr.slots[slot].mem;
	}
	e = veil_header_set_slot(&v->hdr, slot, master, newp.buf, newp.len, &kdf);
	if (e == 0)
		e = veil_header_store(v->conf_dirfd, v->conf_name, &v->hdr, 0);
	if (e < 0) {
		veil_err("passwd: cannot write the new header: %s (the old one is unchanged)",
			 strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	printf("passphrase changed (key slot %d)\n", slot);
	ret = VEIL_EXIT_OK;
out:
	veil_secure_free(master);
	veil_pass_free(&oldp);
	veil_pass_free(&newp);
	veil_volume_close(v);
	return ret;
}

int veil_cmd_info(const struct veil_command *cmd, struct veil_args *c)
{
	struct veil_volume *v = NULL;
	int e;

	(void)cmd;
	e = veil_volume_open(c->argv[0], c->config, &v);
	if (e < 0)
		return veil_cli_open_error(c->argv[0], e);
	printf("format version: %u\n", v->hdr.version);
	printf("block size:     %u\n", v->hdr.block_size);
	printf("feature flags:  0x%08x\n", v->hdr.flags);
	printf("key slots:      %u\n", v->hdr.nslots);
	for (uint32_t i = 0; i < v->hdr.nslots; i++)
		printf("  slot %u: argon2id opslimit=%llu memlimit=%llu MiB\n", i,
		       (unsigned long long)v->hdr.slots[i].ops,
		       (unsigned long long)(v->hdr.slots[i].mem >> 20));
	veil_volume_close(v);
	return VEIL_EXIT_OK;
}

struct lsent {
	char name[VEIL_NAME_MAX + 1];
	struct stat st;
	uint64_t size;
};

static int lscmp(const void *a, const void *b)
{
	return strcmp(((const struct lsent *)a)->name, ((const struct lsent *)b)->name);
}

static char type_char(mode_t m)
{
	if (S_ISDIR(m))
		return 'd';
	if (S_ISLNK(m))
		return 'l';
	if (S_ISFIFO(m))
		return 'p';
	if (S_ISSOCK(m))
		return 's';
	if (S_ISCHR(m))
		return 'c';
	if (S_ISBLK(m))
		return 'b';
	return '-';
}

static int open_dir_at(struct veil_volume *v, const char *path, int *dfd,
		       uint8_t iv[VEIL_DIRIV_BYTES])
{
	char backing[VEIL_ENCNAME_MAX + 1];
	int pfd, e;

	e = veil_path_resolve(v, path, &pfd, iv, backing);
	if (e < 0)
		return e;
	if (!backing[0]) {
		*dfd = pfd;
		return 0;
	}
	*dfd = openat(pfd, backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	e = *dfd < 0 ? -errno : 0;
	close(pfd);
	if (e == 0)
		e = veil_diriv_read(*dfd, iv);
	return e;
}

int veil_cmd_ls(const struct veil_command *cmd, struct veil_args *c)
{
	struct veil_volume *v = NULL;
	uint8_t iv[VEIL_DIRIV_BYTES];
	const char *path;
	struct lsent *ents = NULL;
	size_t n = 0, cap = 0;
	int ret, dfd = -1, e, skipped = 0;
	DIR *d = NULL;
	struct dirent *de;

	(void)cmd;
	path = c->argc == 2 ? c->argv[1] : "";
	ret = veil_cli_open(c->argv[0], c->config, &c->src, &v);
	if (ret != 0)
		return ret;
	e = open_dir_at(v, path, &dfd, iv);
	if (e < 0) {
		veil_err("ls: %s: %s", *path ? path : "/", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 0));
	if (!d) {
		veil_err("ls: %s: %s", path, strerror(errno));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	while ((de = readdir(d))) {
		struct lsent *en;

		if (n == cap) {
			struct lsent *g = realloc(ents, (cap = cap ? cap * 2 : 64) * sizeof(*ents));

			if (!g) {
				ret = VEIL_EXIT_ERROR;
				goto out;
			}
			ents = g;
		}
		en = &ents[n];
		e = (int)veil_entry_decode(v, dfd, iv, de->d_name, en->name);
		if (e == -ENOENT)
			continue;
		if (e < 0) {
			veil_err("ls: skipping '%s': %s", de->d_name,
				 e == -EEXIST ? "a sync conflict copy whose name an entry has"
					      : "not a name of this volume");
			skipped++;
			continue;
		}
		if (fstatat(dfd, de->d_name, &en->st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		en->size = (uint64_t)en->st.st_size;
		if (S_ISREG(en->st.st_mode) &&
		    veil_content_plain_size((uint64_t)en->st.st_size, v->cc.bs, &en->size) < 0)
			en->size = 0;
		if (S_ISLNK(en->st.st_mode))
			en->size = 0;
		n++;
	}
	qsort(ents, n, sizeof(*ents), lscmp);
	for (size_t i = 0; i < n; i++) {
		char shown[4 * VEIL_NAME_MAX + 1];
		mode_t m = ents[i].st.st_mode;

		printf("%c%04o %12llu %s\n", type_char(m), (unsigned)(m & 07777),
		       (unsigned long long)ents[i].size,
		       veil_escape(shown, sizeof(shown), ents[i].name));
	}
	ret = VEIL_EXIT_OK;
	(void)skipped;
out:
	if (d)
		closedir(d);
	if (dfd >= 0)
		close(dfd);
	free(ents);
	veil_volume_close(v);
	return ret;
}

int veil_cmd_cat(const struct veil_command *cmd, struct veil_args *c)
{
	struct veil_volume *v = NULL;
	struct veil_fstate st = { 0 };
	uint8_t iv[VEIL_DIRIV_BYTES];
	char backing[VEIL_ENCNAME_MAX + 1];
	const size_t bufsz = 1 << 20;
	uint8_t *buf = NULL;
	uint64_t off = 0;
	int ret, pfd = -1, fd = -1, e;

	(void)cmd;
	ret = veil_cli_open(c->argv[0], c->config, &c->src, &v);
	if (ret != 0)
		return ret;
	const char *path = c->argv[1];

	e = veil_path_resolve(v, path, &pfd, iv, backing);
	if (e == 0 && !backing[0])
		e = -EISDIR;
	if (e == 0) {
		/* Checked before it is opened: a planted device node is never opened. */
		fd = veil_open_regular(pfd, backing, O_RDONLY, NULL);
		if (fd < 0)
			e = fd == -EBADMSG ? -EINVAL : fd;
	}
	if (e < 0) {
		veil_err("cat: %s: %s", path,
			 e == -ELOOP ? "is a symbolic link" : e == -EINVAL ? "not a regular file"
									  : strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	buf = malloc(bufsz);
	if (!buf) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	for (;;) {
		ssize_t r = veil_file_read(&v->cc, fd, &st, buf, bufsz, off);

		if (r == -EBADMSG) {
			veil_err("cat: %s: block %llu: %s", path, (unsigned long long)st.bad_block,
				 veil_block_fault_str(st.fault));
			ret = VEIL_EXIT_INTEGRITY;
			goto out;
		}
		if (r < 0) {
			veil_err("cat: %s: %s", path, strerror((int)-r));
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
		if (r == 0)
			break;
		if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r) {
			veil_err("cat: writing to standard output: %s", strerror(errno));
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
		off += (uint64_t)r;
	}
	if (fflush(stdout) != 0) {
		veil_err("cat: writing to standard output: %s", strerror(errno));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	ret = VEIL_EXIT_OK;
out:
	if (buf) {
		veil_wipe(buf, bufsz);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	veil_volume_close(v);
	return ret;
}
