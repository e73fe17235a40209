/* SPDX-License-Identifier: MIT */

#include "unlock.h"

#include <errno.h>
#include <string.h>

/* The passphrase slots' own verdict on @s. */
static int unlock_pass(const struct veil_header *h, const char *s, size_t len,
		       uint8_t master[static VEIL_KEY_BYTES], struct veil_unlock_result *res)
{
	int e = veil_header_unlock(h, s, len, master, &res->slot);

	if (e == 0)
		res->recovery = false;
	return e;
}

/* A recovery key's form failed (as @stage); the passphrase slots get their turn. */
static int fall_back(const struct veil_header *h, const char *s, size_t len,
		     uint8_t master[static VEIL_KEY_BYTES], struct veil_unlock_result *res,
		     enum veil_unlock_stage stage)
{
	int e = unlock_pass(h, s, len, master, res);

	if (e == -EACCES)
		res->stage = stage;
	return e;
}

int veil_unlock(const struct veil_header *h, const char *s, size_t len,
		uint8_t master[static VEIL_KEY_BYTES], struct veil_unlock_result *res)
{
	struct veil_recovery *rk;
	int e;

	res->recovery = false;
	res->slot = -1;
	res->stage = VEIL_UNLOCK_PASS;
	res->fault = VEIL_RK_OK;
	res->group = 0;
	if (!veil_recovery_looks_like(s, len))
		return unlock_pass(h, s, len, master, res);
	res->recovery = true;
	res->stage = VEIL_UNLOCK_RK_CHECK;
	rk = veil_secure_alloc(sizeof(*rk));
	if (!rk)
		return -ENOMEM;
	e = veil_recovery_decode(s, len, rk, &res->fault, &res->group);
	if (e == 0)
		memcpy(master, rk->master, VEIL_KEY_BYTES);
	veil_secure_free(rk);
	if (e < 0) {
		res->stage = VEIL_UNLOCK_PASS;
		return fall_back(h, s, len, master, res, VEIL_UNLOCK_RK_FORM);
	}
	e = veil_header_check_master(h, master);
	if (e == 0) {
		res->slot = veil_header_recovery_slot(h);
		return 0;
	}
	veil_wipe(master, VEIL_KEY_BYTES);
	if (e != -EACCES)
		return e;
	res->stage = VEIL_UNLOCK_PASS;
	return fall_back(h, s, len, master, res, VEIL_UNLOCK_RK_OTHER);
}
