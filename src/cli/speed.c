/* SPDX-License-Identifier: MIT */
/* veilfs speed: this machine's single-core ceiling for the content and name ciphers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int veil_cmd_speed(const struct veil_command *cmd, struct veil_args *a)
{
	uint8_t master[VEIL_KEY_BYTES], hdr[VEIL_FILE_HEADER_BYTES], nonce[VEIL_AEAD_NONCE_BYTES];
	uint8_t iv[VEIL_DIRIV_BYTES] = { 1 };
	const size_t bs = 4096;
	uint8_t *pt = malloc(bs), *ct = malloc(bs + VEIL_BLOCK_OVERHEAD);
	char enc[VEIL_ENCNAME_MAX + 1], plain[VEIL_NAME_MAX + 1];
	struct veil_keys *k;
	double t0, secs = 1.0;
	uint64_t n;
	int ret = VEIL_EXIT_ERROR;

	(void)cmd;
	(void)a;
	veil_random(master, sizeof(master));
	k = veil_keys_new(master);
	veil_wipe(master, sizeof(master));
	if (!k || !pt || !ct)
		goto out;
	veil_random(pt, bs);
	veil_content_header_new(hdr);
	printf("single-core throughput of the veilfs ciphers on this machine\n");

	t0 = now();
	for (n = 0; now() - t0 < secs; n++) {
		for (int i = 0; i < 64; i++) {
			veil_nonce(nonce);
			veil_content_seal(k->content, hdr, n, false, nonce, pt, bs, ct);
		}
	}
	printf("content encrypt  (XChaCha20-Poly1305, 4 KiB blocks): %8.1f MB/s\n",
	       (double)n * 64 * bs / (now() - t0) / 1e6);

	veil_content_seal(k->content, hdr, 0, false, nonce, pt, bs, ct);
	t0 = now();
	for (n = 0; now() - t0 < secs; n++)
		for (int i = 0; i < 64; i++)
			if (veil_content_open(k->content, hdr, 0, false, ct, bs + VEIL_BLOCK_OVERHEAD,
					      pt) != 0)
				goto out;
	printf("content decrypt  (XChaCha20-Poly1305, 4 KiB blocks): %8.1f MB/s\n",
	       (double)n * 64 * bs / (now() - t0) / 1e6);

	t0 = now();
	for (n = 0; now() - t0 < secs; n++)
		for (int i = 0; i < 64; i++)
			if (veil_name_encrypt(k, iv, "a-typical-file-name.txt", 23, enc) < 0)
				goto out;
	printf("name encrypt     (SIV, 23-byte names):               %8.0f names/s\n",
	       (double)n * 64 / (now() - t0));

	t0 = now();
	for (n = 0; now() - t0 < secs; n++)
		for (int i = 0; i < 64; i++)
			if (veil_name_decrypt(k, iv, enc, strlen(enc), plain) < 0)
				goto out;
	printf("name decrypt     (SIV, 23-byte names):               %8.0f names/s\n",
	       (double)n * 64 / (now() - t0));
	ret = VEIL_EXIT_OK;
out:
	veil_keys_free(k);
	free(pt);
	free(ct);
	return ret;
}
