/* SPDX-License-Identifier: MIT */
/*
 * Key slots and recovery:
 *   veilfs key list CIPHERDIR
 *   veilfs key add [--recovery] [--label TEXT] [--kdf PROFILE] CIPHERDIR
 *   veilfs key remove CIPHERDIR SLOT
 *   veilfs recover [--kdf PROFILE] CIPHERDIR
 * A mounted volume is not disturbed: the daemon holds the master key and
 * never reads the header again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lib/recovery.h"
#include "lib/safe.h"

/* A label is anyone's bytes: escaped (veil_escape), and '"' as \". */
static void print_label(const char *l)
{
	char esc[4 * VEIL_LABEL_MAX + 1];

	veil_escape(esc, sizeof(esc), l);
	putchar('"');
	for (const char *p = esc; *p; p++) {
		if (*p == '"')
			putchar('\\');
		putchar(*p);
	}
	putchar('"');
}

int veil_cmd_key_list(const struct veil_command *cmd, struct veil_args *a)
{
	struct veil_volume *v = NULL;
	int e;

	(void)cmd;
	e = veil_volume_open(a->argv[0], a->config, &v);
	if (e < 0)
		return veil_cli_open_error(a->argv[0], e);
	for (uint32_t i = 0; i < v->hdr.nslots; i++) {
		const struct veil_slot *s = &v->hdr.slots[i];
		char when[32] = "unknown";
		time_t t = (time_t)s->created;
		struct tm tm;

		if (s->created && gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (s->alg == VEIL_KDF_RECOVERY)
			printf("%u recovery    kdf=none", i);
		else
			printf("%u passphrase  kdf=argon2id opslimit=%llu memlimit=%lluMiB", i,
			       (unsigned long long)s->ops, (unsigned long long)(s->mem >> 20));
		printf(" created=%s label=", when);
		print_label(s->label);
		putchar('\n');
	}
	veil_volume_close(v);
	return VEIL_EXIT_OK;
}

/*
 * Open the header of a-argv[0] and unlock it with the secret on line 1;
 * @orig keeps the header as read, for store().
 */
static int unlock_for_change(const char *cmd, struct veil_args *a, struct veil_volume **v,
			     struct veil_header *orig, uint8_t *master, int *slot, bool *rec)
{
	struct veil_pass secret = { 0 };
	int ret, e;

	e = veil_volume_open(a->argv[0], a->config, v);
	if (e < 0)
		return veil_cli_open_error(a->argv[0], e);
	*orig = (*v)->hdr;
	ret = veil_pass_read(&a->src, "Passphrase or recovery key: ", 0, 0, &secret);
	if (ret == 0)
		ret = veil_cli_unlock(a->argv[0], &(*v)->hdr, &secret, master, slot, rec);
	veil_pass_free(&secret);
	(void)cmd;
	return ret;
}

/* Replace the header, unless another command changed it since @orig was read. */
static int store(const char *cmd, struct veil_args *a, struct veil_volume *v,
		 const struct veil_header *orig, int *in_place)
{
	int e = veil_header_replace(v->conf_dirfd, v->conf_name, &v->hdr, orig, in_place);

	if (e < 0)
		return veil_cli_replace_error(cmd, a->argv[0], e, *in_place);
	return 0;
}

int veil_cmd_key_add(const struct veil_command *cmd, struct veil_args *a)
{
	struct veil_volume *v = NULL;
	struct veil_pass newp = { 0 };
	struct veil_kdf_params kdf;
	uint8_t *master = veil_secure_alloc(VEIL_KEY_BYTES);
	struct veil_header *orig = calloc(1, sizeof(*orig));
	int ret, slot, e, idx = -1, in_place;
	bool rec;

	(void)cmd;
	if (!master || !orig) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	ret = veil_cli_kdf("key add", a->kdf, VEIL_KDF_MODERATE, &kdf);
	if (ret == 0 && a->recovery && (a->kdf || a->label)) {
		veil_err("key add: --recovery takes neither --kdf nor --label");
		ret = VEIL_EXIT_USAGE;
	}
	if (ret == 0 && a->rkfile && !a->recovery) {
		veil_err("key add: --recovery-key-file needs --recovery");
		ret = VEIL_EXIT_USAGE;
	}
	if (ret == 0 && a->label && veil_header_set_info(&(struct veil_header){ .nslots = 1 }, 0,
							 a->label, 0) < 0) {
		veil_err("key add: a label is at most %d bytes, without control characters",
			 VEIL_LABEL_MAX);
		ret = VEIL_EXIT_USAGE;
	}
	if (ret == 0 && a->recovery)
		ret = veil_cli_recovery_precheck("key add", a);
	if (ret == 0)
		ret = unlock_for_change("key add", a, &v, orig, master, &slot, &rec);
	if (ret != 0)
		goto out;
	if (a->recovery) {
		e = veil_header_add_recovery(&v->hdr, master, &idx);
		if (e == -EEXIST) {
			/* The key is the master key: the one already issued is this same key. */
			printf("the volume already has a recovery slot (slot %d); its recovery key "
			       "is the same as before\n",
			       idx);
			ret = veil_cli_recovery_emit("key add", a, &v->hdr, master);
			goto out;
		}
	} else {
		if (v->hdr.nslots >= VEIL_MAX_SLOTS) {
			veil_err("key add: all %d key slots are in use (remove one first)",
				 VEIL_MAX_SLOTS);
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
		ret = veil_cli_new_pass(&a->src, 1, &newp);
		if (ret != 0)
			goto out;
		e = veil_header_add_slot(&v->hdr, master, newp.buf, newp.len, &kdf);
		idx = (int)v->hdr.nslots - 1;
		if (e == 0)
			e = veil_header_set_info(&v->hdr, idx, a->label, v->hdr.slots[idx].created);
		if (e == 0)
			e = veil_header_reseal(&v->hdr, master);
	}
	if (e == -ENOSPC) {
		veil_err("key add: all %d key slots are in use (remove one first)", VEIL_MAX_SLOTS);
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (e < 0) {
		veil_err("key add: %s", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	/* A key file is written before the header names a recovery slot. */
	if (a->recovery && a->rkfile && (ret = veil_cli_recovery_emit("key add", a, &v->hdr, master)))
		goto out;
	ret = store("key add", a, v, orig, &in_place);
	if (ret != 0) {
		/* A header in place names the recovery slot: its key file stays. */
		if (a->recovery && a->rkfile && !in_place)
			unlink(a->rkfile);
		goto out;
	}
	printf("added %s in key slot %d\n", a->recovery ? "a recovery key" : "a passphrase", idx);
	if (a->recovery && !a->rkfile)
		ret = veil_cli_recovery_emit("key add", a, &v->hdr, master);
out:
	veil_secure_free(master);
	free(orig);
	veil_pass_free(&newp);
	veil_volume_close(v);
	return ret;
}

int veil_cmd_key_remove(const struct veil_command *cmd, struct veil_args *a)
{
	struct veil_volume *v = NULL;
	uint8_t *master = veil_secure_alloc(VEIL_KEY_BYTES);
	const char *arg = a->argv[1];
	char *end;
	unsigned long idx = strtoul(arg, &end, 10);
	struct veil_header *orig = calloc(1, sizeof(*orig));
	int ret, slot, e, in_place;
	bool rec, was_rec;

	(void)cmd;
	if (!master || !orig) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (!*arg || *end || arg[0] == '-' || arg[0] == '+' || idx >= VEIL_MAX_SLOTS) {
		veil_err("key remove: '%s' is not a slot number (0 to %d; see 'veilfs key list')",
			 arg, VEIL_MAX_SLOTS - 1);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	e = veil_volume_open(a->argv[0], a->config, &v);
	if (e < 0) {
		ret = veil_cli_open_error(a->argv[0], e);
		goto out;
	}
	if (idx >= v->hdr.nslots) {
		veil_err("key remove: %s has no key slot %lu (it has %u)", a->argv[0], idx,
			 v->hdr.nslots);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	if (v->hdr.nslots == 1) {
		veil_err("key remove: slot %lu is the only key slot of %s; refusing to remove it",
			 idx, a->argv[0]);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	veil_volume_close(v);
	v = NULL;
	ret = unlock_for_change("key remove", a, &v, orig, master, &slot, &rec);
	if (ret != 0)
		goto out;
	if (slot == (int)idx) {
		veil_err("key remove: that %s opens slot %lu itself; unlock with a passphrase "
			 "or recovery key of another slot",
			 rec ? "recovery key" : "passphrase", idx);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	was_rec = v->hdr.slots[idx].alg == VEIL_KDF_RECOVERY;
	e = veil_header_remove_slot(&v->hdr, (int)idx, master);
	if (e < 0) {
		veil_err("key remove: %s", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	ret = store("key remove", a, v, orig, &in_place);
	if (ret != 0)
		goto out;
	printf("removed key slot %lu%s\n", idx,
	       was_rec ? " (the recovery key itself still opens the volume: it is the master "
			 "key; only 'veilfs rekey' revokes it)"
		       : "");
	if (idx < v->hdr.nslots)
		printf("later slots moved down by one\n");
out:
	veil_secure_free(master);
	free(orig);
	veil_volume_close(v);
	return ret;
}

/*
 * Is @master the key of the files in @v's root? Some encoded name there
 * must decrypt; an empty root proves nothing and is accepted.
 * 1 yes or nothing to check, 0 no, -errno.
 */
static int names_match(struct veil_volume *v)
{
	uint8_t iv[VEIL_DIRIV_BYTES];
	char name[VEIL_NAME_MAX + 1];
	int fd, tried = 0, good = 0, e;
	DIR *d;
	struct dirent *de;

	e = veil_diriv_read(v->dirfd, iv);
	if (e < 0)
		return e;
	fd = openat(v->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		e = -errno;
		if (fd >= 0)
			close(fd);
		return e;
	}
	while ((de = readdir(d)) && !good) {
		enum veil_entry_kind k = veil_entry_classify(de->d_name);

		if (k != VEIL_ENTRY_NAME && k != VEIL_ENTRY_LONG)
			continue;
		tried++;
		if (veil_entry_decode(v, v->dirfd, iv, de->d_name, name) >= 0)
			good = 1;
	}
	closedir(d);
	return good || !tried;
}

int veil_cmd_recover(const struct veil_command *cmd, struct veil_args *a)
{
	struct veil_volume *v = NULL;
	struct veil_pass line = { 0 }, newp = { 0 };
	struct veil_recovery *rk = veil_secure_alloc(sizeof(*rk));
	struct veil_kdf_params kdf;
	struct veil_header h;
	enum veil_recovery_fault fault;
	const char *dir = a->argv[0];
	int ret, e, hdr_err, group, in_place;

	(void)cmd;
	memset(&h, 0, sizeof(h));
	if (!rk)
		return VEIL_EXIT_ERROR;
	ret = veil_cli_kdf("recover", a->kdf, VEIL_KDF_MODERATE, &kdf);
	if (ret != 0)
		goto out;
	e = veil_volume_open_damaged(dir, a->config, &v, &hdr_err);
	if (e < 0) {
		ret = veil_cli_open_error(dir, e);
		goto out;
	}
	if (v->reverse) {
		veil_err("recover: %s is a plaintext folder set up for reverse mode; its header "
			 "is intact",
			 dir);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	{
		uint8_t iv[VEIL_DIRIV_BYTES];

		if (veil_diriv_read(v->dirfd, iv) < 0) {
			veil_err("recover: %s is not a veilfs cipher directory (no %s at its root)",
				 dir, VEIL_DIRIV_NAME);
			ret = VEIL_EXIT_NOTVOL;
			goto out;
		}
	}
	ret = veil_pass_read(&a->src, "Recovery key: ", 0, 0, &line);
	if (ret != 0)
		goto out;
	e = veil_recovery_decode(line.buf, line.len, rk, &fault, &group);
	if (e < 0) {
		if (group)
			veil_err("recover: recovery key: group %d %s", group,
				 veil_recovery_fault_str(fault));
		else
			veil_err("recover: the recovery key %s", veil_recovery_fault_str(fault));
		ret = VEIL_EXIT_PASS;
		goto out;
	}
	if (rk->version != VEIL_FORMAT_VERSION || rk->flags != 0) {
		veil_err("recover: the recovery key is for format version %u with feature flags "
			 "0x%08x; this veilfs writes version %d without flags",
			 rk->version, rk->flags, VEIL_FORMAT_VERSION);
		ret = VEIL_EXIT_VERSION;
		goto out;
	}
	if (hdr_err == 0 && veil_header_check_master(&v->hdr, rk->master) == 0) {
		veil_err("recover: the header of %s is intact and this recovery key opens it; use "
			 "'veilfs key add' or 'veilfs passwd' with the recovery key instead",
			 dir);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	v->cc.bs = rk->block_size;
	e = veil_volume_unlock_master(v, rk->master);
	if (e == 0)
		e = names_match(v);
	if (e <= 0) {
		if (e == 0)
			veil_err("recover: this recovery key does not belong to the volume in %s "
				 "(no name in its root decrypts with it)",
				 dir);
		else
			veil_err("recover: %s: %s", dir, strerror(-e));
		ret = e == 0 ? VEIL_EXIT_PASS : VEIL_EXIT_ERROR;
		goto out;
	}
	ret = veil_cli_new_pass(&a->src, 1, &newp);
	if (ret != 0)
		goto out;
	e = veil_header_create(&h, rk->master, rk->block_size, newp.buf, newp.len, &kdf);
	if (e == 0)
		e = veil_header_set_info(&h, 0, NULL, h.slots[0].created);
	if (e == 0)
		e = veil_header_add_recovery(&h, rk->master, NULL);
	if (e < 0) {
		veil_err("recover: %s", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	/* The damaged or foreign header, if any, is overwritten as in key remove. */
	e = veil_header_replace(v->conf_dirfd, v->conf_name, &h, NULL, &in_place);
	if (e < 0) {
		ret = veil_cli_replace_error("recover", dir, e, in_place);
		goto out;
	}
	printf("wrote a new header for %s (%s): key slot 0 holds the new passphrase, slot 1 "
	       "the recovery key\n",
	       dir,
	       hdr_err == -ENOENT ? "it had none" : hdr_err == 0 ? "the old one did not match"
								 : "the old one was damaged");
	ret = VEIL_EXIT_OK;
out:
	veil_secure_free(rk);
	veil_pass_free(&line);
	veil_pass_free(&newp);
	veil_volume_close(v);
	veil_wipe(&h, sizeof(h));
	return ret;
}
