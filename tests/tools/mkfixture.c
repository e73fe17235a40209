/* SPDX-License-Identifier: MIT */
/*
 * mkfixture — build the example volume of a format version with the core
 * API only (no FUSE, no CLI), so that the committed fixture shows what the
 * core writes. It was run once to make tests/fixtures/v1/; never run it to
 * "refresh" that directory (see tests/fixtures/README.md).
 *
 *   mkfixture CIPHERDIR PLAINDIR
 *
 * CIPHERDIR must not exist. PLAINDIR (must not exist) receives the same
 * tree in plaintext, from which the manifest is made with sha256sum.
 * Contents are a deterministic pattern of each file's path and size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/header.h"
#include "lib/volume.h"

#define FIXTURE_PASS "veilfs-fixture-v1"

struct node {
	char type;           /* 'd' directory, 'f' file, 'l' symlink */
	const char *dir;     /* parent, plaintext, "" for the root */
	const char *name;    /* plaintext name */
	size_t size;         /* file size */
	const char *target;  /* symlink target */
};

/* 200-byte name: too long for the backing name after encryption. */
#define LONG_NAME                                                                            \
	"a-file-name-of-two-hundred-bytes-"                                                  \
	"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn" \
	"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"  \
	".txt"
_Static_assert(sizeof(LONG_NAME) - 1 == 200, "the long name must be 200 bytes");

static const struct node tree[] = {
	{ 'f', "", "empty", 0, NULL },
	{ 'f', "", "one-byte", 1, NULL },
	{ 'f', "", "block-minus-one.bin", 4095, NULL },
	{ 'f', "", "block-exact.bin", 4096, NULL },
	{ 'f', "", "block-plus-one.bin", 4097, NULL },
	{ 'f', "", "hundred-k.bin", 100000, NULL },
	{ 'd', "", "docs", 0, NULL },
	{ 'f', "docs", "readme.txt", 700, NULL },
	{ 'd', "docs", "sub", 0, NULL },
	{ 'f', "docs/sub", "notes.txt", 5000, NULL },
	{ 'f', "", LONG_NAME, 3000, NULL },
	{ 'f', "", "gr\xc3\xbc\xc3\x9f" "e-\xe6\x97\xa5\xe6\x9c\xac.txt", 321, NULL },
	{ 'l', "", "link-to-one-byte", 0, "one-byte" },
	{ 'l', "docs/sub", "up-two", 0, "../../hundred-k.bin" },
};

/* FNV-1a of the path, then xorshift32: printable-ish, reproducible bytes. */
static void pattern(const char *path, size_t size, unsigned char *out)
{
	uint32_t x = 2166136261u;

	for (const char *p = path; *p; p++)
		x = (x ^ (unsigned char)*p) * 16777619u;
	x ^= (uint32_t)size;
	if (!x)
		x = 1;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		/* Every 64th byte a newline, else a letter or digit. */
		out[i] = (i % 64 == 63) ? '\n' : (unsigned char)("abcdefghijklmnopqrstuvwxyz"
								  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
								  "0123456789")[x % 62];
	}
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s%s%s", dir, *dir ? "/" : "", name);
}

static int write_plain(const char *root, const struct node *n, const unsigned char *data)
{
	char rel[1024], path[2048];
	int fd, ret = 0;

	join(rel, sizeof(rel), n->dir, n->name);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (n->type == 'd')
		return mkdir(path, 0755) < 0 ? -errno : 0;
	if (n->type == 'l')
		return symlink(n->target, path) < 0 ? -errno : 0;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return -errno;
	if (n->size && write(fd, data, n->size) != (ssize_t)n->size)
		ret = -EIO;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	return ret;
}

static int write_cipher(struct veil_volume *v, const struct node *n, const unsigned char *data)
{
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	char pb[VEIL_ENCNAME_MAX + 1];
	uint8_t iv[VEIL_DIRIV_BYTES], civ[VEIL_DIRIV_BYTES];
	struct veil_fstate st = { 0 };
	int pfd = -1, dfd = -1, fd = -1, islong, ret;

	/* Resolve the parent directory: a trailing component of "." is not used. */
	if (*n->dir) {
		ret = veil_path_resolve(v, n->dir, &pfd, iv, pb);
		if (ret < 0)
			goto out;
		dfd = openat(pfd, pb, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0) {
			ret = -errno;
			goto out;
		}
		ret = veil_diriv_read(dfd, iv);
		if (ret < 0)
			goto out;
	} else {
		ret = veil_path_resolve(v, "", &dfd, iv, pb);
		if (ret < 0)
			goto out;
	}
	islong = veil_name_to_backing(v, iv, n->name, enc, backing);
	if (islong < 0) {
		ret = islong;
		goto out;
	}
	if (islong) {
		ret = veil_longname_store(dfd, backing, enc);
		if (ret < 0)
			goto out;
	}
	switch (n->type) {
	case 'd':
		ret = veil_mkdir_diriv(dfd, backing, 0755, civ);
		break;
	case 'l':
		ret = veil_symlink_at(v, n->target, dfd, backing);
		break;
	default:
		fd = openat(dfd, backing, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0644);
		if (fd < 0) {
			ret = -errno;
			break;
		}
		/* Two writes, so that the extension path of the core is used too. */
		if (n->size > 1) {
			size_t half = n->size / 2;
			ssize_t w = veil_file_write(&v->cc, fd, &st, data, half, 0);

			if (w == (ssize_t)half)
				w = veil_file_write(&v->cc, fd, &st, data + half, n->size - half,
						    half);
			ret = w < 0 ? (int)w : 0;
		} else if (n->size == 1) {
			ssize_t w = veil_file_write(&v->cc, fd, &st, data, 1, 0);

			ret = w < 0 ? (int)w : 0;
		}
		if (ret == 0 && fsync(fd) < 0)
			ret = -errno;
		break;
	}
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (pfd >= 0)
		close(pfd);
	return ret;
}

int main(int argc, char **argv)
{
	struct veil_kdf_params kdf;
	struct veil_header h;
	struct veil_volume *v = NULL;
	uint8_t iv[VEIL_DIRIV_BYTES];
	uint8_t *master = NULL;
	int dfd = -1, ret = 1, e;

	if (argc != 3) {
		fprintf(stderr, "usage: mkfixture CIPHERDIR PLAINDIR\n");
		return 2;
	}
	if (veil_crypto_init() < 0) {
		fprintf(stderr, "mkfixture: cannot initialise libsodium\n");
		return 1;
	}
	if (mkdir(argv[1], 0755) < 0 || mkdir(argv[2], 0755) < 0) {
		fprintf(stderr, "mkfixture: both directories must be new: %s\n", strerror(errno));
		return 1;
	}
	master = veil_secure_alloc(VEIL_KEY_BYTES);
	if (!master)
		goto out;
	veil_random(master, VEIL_KEY_BYTES);
	(void)!veil_kdf_profile_params(VEIL_KDF_INTERACTIVE, &kdf);
	e = veil_header_create(&h, master, VEIL_DEFAULT_BLOCK_SIZE, FIXTURE_PASS,
			       strlen(FIXTURE_PASS), &kdf);
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e == 0 && dfd < 0)
		e = -errno;
	if (e == 0)
		e = veil_header_store(dfd, VEIL_CONF_NAME, &h, 1);
	if (e == 0)
		e = veil_diriv_create(dfd, iv);
	if (e == 0)
		e = veil_volume_open(argv[1], NULL, &v);
	/* Unlock with the passphrase, as a reader of the fixture will. */
	if (e == 0)
		e = veil_volume_unlock(v, FIXTURE_PASS, strlen(FIXTURE_PASS));
	if (e < 0) {
		fprintf(stderr, "mkfixture: cannot create the volume: %s\n", strerror(-e));
		goto out;
	}
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
		const struct node *n = &tree[i];
		char rel[1024];
		unsigned char *data = malloc(n->size ? n->size : 1);

		if (!data)
			goto out;
		join(rel, sizeof(rel), n->dir, n->name);
		pattern(rel, n->size, data);
		e = write_cipher(v, n, data);
		if (e == 0)
			e = write_plain(argv[2], n, data);
		free(data);
		if (e < 0) {
			fprintf(stderr, "mkfixture: %s: %s\n", rel, strerror(-e));
			goto out;
		}
	}
	ret = 0;
out:
	veil_volume_close(v);
	if (dfd >= 0)
		close(dfd);
	veil_secure_free(master);
	return ret;
}
