/* SPDX-License-Identifier: MIT */
/*
 * Plaintext reads, writes and truncation over one cipher file. The caller
 * holds the per-file lock (file.h). Work is done in chunks of CHUNK blocks:
 * one pread or pwrite per chunk, never one per block.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "par.h"
#include "keys.h"

#define CHUNK 256

/*
 * One chunk of a read being decrypted: the blocks are opened on the
 * calling thread and the par.c helper (two cores for one large request),
 * each into its place in the caller's buffer. Whole blocks decrypt there
 * directly; the request's first and last block, when only part of them is
 * asked for, go through a block-sized scratch buffer of their own (lo_blk,
 * hi_blk), so the two threads never share one.
 */
struct open_job {
	const struct veil_content_ctx *c;
	const uint8_t *hdr;
	uint64_t nblocks, size, off, end, pos;
	uint64_t b0, coff, csize;
	size_t got;
	const uint8_t *cbuf;
	uint8_t *out, *lo_blk, *hi_blk;
	uint8_t fault[CHUNK]; /* enum veil_block_fault of each block of the chunk */
};

/*
 * Per-thread work buffers, allocated once per thread and block size and
 * freed (plaintext wiped) when the thread ends: no allocation per request.
 */
struct tbufs {
	uint32_t bs;
	uint8_t *plain;   /* CHUNK plaintext blocks */
	uint8_t *cbuf;    /* CHUNK cipher blocks */
	uint8_t *scratch; /* one cipher block */
	uint8_t *blk;     /* one plaintext block */
	uint8_t *oldl, *newl, *pend; /* one plaintext block each */
	struct open_job *ojob; /* a read's chunk in progress */
};

static pthread_key_t tb_key;
static pthread_once_t tb_once = PTHREAD_ONCE_INIT;

static void tbufs_free(void *p)
{
	struct tbufs *t = p;

	if (!t)
		return;
	if (t->plain)
		veil_wipe(t->plain, (size_t)CHUNK * t->bs);
	for (uint8_t **b = &t->blk; b <= &t->pend; b++)
		if (*b)
			veil_wipe(*b, t->bs);
	free(t->plain);
	free(t->cbuf);
	free(t->scratch);
	free(t->blk);
	free(t->oldl);
	free(t->newl);
	free(t->pend);
	free(t->ojob);
	free(t);
}

/*
 * The key is never deleted: libveilfs.so is linked with -z nodelete
 * (meson.build), so this destructor stays mapped for threads that exit
 * after a program's dlclose() of the library.
 */
static void tbufs_key(void)
{
	pthread_key_create(&tb_key, tbufs_free);
}

static struct tbufs *tbufs_get(uint32_t bs)
{
	struct tbufs *t;

	pthread_once(&tb_once, tbufs_key);
	t = pthread_getspecific(tb_key);
	if (t && t->bs == bs)
		return t;
	tbufs_free(t);
	pthread_setspecific(tb_key, NULL);
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->bs = bs;
	t->plain = malloc((size_t)CHUNK * bs);
	t->cbuf = malloc((size_t)CHUNK * (bs + VEIL_BLOCK_OVERHEAD));
	t->scratch = malloc((size_t)bs + VEIL_BLOCK_OVERHEAD);
	t->blk = malloc(bs);
	t->oldl = malloc(bs);
	t->newl = malloc(bs);
	t->pend = malloc(bs);
	t->ojob = malloc(sizeof(*t->ojob));
	if (!t->ojob || !t->plain || !t->cbuf || !t->scratch || !t->blk || !t->oldl || !t->newl || !t->pend) {
		tbufs_free(t);
		return NULL;
	}
	pthread_setspecific(tb_key, t);
	return t;
}

static uint64_t umin(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t umax(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static size_t cbs(const struct veil_content_ctx *c)
{
	return (size_t)c->bs + VEIL_BLOCK_OVERHEAD;
}

int veil_pread_full(int fd, uint8_t *p, size_t n, uint64_t off, size_t *got)
{
	*got = 0;
	while (*got < n) {
		ssize_t r = pread(fd, p + *got, n - *got, (off_t)(off + *got));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t r = pwrite(fd, p, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int cipher_size(int fd, uint64_t *csize)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*csize = (uint64_t)st.st_size;
	return 0;
}

int veil_file_size(int fd, uint32_t bs, uint64_t *size)
{
	uint64_t csize;
	int ret = cipher_size(fd, &csize);

	if (ret == 0)
		ret = veil_content_plain_size(csize, bs, size);
	return ret;
}

void veil_file_forget(struct veil_fstate *st)
{
	st->hdr_valid = false;
	memset(st->hdr, 0, sizeof(st->hdr));
}

static int fault(struct veil_fstate *st, uint64_t idx, enum veil_block_fault f)
{
	st->bad_block = idx;
	st->fault = f;
	return -EBADMSG;
}

static int load_header(int fd, struct veil_fstate *st)
{
	size_t got;
	int ret;

	if (st->hdr_valid)
		return 0;
	ret = veil_pread_full(fd, st->hdr, VEIL_FILE_HEADER_BYTES, 0, &got);
	if (ret < 0)
		return ret;
	if (got != VEIL_FILE_HEADER_BYTES || veil_content_header_check(st->hdr) < 0)
		return fault(st, 0, VEIL_FAULT_HEADER);
	st->hdr_valid = true;
	return 0;
}

/*
 * Decrypt blocks [b0, b0 + nb) of a file of plaintext size @size into
 * @plain (nb * bs bytes), reading from cipher file @fd of size @csize.
 */
static int read_blocks(const struct veil_content_ctx *c, int fd, struct veil_fstate *st,
		       uint64_t size, uint64_t csize, uint64_t b0, uint64_t nb, uint8_t *plain,
		       uint8_t *cbuf)
{
	uint64_t nblocks = veil_content_nblocks(size, c->bs);
	uint64_t coff = veil_content_block_offset(b0, c->bs);
	uint64_t cend = umin(veil_content_block_offset(b0 + nb, c->bs), csize);
	size_t got;
	int ret;

	ret = veil_pread_full(fd, cbuf, (size_t)(cend - coff), coff, &got);
	if (ret < 0)
		return ret;
	for (uint64_t i = 0; i < nb; i++) {
		uint64_t idx = b0 + i;
		size_t boff = (size_t)i * cbs(c);
		size_t blen = (size_t)umin(cbs(c), csize - (coff + boff));
		enum veil_block_fault f;

		if (boff + blen > got)
			return fault(st, idx, VEIL_FAULT_SHORT);
		if (veil_content_open_at(c->keys->content, st->hdr, idx, nblocks, cbuf + boff, blen,
					 plain + (size_t)i * c->bs, &f) < 0)
			return fault(st, idx, f);
	}
	return 0;
}

static void open_one(void *ctx, size_t i)
{
	struct open_job *j = ctx;
	const struct veil_content_ctx *c = j->c;
	uint64_t idx = j->b0 + i;
	size_t boff = i * cbs(c);
	size_t blen = (size_t)umin(cbs(c), j->csize - (j->coff + boff));
	uint64_t bstart = idx * c->bs;
	uint64_t bend = umin(bstart + c->bs, j->size);
	uint64_t lo = umax(j->pos, bstart), hi = umin(j->end, bend);
	bool whole = lo == bstart && hi == bend;
	uint8_t *dst = !j->out ? NULL
		       : whole ? j->out + (bstart - j->off)
		       : lo == j->pos ? j->lo_blk
				      : j->hi_blk;
	enum veil_block_fault f;

	if (boff + blen > j->got) {
		j->fault[i] = VEIL_FAULT_SHORT;
		return;
	}
	if (veil_content_open_at(c->keys->content, j->hdr, idx, j->nblocks, j->cbuf + boff, blen,
				 dst, &f) < 0) {
		j->fault[i] = (uint8_t)f;
		return;
	}
	if (dst && !whole)
		memcpy(j->out + (lo - j->off), dst + (lo - bstart), (size_t)(hi - lo));
}

/* veil_file_read; @buf NULL: only check the blocks' tags, decrypt nothing. */
static ssize_t read_or_verify(const struct veil_content_ctx *c, int fd, struct veil_fstate *st,
			      void *buf, size_t n, uint64_t off)
{
	uint8_t *out = buf;
	uint64_t csize, size, pos, end;
	struct tbufs *t;
	struct open_job *j;
	ssize_t ret;

	ret = cipher_size(fd, &csize);
	if (ret < 0)
		return ret;
	if (veil_content_plain_size(csize, c->bs, &size) < 0)
		return fault(st, csize / cbs(c), VEIL_FAULT_SHORT);
	/*
	 * Every file that has a header has it checked, a 32-byte file with no
	 * blocks included: a bad header is damage, not end of file (§9.4).
	 */
	if (csize > 0) {
		ret = load_header(fd, st);
		if (ret < 0)
			return ret;
	}
	if (off >= size || n == 0)
		return 0;
	end = umin(size, off + n);
	t = tbufs_get(c->bs);
	if (!t)
		return -ENOMEM;
	j = t->ojob;
	*j = (struct open_job){ .c = c, .hdr = st->hdr, .nblocks = veil_content_nblocks(size, c->bs),
				.size = size, .off = off, .end = end, .csize = csize,
				.cbuf = t->cbuf, .out = out, .lo_blk = t->blk, .hi_blk = t->oldl };
	for (pos = off; pos < end;) {
		uint64_t b0 = pos / c->bs;
		uint64_t b1 = umin((end - 1) / c->bs, b0 + CHUNK - 1);
		uint64_t cend = umin(veil_content_block_offset(b1 + 1, c->bs), csize);
		size_t nb = (size_t)(b1 - b0 + 1);

		j->b0 = b0;
		j->pos = pos;
		j->coff = veil_content_block_offset(b0, c->bs);
		memset(j->fault, VEIL_FAULT_NONE, nb);
		/* One pread per chunk; whole blocks decrypt straight into the caller's buffer. */
		ret = veil_pread_full(fd, t->cbuf, (size_t)(cend - j->coff), j->coff, &j->got);
		if (ret < 0)
			goto out;
		veil_par_for(nb, open_one, j);
		/* The lowest bad block is the one reported, as a serial read would. */
		for (size_t i = 0; i < nb; i++)
			if (j->fault[i] != VEIL_FAULT_NONE) {
				ret = fault(st, b0 + i, (enum veil_block_fault)j->fault[i]);
				goto out;
			}
		pos = umin(end, (b1 + 1) * c->bs);
	}
	ret = (ssize_t)(end - off);
out:
	veil_wipe(t->blk, c->bs);
	veil_wipe(t->oldl, c->bs);
	/* A failed read leaves no plaintext in the caller's buffer, not even of good blocks. */
	if (ret < 0 && out)
		veil_wipe(out, (size_t)(end - off));
	return ret;
}

ssize_t veil_file_read(const struct veil_content_ctx *c, int fd, struct veil_fstate *st,
		       void *buf, size_t n, uint64_t off)
{
	return read_or_verify(c, fd, st, buf, n, off);
}

int veil_file_verify(const struct veil_content_ctx *c, int fd, struct veil_fstate *st)
{
	ssize_t ret = read_or_verify(c, fd, st, NULL, SIZE_MAX, 0);

	return ret < 0 ? (int)ret : 0;
}

/* One write in progress: the plaintext view of the file after the write. */
struct wctx {
	const struct veil_content_ctx *c;
	int fd;
	struct veil_fstate *st;
	const uint8_t *src; /* NULL: the written bytes are zeros */
	uint64_t off, end;  /* written range */
	uint64_t size, csize, newsize;
	uint8_t *scratch;   /* one cipher block for reads of old blocks */
};

/* Build the post-write plaintext of block @idx into @out; returns its length. */
static long compose(struct wctx *w, uint64_t idx, uint8_t *out)
{
	uint32_t bs = w->c->bs;
	uint64_t bstart = idx * bs;
	uint64_t bend = umin(bstart + bs, w->newsize);
	uint64_t old_end = umin(bend, w->size);
	uint64_t lo, hi;
	int ret;

	/* Old bytes are needed if part of [bstart, old_end) is not overwritten. */
	if (bstart < old_end && (w->off > bstart || w->end < old_end)) {
		ret = read_blocks(w->c, w->fd, w->st, w->size, w->csize, idx, 1, out, w->scratch);
		if (ret < 0)
			return ret;
	}
	/* Bytes between the old end of file and the write are zeros. */
	lo = umax(bstart, w->size);
	hi = umin(bend, w->off);
	if (lo < hi)
		memset(out + (lo - bstart), 0, (size_t)(hi - lo));
	lo = umax(bstart, w->off);
	hi = umin(bend, w->end);
	if (lo < hi) {
		if (w->src)
			memcpy(out + (lo - bstart), w->src + (lo - w->off), (size_t)(hi - lo));
		else
			memset(out + (lo - bstart), 0, (size_t)(hi - lo));
	}
	return (long)(bend - bstart);
}

static uint64_t last_block(uint64_t size, uint32_t bs)
{
	return (size - 1) / bs;
}

static int seal_write_one(struct wctx *w, uint64_t idx, bool last, const uint8_t *p, size_t len,
			  uint8_t *cbuf);

/* Blocks [first, e] of a chunk, composed in @plain, to be sealed into @cbuf. */
struct seal_job {
	const struct veil_content_ctx *c;
	const uint8_t *hdr;
	uint64_t first, e, nl;
	bool temp_last;
	uint8_t *cbuf;
	const uint8_t *src[CHUNK]; /* plaintext of each block (composed, or the caller's) */
	size_t lastlen; /* length of block e; every other block is full */
};

static void seal_one(void *ctx, size_t i)
{
	struct seal_job *j = ctx;
	uint64_t idx = j->first + i;
	size_t len = idx == j->e ? j->lastlen : j->c->bs;
	uint8_t nonce[VEIL_BLOCK_NONCE_BYTES];

	veil_nonce(nonce);
	veil_content_seal(j->c->keys->content, j->hdr, idx,
			  idx == j->nl || (j->temp_last && idx == j->e), nonce,
			  j->src[i], len, j->cbuf + i * cbs(j->c));
}

/*
 * Seal and write blocks [a, b] except @skip (UINT64_MAX: none). Blocks past
 * @disk_last (the last block on disk before this write, UINT64_MAX if none)
 * extend the file; when that takes several chunks, each chunk's final block
 * is sealed as last and resealed as a middle block only after the next
 * chunk is on disk, so a crash between chunks leaves a readable file.
 */
static int write_range(struct wctx *w, uint64_t a, uint64_t b, uint64_t skip, uint64_t disk_last,
		       uint8_t *plain, uint8_t *cbuf, uint8_t *pend)
{
	const struct veil_content_ctx *c = w->c;
	uint64_t nl = last_block(w->newsize, c->bs);
	uint64_t pend_idx = UINT64_MAX;
	size_t pend_len = 0;
	struct seal_job sj = { .c = c, .hdr = w->st->hdr, .nl = nl, .cbuf = cbuf };
	int ret;

	while (a <= b) {
		uint64_t e = umin(b, a + CHUNK - 1);
		size_t clen = 0;
		uint64_t first = a;
		bool temp_last;

		if (skip >= a && skip <= e) {
			if (skip == a) {
				a++;
				continue;
			}
			e = skip - 1;
		}
		temp_last = e != nl && (disk_last == UINT64_MAX || e > disk_last);
		/*
		 * Compose in order (it may read old blocks), then seal on two cores.
		 * A block made only of the caller's bytes is sealed from them directly.
		 */
		for (uint64_t idx = first; idx <= e; idx++) {
			uint64_t bstart = idx * c->bs, bend = umin(bstart + c->bs, w->newsize);
			long len;

			if (w->src && w->off <= bstart && w->end >= bend) {
				sj.src[idx - first] = w->src + (bstart - w->off);
				len = (long)(bend - bstart);
			} else {
				uint8_t *p = plain + (idx - first) * c->bs;

				len = compose(w, idx, p);
				if (len < 0)
					return (int)len;
				sj.src[idx - first] = p;
			}
			clen += (size_t)len + VEIL_BLOCK_OVERHEAD;
			sj.lastlen = (size_t)len;
		}
		sj.first = first;
		sj.e = e;
		sj.temp_last = temp_last;
		veil_par_for((size_t)(e - first + 1), seal_one, &sj);
		ret = pwrite_all(w->fd, cbuf, clen, veil_content_block_offset(first, c->bs));
		if (ret < 0)
			return ret;
		if (pend_idx != UINT64_MAX) {
			ret = seal_write_one(w, pend_idx, false, pend, pend_len, cbuf);
			if (ret < 0)
				return ret;
			pend_idx = UINT64_MAX;
		}
		if (temp_last) {
			pend_idx = e;
			pend_len = c->bs; /* not the end block, so a full block */
			memcpy(pend, sj.src[e - first], pend_len);
		}
		a = e + 1;
	}
	return 0;
}

static int seal_write_one(struct wctx *w, uint64_t idx, bool last, const uint8_t *p, size_t len,
			  uint8_t *cbuf)
{
	uint8_t nonce[VEIL_BLOCK_NONCE_BYTES];

	veil_nonce(nonce);
	veil_content_seal(w->c->keys->content, w->st->hdr, idx, last, nonce, p, len, cbuf);
	return pwrite_all(w->fd, cbuf, len + VEIL_BLOCK_OVERHEAD,
			  veil_content_block_offset(idx, w->c->bs));
}

/* Reserve backing space first, so a full disk fails before anything changes. */
static int reserve(int fd, uint64_t csize, uint64_t newcsize)
{
	if (newcsize <= csize)
		return 0;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)csize, (off_t)(newcsize - csize)) < 0) {
		if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)
			return -errno;
	}
	return 0;
}

static ssize_t do_write(const struct veil_content_ctx *c, int fd, struct veil_fstate *st,
			const uint8_t *src, size_t n, uint64_t off)
{
	struct wctx w = { .c = c, .fd = fd, .st = st, .src = src, .off = off };
	uint8_t *plain = NULL, *cbuf = NULL, *oldl = NULL, *newl = NULL, *pend = NULL;
	struct tbufs *t = NULL;
	bool new_header = false, extending;
	uint64_t b0, ol = 0, nl;
	long ollen = 0, oldlen = 0;
	int ret;

	if (n == 0)
		return 0;
	/* The cipher file of the result must still fit in an off_t. */
	if (off > INT64_MAX / 2 - n)
		return -EFBIG;
	ret = cipher_size(fd, &w.csize);
	if (ret < 0)
		return ret;
	if (veil_content_plain_size(w.csize, c->bs, &w.size) < 0)
		return fault(st, 0, VEIL_FAULT_SHORT);
	if (w.csize == 0) {
		veil_content_header_new(st->hdr);
		st->hdr_valid = true;
		new_header = true;
	} else {
		ret = load_header(fd, st);
		if (ret < 0)
			return ret;
	}
	w.end = off + n;
	w.newsize = umax(w.size, w.end);
	b0 = umin(off, w.size) / c->bs;
	nl = last_block(w.newsize, c->bs);
	extending = w.size > 0 && nl > (ol = last_block(w.size, c->bs));

	ret = reserve(fd, w.csize, veil_content_cipher_size(w.newsize, c->bs));
	if (ret < 0)
		return ret;
	t = tbufs_get(c->bs);
	if (!t) {
		ret = -ENOMEM;
		goto out;
	}
	plain = t->plain;
	cbuf = t->cbuf;
	w.scratch = t->scratch;
	oldl = t->oldl;
	newl = t->newl;
	pend = t->pend;
	if (new_header) {
		ret = pwrite_all(fd, st->hdr, VEIL_FILE_HEADER_BYTES, 0);
		if (ret < 0)
			goto out;
	}
	if (!extending) {
		/* The end block may grow in place: keep its old contents to put back. */
		bool grows = w.newsize > w.size && w.size > 0;

		ol = w.size ? last_block(w.size, c->bs) : 0;
		oldlen = (long)(w.size - ol * c->bs);
		if (grows) {
			ret = read_blocks(c, fd, st, w.size, w.csize, ol, 1, oldl, w.scratch);
			if (ret < 0)
				goto out;
		}
		ret = write_range(&w, b0, (w.end - 1) / c->bs, UINT64_MAX,
				  w.size ? ol : UINT64_MAX, plain, cbuf, pend);
		if (ret < 0 && w.newsize > w.size) {
			if (grows)
				(void)!seal_write_one(&w, ol, true, oldl, (size_t)oldlen, cbuf);
			(void)!ftruncate(fd, (off_t)w.csize);
		}
		goto out;
	}
	/* Extension past the old last block @ol: see file.h for the order. */
	ollen = compose(&w, ol, newl);
	if (ollen < 0) {
		ret = (int)ollen;
		goto out;
	}
	oldlen = (long)(w.size - ol * c->bs);
	if (oldlen != (long)c->bs) {
		ret = read_blocks(c, fd, st, w.size, w.csize, ol, 1, oldl, w.scratch);
		if (ret == 0)
			ret = seal_write_one(&w, ol, true, newl, (size_t)ollen, cbuf);
		if (ret < 0)
			goto out;
	}
	ret = write_range(&w, b0, nl, ol, ol, plain, cbuf, pend);
	if (ret == 0)
		ret = seal_write_one(&w, ol, false, newl, (size_t)ollen, cbuf);
	if (ret < 0) {
		/* Put the old end of file back so the file stays readable. */
		if (oldlen != (long)c->bs)
			(void)!seal_write_one(&w, ol, true, oldl, (size_t)oldlen, cbuf);
		(void)!ftruncate(fd, (off_t)w.csize);
	}
out:
	if (t) {
		/* Wipe only what this write used of the plaintext buffers. */
		uint64_t nb = w.end > 0 ? (w.end - 1) / c->bs - b0 + 1 : 0;

		veil_wipe(plain, (size_t)umin(nb, CHUNK) * c->bs);
		veil_wipe(oldl, c->bs);
		veil_wipe(newl, c->bs);
		veil_wipe(pend, c->bs);
	}
	if (ret < 0 && new_header) {
		(void)!ftruncate(fd, 0);
		veil_file_forget(st);
	}
	return ret < 0 ? ret : (ssize_t)n;
}

ssize_t veil_file_write(const struct veil_content_ctx *c, int fd, struct veil_fstate *st,
			const void *buf, size_t n, uint64_t off)
{
	return do_write(c, fd, st, buf, n, off);
}

int veil_file_truncate(const struct veil_content_ctx *c, int fd, struct veil_fstate *st,
		       uint64_t newsize)
{
	uint64_t csize = 0, size = 0, k;
	uint8_t *plain = NULL, *cbuf = NULL;
	struct wctx w = { .c = c, .fd = fd, .st = st };
	size_t newlen;
	int ret;

	ret = cipher_size(fd, &csize);
	if (ret < 0)
		return ret;
	if (veil_content_plain_size(csize, c->bs, &size) < 0)
		return fault(st, 0, VEIL_FAULT_SHORT);
	if (newsize == size && csize != VEIL_FILE_HEADER_BYTES)
		return 0;
	if (newsize == 0) {
		if (ftruncate(fd, 0) < 0)
			return -errno;
		veil_file_forget(st);
		return 0;
	}
	if (newsize > size) {
		ssize_t r;

		if (newsize > (uint64_t)INT64_MAX / 2)
			return -EFBIG;
		r = do_write(c, fd, st, NULL, (size_t)(newsize - size), size);
		return r < 0 ? (int)r : 0;
	}
	ret = load_header(fd, st);
	if (ret < 0)
		return ret;
	k = last_block(newsize, c->bs);
	newlen = (size_t)(newsize - k * c->bs);
	plain = malloc(c->bs);
	cbuf = malloc(cbs(c));
	if (!plain || !cbuf) {
		ret = -ENOMEM;
		goto out;
	}
	ret = read_blocks(c, fd, st, size, csize, k, 1, plain, cbuf);
	if (ret < 0)
		goto out;
	/*
	 * Reseal the new end block as last before cutting the file. When it
	 * keeps its length (a cut at a block boundary) every crash point is
	 * readable; a cut inside a block has one window (docs/format.md).
	 */
	ret = seal_write_one(&w, k, true, plain, newlen, cbuf);
	if (ret == 0 && ftruncate(fd, (off_t)veil_content_cipher_size(newsize, c->bs)) < 0)
		ret = -errno;
out:
	if (plain)
		veil_wipe(plain, c->bs);
	free(plain);
	free(cbuf);
	return ret;
}
