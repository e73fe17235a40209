/* SPDX-License-Identifier: MIT */
/*
 * libveilfs calls its own core, never a program's function of the same
 * name: this program defines veil_crypto_init() and veil_wipe() (names of
 * the core's internal functions) with call counters and a wrong result,
 * links libveilfs.so, and checks that veilfs_open() and a read show the
 * library's own behaviour and never reach these two functions.
 * argv[1]: the committed example volume tests/fixtures/v1.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <veilfs/veilfs.h>

#include "../tap.h"

#define PASS "veilfs-fixture-v1"

/* Declared here, not in a header: they only shadow the core's names. */
int veil_crypto_init(void);
void veil_wipe(void *p, size_t n);

static int crypto_init_calls, wipe_calls;

int veil_crypto_init(void)
{
	crypto_init_calls++;
	return -EIO;
}

void veil_wipe(void *p, size_t n)
{
	(void)p;
	(void)n;
	wipe_calls++;
}

int main(int argc, char **argv)
{
	struct veilfs_volume *v = NULL;
	struct veilfs_file *f = NULL;
	char buf[64];
	int e;

	if (argc != 2) {
		fprintf(stderr, "usage: test_interpose FIXTURE-DIR\n");
		return 2;
	}
	e = veilfs_open("/nonexistent/veilfs", NULL, PASS, strlen(PASS), &v);
	ok(e == -ENOENT, "veilfs_open on a missing directory: -ENOENT (got %d)", e);
	ok(crypto_init_calls == 0, "the program's veil_crypto_init was not called (%d calls)",
	   crypto_init_calls);

	e = veilfs_open(argv[1], NULL, PASS, strlen(PASS), &v);
	ok(e == 0 && v, "veilfs_open on the fixture: 0 (got %d)", e);
	if (e == 0) {
		e = veilfs_file_open(v, "hundred-k.bin", &f);
		ok(e == 0, "veilfs_file_open hundred-k.bin (%d)", e);
		if (e == 0) {
			ssize_t r = veilfs_file_pread(f, buf, sizeof(buf), 0);

			ok(r == (ssize_t)sizeof(buf), "a read through the library (%zd)", r);
			veilfs_file_close(f);
		}
		e = veilfs_close(v);
		ok(e == 0, "veilfs_close (%d)", e);
	}
	ok(crypto_init_calls == 0 && wipe_calls == 0,
	   "the program's veil_crypto_init/veil_wipe were never called (%d, %d calls)",
	   crypto_init_calls, wipe_calls);
	return tap_done();
}
