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
#include "lib/recovery.h"
#include "lib/unlock.h"

int veil_cli_replace_error(const char *cmd, const char *dir, int err, int in_place)
{
	if (err == -ESTALE)
		veil_err("%s: the header of %s was changed by another command meanwhile; nothing "
			 "written (run it again)",
			 cmd, dir);
	else if (in_place)
		veil_err("%s: the new header is in place, but syncing its directory failed (%s): "
			 "it may not survive a crash",
			 cmd, strerror(-err));
	else
		veil_err("%s: cannot write the new header: %s (the old one is unchanged)", cmd,
			 strerror(-err));
	return VEIL_EXIT_ERROR;
}

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

int veil_cli_unlock_error(const char *what, int err)
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

int veil_cli_unlock(const char *what, const struct veil_header *h, const struct veil_pass *secret,
		    uint8_t *master, int *slot, bool *recovery)
{
	struct veil_unlock_result res;
	int e = veil_unlock(h, secret->buf, secret->len, master, &res);

	*slot = res.slot;
	*recovery = res.recovery;
	if (e == 0)
		return 0;
	switch (res.stage) {
	case VEIL_UNLOCK_PASS:
		return veil_cli_unlock_error(what, e);
	case VEIL_UNLOCK_RK_FORM:
		if (res.group)
			veil_err("%s: recovery key: group %d %s", what, res.group,
				 veil_recovery_fault_str(res.fault));
		else
			veil_err("%s: recovery key %s", what, veil_recovery_fault_str(res.fault));
		return VEIL_EXIT_PASS;
	case VEIL_UNLOCK_RK_OTHER:
		veil_err("%s: this recovery key does not open the volume (it belongs to "
			 "another volume, or the header was altered)",
			 what);
		return VEIL_EXIT_PASS;
	case VEIL_UNLOCK_RK_CHECK:
	default:
		veil_err("%s: cannot check the recovery key: %s", what, strerror(-e));
		return VEIL_EXIT_ERROR;
	}
}

int veil_cli_open(const char *cipherdir, const char *conf, const struct veil_passsrc *src,
		  struct veil_volume **out)
{
	struct veil_pass pass;
	uint8_t *master = NULL;
	int ret, slot;
	bool rec;

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
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	ret = master ? veil_cli_unlock(cipherdir, &(*out)->hdr, &pass, master, &slot, &rec)
		     : VEIL_EXIT_ERROR;
	veil_pass_free(&pass);
	if (ret == 0 && veil_volume_unlock_master(*out, master) < 0)
		ret = VEIL_EXIT_ERROR;
	veil_secure_free(master);
	if (ret != 0)
		goto fail;
	return 0;
fail:
	veil_volume_close(*out);
	*out = NULL;
	return ret;
}

int veil_cli_new_pass(const struct veil_passsrc *src, int line, struct veil_pass *out)
{
	int ret = veil_pass_read(src, "New passphrase: ", 1, line, out);

	if (ret == 0 && veil_recovery_looks_like(out->buf, out->len)) {
		veil_err("the new passphrase has the form of a recovery key (groups of letters "
			 "and digits joined by '-'); choose another");
		veil_pass_free(out);
		ret = VEIL_EXIT_USAGE;
	}
	return ret;
}

int veil_cli_kdf(const char *cmd, const char *name, enum veil_kdf_profile fallback,
		 struct veil_kdf_params *out)
{
	enum veil_kdf_profile prof = fallback;

	if (name && veil_kdf_profile_parse(name, &prof) < 0) {
		veil_err("%s: unknown KDF profile '%s' (interactive, moderate, sensitive)", cmd,
			 name);
		return VEIL_EXIT_USAGE;
	}
	(void)!veil_kdf_profile_params(prof, out);
	return 0;
}

int veil_cli_recovery_precheck(const char *cmd, const struct veil_args *a)
{
	struct stat st;

	if (a->rkfile && lstat(a->rkfile, &st) == 0) {
		veil_err("%s: %s already exists; refusing to overwrite it with a recovery key", cmd,
			 a->rkfile);
		return VEIL_EXIT_USAGE;
	}
	return 0;
}

/* Write all of @p to @fd; 0 or an errno value. */
static int write_full(int fd, const char *p, size_t n)
{
	for (size_t w = 0; w < n;) {
		ssize_t r = write(fd, p + w, n - w);

		if (r < 0 && errno != EINTR)
			return errno;
		if (r > 0)
			w += (size_t)r;
	}
	return 0;
}

int veil_cli_recovery_emit(const char *cmd, const struct veil_args *a,
			   const struct veil_header *h, const uint8_t *master)
{
	struct veil_recovery *rk = veil_secure_alloc(sizeof(*rk));
	char *text = veil_secure_alloc(VEIL_RECOVERY_CHARS + 2);
	int ret = VEIL_EXIT_ERROR, fd = -1, e = 0;
	size_t n;

	if (!rk || !text)
		goto out;
	memcpy(rk->master, master, VEIL_KEY_BYTES);
	rk->version = h->version;
	rk->block_size = h->block_size;
	rk->flags = h->flags;
	veil_recovery_encode(rk, text);
	n = strlen(text);
	text[n++] = '\n';
	if (a->rkfile) {
		fd = open(a->rkfile, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			e = errno;
		if (!e)
			e = write_full(fd, text, n);
		if (!e && fsync(fd) < 0)
			e = errno;
		if (fd >= 0 && close(fd) < 0 && !e)
			e = errno;
		if (e) {
			if (fd >= 0)
				unlink(a->rkfile);
			veil_err("%s: cannot write the recovery key to %s: %s", cmd, a->rkfile,
				 strerror(e));
			goto out;
		}
		printf("recovery key written to %s (keep it apart from the volume)\n", a->rkfile);
	} else {
		/* The key goes from secure memory to write(2), never through stdio's buffer. */
		printf("\nRecovery key of this volume:\n\n    ");
		if (fflush(stdout) != 0)
			e = errno;
		if (!e)
			e = write_full(STDOUT_FILENO, text, n);
		if (e) {
			veil_err("%s: writing to standard output: %s", cmd, strerror(e));
			goto out;
		}
		printf("\nWrite it down or print it and keep it somewhere safe, apart from the "
		       "volume. It opens the volume without any passphrase and can rebuild a lost "
		       "or damaged header ('veilfs recover'). It is the master key itself: changing "
		       "or removing passphrases does not revoke it; only 'veilfs rekey' does. "
		       "It is shown only this once.\n");
	}
	if (fflush(stdout) != 0) {
		veil_err("%s: writing to standard output: %s", cmd, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	veil_secure_free(rk);
	veil_secure_free(text);
	return ret;
}

int veil_cli_dir_entries(const char *dir, int max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while (n < max && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
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

int veil_cli_new_header(const struct veil_args *a, struct veil_header *h, uint8_t *master,
			uint32_t block_size, const struct veil_pass *pass,
			const struct veil_kdf_params *kdf)
{
	int e;

	veil_random(master, VEIL_KEY_BYTES);
	e = veil_header_create(h, master, block_size, pass->buf, pass->len, kdf);
	if (e == 0)
		e = veil_header_set_info(h, 0, NULL, h->slots[0].created);
	if (e == 0 && !a->no_rk)
		e = veil_header_add_recovery(h, master, NULL);
	if (e == 0)
		e = veil_header_reseal(h, master);
	return e;
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
	ret = veil_cli_recovery_precheck("init", c);
	if (ret == 0)
		ret = veil_cli_new_pass(&c->src, 0, &pass);
	if (ret != 0)
		goto out;
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	if (!master) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	e = veil_cli_new_header(c, &h, master, VEIL_DEFAULT_BLOCK_SIZE, &pass, kdf);
	if (e < 0) {
		veil_err("init: key derivation failed: %s", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	/* A key file is written first: a volume is never left without the key asked for. */
	if (!c->no_rk && c->rkfile && (ret = veil_cli_recovery_emit("init", c, &h, master)))
		goto out;
	e = veil_header_store(cfd, copy, &h, 1);
	if (e < 0) {
		veil_err("init: cannot write the volume header: %s", strerror(-e));
		if (!c->no_rk && c->rkfile)
			unlink(c->rkfile);
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
	if (!c->no_rk && !c->rkfile)
		ret = veil_cli_recovery_emit("init", c, &h, master);
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
	e = veil_cli_dir_entries(dir, 1);
	if (e < 0) {
		veil_err("init: %s: %s", dir, strerror(-e));
		return VEIL_EXIT_ERROR;
	}
	if (e > 0) {
		veil_err("init: %s is not empty; refusing to create a volume there", dir);
		return VEIL_EXIT_USAGE;
	}
	if (c->config && access(c->config, F_OK) == 0) {
		veil_err("init: %s already exists; refusing to overwrite it", c->config);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	ret = veil_cli_recovery_precheck("init", c);
	if (ret == 0)
		ret = veil_cli_new_pass(&c->src, 0, &pass);
	if (ret != 0)
		goto out;
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	if (!master) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	e = veil_cli_new_header(c, &h, master, VEIL_DEFAULT_BLOCK_SIZE, &pass, &kdf);
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
	/* A key file is written first: a volume is never left without the key asked for. */
	if (!c->no_rk && c->rkfile && (ret = veil_cli_recovery_emit("init", c, &h, master))) {
		unlinkat(dfd, VEIL_DIRIV_NAME, 0);
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
		if (!c->no_rk && c->rkfile)
			unlink(c->rkfile);
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
	if (!c->no_rk && !c->rkfile)
		ret = veil_cli_recovery_emit("init", c, &h, master);
out:
	if (ret != 0 && created && veil_cli_dir_entries(dir, 1) == 0)
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
	struct veil_header *orig = NULL;
	int slot = -1, ret, e, in_place;
	bool rec;

	(void)cmd;
	ret = veil_cli_kdf("passwd", c->kdf, VEIL_KDF_MODERATE, &kdf);
	if (ret != 0)
		return ret;
	e = veil_volume_open(c->argv[0], c->config, &v);
	if (e < 0)
		return veil_cli_open_error(c->argv[0], e);
	/* The header as read: it must still be on disk when the new one goes in. */
	orig = malloc(sizeof(*orig));
	if (!orig) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	*orig = v->hdr;
	ret = veil_pass_read(&c->src, "Old passphrase: ", 0, 0, &oldp);
	if (ret != 0)
		goto out;
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	if (!master) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	ret = veil_cli_unlock(c->argv[0], &v->hdr, &oldp, master, &slot, &rec);
	if (ret != 0)
		goto out;
	/* A recovery key names no passphrase: it changes the first passphrase slot. */
	if (rec)
		for (slot = 0; slot < (int)v->hdr.nslots; slot++)
			if (v->hdr.slots[slot].alg == VEIL_KDF_ARGON2ID13)
				break;
	/* With --passfile/--extpass both passphrases come from the same source. */
	ret = veil_cli_new_pass(&c->src, 1, &newp);
	if (ret != 0)
		goto out;
	if (!c->kdf && slot < (int)v->hdr.nslots) {
		kdf.ops = v->hdr.slots[slot].ops;
		kdf.mem = v->hdr.slots[slot].mem;
	}
	if (slot < (int)v->hdr.nslots) {
		e = veil_header_set_slot(&v->hdr, slot, master, newp.buf, newp.len, &kdf);
	} else {
		/* Only the recovery slot is left: the passphrase gets a new one. */
		e = veil_header_add_slot(&v->hdr, master, newp.buf, newp.len, &kdf);
		if (e == 0 && v->hdr.info)
			e = veil_header_set_info(&v->hdr, slot, NULL, v->hdr.slots[slot].created);
		if (e == 0)
			e = veil_header_reseal(&v->hdr, master);
	}
	if (e < 0) {
		veil_err("passwd: %s", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	e = veil_header_replace(v->conf_dirfd, v->conf_name, &v->hdr, orig, &in_place);
	if (e < 0) {
		ret = veil_cli_replace_error("passwd", c->argv[0], e, in_place);
		goto out;
	}
	printf("passphrase changed (key slot %d)\n", slot);
	ret = VEIL_EXIT_OK;
out:
	if (orig)
		veil_wipe(orig, sizeof(*orig));
	free(orig);
	veil_secure_free(master);
	veil_pass_free(&oldp);
	veil_pass_free(&newp);
	veil_volume_close(v);
	return ret;
}

/*
 * info --json: the fields of the text output, one JSON object on one line,
 * keys in this order (docs/veilfs.1, info):
 * {"format_version":N,"block_size":N,"feature_flags":N,"key_slots":[SLOT...],
 *  "recovery_slot":N|null}, SLOT {"slot":N,"kind":"argon2id","opslimit":N,
 * "memlimit_mib":N} or {"slot":N,"kind":"recovery"}.
 */
static void info_json(const struct veil_header *h)
{
	int rs = veil_header_recovery_slot(h);

	printf("{\"format_version\":%u,\"block_size\":%u,\"feature_flags\":%u,\"key_slots\":[",
	       h->version, h->block_size, h->flags);
	for (uint32_t i = 0; i < h->nslots; i++) {
		printf("%s{\"slot\":%u,", i ? "," : "", i);
		if (h->slots[i].alg == VEIL_KDF_RECOVERY)
			printf("\"kind\":\"recovery\"}");
		else
			printf("\"kind\":\"argon2id\",\"opslimit\":%llu,\"memlimit_mib\":%llu}",
			       (unsigned long long)h->slots[i].ops,
			       (unsigned long long)(h->slots[i].mem >> 20));
	}
	if (rs >= 0)
		printf("],\"recovery_slot\":%d}\n", rs);
	else
		printf("],\"recovery_slot\":null}\n");
}

/* Everything printed must have reached standard output (a full disk, a closed pipe). */
static int info_flushed(void)
{
	int e = fflush(stdout) != 0 ? errno : 0;

	if (!e && ferror(stdout))
		e = EIO;
	if (!e)
		return VEIL_EXIT_OK;
	veil_err("info: writing to standard output: %s", strerror(e));
	return VEIL_EXIT_ERROR;
}

int veil_cmd_info(const struct veil_command *cmd, struct veil_args *c)
{
	struct veil_volume *v = NULL;
	int e;

	(void)cmd;
	if (c->mounted && c->json) {
		veil_err("info: --json is for the volume header, not with --mounted");
		return VEIL_EXIT_USAGE;
	}
	if (c->mounted)
		return veil_info_mounted(c->argv[0]);
	e = veil_volume_open(c->argv[0], c->config, &v);
	if (e < 0)
		return veil_cli_open_error(c->argv[0], e);
	if (c->json) {
		info_json(&v->hdr);
		veil_volume_close(v);
		return info_flushed();
	}
	printf("format version: %u\n", v->hdr.version);
	printf("block size:     %u\n", v->hdr.block_size);
	printf("feature flags:  0x%08x\n", v->hdr.flags);
	printf("key slots:      %u\n", v->hdr.nslots);
	for (uint32_t i = 0; i < v->hdr.nslots; i++)
		if (v->hdr.slots[i].alg == VEIL_KDF_RECOVERY)
			printf("  slot %u: recovery key\n", i);
		else
			printf("  slot %u: argon2id opslimit=%llu memlimit=%llu MiB\n", i,
			       (unsigned long long)v->hdr.slots[i].ops,
			       (unsigned long long)(v->hdr.slots[i].mem >> 20));
	if (veil_header_recovery_slot(&v->hdr) >= 0)
		printf("recovery key:   present (slot %d)\n", veil_header_recovery_slot(&v->hdr));
	else
		printf("recovery key:   no recovery slot\n");
	veil_volume_close(v);
	return info_flushed();
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
