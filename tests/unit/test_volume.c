/* SPDX-License-Identifier: MIT */
/*
 * An opened cipher directory: open/unlock, directories with their IVs,
 * symlinks (inline and blob targets), long names and their sidecars, path
 * resolution. Everything in a temp dir, no FUSE.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/volume.h"

#include "../tap.h"
#include "util.h"

static const char pass[] = "volume passphrase";
static char root[64];
static int rootfd;

static int make_volume(void)
{
	struct veil_kdf_params kdf = { TINY_OPS, TINY_MEM };
	struct veil_header h;
	uint8_t *master = veil_secure_alloc(VEIL_KEY_BYTES);
	uint8_t iv[VEIL_DIRIV_BYTES];
	int r;

	veil_random(master, VEIL_KEY_BYTES);
	r = veil_header_create(&h, master, 4096, pass, strlen(pass), &kdf);
	if (r == 0)
		r = veil_header_store(rootfd, VEIL_CONF_NAME, &h, 1);
	if (r == 0)
		r = veil_diriv_create(rootfd, iv);
	veil_secure_free(master);
	return r;
}

static void test_open(struct veil_volume **vp)
{
	struct veil_volume *v = NULL;
	char path[128];
	int r;

	r = veil_volume_open("/nonexistent/veilfs-test", NULL, &v);
	ok(r == -ENOENT && v == NULL, "open of a missing dir -> -ENOENT (%d)", r);
	{
		char empty[64];
		int efd = tmpdir_new(empty);

		r = veil_volume_open(empty, NULL, &v);
		ok(r == -ENOENT && v == NULL, "dir without a header -> -ENOENT (%d)", r);
		write_file_at(efd, VEIL_CONF_NAME, "hello, not a header", 19);
		r = veil_volume_open(empty, NULL, &v);
		ok(r == -EMEDIUMTYPE, "dir with a foreign veilfs.conf -> -EMEDIUMTYPE (%d)", r);
		close(efd);
		tmpdir_rm(empty);
	}
	r = make_volume();
	ok(r == 0, "volume created (header stored, root dir IV) (%d)", r);
	snprintf(path, sizeof(path), "%s/%s", root, VEIL_CONF_NAME);
	r = veil_volume_open(path, NULL, &v);
	ok(r == -ENOTDIR, "open of a file as the cipher dir -> -ENOTDIR (%d)", r);
	r = veil_volume_open("/tmp", path, &v);
	ok(r == 0 && v && v->hdr.nslots == 1, "open with an explicit header path (%d)", r);
	veil_volume_close(v);
	r = veil_volume_open(root, NULL, &v);
	ok(r == 0 && v && v->cc.bs == 4096 && v->keys == NULL, "open the volume (%d)", r);
	if (!v)
		return;
	r = veil_volume_unlock(v, "nope", 4);
	ok(r == -EACCES && v->keys == NULL, "unlock with a wrong passphrase -> -EACCES (%d)", r);
	r = veil_volume_unlock(v, pass, strlen(pass));
	ok(r == 0 && v->keys && v->cc.keys == v->keys, "unlock (%d)", r);
	*vp = v;
}

static void test_dirs(struct veil_volume *v)
{
	uint8_t iv[VEIL_DIRIV_BYTES], iv2[VEIL_DIRIV_BYTES], riv[VEIL_DIRIV_BYTES];
	char enc[VEIL_ENCNAME_MAX + 1], bk[VEIL_ENCNAME_MAX + 1];
	const mode_t modes[] = { 0751, 0500, 0700, 01777, 02755 };
	struct stat st;
	int r, dfd;

	r = veil_diriv_read(rootfd, riv);
	ok(r == 0, "root dir IV reads (%d)", r);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char name[32];

		snprintf(name, sizeof(name), "dir-%04o", (unsigned)modes[i]);
		r = veil_name_to_backing(v, riv, name, enc, bk);
		r = r < 0 ? r : veil_mkdir_diriv(rootfd, bk, modes[i], iv);
		if (fstatat(rootfd, bk, &st, AT_SYMLINK_NOFOLLOW) < 0)
			memset(&st, 0, sizeof(st));
		ok(r == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == modes[i],
		   "mkdir %s: mode exactly %04o (%04o) (%d)", name, (unsigned)modes[i],
		   (unsigned)(st.st_mode & 07777), r);
		dfd = openat(rootfd, bk, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		r = dfd < 0 ? -errno : veil_diriv_read(dfd, iv2);
		ok(r == 0 && memcmp(iv, iv2, sizeof(iv)) == 0 && count_prefix(dfd, "") == 1,
		   "its dir IV is readable and the only entry (%d)", r);
		if (dfd >= 0)
			close(dfd);
	}
	ok(count_prefix(rootfd, VEIL_TEMP_PREFIX) == 0, "no veilfs.tmp.* left behind");
	r = veil_mkdir_diriv(rootfd, bk, 0755, iv2);
	ok(r == -EEXIST, "mkdir over an existing directory -> -EEXIST (%d)", r);
	ok(count_prefix(rootfd, VEIL_TEMP_PREFIX) == 0, "...and leaves no temp dir behind");
	r = veil_mkdir_diriv(rootfd, VEIL_CONF_NAME, 0755, iv2);
	ok(r == -EEXIST || r == -ENOTDIR, "mkdir over a file fails (%d)", r);
	ok(fstatat(rootfd, VEIL_CONF_NAME, &st, 0) == 0 && S_ISREG(st.st_mode),
	   "...and the file is untouched");
	{
		uint8_t a[VEIL_DIRIV_BYTES], b[VEIL_DIRIV_BYTES + 1] = { 0 };
		int d1;

		mkdirat(rootfd, "plain-a", 0700);
		d1 = openat(rootfd, "plain-a", O_RDONLY | O_DIRECTORY);
		r = veil_diriv_read(d1, a);
		ok(r == -ENOENT, "dir without an IV -> -ENOENT (%d)", r);
		write_file_at(d1, VEIL_DIRIV_NAME, a, 15);
		r = veil_diriv_read(d1, a);
		ok(r == -EBADMSG, "15-byte IV -> -EBADMSG (%d)", r);
		write_file_at(d1, VEIL_DIRIV_NAME, b, 17);
		r = veil_diriv_read(d1, a);
		ok(r == -EBADMSG, "17-byte IV -> -EBADMSG (%d)", r);
		unlinkat(d1, VEIL_DIRIV_NAME, 0);
		r = veil_diriv_create(d1, a);
		ok(r == 0 && veil_diriv_read(d1, b) == 0 && memcmp(a, b, sizeof(a)) == 0,
		   "veil_diriv_create writes a readable IV (%d)", r);
		r = veil_diriv_create(d1, b);
		ok(r == -EEXIST && veil_diriv_read(d1, b) == 0 && memcmp(a, b, sizeof(a)) == 0,
		   "veil_diriv_create never replaces an existing IV (%d)", r);
		ok(count_prefix(d1, VEIL_TEMP_PREFIX) == 0, "no temp file left in it");
		close(d1);
	}
}

static void test_symlinks(struct veil_volume *v)
{
	const size_t lens[] = { 1, 100, 3031, 3032, 4095 };
	char *target = malloc(VEIL_LINK_TARGET_MAX + 2), *out = malloc(VEIL_LINK_TARGET_MAX + 1);
	char lnk[PATH_MAX];
	uint8_t iv[VEIL_DIRIV_BYTES];
	int sub, r;
	long n;

	r = veil_mkdir_diriv(rootfd, "sub", 0700, iv);
	sub = openat(rootfd, "sub", O_RDONLY | O_DIRECTORY);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char name[32];
		ssize_t ln;
		bool blob = lens[i] > 3031;

		for (size_t j = 0; j < lens[i]; j++)
			target[j] = (char)('A' + (j * 5 + i) % 26);
		target[lens[i]] = '\0';
		snprintf(name, sizeof(name), "link%zu", lens[i]);
		r = veil_symlink_at(v, target, sub, name);
		ln = readlinkat(sub, name, lnk, sizeof(lnk) - 1);
		lnk[ln > 0 ? ln : 0] = '\0';
		ok(r == 0 && ln > 0 && (blob ? veil_entry_classify(lnk) == VEIL_ENTRY_LINKBLOB
					    : veil_entry_classify(lnk) == VEIL_ENTRY_NAME),
		   "symlink with a %zu-byte target: %s (%d)", lens[i],
		   blob ? "blob veilfs.lt.*" : "inline", r);
		if (blob)
			ok(faccessat(rootfd, lnk, F_OK, AT_SYMLINK_NOFOLLOW) == 0,
			   "the blob is at the volume root");
		n = veil_readlink_at(v, sub, name, out);
		ok(n == (long)lens[i] && strcmp(out, target) == 0, "readlink round trip (%ld)", n);
		if (blob) {
			veil_symlink_release(v, sub, name);
			ok(faccessat(rootfd, lnk, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT,
			   "veil_symlink_release removes the blob");
			n = veil_readlink_at(v, sub, name, out);
			ok(n == -EBADMSG, "a symlink whose blob is gone -> -EBADMSG (%ld)", n);
		}
	}
	memset(target, 'x', VEIL_LINK_TARGET_MAX + 1);
	target[VEIL_LINK_TARGET_MAX + 1] = '\0';
	r = veil_symlink_at(v, target, sub, "toolong");
	ok(r == -ENAMETOOLONG, "4096-byte target -> -ENAMETOOLONG (%d)", r);
	r = veil_symlink_at(v, "", sub, "empty");
	ok(r == -ENOENT, "empty target -> -ENOENT (%d)", r);
	ok(count_prefix(rootfd, VEIL_LONGLINK_PREFIX) == 0, "no stray blob after the failures");

	/* Hard links share a blob: releasing one link keeps it. */
	target[4000] = '\0';
	r = veil_symlink_at(v, target, sub, "hl1");
	linkat(sub, "hl1", sub, "hl2", 0);
	veil_symlink_release(v, sub, "hl1");
	unlinkat(sub, "hl1", 0);
	n = veil_readlink_at(v, sub, "hl2", out);
	ok(r == 0 && n == 4000, "blob survives the release of one of two hard links (%ld)", n);
	veil_symlink_release(v, sub, "hl2");
	ok(count_prefix(rootfd, VEIL_LONGLINK_PREFIX) == 0, "...and goes with the last one");

	/* Tampering: swap two blobs, or an inline target for another link's. */
	{
		char b1[PATH_MAX], b2[PATH_MAX], *c1 = malloc(8192), *c2 = malloc(8192);
		long l1, l2;

		target[3500] = '\0';
		r = veil_symlink_at(v, target, sub, "t1");
		target[0] = 'Z';
		r |= veil_symlink_at(v, target, sub, "t2");
		l1 = readlinkat(sub, "t1", b1, sizeof(b1) - 1);
		l2 = readlinkat(sub, "t2", b2, sizeof(b2) - 1);
		b1[l1 > 0 ? l1 : 0] = '\0';
		b2[l2 > 0 ? l2 : 0] = '\0';
		l1 = read_file_at(rootfd, b1, c1, 8192);
		l2 = read_file_at(rootfd, b2, c2, 8192);
		fchmodat(rootfd, b1, 0600, 0);
		write_file_at(rootfd, b1, c2, (size_t)l2);
		n = veil_readlink_at(v, sub, "t1", out);
		ok(r == 0 && l1 > 0 && n == -EBADMSG,
		   "a blob whose content is another link's -> -EBADMSG (%ld)", n);
		c1[100] = c1[100] == 'A' ? 'B' : 'A';
		write_file_at(rootfd, b1, c1, (size_t)l1);
		n = veil_readlink_at(v, sub, "t1", out);
		ok(n == -EBADMSG, "a tampered blob -> -EBADMSG (%ld)", n);
		free(c1);
		free(c2);
		unlinkat(sub, "t1", 0);
		unlinkat(sub, "t2", 0);
		unlinkat(rootfd, b1, 0);
		unlinkat(rootfd, b2, 0);
	}
	/*
	 * Blob sizes (format.md §10): a blob holds an encoding longer than 4095
	 * characters and at most VEIL_LINK_BLOB_MAX (5514); anything else is
	 * rejected even when its name matches its content. The short one is a
	 * valid encryption of a 100-byte target, so only the size rule rejects
	 * it; the long one is a valid-looking base64 run.
	 */
	{
		char *s = malloc(VEIL_LINK_BLOB_MAX + 2), bn[VEIL_LONGNAME_LEN + 1];
		size_t sl = veil_link_encrypted_len(100);

		ok(VEIL_LINK_BLOB_MAX == 5514 && veil_link_encrypted_len(VEIL_LINK_TARGET_MAX) ==
							 VEIL_LINK_BLOB_MAX,
		   "VEIL_LINK_BLOB_MAX is the encoded length of a 4095-byte target (5514)");
		memset(target, 'q', 100);
		veil_link_encrypt(v->keys, target, 100, s);
		veil_link_blob_name(s, sl, bn);
		write_file_at(rootfd, bn, s, sl);
		symlinkat(bn, sub, "shortblob");
		n = veil_readlink_at(v, sub, "shortblob", out);
		ok(n == -EBADMSG, "a blob holding a %zu-character encoding (fits a symlink) -> -EBADMSG "
				  "(%ld)", sl, n);
		veil_symlink_release(v, sub, "shortblob");
		unlinkat(sub, "shortblob", 0);
		memset(s, 'A', VEIL_LINK_BLOB_MAX + 1);
		veil_link_blob_name(s, VEIL_LINK_BLOB_MAX + 1, bn);
		write_file_at(rootfd, bn, s, VEIL_LINK_BLOB_MAX + 1);
		symlinkat(bn, sub, "bigblob");
		n = veil_readlink_at(v, sub, "bigblob", out);
		ok(n == -EBADMSG, "a blob of %d bytes (over the maximum) -> -EBADMSG (%ld)",
		   VEIL_LINK_BLOB_MAX + 1, n);
		veil_symlink_release(v, sub, "bigblob");
		unlinkat(sub, "bigblob", 0);
		free(s);
	}
	/*
	 * The blob check is an unkeyed hash, so anyone can plant a blob with
	 * junk content under the matching name: it must still read as a
	 * damaged link (-EBADMSG, EIO at the FUSE boundary), like an inline
	 * target that does not decode, never as -EINVAL ("not a symlink").
	 */
	{
		static const char *junk[] = { "not base64 at all!", "QUJD",
					      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };

		for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
			char bn[VEIL_LONGNAME_LEN + 1], ln[16];

			veil_link_blob_name(junk[i], strlen(junk[i]), bn);
			write_file_at(rootfd, bn, junk[i], strlen(junk[i]));
			snprintf(ln, sizeof(ln), "junk%zu", i);
			symlinkat(bn, sub, ln);
			n = veil_readlink_at(v, sub, ln, out);
			ok(n == -EBADMSG, "planted blob \"%s\" (name matches) -> -EBADMSG (%ld)", junk[i],
			   n);
			veil_symlink_release(v, sub, ln);
			unlinkat(sub, ln, 0);
		}
	}
	symlinkat("ZZZZAAAAZZZZAAAAZZZZAAAAZZZZAAAAZZZZAAAAZZZZAAAAZZZZAAAA", sub, "forged");
	n = veil_readlink_at(v, sub, "forged", out);
	ok(n == -EBADMSG, "a forged inline target -> -EBADMSG (%ld)", n);
	symlinkat("/etc/passwd", sub, "plain");
	n = veil_readlink_at(v, sub, "plain", out);
	ok(n == -EBADMSG, "a plaintext symlink planted in the cipher dir -> -EBADMSG (%ld)", n);
	n = veil_readlink_at(v, sub, "missing", out);
	ok(n == -ENOENT, "readlink of a missing link -> -ENOENT (%ld)", n);
	close(sub);
	free(target);
	free(out);
}

/* A directory created on two machines: names under its second dir IV (format.md §7). */
static void test_secondary_iv(struct veil_volume *v)
{
	static const char sec[] = "veilfs.sync-conflict-20261201-120000-ABCDEFG.diriv";
	uint8_t iv[VEIL_DIRIV_BYTES], iv2[VEIL_DIRIV_BYTES];
	char enc[VEIL_ENCNAME_MAX + 1], bk[VEIL_ENCNAME_MAX + 1], out[VEIL_NAME_MAX + 1];
	char enc2[VEIL_ENCNAME_MAX + 1], bk2[VEIL_ENCNAME_MAX + 1];
	int dfd, r;
	long n;

	ok(veil_diriv_conflict_name(sec) &&
	   veil_diriv_conflict_name("veilfs.diriv (conflicted copy 2026-01-01)") &&
	   !veil_diriv_conflict_name(VEIL_DIRIV_NAME) &&
	   !veil_diriv_conflict_name("veilfs.sync-conflict-.diriv") &&
	   !veil_diriv_conflict_name("veilfs.sync-conflict-a b.diriv") &&
	   !veil_diriv_conflict_name("veilfs.diriv.bak") &&
	   !veil_diriv_conflict_name("veilfs.diriv (copy)"),
	   "secondary dir IV names: the two conflict shapes and nothing else");
	r = veil_mkdir_diriv(rootfd, "twin", 0700, iv);
	dfd = openat(rootfd, "twin", O_RDONLY | O_DIRECTORY);
	veil_random(iv2, sizeof(iv2));
	write_file_at(dfd, sec, iv2, sizeof(iv2));
	r = r < 0 ? r : veil_name_to_backing(v, iv2, "made elsewhere", enc, bk);
	write_file_at(dfd, bk, "x", 1);
	n = veil_entry_decode(v, dfd, iv, bk, out);
	ok(r == 0 && n == 14 && strcmp(out, "made elsewhere") == 0,
	   "a name under the secondary IV decodes (%ld)", n);
	r = veil_name_to_backing_secondary(v, dfd, "made elsewhere", enc2, bk2);
	ok(r == 0 && strcmp(bk2, bk) == 0, "and is found by its plaintext name (%d)", r);
	r = veil_name_to_backing_secondary(v, dfd, "not there", enc2, bk2);
	ok(r == -ENOENT, "a missing name is not found under either IV (%d)", r);
	/* A FIFO or a wrong-sized file with that name is no IV. */
	unlinkat(dfd, sec, 0);
	mkfifoat(dfd, sec, 0600);
	n = veil_entry_decode(v, dfd, iv, bk, out);
	ok(n == -EBADMSG, "a FIFO named like a secondary IV is ignored (%ld)", n);
	unlinkat(dfd, sec, 0);
	write_file_at(dfd, sec, iv2, sizeof(iv2) - 1);
	n = veil_entry_decode(v, dfd, iv, bk, out);
	ok(n == -EBADMSG, "a 15-byte secondary IV is ignored (%ld)", n);
	close(dfd);
}

static void test_longnames(struct veil_volume *v)
{
	uint8_t iv[VEIL_DIRIV_BYTES];
	char name[256], name2[256], enc[VEIL_ENCNAME_MAX + 1], bk[VEIL_ENCNAME_MAX + 1];
	char enc2[VEIL_ENCNAME_MAX + 1], bk2[VEIL_ENCNAME_MAX + 1], out[VEIL_NAME_MAX + 1];
	char side[VEIL_ENCNAME_MAX + 16];
	int dfd, r;
	long n;

	r = veil_mkdir_diriv(rootfd, "ln", 0700, iv);
	dfd = openat(rootfd, "ln", O_RDONLY | O_DIRECTORY);
	memset(name, 'L', 200);
	name[200] = '\0';
	memset(name2, 'M', 255);
	name2[255] = '\0';
	r = veil_name_to_backing(v, iv, name, enc, bk);
	ok(r == 1 && veil_entry_classify(bk) == VEIL_ENTRY_LONG, "200-byte name is long: %s", bk);
	r = veil_longname_store(dfd, bk, enc);
	write_file_at(dfd, bk, "x", 1);
	ok(r == 0 && count_prefix(dfd, VEIL_TEMP_PREFIX) == 0, "sidecar stored, no temp left (%d)",
	   r);
	n = veil_entry_decode(v, dfd, iv, bk, out);
	ok(n == 200 && strcmp(out, name) == 0, "long name decodes through its sidecar (%ld)", n);
	snprintf(side, sizeof(side), "%s%s", bk, VEIL_LONGNAME_SUFFIX);
	n = veil_entry_decode(v, dfd, iv, side, out);
	ok(n == -ENOENT, "the sidecar itself is not listed (-ENOENT) (%ld)", n);
	n = veil_entry_decode(v, dfd, iv, VEIL_DIRIV_NAME, out);
	ok(n == -ENOENT, "the dir IV is not listed (%ld)", n);
	n = veil_entry_decode(v, dfd, iv, "report (conflicted copy).txt", out);
	ok(n == -EINVAL, "junk -> -EINVAL (%ld)", n);
	n = veil_entry_decode(v, dfd, iv, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", out);
	ok(n == -EBADMSG || n == -EINVAL, "base64 junk fails (%ld)", n);
	r = veil_name_to_backing(v, iv, "short", enc2, bk2);
	n = veil_entry_decode(v, dfd, iv, bk2, out);
	ok(r == 0 && strcmp(enc2, bk2) == 0 && n == 5 && strcmp(out, "short") == 0,
	   "a short name decodes directly (%ld)", n);
	{
		uint8_t other[VEIL_DIRIV_BYTES];

		char enc3[VEIL_ENCNAME_MAX + 1], bk3[VEIL_ENCNAME_MAX + 1];

		/* Named under another directory's IV, then moved here. */
		veil_random(other, sizeof(other));
		r = veil_name_to_backing(v, other, "short", enc3, bk3);
		n = veil_entry_decode(v, dfd, iv, bk3, out);
		ok(r == 0 && n == -EBADMSG, "a name moved from another directory -> -EBADMSG (%ld)",
		   n);
	}

	/* A sidecar copied from another long name does not belong to this object. */
	r = veil_name_to_backing(v, iv, name2, enc2, bk2);
	r = r < 0 ? r : veil_longname_store(dfd, bk2, enc2);
	n = veil_entry_decode(v, dfd, iv, bk2, out);
	ok(r == 0 && n == 255 && strcmp(out, name2) == 0, "255-byte name decodes (%ld)", n);
	write_file_at(dfd, side, enc2, strlen(enc2));
	n = veil_entry_decode(v, dfd, iv, bk, out);
	ok(n == -EBADMSG, "a sidecar belonging to another object -> -EBADMSG (%ld)", n);
	write_file_at(dfd, side, enc, strlen(enc) - 1);
	n = veil_entry_decode(v, dfd, iv, bk, out);
	ok(n == -EBADMSG, "a truncated sidecar -> -EBADMSG (%ld)", n);
	{
		char big[VEIL_ENCNAME_MAX + 100];

		memset(big, 'A', sizeof(big));
		write_file_at(dfd, side, big, sizeof(big));
		n = veil_entry_decode(v, dfd, iv, bk, out);
		ok(n == -EBADMSG, "an over-long sidecar -> -EBADMSG (%ld)", n);
	}
	/*
	 * A sidecar holding a name short enough to be stored directly is never
	 * written; accepting it would give one name two entries (§8.4).
	 */
	{
		char sbk[VEIL_LONGNAME_LEN + 1], sside[VEIL_LONGNAME_LEN + 8];

		uint8_t h[VEIL_HASH_BYTES];

		r = veil_name_to_backing(v, iv, "short", enc2, bk2);
		/* The long-name object name its sidecar content hashes to. */
		veil_hash(h, sizeof(h), NULL, 0, enc2, strlen(enc2), NULL, 0, NULL, 0);
		memcpy(sbk, VEIL_LONGNAME_PREFIX, sizeof(VEIL_LONGNAME_PREFIX) - 1);
		veil_b64_encode(sbk + sizeof(VEIL_LONGNAME_PREFIX) - 1,
				sizeof(sbk) - (sizeof(VEIL_LONGNAME_PREFIX) - 1), h, sizeof(h));
		snprintf(sside, sizeof(sside), "%s%s", sbk, VEIL_LONGNAME_SUFFIX);
		write_file_at(dfd, sbk, "x", 1);
		write_file_at(dfd, sside, enc2, strlen(enc2));
		n = veil_entry_decode(v, dfd, iv, sbk, out);
		ok(r == 0 && n == -EBADMSG,
		   "a sidecar holding a %zu-character name (short enough to store directly) -> "
		   "-EBADMSG (%ld)",
		   strlen(enc2), n);
		unlinkat(dfd, sbk, 0);
		unlinkat(dfd, sside, 0);
	}
	write_file_at(dfd, side, enc, strlen(enc));
	{
		/* Syncthing's copy of the long-name object, named by its sidecar. */
		char copy[VEIL_ENCNAME_MAX + 64], want[VEIL_NAME_MAX + 64];

		snprintf(copy, sizeof(copy), "%ssync-conflict-20261201-120000-ABCDEFG.%s",
			 VEIL_LONGNAME_PREFIX, bk + strlen(VEIL_LONGNAME_PREFIX));
		snprintf(want, sizeof(want), "%s.sync-conflict-20261201-120000-ABCDEFG", name);
		write_file_at(dfd, copy, "y", 1);
		n = veil_entry_decode(v, dfd, iv, copy, out);
		ok(n == (long)strlen(want) && strcmp(out, want) == 0,
		   "a long name's sync-conflict copy shows as NAME.sync-conflict-... (%ld)", n);
		r = veil_conflict_find(v, dfd, iv, want, out);
		ok(r == 0 && strcmp(out, copy) == 0, "and is found by that name (%d)", r);
		r = veil_longname_remove(dfd, bk);
		n = veil_entry_decode(v, dfd, iv, bk, out);
		ok(r == 0 && n == 200, "removing the object keeps the sidecar its copy needs (%ld)", n);
		unlinkat(dfd, copy, 0);
		copy[strlen(copy) - 1] = copy[strlen(copy) - 1] == 'A' ? 'B' : 'A';
		n = veil_entry_decode(v, dfd, iv, copy, out);
		ok(n == -EINVAL, "a copy of another long name is not shown (%ld)", n);
	}
	r = veil_longname_remove(dfd, bk);
	n = veil_entry_decode(v, dfd, iv, bk, out);
	ok(r == 0 && n == -EBADMSG, "a long name without its sidecar -> -EBADMSG (%ld)", n);
	r = veil_longname_remove(dfd, bk);
	ok(r == 0, "removing a missing sidecar is not an error (%d)", r);
	close(dfd);
}

/*
 * A sync tool's conflict copy "E (conflicted copy)" is shown as
 * "NAME (conflicted copy)", unless an entry of that very name exists: then
 * the entry is shown and the copy is not (format.md §2.1).
 */
static void test_conflicts(struct veil_volume *v)
{
	static const char sfx[] = " (conflicted copy 2026-01-01)";
	char enc[VEIL_ENCNAME_MAX + 1], bk[VEIL_ENCNAME_MAX + 1], out[VEIL_NAME_MAX + 1];
	char copy[VEIL_ENCNAME_MAX + 128], shown[64], long_name[256];
	uint8_t iv[VEIL_DIRIV_BYTES];
	int dfd, r;
	long n;

	r = veil_mkdir_diriv(rootfd, "cf", 0700, iv);
	dfd = openat(rootfd, "cf", O_RDONLY | O_DIRECTORY);
	r = r < 0 ? r : veil_name_to_backing(v, iv, "report.txt", enc, bk);
	snprintf(copy, sizeof(copy), "%s%s", enc, sfx);
	write_file_at(dfd, copy, "", 0);
	snprintf(shown, sizeof(shown), "report.txt%s", sfx);
	n = veil_entry_decode(v, dfd, iv, copy, out);
	ok(r == 0 && n == (long)strlen(shown) && strcmp(out, shown) == 0,
	   "a conflict copy is shown as '%s' (%ld)", shown, n);
	r = veil_name_to_backing(v, iv, shown, enc, bk);
	write_file_at(dfd, bk, "", 0);
	n = veil_entry_decode(v, dfd, iv, copy, out);
	ok(r == 0 && n == -EEXIST, "...but not when an entry named '%s' exists (-EEXIST) (%ld)",
	   shown, n);
	n = veil_entry_decode(v, dfd, iv, bk, out);
	ok(n == (long)strlen(shown) && strcmp(out, shown) == 0, "the entry itself is shown (%ld)",
	   n);
	unlinkat(dfd, bk, 0);
	unlinkat(dfd, copy, 0);

	/* Name plus suffix over 255 bytes: not shown (§2.1). */
	memset(long_name, 'n', 150);
	long_name[150] = '\0';
	r = veil_name_to_backing(v, iv, long_name, enc, bk);
	memset(copy, 0, sizeof(copy));
	snprintf(copy, sizeof(copy), "%s (conflict %0*d)", enc, 101, 7);
	n = veil_entry_decode(v, dfd, iv, copy, out);
	ok(r == 0 && n == -EINVAL,
	   "a 150-byte name with a 113-byte conflict suffix (263 bytes shown) is not shown (%ld)",
	   n);
	snprintf(copy, sizeof(copy), "%s (conflict %0*d)", enc, 90, 7);
	n = veil_entry_decode(v, dfd, iv, copy, out);
	ok(n == 150 + 12 + 90, "...with a 102-byte suffix (252 bytes) it is (%ld)", n);
	close(dfd);
}

static void test_resolve(struct veil_volume *v)
{
	uint8_t riv[VEIL_DIRIV_BYTES], aiv[VEIL_DIRIV_BYTES], biv[VEIL_DIRIV_BYTES];
	uint8_t iv[VEIL_DIRIV_BYTES], civ[VEIL_DIRIV_BYTES];
	char enc[VEIL_ENCNAME_MAX + 1], ba[VEIL_ENCNAME_MAX + 1], bb[VEIL_ENCNAME_MAX + 1];
	char bc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1], longn[201];
	int afd, bfd, dfd = -1, r, fds0;
	struct stat s1, s2;

	memset(longn, 'q', 200);
	longn[200] = '\0';
	r = veil_diriv_read(rootfd, riv);
	r |= veil_name_to_backing(v, riv, "a", enc, ba);
	r |= veil_mkdir_diriv(rootfd, ba, 0755, aiv);
	afd = openat(rootfd, ba, O_RDONLY | O_DIRECTORY);
	r |= veil_name_to_backing(v, aiv, longn, enc, bb) != 1;
	r |= veil_mkdir_diriv(afd, bb, 0755, biv);
	r |= veil_longname_store(afd, bb, enc);
	bfd = openat(afd, bb, O_RDONLY | O_DIRECTORY);
	r |= veil_name_to_backing(v, biv, "c", enc, bc);
	r |= veil_mkdir_diriv(bfd, bc, 0755, civ);
	ok(r == 0 && afd >= 0 && bfd >= 0, "tree a/<200 q>/c built");

	fds0 = count_fds();
	{
		char path[300];

		snprintf(path, sizeof(path), "a/%s/c", longn);
		r = veil_path_resolve(v, path, &dfd, iv, backing);
		ok(r == 0 && fstat(dfd, &s1) == 0 && fstat(bfd, &s2) == 0 && s1.st_ino == s2.st_ino &&
			   memcmp(iv, biv, sizeof(iv)) == 0 && strcmp(backing, bc) == 0,
		   "resolve a/<long>/c: parent fd, its IV and c's backing name (%d)", r);
		if (r == 0)
			close(dfd);
		snprintf(path, sizeof(path), "/a//%s/", longn);
		r = veil_path_resolve(v, path, &dfd, iv, backing);
		ok(r == 0 && memcmp(iv, aiv, sizeof(iv)) == 0 && strcmp(backing, bb) == 0,
		   "resolve /a//<long>/: slashes collapse, long backing name (%d)", r);
		if (r == 0)
			close(dfd);
	}
	r = veil_path_resolve(v, "", &dfd, iv, backing);
	ok(r == 0 && fstat(dfd, &s1) == 0 && fstat(rootfd, &s2) == 0 && s1.st_ino == s2.st_ino &&
		   backing[0] == '\0' && memcmp(iv, riv, sizeof(iv)) == 0,
	   "resolve \"\" -> the root, empty backing (%d)", r);
	if (r == 0)
		close(dfd);
	r = veil_path_resolve(v, "/", &dfd, iv, backing);
	ok(r == 0 && backing[0] == '\0', "resolve / -> the root (%d)", r);
	if (r == 0)
		close(dfd);
	r = veil_path_resolve(v, "a/missing", &dfd, iv, backing);
	ok(r == 0 && memcmp(iv, aiv, sizeof(iv)) == 0,
	   "resolve of a missing last component gives its would-be backing name (%d)", r);
	if (r == 0)
		close(dfd);
	r = veil_path_resolve(v, "a/missing/c", &dfd, iv, backing);
	ok(r == -ENOENT, "missing middle component -> -ENOENT (%d)", r);
	r = veil_path_resolve(v, "a/../a/c", &dfd, iv, backing);
	ok(r == -EINVAL, "'..' is not a name: -EINVAL, no traversal (%d)", r);
	r = veil_path_resolve(v, "./a", &dfd, iv, backing);
	ok(r == -EINVAL, "'.' is not a name: -EINVAL (%d)", r);
	{
		char bf[VEIL_ENCNAME_MAX + 1];

		r = veil_name_to_backing(v, aiv, "file", enc, bf);
		write_file_at(afd, bf, "x", 1);
		r = r < 0 ? r : veil_path_resolve(v, "a/file/c", &dfd, iv, backing);
		ok(r == -ENOTDIR, "a file as a middle component -> -ENOTDIR (%d)", r);
		/* A symlink planted in the cipher dir is never followed. */
		r = veil_name_to_backing(v, aiv, "evil", enc, bf);
		symlinkat(root, afd, bf);
		r = r < 0 ? r : veil_path_resolve(v, "a/evil/a", &dfd, iv, backing);
		ok(r == -ELOOP || r == -ENOTDIR, "a planted symlink is not followed (%d)", r);
	}
	r = veil_path_resolve(v, "a/b\x01", &dfd, iv, backing);
	ok(r == 0, "control characters are valid names (%d)", r);
	if (r == 0)
		close(dfd);
	ok(count_fds() == fds0, "no fd leaked by resolve, failing or not (%d -> %d)", fds0,
	   count_fds());
	close(afd);
	close(bfd);
}

int main(void)
{
	struct veil_volume *v = NULL;

	if (veil_crypto_init() < 0)
		return 1;
	rootfd = tmpdir_new(root);
	if (rootfd < 0)
		return 1;
	test_open(&v);
	if (!v) {
		ok(0, "volume did not open");
		tmpdir_rm(root);
		return tap_done();
	}
	test_dirs(v);
	test_symlinks(v);
	test_longnames(v);
	test_conflicts(v);
	test_secondary_iv(v);
	test_resolve(v);
	veil_volume_close(v);
	close(rootfd);
	tmpdir_rm(root);
	return tap_done();
}
