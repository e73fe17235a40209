// SPDX-License-Identifier: MIT
/*
 * setpass CIPHERDIR: replace the key slot that line 1 of stdin opens with
 * one for line 2, with no check on the new passphrase's form. It makes the
 * volumes that veilfs itself no longer lets a user make: ones whose
 * passphrase has the form of a recovery key (allowed before recovery keys
 * existed). Test use only.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/header.h"

static size_t chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return n;
}

int main(int argc, char **argv)
{
	struct veil_kdf_params kdf;
	struct veil_header h;
	uint8_t *master = NULL;
	char *oldp = NULL, *newp = NULL;
	size_t ol, nl;
	int dfd = -1, slot, in_place, ret = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: setpass CIPHERDIR <OLD-AND-NEW-LINES\n");
		return 2;
	}
	if (veil_crypto_init() < 0)
		return 1;
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	oldp = veil_secure_alloc(1024);
	newp = veil_secure_alloc(1024);
	if (!master || !oldp || !newp || !fgets(oldp, 1024, stdin) || !fgets(newp, 1024, stdin))
		goto out;
	ol = chomp(oldp);
	nl = chomp(newp);
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || veil_header_load(dfd, "veilfs.conf", &h) < 0 ||
	    veil_header_unlock(&h, oldp, ol, master, &slot) < 0 ||
	    veil_kdf_profile_params(VEIL_KDF_INTERACTIVE, &kdf) < 0 ||
	    veil_header_set_slot(&h, slot, master, newp, nl, &kdf) < 0 ||
	    veil_header_replace(dfd, "veilfs.conf", &h, NULL, &in_place) < 0) {
		fprintf(stderr, "setpass: failed\n");
		goto out;
	}
	ret = 0;
out:
	if (dfd >= 0)
		close(dfd);
	veil_secure_free(newp);
	veil_secure_free(oldp);
	veil_secure_free(master);
	return ret;
}
