/* SPDX-License-Identifier: MIT */
/* The volume header: parse, serialise, unlock, key slots. Layout: header.h. */
#include "header.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "le.h"
#include "testhook.h"
#include "safe.h"
#include "temp.h"

#define SLOT_AD_BYTES 40
#define FIXED_AD_BYTES 20

static size_t header_size(uint32_t nslots, unsigned info)
{
	return VEIL_HEADER_FIXED_BYTES +
	       (size_t)nslots * (VEIL_SLOT_BYTES + (info ? VEIL_SLOT_INFO_BYTES : 0)) +
	       VEIL_HEADER_TAIL_BYTES;
}

static void put_fixed(const struct veil_header *h, uint8_t out[VEIL_HEADER_FIXED_BYTES])
{
	memcpy(out, VEIL_MAGIC, VEIL_MAGIC_BYTES);
	le16_store(out + 8, h->version);
	le16_store(out + 10, 0);
	le32_store(out + 12, h->flags);
	le32_store(out + 16, h->block_size);
	le16_store(out + 20, (uint16_t)h->nslots);
	le16_store(out + 22, h->info);
}

static void put_slot(const struct veil_slot *s, uint8_t out[VEIL_SLOT_BYTES])
{
	le32_store(out, s->alg);
	le32_store(out + 4, 0);
	le64_store(out + 8, s->ops);
	le64_store(out + 16, s->mem);
	memcpy(out + 24, s->salt, VEIL_SALT_BYTES);
	memcpy(out + 40, s->nonce, VEIL_AEAD_NONCE_BYTES);
	memcpy(out + 64, s->wrapped, VEIL_WRAPPED_KEY_BYTES);
}

static void put_info(const struct veil_slot *s, uint8_t out[VEIL_SLOT_INFO_BYTES])
{
	memset(out, 0, VEIL_SLOT_INFO_BYTES);
	le16_store(out, s->kind);
	out[2] = s->label_len;
	le64_store(out + 4, s->created);
	memcpy(out + 12, s->label, s->label_len);
}

/* Bytes covered by the MAC: the fixed part, every slot, the info table. */
static size_t put_body(const struct veil_header *h, uint8_t *out)
{
	size_t n = VEIL_HEADER_FIXED_BYTES;

	put_fixed(h, out);
	for (uint32_t i = 0; i < h->nslots; i++, n += VEIL_SLOT_BYTES)
		put_slot(&h->slots[i], out + n);
	for (uint32_t i = 0; h->info && i < h->nslots; i++, n += VEIL_SLOT_INFO_BYTES)
		put_info(&h->slots[i], out + n);
	return n;
}

static int label_ok(const char *l, size_t n)
{
	if (n > VEIL_LABEL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)l[i] < 0x20 || l[i] == 0x7f)
			return 0;
	return 1;
}

size_t veil_header_serialize(const struct veil_header *h, uint8_t out[static VEIL_HEADER_MAX_BYTES])
{
	size_t n = put_body(h, out);

	memcpy(out + n, h->mac, VEIL_HASH_BYTES);
	n += VEIL_HASH_BYTES;
	veil_hash(out + n, VEIL_HASH_BYTES, NULL, 0, out, n, NULL, 0, NULL, 0);
	return n + VEIL_HASH_BYTES;
}

static int block_size_ok(uint32_t bs)
{
	return bs >= 1024 && bs <= 65536 && (bs & (bs - 1)) == 0;
}

int veil_header_parse(const uint8_t *buf, size_t len, struct veil_header *h)
{
	uint8_t sum[VEIL_HASH_BYTES];
	uint32_t n;
	uint16_t info;

	memset(h, 0, sizeof(*h));
	if (len < VEIL_MAGIC_BYTES || memcmp(buf, VEIL_MAGIC, VEIL_MAGIC_BYTES) != 0)
		return -EMEDIUMTYPE;
	if (len < VEIL_HEADER_FIXED_BYTES)
		return -EBADMSG;
	n = le16_load(buf + 20);
	info = le16_load(buf + 22);
	if (n < 1 || n > VEIL_MAX_SLOTS || info > 1 || len != header_size(n, info))
		return -EBADMSG;
	veil_hash(sum, sizeof(sum), NULL, 0, buf, len - VEIL_HASH_BYTES, NULL, 0, NULL, 0);
	if (!veil_equal(sum, buf + len - VEIL_HASH_BYTES, VEIL_HASH_BYTES))
		return -EBADMSG;
	/* The version is checked after the checksum: damage is reported as such. */
	h->version = le16_load(buf + 8);
	if (h->version != VEIL_FORMAT_VERSION)
		return -EPROTONOSUPPORT;
	if (le16_load(buf + 10) != 0)
		return -EBADMSG;
	h->flags = le32_load(buf + 12);
	if (h->flags != 0)
		return -ENOTSUP;
	h->block_size = le32_load(buf + 16);
	if (!block_size_ok(h->block_size))
		return -EBADMSG;
	h->nslots = n;
	h->info = info;
	for (uint32_t i = 0, nrec = 0; i < n; i++) {
		const uint8_t *p = buf + VEIL_HEADER_FIXED_BYTES + i * VEIL_SLOT_BYTES;
		const uint8_t *q = buf + VEIL_HEADER_FIXED_BYTES + n * VEIL_SLOT_BYTES +
				   i * VEIL_SLOT_INFO_BYTES;
		struct veil_slot *s = &h->slots[i];

		s->alg = le32_load(p);
		if (le32_load(p + 4) != 0)
			return -EBADMSG;
		s->ops = le64_load(p + 8);
		s->mem = le64_load(p + 16);
		if (s->alg == VEIL_KDF_ARGON2ID13) {
			if (s->ops < VEIL_KDF_OPS_MIN || s->ops > VEIL_KDF_OPS_MAX ||
			    s->mem < VEIL_KDF_MEM_MIN || s->mem > VEIL_KDF_MEM_MAX)
				return -EBADMSG;
		} else if (s->alg == VEIL_KDF_RECOVERY) {
			/* Only in a header with the info table; at most one. */
			if (s->ops || s->mem || !info || nrec++)
				return -EBADMSG;
		} else {
			return -EBADMSG;
		}
		memcpy(s->salt, p + 24, VEIL_SALT_BYTES);
		memcpy(s->nonce, p + 40, VEIL_AEAD_NONCE_BYTES);
		memcpy(s->wrapped, p + 64, VEIL_WRAPPED_KEY_BYTES);
		s->kind = s->alg == VEIL_KDF_RECOVERY ? VEIL_SLOT_RECOVERY : VEIL_SLOT_PASSPHRASE;
		if (!info)
			continue;
		s->label_len = q[2];
		if (le16_load(q) != s->kind || q[3] != 0 ||
		    !label_ok((const char *)q + 12, s->label_len) ||
		    !veil_is_zero(q + 12 + s->label_len, VEIL_LABEL_MAX - s->label_len))
			return -EBADMSG;
		s->created = le64_load(q + 4);
		memcpy(s->label, q + 12, s->label_len);
		s->label[s->label_len] = '\0';
	}
	memcpy(h->mac, buf + len - 2 * VEIL_HASH_BYTES, VEIL_HASH_BYTES);
	return 0;
}

static void slot_ad(const struct veil_header *h, const struct veil_slot *s,
		    uint8_t ad[FIXED_AD_BYTES + SLOT_AD_BYTES])
{
	uint8_t fixed[VEIL_HEADER_FIXED_BYTES];
	uint8_t slot[VEIL_SLOT_BYTES];

	put_fixed(h, fixed);
	put_slot(s, slot);
	memcpy(ad, fixed, FIXED_AD_BYTES);
	memcpy(ad + FIXED_AD_BYTES, slot, SLOT_AD_BYTES);
}

int veil_slot_wrap(const struct veil_header *h, struct veil_slot *slot,
		   const uint8_t master[static VEIL_KEY_BYTES], const char *pass, size_t plen)
{
	uint8_t ad[FIXED_AD_BYTES + SLOT_AD_BYTES];
	uint8_t *kek = veil_secure_alloc(VEIL_KEY_BYTES);
	int ret;

	if (!kek)
		return -ENOMEM;
	if (slot->alg == VEIL_KDF_RECOVERY)
		ret = veil_kdf_subkey(kek, VEIL_SUBKEY_RECOVERY, (const uint8_t *)pass);
	else
		ret = veil_kdf_derive(kek, pass, plen, slot->salt, slot->ops, slot->mem);
	if (ret < 0)
		goto out;
	slot_ad(h, slot, ad);
	veil_aead_seal(slot->wrapped, master, VEIL_KEY_BYTES, ad, sizeof(ad), slot->nonce, kek);
out:
	veil_secure_free(kek);
	return ret;
}

static int new_slot(const struct veil_header *h, struct veil_slot *s,
		    const uint8_t master[static VEIL_KEY_BYTES], const char *pass, size_t plen,
		    const struct veil_kdf_params *kdf)
{
	memset(s, 0, sizeof(*s));
	s->alg = VEIL_KDF_ARGON2ID13;
	s->kind = VEIL_SLOT_PASSPHRASE;
	s->created = (uint64_t)time(NULL);
	s->ops = kdf->ops;
	s->mem = kdf->mem;
	veil_random(s->salt, sizeof(s->salt));
	veil_random(s->nonce, sizeof(s->nonce));
	return veil_slot_wrap(h, s, master, pass, plen);
}

static int header_mac(const struct veil_header *h, const uint8_t master[static VEIL_KEY_BYTES],
		      uint8_t mac[VEIL_HASH_BYTES])
{
	uint8_t body[VEIL_HEADER_MAX_BYTES];
	uint8_t *k = veil_secure_alloc(VEIL_KEY_BYTES);
	size_t n;
	int ret;

	if (!k)
		return -ENOMEM;
	ret = veil_kdf_subkey(k, VEIL_SUBKEY_HEADER_MAC, master);
	if (ret == 0) {
		n = put_body(h, body);
		veil_hash(mac, VEIL_HASH_BYTES, k, VEIL_KEY_BYTES, body, n, NULL, 0, NULL, 0);
	}
	veil_secure_free(k);
	return ret;
}

int veil_header_reseal(struct veil_header *h, const uint8_t master[static VEIL_KEY_BYTES])
{
	return header_mac(h, master, h->mac);
}

int veil_header_create(struct veil_header *h, const uint8_t master[static VEIL_KEY_BYTES],
		       uint32_t block_size, const char *pass, size_t plen,
		       const struct veil_kdf_params *kdf)
{
	int ret;

	if (!block_size_ok(block_size))
		return -EINVAL;
	memset(h, 0, sizeof(*h));
	h->version = VEIL_FORMAT_VERSION;
	h->flags = 0;
	h->block_size = block_size;
	h->nslots = 1;
	ret = new_slot(h, &h->slots[0], master, pass, plen, kdf);
	if (ret == 0)
		ret = veil_header_reseal(h, master);
	return ret;
}

int veil_header_unlock(const struct veil_header *h, const char *pass, size_t plen,
		       uint8_t master[static VEIL_KEY_BYTES], int *slot)
{
	uint8_t ad[FIXED_AD_BYTES + SLOT_AD_BYTES];
	uint8_t mac[VEIL_HASH_BYTES];
	uint8_t *kek = veil_secure_alloc(VEIL_KEY_BYTES);
	int ret = -EACCES;

	if (!kek)
		return -ENOMEM;
	for (uint32_t i = 0; i < h->nslots; i++) {
		const struct veil_slot *s = &h->slots[i];
		int r;

		if (s->alg != VEIL_KDF_ARGON2ID13)
			continue; /* a recovery key is not a passphrase */
		r = veil_kdf_derive(kek, pass, plen, s->salt, s->ops, s->mem);

		if (r < 0) {
			ret = r;
			goto out;
		}
		slot_ad(h, s, ad);
		if (veil_aead_open(master, s->wrapped, VEIL_WRAPPED_KEY_BYTES, ad, sizeof(ad),
				   s->nonce, kek) == 0) {
			if (slot)
				*slot = (int)i;
			ret = header_mac(h, master, mac);
			if (ret == 0 && !veil_equal(mac, h->mac, VEIL_HASH_BYTES))
				ret = -EBADMSG;
			goto out;
		}
	}
out:
	if (ret != 0)
		veil_wipe(master, VEIL_KEY_BYTES);
	veil_secure_free(kek);
	return ret;
}

int veil_header_add_slot(struct veil_header *h, const uint8_t master[static VEIL_KEY_BYTES],
			 const char *pass, size_t plen, const struct veil_kdf_params *kdf)
{
	int ret;

	if (h->nslots >= VEIL_MAX_SLOTS)
		return -ENOSPC;
	/* The slot count is not in any slot's AD, so existing slots stay valid. */
	h->nslots++;
	ret = new_slot(h, &h->slots[h->nslots - 1], master, pass, plen, kdf);
	if (ret < 0) {
		h->nslots--;
		return ret;
	}
	return veil_header_reseal(h, master);
}

int veil_header_recovery_slot(const struct veil_header *h)
{
	for (uint32_t i = 0; i < h->nslots; i++)
		if (h->slots[i].alg == VEIL_KDF_RECOVERY)
			return (int)i;
	return -1;
}

int veil_header_add_recovery(struct veil_header *h, const uint8_t master[static VEIL_KEY_BYTES],
			     int *idx)
{
	struct veil_slot *s;
	int ret, r = veil_header_recovery_slot(h);

	if (r >= 0) {
		if (idx)
			*idx = r;
		return -EEXIST;
	}
	if (h->nslots >= VEIL_MAX_SLOTS)
		return -ENOSPC;
	s = &h->slots[h->nslots];
	memset(s, 0, sizeof(*s));
	s->alg = VEIL_KDF_RECOVERY;
	s->kind = VEIL_SLOT_RECOVERY;
	s->created = (uint64_t)time(NULL);
	veil_random(s->salt, sizeof(s->salt));
	veil_random(s->nonce, sizeof(s->nonce));
	ret = veil_slot_wrap(h, s, master, (const char *)master, VEIL_KEY_BYTES);
	if (ret < 0)
		return ret;
	h->nslots++;
	h->info = 1;
	if (idx)
		*idx = (int)h->nslots - 1;
	return veil_header_reseal(h, master);
}

int veil_header_set_info(struct veil_header *h, int idx, const char *label, uint64_t created)
{
	size_t n = label ? strlen(label) : 0;

	if (idx < 0 || (uint32_t)idx >= h->nslots || !label_ok(label ? label : "", n))
		return -EINVAL;
	h->info = 1;
	h->slots[idx].label_len = (uint8_t)n;
	memset(h->slots[idx].label, 0, sizeof(h->slots[idx].label));
	memcpy(h->slots[idx].label, label ? label : "", n);
	h->slots[idx].created = created;
	return 0;
}

int veil_header_check_master(const struct veil_header *h,
			     const uint8_t master[static VEIL_KEY_BYTES])
{
	uint8_t ad[FIXED_AD_BYTES + SLOT_AD_BYTES];
	uint8_t mac[VEIL_HASH_BYTES];
	uint8_t *k = veil_secure_alloc(2 * VEIL_KEY_BYTES);
	int ret, r = veil_header_recovery_slot(h);

	if (!k)
		return -ENOMEM;
	ret = header_mac(h, master, mac);
	if (ret == 0 && !veil_equal(mac, h->mac, VEIL_HASH_BYTES))
		ret = -EACCES;
	if (ret == 0 && r >= 0) {
		const struct veil_slot *s = &h->slots[r];

		ret = veil_kdf_subkey(k, VEIL_SUBKEY_RECOVERY, master);
		slot_ad(h, s, ad);
		if (ret == 0 && (veil_aead_open(k + VEIL_KEY_BYTES, s->wrapped,
						VEIL_WRAPPED_KEY_BYTES, ad, sizeof(ad), s->nonce,
						k) != 0 ||
				 !veil_equal(k + VEIL_KEY_BYTES, master, VEIL_KEY_BYTES)))
			ret = -EACCES;
	}
	veil_secure_free(k);
	return ret;
}

int veil_header_set_slot(struct veil_header *h, int idx,
			 const uint8_t master[static VEIL_KEY_BYTES], const char *pass,
			 size_t plen, const struct veil_kdf_params *kdf)
{
	struct veil_slot s;
	int ret;

	if (idx < 0 || (uint32_t)idx >= h->nslots)
		return -EINVAL;
	if (h->slots[idx].alg != VEIL_KDF_ARGON2ID13)
		return -EINVAL;
	ret = new_slot(h, &s, master, pass, plen, kdf);
	if (ret < 0)
		return ret;
	/* The slot keeps its label; its creation time is the new passphrase's. */
	s.label_len = h->slots[idx].label_len;
	memcpy(s.label, h->slots[idx].label, sizeof(s.label));
	h->slots[idx] = s;
	return veil_header_reseal(h, master);
}

int veil_header_remove_slot(struct veil_header *h, int idx,
			    const uint8_t master[static VEIL_KEY_BYTES])
{
	if (idx < 0 || (uint32_t)idx >= h->nslots || h->nslots == 1)
		return -EINVAL;
	memmove(&h->slots[idx], &h->slots[idx + 1],
		(h->nslots - (uint32_t)idx - 1) * sizeof(h->slots[0]));
	h->nslots--;
	memset(&h->slots[h->nslots], 0, sizeof(h->slots[0]));
	return veil_header_reseal(h, master);
}

int veil_header_load(int dirfd, const char *name, struct veil_header *h)
{
	uint8_t buf[VEIL_HEADER_MAX_BYTES + 1];
	size_t got = 0;
	int fd, ret;

	/* A FIFO or device in place of the header is never opened, let alone read. */
	fd = veil_open_regular(dirfd, name, O_RDONLY, NULL);
	if (fd < 0)
		return fd == -EBADMSG ? -EMEDIUMTYPE : fd;
	while (got < sizeof(buf)) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			close(fd);
			return ret;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got > VEIL_HEADER_MAX_BYTES) {
		/* Too long for a header: not ours if the magic differs. */
		if (memcmp(buf, VEIL_MAGIC, VEIL_MAGIC_BYTES) != 0)
			return -EMEDIUMTYPE;
		return -EBADMSG;
	}
	return veil_header_parse(buf, got, h);
}

int veil_rename_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
	struct stat st;

	if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	if (fstatat(fromfd, from, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		if (linkat(fromfd, from, tofd, to, 0) == 0) {
			if (unlinkat(fromfd, from, 0) < 0)
				return -errno;
			return 0;
		}
		if (errno == EEXIST)
			return -EEXIST;
	}
	if (fstatat(tofd, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	if (errno != ENOENT)
		return -errno;
	return renameat(fromfd, from, tofd, to) < 0 ? -errno : 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* veil_header_store; *@renamed says whether @name now holds @h. */
static int store_at(int dirfd, const char *name, const struct veil_header *h, int exclusive,
		    int *renamed)
{
	uint8_t buf[VEIL_HEADER_MAX_BYTES];
	char tmp[64];
	size_t n = veil_header_serialize(h, buf);
	int fd, ret;

	snprintf(tmp, sizeof(tmp), VEIL_TEMP_PREFIX "conf.%08x", veil_random_u32());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
	if (fd < 0)
		return -errno;
	ret = write_all(fd, buf, n);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0) {
		if (exclusive) {
			ret = veil_rename_noreplace(dirfd, tmp, dirfd, name);
		} else if (renameat(dirfd, tmp, dirfd, name) < 0) {
			ret = -errno;
		}
	}
	if (ret < 0) {
		unlinkat(dirfd, tmp, 0);
		return ret;
	}
	*renamed = 1;
	/* The directory fd may be O_PATH, which cannot be fsynced itself. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

int veil_header_store(int dirfd, const char *name, const struct veil_header *h, int exclusive)
{
	int renamed = 0;

	return store_at(dirfd, name, h, exclusive, &renamed);
}

#define OLD_KIND VEIL_TEMP_CONFOLD_KIND
#define OLD_PREFIX VEIL_TEMP_CONFOLD_PREFIX

/*
 * Old headers a crash left behind during an earlier replace: wipe them now.
 * A crash before the switch leaves a link to the live header @name itself:
 * that one is only unlinked.
 */
static void wipe_leftovers(int dirfd, const char *name)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	struct stat live;
	int have_live = fstatat(dirfd, name, &live, AT_SYMLINK_NOFOLLOW) == 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strncmp(e->d_name, OLD_PREFIX, strlen(OLD_PREFIX)) == 0)
			(void)veil_temp_wipe_unlink(dirfd, e->d_name, have_live ? &live : NULL);
	closedir(d);
}

/*
 * An exclusive flock on the live header file @name itself (not on its
 * directory, whose lock mounts and fsck use). A writer that replaced it
 * meanwhile leaves the lock on a file that is gone: open the new one.
 */
static int lock_live(int dirfd, const char *name)
{
	for (int i = 0; i < 100; i++) {
		struct stat held, now;
		int fd = veil_open_regular(dirfd, name, O_RDONLY, NULL);

		if (fd < 0)
			return fd;
		if (flock(fd, LOCK_EX) < 0) {
			int e = -errno;

			close(fd);
			if (e == -EINTR)
				continue;
			return e;
		}
		if (fstat(fd, &held) == 0 && fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    held.st_ino == now.st_ino && held.st_dev == now.st_dev)
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

/* 0 if the header file @name still holds exactly @expect, -ESTALE if not. */
static int still_same(int dirfd, const char *name, const struct veil_header *expect)
{
	uint8_t a[VEIL_HEADER_MAX_BYTES], b[VEIL_HEADER_MAX_BYTES];
	struct veil_header *cur = calloc(1, sizeof(*cur));
	size_t na, nb;
	int ret;

	if (!cur)
		return -ENOMEM;
	ret = veil_header_load(dirfd, name, cur);
	if (ret == 0) {
		na = veil_header_serialize(expect, a);
		nb = veil_header_serialize(cur, b);
		if (na != nb || memcmp(a, b, na) != 0)
			ret = -ESTALE;
	} else if (ret != -ENOMEM && ret != -EIO) {
		ret = -ESTALE;
	}
	veil_wipe(cur, sizeof(*cur));
	free(cur);
	return ret;
}

int veil_header_replace(int dirfd, const char *name, const struct veil_header *h,
			const struct veil_header *expect, int *in_place)
{
	char old[VEIL_TEMP_NAME_MAX];
	int ret, fd, lockfd, renamed = 0;

	*in_place = 0;
	veil_test_wait("header-replace");
	lockfd = lock_live(dirfd, name);
	if (lockfd < 0 && (expect || (lockfd != -ENOENT && lockfd != -EBADMSG)))
		return lockfd == -ENOENT ? -ESTALE : lockfd;
	if (expect && (ret = still_same(dirfd, name, expect)) < 0)
		goto out;
	wipe_leftovers(dirfd, name);
	veil_temp_new(old, OLD_KIND);
	/*
	 * Hold on to the old file so that its blocks can be overwritten after
	 * the switch. Touch it: a temporary name with an old mtime is stale
	 * and any sweeper may remove it (temp.h).
	 */
	if (linkat(dirfd, name, dirfd, old, 0) < 0) {
		veil_temp_release(old);
		ret = store_at(dirfd, name, h, 0, &renamed);
		goto out;
	}
	(void)!utimensat(dirfd, old, NULL, AT_SYMLINK_NOFOLLOW);
	ret = store_at(dirfd, name, h, 0, &renamed);
	if (ret < 0 && !renamed) {
		unlinkat(dirfd, old, 0);
		veil_temp_release(old);
		goto out;
	}
	(void)veil_temp_wipe_unlink(dirfd, old, NULL);
	veil_temp_release(old);
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!fsync(fd);
		close(fd);
	}
out:
	*in_place = renamed;
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}
