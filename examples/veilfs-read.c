/* SPDX-License-Identifier: MIT */
/*
 * veilfs-read — an example of libveilfs: list and read a veilfs volume
 * without FUSE, without mounting anything.
 *
 *   veilfs-read [--passfile FILE] [--config FILE] ls CIPHERDIR [DIR]
 *   veilfs-read [--passfile FILE] [--config FILE] cat CIPHERDIR FILE
 *
 * The passphrase (or recovery key) is the first line of FILE, or of
 * standard input: never an argument. "ls" prints one line per entry,
 * sorted by name, as "veilfs ls" does: type and mode, plaintext size,
 * name. "cat" writes the file's plaintext to standard output; every byte
 * was authenticated first, and a damaged or altered block stops it with an
 * error (exit status 1). Build against an installed libveilfs with
 *
 *   cc veilfs-read.c $(pkg-config --cflags --libs libveilfs)
 */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup, O_CLOEXEC, S_ISSOCK */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <veilfs/veilfs.h>

struct entry {
	char *name;
	struct veilfs_stat st;
};

static int fail(const char *what, int err)
{
	fprintf(stderr, "veilfs-read: %s: %s\n", what, veilfs_strerror(err));
	return 1;
}

static char type_char(mode_t m)
{
	return S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : S_ISREG(m) ? '-' : S_ISFIFO(m) ? 'p'
		: S_ISSOCK(m) ? 's' : S_ISCHR(m) ? 'c' : S_ISBLK(m) ? 'b' : '?';
}

/* Names are the volume owner's, but still never sent raw to a terminal. */
static void put_name(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static int do_ls(struct veilfs_volume *vol, const char *path)
{
	struct veilfs_dir *dir;
	struct entry *ents = NULL;
	size_t n = 0, cap = 0;
	const char *name;
	struct veilfs_stat st;
	int e, ret = 0;

	e = veilfs_dir_open(vol, path, &dir);
	if (e < 0)
		return fail(*path ? path : "/", e);
	while ((e = veilfs_dir_read(dir, &name, &st)) > 0) {
		if (n == cap) {
			struct entry *g = realloc(ents, (cap = cap ? 2 * cap : 64) * sizeof(*ents));

			if (!g) {
				e = -ENOMEM;
				break;
			}
			ents = g;
		}
		ents[n].name = strdup(name);
		if (!ents[n].name) {
			e = -ENOMEM;
			break;
		}
		ents[n++].st = st;
	}
	if (e < 0)
		ret = fail(*path ? path : "/", e);
	if (veilfs_dir_skipped(dir))
		fprintf(stderr, "veilfs-read: %s: %u entries skipped (names that do not decrypt)\n",
			*path ? path : "/", veilfs_dir_skipped(dir));
	veilfs_dir_close(dir);
	if (ret == 0) {
		qsort(ents, n, sizeof(*ents), cmp_entry);
		for (size_t i = 0; i < n; i++) {
			printf("%c%04o %12llu ", type_char(ents[i].st.mode),
			       (unsigned)(ents[i].st.mode & 07777), (unsigned long long)ents[i].st.size);
			put_name(ents[i].name);
			putchar('\n');
		}
		if (fflush(stdout) != 0)
			ret = fail("standard output", -errno);
	}
	for (size_t i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	return ret;
}

static int do_cat(struct veilfs_volume *vol, const char *path)
{
	struct veilfs_file *f;
	static char buf[1 << 16];
	uint64_t off = 0;
	ssize_t r;
	int e;

	e = veilfs_file_open(vol, path, &f);
	if (e < 0)
		return fail(path, e);
	/*
	 * Reads authenticate block by block: without this, a damaged block
	 * (or a file cut short) would be reported only after the good part
	 * before it was printed. The loop below still checks every block.
	 */
	e = veilfs_file_verify(f);
	if (e < 0) {
		veilfs_file_close(f);
		return fail(path, e);
	}
	while ((r = veilfs_file_pread(f, buf, sizeof(buf), off)) > 0) {
		if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r) {
			r = -errno;
			break;
		}
		off += (uint64_t)r;
	}
	veilfs_file_close(f);
	if (r < 0)
		return fail(path, (int)r);
	if (fflush(stdout) != 0)
		return fail("standard output", -errno);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: veilfs-read [--passfile FILE] [--config FILE] ls CIPHERDIR [DIR]\n"
			"       veilfs-read [--passfile FILE] [--config FILE] cat CIPHERDIR FILE\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *passfile = NULL, *config = NULL, *cmd, *dir, *path;
	struct veilfs_volume *vol;
	char *secret;
	size_t len;
	int i = 1, fd = 0, e, ret;

	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--passfile"))
			passfile = argv[i + 1];
		else if (!strcmp(argv[i], "--config"))
			config = argv[i + 1];
		else
			return usage();
	}
	if (argc - i < 2 || argc - i > 3)
		return usage();
	cmd = argv[i];
	dir = argv[i + 1];
	path = argc - i == 3 ? argv[i + 2] : "";
	if (strcmp(cmd, "ls") && strcmp(cmd, "cat"))
		return usage();
	if (!strcmp(cmd, "cat") && argc - i != 3)
		return usage();

	if (passfile) {
		fd = open(passfile, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail(passfile, -errno);
	}
	e = veilfs_secret_read(fd, &secret, &len);
	if (passfile)
		close(fd);
	if (e < 0)
		return fail(passfile ? passfile : "standard input", e);
	e = veilfs_open(dir, config, secret, len, &vol);
	veilfs_secret_free(secret);
	if (e < 0)
		return fail(dir, e);
	ret = !strcmp(cmd, "ls") ? do_ls(vol, path) : do_cat(vol, path);
	e = veilfs_close(vol);
	if (e < 0 && ret == 0)
		ret = fail(dir, e);
	return ret;
}
