/* SPDX-License-Identifier: MIT */
/*
 * Verify and repair a volume (fsck.h). Two phases: a check that walks the
 * whole tree with the shared walker and records one repair per problem,
 * then (with --repair) the repairs: first everything done in place (file
 * contents, new dir IVs, removals of leftovers), then the moves into
 * lost+found/, deepest first, so the cipher paths recorded by the check
 * stay valid until they are used.
 */
#include "fsck.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "keys.h"
#include "temp.h"
#include "walk.h"

#define LOST_FOUND "lost+found"

static const char *const kind_names[VEIL_FSCK_NKINDS] = {
	[VEIL_FSCK_DIRIV_MISSING] = "diriv-missing",
	[VEIL_FSCK_DIRIV_DAMAGED] = "diriv-damaged",
	[VEIL_FSCK_NAME] = "name",
	[VEIL_FSCK_NAME_NOIV] = "name-without-diriv",
	[VEIL_FSCK_NO_SIDECAR] = "no-sidecar",
	[VEIL_FSCK_ORPHAN_SIDECAR] = "orphan-sidecar",
	[VEIL_FSCK_ORPHAN_BLOB] = "orphan-link-blob",
	[VEIL_FSCK_SYMLINK] = "symlink",
	[VEIL_FSCK_XATTR] = "xattr",
	[VEIL_FSCK_FILE_HEADER] = "file-header",
	[VEIL_FSCK_SIZE] = "size",
	[VEIL_FSCK_BLOCK] = "block",
	[VEIL_FSCK_ZERO_BLOCK] = "zero-block",
	[VEIL_FSCK_TRUNCATED] = "truncated",
	[VEIL_FSCK_SEALED_LAST] = "sealed-as-last",
	[VEIL_FSCK_TEMP] = "temporary",
	[VEIL_FSCK_IO] = "io",
	[VEIL_FSCK_CONFLICT] = "conflict-copy",
	[VEIL_FSCK_FOREIGN] = "foreign",
};

const char *veil_fsck_kind_name(enum veil_fsck_kind k)
{
	return k < VEIL_FSCK_NKINDS ? kind_names[k] : "?";
}

enum fix_type { FIX_DIRIV, FIX_FILE, FIX_XATTR, FIX_UNLINK, FIX_TEMP, FIX_BLOB, FIX_MOVE };

/* Per-block verdicts of a check. */
enum { B_OK = 0, B_SEALED_LAST = 1, B_BAD = 2 };

struct badblk {
	uint64_t idx;
	enum veil_block_fault f;
};

/* One repair to make, recorded by the check. */
struct fix {
	enum fix_type type;
	enum veil_fsck_kind kind;
	char *cpath;   /* the object, from the cipher root */
	char *disp;    /* how it is reported */
	bool cipher;   /* disp is a cipher path */
	char *lfname;  /* plaintext name to use in lost+found */
	unsigned depth;
	bool is_long;  /* a long-name object: its sidecar goes with it */
	bool moved;    /* FIX_FILE: already moved to lost+found */
	char *newname; /* ... under this name */
	unsigned nprobs;
	/* FIX_FILE */
	struct badblk *bad;
	size_t nbad;
	uint64_t *sealed;
	size_t nsealed;
	bool header_bad, size_bad;
	/* Only the version or reserved bytes of the file header are wrong: restore them. */
	bool header_fixed;
	/* FIX_XATTR: the backing attribute name; FIX_BLOB: the blob name */
	char *aux;
	/* Walk order: repairs are made in the order a one-core check finds them. */
	uint64_t order;
	size_t seq;
};

struct run {
	/* Part of the tree could not be walked: no link blob counts as an orphan. */
	bool partial;
	const struct veil_volume *v;
	const struct veil_fsck_opts *o;
	struct veil_fsck_stats *s;
	struct fix *fixes;
	size_t nfix, capfix;
	struct {
		dev_t dev;
		ino_t ino;
	} *seen;
	size_t nseen, capseen;
	char **refblobs, **blobs;
	size_t nref, capref, nblobs, capblobs;
	bool whole; /* the whole volume is walked (orphan blobs can be told) */
	uint8_t *cbuf; /* one cipher block, for the calling thread */
	uint8_t *pbuf; /* secure memory: a block being resealed by a repair */
	struct verifier *q;   /* file contents being verified */
	bool in_report;       /* reporting a file of the queue: events go out at once */
	struct devent *def;   /* events waiting for queued files: [def_next, ndef) */
	size_t def_next, ndef, capdef;
	int file_err;         /* the last file that could not be read (veil_fsck_file) */
	struct timespec t0;
	int lf_fd;
	uint8_t lf_iv[VEIL_DIRIV_BYTES];
};

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void deliver(struct run *r, const struct veil_fsck_event *ev)
{
	if (ev->type == VEIL_FSCK_EV_PROBLEM) {
		r->s->problems++;
		r->s->by_kind[ev->kind]++;
	} else if (ev->type == VEIL_FSCK_EV_NOTE) {
		r->s->notes++;
		r->s->by_kind[ev->kind]++;
	}
	if (r->o->event)
		r->o->event(r->o->ctx, ev);
}

/*
 * Events are reported in the order of the walk, as if every file had been
 * verified when the walk met it: an event met while files are still queued
 * waits until they are reported. A deferred event is tagged with the queue
 * position it follows.
 */
struct devent {
	uint64_t after; /* reported once the queue's files before this one are */
	struct veil_fsck_event ev;
};

static bool must_defer(struct run *r);
static uint64_t queue_tail(struct run *r);

static int defer(struct run *r, const struct veil_fsck_event *ev)
{
	struct devent *d;

	if (r->ndef == r->capdef) {
		size_t cap = r->capdef ? r->capdef * 2 : 16;
		struct devent *g = realloc(r->def, cap * sizeof(*g));

		if (!g)
			return -ENOMEM;
		r->def = g;
		r->capdef = cap;
	}
	d = &r->def[r->ndef];
	d->ev = *ev;
	d->ev.path = strdup(ev->path);
	d->ev.what = strdup(ev->what);
	if (!d->ev.path || !d->ev.what) {
		free((char *)d->ev.path);
		free((char *)d->ev.what);
		return -ENOMEM; /* reported at once: out of order, but reported */
	}
	d->after = queue_tail(r);
	r->ndef++;
	return 0;
}

/* Report the deferred events that follow queue positions before @pos. */
static void flush_deferred(struct run *r, uint64_t pos)
{
	while (r->def_next < r->ndef && r->def[r->def_next].after <= pos) {
		struct devent *d = &r->def[r->def_next++];

		deliver(r, &d->ev);
		free((char *)d->ev.path);
		free((char *)d->ev.what);
	}
	if (r->def_next == r->ndef)
		r->def_next = r->ndef = 0;
}

static void emit(struct run *r, enum veil_fsck_evtype type, enum veil_fsck_kind kind,
		 const char *path, bool cipher, int64_t block, uint64_t lost, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));

static void emit(struct run *r, enum veil_fsck_evtype type, enum veil_fsck_kind kind,
		 const char *path, bool cipher, int64_t block, uint64_t lost, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	struct veil_fsck_event ev = { .type = type, .kind = kind, .path = path && path[0] ? path : "/",
				      .cipher = cipher, .block = block, .what = what,
				      .bytes_lost = lost };

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (must_defer(r) && defer(r, &ev) == 0)
		return;
	deliver(r, &ev);
}

static uint64_t verified_bytes(struct verifier *q);

static void progress(struct run *r)
{
	if (r->q)
		r->s->bytes = verified_bytes(r->q);
	r->s->seconds = since(&r->t0);
	if (r->o->progress)
		r->o->progress(r->o->ctx, r->s);
}

/* A new repair to make, zeroed but for its type and kind. */
static struct fix *new_fix(struct run *r, enum fix_type type, enum veil_fsck_kind kind)
{
	struct fix *f;

	if (r->nfix == r->capfix) {
		size_t cap = r->capfix ? r->capfix * 2 : 32;
		struct fix *g = realloc(r->fixes, cap * sizeof(*g));

		if (!g)
			return NULL;
		r->fixes = g;
		r->capfix = cap;
	}
	f = &r->fixes[r->nfix];
	memset(f, 0, sizeof(*f));
	f->type = type;
	f->kind = kind;
	f->nprobs = 1;
	/* Found by the walk: after the queued files, before the next one (see defer). */
	f->order = r->q ? queue_tail(r) * 2 : UINT64_MAX;
	f->seq = r->nfix++;
	return f;
}

static struct fix *add_fix(struct run *r, enum fix_type type, enum veil_fsck_kind kind,
			   const struct veil_walk_entry *e)
{
	struct fix *f = new_fix(r, type, kind);

	if (!f)
		return NULL;
	if (e) {
		f->cpath = strdup(e->cpath);
		f->disp = strdup(e->path ? e->path : e->cpath);
		f->cipher = !e->path;
		f->depth = e->depth;
		f->is_long = e->long_name;
		if (!f->cpath || !f->disp) {
			free(f->cpath);
			free(f->disp);
			r->nfix--;
			return NULL;
		}
	}
	return f;
}

static bool push_str(char ***arr, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		char **g = realloc(*arr, c * sizeof(*g));

		if (!g)
			return false;
		*arr = g;
		*cap = c;
	}
	(*arr)[*n] = strdup(s);
	if (!(*arr)[*n])
		return false;
	(*n)++;
	return true;
}

/* A name for lost+found that says where the object came from: '/' -> %2F. */
static char *lf_base(const struct veil_walk_entry *e, const char *prefix)
{
	const char *src = e->path;
	char *base = NULL, *out;
	size_t n = 0;

	if (!src) {
		const char *tag = e->cname;

		if (veil_entry_classify(tag) == VEIL_ENTRY_LONG)
			tag += sizeof(VEIL_LONGNAME_PREFIX) - 1;
		else if (veil_entry_classify(tag) == VEIL_ENTRY_TEMP)
			tag += sizeof(VEIL_TEMP_PREFIX) - 1;
		if (asprintf(&base, "%s%s%s%.16s", e->dir_path ? e->dir_path : "",
			     e->dir_path && e->dir_path[0] ? "/" : "", prefix, tag) < 0)
			return NULL;
		src = base;
	}
	out = malloc(strlen(src) * 3 + 1);
	if (out) {
		for (const char *p = src; *p && n < 200; p++) {
			if (*p == '/' || *p == '%') {
				n += (size_t)snprintf(out + n, 4, "%%%02X", (unsigned char)*p);
			} else {
				out[n++] = *p;
			}
		}
		out[n] = '\0';
	}
	free(base);
	return out;
}

/* ------------------------------------------------------------ file contents */

/*
 * Blocks are verified on every core. The walk (on the calling thread)
 * checks each regular file's size and header and queues it; helper
 * threads, one per further core, take the queued files' blocks in chunks
 * of about CHUNK_BYTES. A thread reads a chunk with one pread into a buffer
 * of its own, small enough to stay in the core's cache, and opens its
 * blocks there into a one-block scratch buffer: one authenticated
 * decryption per block, no other copy. The calling thread takes chunks too
 * whenever more than QHIGH bytes of blocks wait, so a large file keeps every
 * core busy, while the walk over many small files overlaps their
 * verification. Findings are reported on the calling thread, file by file
 * in the order of the walk, once all of a file's chunks are done.
 */
#define CHUNK_BYTES (128u * 1024)
#define QFILES 128 /* files queued at most (each holds its fd) */
#define QHIGH (4u << 20)
#define MAXHELPERS 15

/* A block that is not simply good. */
struct vres {
	uint64_t idx;
	uint8_t verdict; /* B_SEALED_LAST or B_BAD */
	enum veil_block_fault f;
};

/* A queued file. */
struct vfile {
	int fd;
	int open_err;  /* the file could not be opened (fd is -1) */
	uint8_t hdr[VEIL_FILE_HEADER_BYTES];
	uint64_t csize, psize;
	uint64_t n;        /* blocks of the file */
	uint64_t nverify;  /* blocks to open (n, or the whole ones of a cut file) */
	uint64_t nchunks, next, done; /* chunks: in all, handed out, finished */
	bool size_bad, header_fixed, header_bad;
	int err;           /* a chunk could not be read: the first such error ... */
	uint64_t err_block; /* ... and the first block of the lowest such chunk */
	struct vres *res;
	size_t nres, capres;
	/* How the file is reported, and what a repair needs of it. */
	char *disp, *cpath, *lfname;
	bool cipher, is_long, record;
	unsigned depth;
};

/* A verifying thread's buffer (blocks are only verified: no plaintext is made). */
struct vbuf {
	uint8_t *cbuf; /* one chunk of cipher blocks */
};

struct verifier {
	const struct veil_volume *v;
	uint32_t bs;
	uint64_t cbs, chunk; /* cipher block size; blocks per chunk */
	pthread_mutex_t mu;
	pthread_cond_t cv_work; /* helpers: a chunk to take, or stop */
	pthread_cond_t cv_done; /* the caller: a chunk finished */
	struct vfile q[QFILES]; /* ring: files [head, tail); chunks taken from [take, tail) */
	uint64_t head, take, tail;
	uint64_t waiting; /* blocks queued and not yet taken */
	bool stop;
	int fatal;        /* a helper ran out of memory recording a finding */
	atomic_uint_least64_t bytes; /* plaintext bytes verified */
	size_t nhelpers;
	pthread_t th[MAXHELPERS];
	struct vbuf own;  /* the calling thread's buffers */
};

static uint64_t verified_bytes(struct verifier *q)
{
	return atomic_load(&q->bytes);
}

static uint64_t queue_tail(struct run *r)
{
	return r->q->tail;
}

static bool must_defer(struct run *r)
{
	return r->q && r->q->tail > r->q->head && !r->in_report;
}

static int vbuf_init(struct vbuf *b, const struct verifier *q)
{
	b->cbuf = malloc((size_t)(q->chunk * q->cbs));
	return b->cbuf ? 0 : -ENOMEM;
}

static void vbuf_free(struct vbuf *b)
{
	free(b->cbuf);
}

/* Under q->mu: hand out the next chunk, if any. */
static bool take_chunk(struct verifier *q, struct vfile **fp, uint64_t *cp)
{
	while (q->take < q->tail) {
		struct vfile *f = &q->q[q->take % QFILES];

		if (f->next < f->nchunks) {
			uint64_t c = f->next++;
			uint64_t nb = f->nverify - c * q->chunk;

			q->waiting -= nb < q->chunk ? nb : q->chunk;
			*fp = f;
			*cp = c;
			return true;
		}
		q->take++;
	}
	return false;
}

/* Under q->mu. */
static void add_res(struct verifier *q, struct vfile *f, uint64_t idx, uint8_t verdict,
		    enum veil_block_fault fl)
{
	if (f->nres == f->capres) {
		size_t cap = f->capres ? f->capres * 2 : 8;
		struct vres *g = realloc(f->res, cap * sizeof(*g));

		if (!g) {
			q->fatal = -ENOMEM;
			return;
		}
		f->res = g;
		f->capres = cap;
	}
	f->res[f->nres].idx = idx;
	f->res[f->nres].verdict = verdict;
	f->res[f->nres].f = fl;
	f->nres++;
}

/* Read chunk @c of @f into @b and verify its blocks (without q->mu). */
static void run_chunk(struct verifier *q, struct vbuf *b, struct vfile *f, uint64_t c)
{
	const uint8_t *key = q->v->keys->content;
	uint64_t b0 = c * q->chunk, nb = f->nverify - b0 < q->chunk ? f->nverify - b0 : q->chunk;
	uint64_t off = veil_content_block_offset(b0, q->bs);
	uint64_t end = off + nb * q->cbs < f->csize ? off + nb * q->cbs : f->csize;
	size_t got = 0;
	int ret = veil_pread_full(f->fd, b->cbuf, (size_t)(end - off), off, &got);

	if (ret < 0) {
		pthread_mutex_lock(&q->mu);
		if (!f->err || b0 < f->err_block) {
			f->err = ret;
			f->err_block = b0;
		}
		pthread_mutex_unlock(&q->mu);
		return;
	}
	for (uint64_t i = 0; i < nb; i++) {
		uint64_t idx = b0 + i, at = i * q->cbs;
		size_t len = got > at ? (size_t)(got - at < q->cbs ? got - at : q->cbs) : 0;
		const uint8_t *in = b->cbuf + at;
		enum veil_block_fault fl;
		uint8_t verdict;

		/* A middle block verifies as a middle block: one tag check, the usual case. */
		if (idx + 1 < f->n && len > VEIL_BLOCK_OVERHEAD &&
		    veil_content_open(key, f->hdr, idx, false, in, len, NULL) == 0)
			continue;
		/* The end block, or one that needs the reading rules to tell what it is. */
		if (veil_content_open_at(key, f->hdr, idx, f->n, in, len, NULL, &fl) == 0) {
			if (idx + 1 == f->n)
				continue;
			verdict = B_SEALED_LAST; /* a middle block that opened as last */
		} else {
			verdict = B_BAD;
		}
		pthread_mutex_lock(&q->mu);
		add_res(q, f, idx, verdict, fl);
		pthread_mutex_unlock(&q->mu);
	}
	if (f->nverify < f->n)
		atomic_fetch_add(&q->bytes, nb * q->bs);
	else
		atomic_fetch_add(&q->bytes, ((b0 + nb) * q->bs < f->psize ? (b0 + nb) * q->bs
									   : f->psize) -
						    b0 * q->bs);
}

/* Under q->mu: chunk of @f finished. */
static void chunk_done(struct verifier *q, struct vfile *f)
{
	if (++f->done == f->nchunks)
		pthread_cond_signal(&q->cv_done);
}

static void *helper_main(void *arg)
{
	struct verifier *q = arg;
	struct vbuf b;
	struct vfile *f;
	uint64_t c;

	if (vbuf_init(&b, q) < 0)
		return NULL; /* the other threads do its share */
	pthread_mutex_lock(&q->mu);
	while (!q->stop) {
		if (!take_chunk(q, &f, &c)) {
			pthread_cond_wait(&q->cv_work, &q->mu);
			continue;
		}
		pthread_mutex_unlock(&q->mu);
		run_chunk(q, &b, f, c);
		pthread_mutex_lock(&q->mu);
		chunk_done(q, f);
	}
	pthread_mutex_unlock(&q->mu);
	vbuf_free(&b);
	return NULL;
}

/* Cores this process may run on. */
static size_t ncores(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (size_t)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (size_t)n : 1;
}

/* @threads: helpers to start (fewer if they cannot be started; 0: all on the caller). */
static struct verifier *verifier_new(const struct veil_volume *v, size_t threads)
{
	struct verifier *q = calloc(1, sizeof(*q));
	sigset_t all, old;

	if (!q)
		return NULL;
	q->v = v;
	q->bs = v->cc.bs;
	q->cbs = (uint64_t)q->bs + VEIL_BLOCK_OVERHEAD;
	q->chunk = CHUNK_BYTES / q->bs > 2 ? CHUNK_BYTES / q->bs : 2;
	atomic_init(&q->bytes, 0);
	if (vbuf_init(&q->own, q) < 0) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv_work, NULL);
	pthread_cond_init(&q->cv_done, NULL);
	/*
	 * Signals stay with the calling thread, but for those a fault raises
	 * in the thread itself (blocked, they would kill the process without
	 * a word from a handler such as a sanitizer's).
	 */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (size_t i = 0; i < threads && i < MAXHELPERS; i++) {
		if (pthread_create(&q->th[q->nhelpers], NULL, helper_main, q) != 0)
			break;
		q->nhelpers++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return q;
}

static void vfile_release(struct vfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->res);
	free(f->disp);
	free(f->cpath);
	free(f->lfname);
	f->res = NULL;
	f->disp = f->cpath = f->lfname = NULL;
}

static void verifier_free(struct verifier *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv_work);
	pthread_mutex_unlock(&q->mu);
	for (size_t i = 0; i < q->nhelpers; i++)
		pthread_join(q->th[i], NULL);
	for (uint64_t i = q->head; i < q->tail; i++)
		vfile_release(&q->q[i % QFILES]);
	vbuf_free(&q->own);
	pthread_cond_destroy(&q->cv_done);
	pthread_cond_destroy(&q->cv_work);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

static enum veil_fsck_kind fault_kind(enum veil_block_fault f)
{
	switch (f) {
	case VEIL_FAULT_ZERO:
		return VEIL_FSCK_ZERO_BLOCK;
	case VEIL_FAULT_TRUNCATED:
		return VEIL_FSCK_TRUNCATED;
	default:
		return VEIL_FSCK_BLOCK;
	}
}

static int add_bad(struct fix *f, uint64_t idx, enum veil_block_fault fl)
{
	struct badblk *g = realloc(f->bad, (f->nbad + 1) * sizeof(*g));

	if (!g)
		return -ENOMEM;
	f->bad = g;
	f->bad[f->nbad].idx = idx;
	f->bad[f->nbad].f = fl;
	f->nbad++;
	return 0;
}

static int add_sealed(struct fix *f, uint64_t idx)
{
	uint64_t *g = realloc(f->sealed, (f->nsealed + 1) * sizeof(*g));

	if (!g)
		return -ENOMEM;
	f->sealed = g;
	f->sealed[f->nsealed++] = idx;
	return 0;
}

/*
 * Whether @err, met reading a dir IV or a name, says the bytes on disk are
 * damaged or missing (so --repair may act on them), rather than that they
 * could not be read now (EACCES, EIO, EMFILE...): those are reported and
 * left alone, for an intact IV or sidecar would otherwise be replaced and
 * every name that depends on it lost for good.
 */
static bool is_damage(int err)
{
	return err == -EBADMSG || err == -ENOENT || err == -ELOOP || err == -EINVAL;
}

/*
 * A file header whose version or reserved bytes (0-7) are wrong still has
 * its file ID, and those bytes have one right value each: put them back in
 * @hdr and report whether the file's blocks (the first and the last, which
 * cover a file whose middle is damaged too) then authenticate, in which
 * case nothing of the file is lost. A file with no blocks has nothing that
 * could confirm the ID, nor anything to lose.
 */
static bool header_restorable(struct run *r, int fd, uint8_t hdr[static VEIL_FILE_HEADER_BYTES],
			      uint64_t n, uint64_t csize)
{
	uint32_t bs = r->v->cc.bs;
	uint64_t cbs = (uint64_t)bs + VEIL_BLOCK_OVERHEAD;
	uint64_t idx[2] = { 0, n ? n - 1 : 0 };
	enum veil_block_fault fault;
	uint8_t canon[VEIL_FILE_HEADER_BYTES];

	memcpy(canon, hdr, sizeof(canon));
	canon[0] = (uint8_t)(VEIL_CONTENT_VERSION & 0xff);
	canon[1] = (uint8_t)(VEIL_CONTENT_VERSION >> 8);
	memset(canon + 2, 0, 6);
	for (int k = 0; k < (n > 1 ? 2 : n ? 1 : 0); k++) {
		uint64_t off = veil_content_block_offset(idx[k], bs);
		size_t want = off + cbs > csize ? (size_t)(csize - off) : (size_t)cbs, got = 0;
		bool ok;

		if (off >= csize || veil_pread_full(fd, r->cbuf, want, off, &got) < 0 || got != want)
			continue;
		ok = veil_content_open_at(r->v->keys->content, canon, idx[k], n, r->cbuf, got, NULL,
					  &fault) == 0;
		if (!ok)
			continue;
		memcpy(hdr, canon, sizeof(canon));
		return true;
	}
	if (n)
		return false;
	memcpy(hdr, canon, sizeof(canon));
	return true;
}

/*
 * The checks of an opened file that come before its blocks: its size and
 * its header. Fills @f; its blocks (f->nchunks chunks) are then verified
 * through the queue. An error reading the file is kept in f->err.
 */
static void prepare_file(struct run *r, struct vfile *f)
{
	uint32_t bs = r->v->cc.bs;
	uint64_t cbs = (uint64_t)bs + VEIL_BLOCK_OVERHEAD;
	struct stat st;
	size_t got;
	int ret;

	if (fstat(f->fd, &st) < 0) {
		f->err = -errno;
		return;
	}
	f->csize = (uint64_t)st.st_size;
	if (f->csize == 0)
		return;
	if (veil_content_plain_size(f->csize, bs, &f->psize) < 0) {
		/* Blocks that are whole can still be checked; the fragment after them cannot. */
		f->size_bad = true;
		f->nverify = f->csize < VEIL_FILE_HEADER_BYTES
				     ? 0
				     : (f->csize - VEIL_FILE_HEADER_BYTES) / cbs;
		f->n = f->nverify + 1; /* the cut block was the end one at least */
	} else {
		f->n = veil_content_nblocks(f->psize, bs);
		f->nverify = f->n;
	}
	ret = veil_pread_full(f->fd, f->hdr, sizeof(f->hdr), 0, &got);
	if (ret < 0) {
		f->err = ret;
		f->nverify = 0;
		return;
	}
	if (got == sizeof(f->hdr) && veil_content_header_check(f->hdr) < 0 &&
	    header_restorable(r, f->fd, f->hdr, f->n, f->csize))
		f->header_fixed = true;
	if (got < sizeof(f->hdr) || veil_content_header_check(f->hdr) < 0) {
		f->header_bad = true;
		f->nverify = 0;
	}
	if (r->o->quick)
		f->nverify = 0;
	f->nchunks = (f->nverify + r->q->chunk - 1) / r->q->chunk;
}

static int cmp_res(const void *a, const void *b)
{
	const struct vres *x = a, *y = b;

	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Report what was found in @f and, for a file of the walk, record its
 * repair. 0, or -ENOMEM.
 */
static int report_file(struct run *r, struct vfile *f)
{
	const char *disp = f->disp;
	bool cipher = f->cipher;
	struct fix tmp = { 0 }, *g;
	unsigned probs = 0;
	int ret = 0;

	if (f->open_err) {
		emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_IO, disp, cipher, -1, 0, "cannot open: %s",
		     strerror(f->open_err));
		r->file_err = -f->open_err;
		return 0;
	}
	if (f->size_bad) {
		emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_SIZE, disp, cipher, (int64_t)f->nverify, 0,
		     "cipher size %llu is impossible: the file was cut inside block %llu",
		     (unsigned long long)f->csize, (unsigned long long)f->nverify);
		probs++;
		tmp.size_bad = true;
	}
	if (f->header_fixed) {
		emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_FILE_HEADER, disp, cipher, -1, 0,
		     "file header's version or reserved bytes are damaged (its blocks "
		     "authenticate with them restored)");
		probs++;
		tmp.header_fixed = true;
	}
	if (f->header_bad) {
		emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_FILE_HEADER, disp, cipher, -1, 0,
		     "file header is malformed: no block can be read");
		probs++;
		tmp.header_bad = true;
	}
	if (f->nres > 1)
		qsort(f->res, f->nres, sizeof(*f->res), cmp_res);
	for (size_t i = 0; i < f->nres && ret == 0; i++) {
		const struct vres *b = &f->res[i];

		if (f->err && b->idx >= f->err_block)
			break; /* from the chunk that could not be read on: not reported */
		if (b->verdict == B_SEALED_LAST) {
			emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_SEALED_LAST, disp, cipher,
			     (int64_t)b->idx, 0,
			     "block %llu: middle block sealed as last (left by an interrupted "
			     "write; readable)",
			     (unsigned long long)b->idx);
			ret = add_sealed(&tmp, b->idx);
		} else {
			emit(r, VEIL_FSCK_EV_PROBLEM, fault_kind(b->f), disp, cipher, (int64_t)b->idx,
			     0, "block %llu: %s", (unsigned long long)b->idx,
			     veil_block_fault_str(b->f));
			ret = add_bad(&tmp, b->idx, b->f);
		}
		probs++;
	}
	if (f->err) {
		emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_IO, disp, cipher, -1, 0, "cannot read: %s",
		     strerror(-f->err));
		r->file_err = f->err;
		probs = 0; /* nothing is repaired in a file that cannot be read */
	}
	if (ret < 0 || probs == 0 || !f->record) {
		free(tmp.bad);
		free(tmp.sealed);
		return ret;
	}
	g = new_fix(r, FIX_FILE, VEIL_FSCK_BLOCK);
	if (!g) {
		free(tmp.bad);
		free(tmp.sealed);
		return -ENOMEM;
	}
	g->cpath = f->cpath;
	g->disp = f->disp;
	g->lfname = f->lfname;
	f->cpath = f->disp = f->lfname = NULL;
	g->cipher = f->cipher;
	g->depth = f->depth;
	g->is_long = f->is_long;
	g->bad = tmp.bad;
	g->nbad = tmp.nbad;
	g->sealed = tmp.sealed;
	g->nsealed = tmp.nsealed;
	g->header_bad = tmp.header_bad;
	g->header_fixed = tmp.header_fixed;
	g->size_bad = tmp.size_bad;
	g->nprobs = probs;
	g->order = r->q->head * 2 + 1; /* this file is the queue's head */
	return 0;
}

/* Report the files at the head of the queue whose blocks are all done. */
static int vq_report(struct run *r)
{
	struct verifier *q = r->q;
	int ret = 0;

	for (;;) {
		struct vfile *f;

		pthread_mutex_lock(&q->mu);
		f = &q->q[q->head % QFILES];
		if (q->fatal < 0 || q->head == q->tail || f->done < f->nchunks) {
			ret = q->fatal;
			pthread_mutex_unlock(&q->mu);
			break;
		}
		pthread_mutex_unlock(&q->mu);
		flush_deferred(r, q->head);
		/* No other thread touches a file whose chunks are all done. */
		r->in_report = true;
		ret = report_file(r, f);
		r->in_report = false;
		vfile_release(f);
		pthread_mutex_lock(&q->mu);
		q->head++;
		if (q->take < q->head)
			q->take = q->head;
		pthread_mutex_unlock(&q->mu);
		if (ret < 0)
			break;
	}
	if (q->head == q->tail)
		flush_deferred(r, q->tail);
	r->s->bytes = atomic_load(&q->bytes);
	return ret;
}

/*
 * Verify chunks on the calling thread: while more than QHIGH bytes of
 * blocks wait, or (@head) until the oldest queued file is done.
 */
static int vq_work(struct run *r, bool head)
{
	struct verifier *q = r->q;
	uint64_t high = QHIGH / q->bs;
	struct vfile *f;
	uint64_t c;

	pthread_mutex_lock(&q->mu);
	while (q->fatal == 0) {
		if (head) {
			struct vfile *h = &q->q[q->head % QFILES];

			if (q->head == q->tail || h->done == h->nchunks)
				break;
		} else if (q->waiting <= high) {
			break;
		}
		if (!take_chunk(q, &f, &c)) {
			if (!head)
				break;
			/* The rest of the oldest file is on other cores. */
			pthread_cond_wait(&q->cv_done, &q->mu);
			continue;
		}
		pthread_mutex_unlock(&q->mu);
		run_chunk(q, &q->own, f, c);
		pthread_mutex_lock(&q->mu);
		chunk_done(q, f);
		pthread_mutex_unlock(&q->mu);
		progress(r);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return vq_report(r);
}

/* Queue @f (taken over, released in any case). */
static int vq_push(struct run *r, struct vfile *f)
{
	struct verifier *q = r->q;
	int ret;

	while (q->tail - q->head == QFILES) {
		ret = vq_work(r, true);
		if (ret < 0) {
			vfile_release(f);
			return ret;
		}
	}
	pthread_mutex_lock(&q->mu);
	q->q[q->tail % QFILES] = *f;
	q->tail++;
	q->waiting += f->nverify;
	if (q->waiting >= q->chunk) /* worth a wake-up */
		pthread_cond_broadcast(&q->cv_work);
	pthread_mutex_unlock(&q->mu);
	return vq_work(r, false);
}

/* Verify and report everything queued. */
static int vq_drain(struct run *r)
{
	while (r->q->head < r->q->tail) {
		int ret = vq_work(r, true);

		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------ the check */

/* The xattrs of an object: through @rfd if it is open, else through the /proc path @proc. */
static ssize_t xlist(int rfd, const char *proc, char *list, size_t size)
{
	return rfd >= 0 ? flistxattr(rfd, list, size) : listxattr(proc, list, size);
}

static ssize_t xget(int rfd, const char *proc, const char *name, void *val, size_t size)
{
	return rfd >= 0 ? fgetxattr(rfd, name, val, size) : getxattr(proc, name, val, size);
}

/* @rfd: the object opened for reading (a file or directory), or -1. */
static void check_xattrs(struct run *r, const struct veil_walk_entry *e, const char *disp, int rfd)
{
	char proc[64] = "", plain[256];
	int fd = rfd >= 0 ? -1 : openat(e->dfd, e->cname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	char *list = NULL;
	uint8_t *cval = NULL, *val = NULL;
	ssize_t len;

	if (rfd < 0 && fd < 0)
		return;
	if (fd >= 0)
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	len = xlist(rfd, proc, NULL, 0);
	if (len <= 0)
		goto out;
	list = malloc((size_t)len);
	cval = malloc(65536);
	val = malloc(65536);
	if (!list || !cval || !val || (len = xlist(rfd, proc, list, (size_t)len)) < 0)
		goto out;
	for (char *p = list; p < list + len; p += strlen(p) + 1) {
		ssize_t cl;
		long vl;
		struct fix *f;

		if (strncmp(p, VEIL_XATTR_CIPHER_PREFIX, sizeof(VEIL_XATTR_CIPHER_PREFIX) - 1))
			continue;
		if (veil_xattr_name_decrypt(r->v->keys, p, plain) < 0) {
			emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_XATTR, disp, !e->path, -1, 0,
			     "xattr %s: name does not decrypt", p);
		} else {
			cl = xget(rfd, proc, p, cval, 65536);
			vl = cl < 0 ? -EIO
				    : veil_xattr_value_decrypt(r->v->keys, p, cval, (size_t)cl, val);
			if (vl >= 0) {
				veil_wipe(val, (size_t)vl);
				continue;
			}
			emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_XATTR, disp, !e->path, -1, 0,
			     "xattr %s: value does not authenticate", plain);
		}
		f = add_fix(r, FIX_XATTR, VEIL_FSCK_XATTR, e);
		if (f && !(f->aux = strdup(p))) {
			free(f->cpath);
			free(f->disp);
			r->nfix--; /* out of memory: left uncorrected */
		}
	}
out:
	free(list);
	free(cval);
	free(val);
	if (fd >= 0)
		close(fd);
}

static bool seen_inode(struct run *r, const struct stat *st)
{
	for (size_t i = 0; i < r->nseen; i++)
		if (r->seen[i].dev == st->st_dev && r->seen[i].ino == st->st_ino)
			return true;
	if (r->nseen == r->capseen) {
		size_t c = r->capseen ? r->capseen * 2 : 64;
		void *g = realloc(r->seen, c * sizeof(*r->seen));

		if (!g)
			return false;
		r->seen = g;
		r->capseen = c;
	}
	r->seen[r->nseen].dev = st->st_dev;
	r->seen[r->nseen].ino = st->st_ino;
	r->nseen++;
	return false;
}

/*
 * Open regular file @e for reading: *@fd is the descriptor or -errno.
 * Returns 0, or a negative errno if the queue could not be drained.
 */
static int open_file(struct run *r, const struct veil_walk_entry *e, int *fd)
{
	const int fl = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

	*fd = openat(e->dfd, e->cname, fl);
	if (*fd < 0 && (errno == EMFILE || errno == ENFILE) && r->q->tail > r->q->head) {
		/* The queued files hold descriptors: finish them and try again. */
		int ret = vq_drain(r);

		if (ret < 0)
			return ret;
		*fd = openat(e->dfd, e->cname, fl);
	}
	if (*fd < 0)
		*fd = -errno;
	return 0;
}

/* Check regular file @e, opened as @fd (or -errno); @fd is taken over. */
static int check_file(struct run *r, const struct veil_walk_entry *e, const char *disp, int fd)
{
	struct vfile f = { .fd = fd < 0 ? -1 : fd };

	if (e->st.st_nlink > 1 && seen_inode(r, &e->st)) {
		if (fd >= 0)
			close(fd); /* another name of a file already checked */
		return 0;
	}
	if (fd < 0)
		f.open_err = -fd;
	else
		prepare_file(r, &f);
	if (!f.open_err && !f.err && !f.size_bad && !f.header_fixed && !f.header_bad &&
	    !f.nchunks) {
		close(f.fd); /* nothing to verify, nothing to report */
		return 0;
	}
	f.disp = strdup(disp);
	f.cpath = strdup(e->cpath);
	f.lfname = lf_base(e, "unnamed-");
	f.cipher = !e->path;
	f.depth = e->depth;
	f.is_long = e->long_name;
	f.record = true;
	if (!f.disp || !f.cpath || !f.lfname) {
		vfile_release(&f);
		return -ENOMEM;
	}
	return vq_push(r, &f);
}

static int record_move(struct run *r, const struct veil_walk_entry *e, enum veil_fsck_kind kind,
		       const char *prefix)
{
	struct fix *f = add_fix(r, FIX_MOVE, kind, e);

	if (!f)
		return -ENOMEM;
	f->lfname = lf_base(e, prefix);
	return f->lfname ? 0 : -ENOMEM;
}

static int fsck_visit(void *ctx, const struct veil_walk_entry *e, void **cookie)
{
	struct run *r = ctx;
	const char *disp = e->path ? e->path : e->cpath;
	bool cipher = !e->path;
	bool object = false, descend = false;
	int ret = 0;

	(void)cookie;
	switch (e->cls) {
	case VEIL_WALK_CONFLICT:
		emit(r, VEIL_FSCK_EV_NOTE, VEIL_FSCK_CONFLICT, disp, cipher, -1, 0,
		     "conflict copy made by a sync tool (cipher name %s)", e->cname);
		object = true;
		break;
	case VEIL_WALK_OBJECT:
		object = true;
		break;
	case VEIL_WALK_BADNAME:
		if (!is_damage(e->err)) {
			emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_IO, e->cpath, true, -1, 0,
			     "name cannot be read: %s", strerror(-e->err));
			break;
		}
		emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_NAME, e->cpath, true, -1, 0,
		     "name does not decrypt in this directory");
		ret = record_move(r, e, VEIL_FSCK_NAME, "unnamed-");
		descend = true;
		break;
	case VEIL_WALK_NOSIDECAR:
		emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_NO_SIDECAR, e->cpath, true, -1, 0,
		     "long-name object without its sidecar (its name is lost)");
		ret = record_move(r, e, VEIL_FSCK_NO_SIDECAR, "unnamed-");
		descend = true;
		break;
	case VEIL_WALK_NOIV:
		emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_NAME_NOIV, e->cpath, true, -1, 0,
		     "name cannot be decrypted: its directory has no readable dir IV");
		ret = record_move(r, e, VEIL_FSCK_NAME_NOIV, "unnamed-");
		descend = true;
		break;
	case VEIL_WALK_ORPHAN_SIDECAR:
		emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_ORPHAN_SIDECAR, e->cpath, true, -1, 0,
		     "long-name sidecar without its object");
		ret = add_fix(r, FIX_UNLINK, VEIL_FSCK_ORPHAN_SIDECAR, e) ? 0 : -ENOMEM;
		break;
	case VEIL_WALK_TEMP:
		emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_TEMP, e->cpath, true, -1, 0,
		     "temporary %s left by an interrupted write",
		     S_ISDIR(e->st.st_mode) ? "directory" : "file");
		if (!add_fix(r, FIX_TEMP, VEIL_FSCK_TEMP, e))
			return -ENOMEM;
		r->fixes[r->nfix - 1].lfname = lf_base(e, "leftover-");
		break;
	case VEIL_WALK_LINKBLOB:
		if (e->depth == 0 && !strchr(e->cpath, '/') && e->dfd >= 0 && r->whole) {
			if (!push_str(&r->blobs, &r->nblobs, &r->capblobs, e->cname))
				return -ENOMEM;
		} else {
			emit(r, VEIL_FSCK_EV_NOTE, VEIL_FSCK_FOREIGN, e->cpath, true, -1, 0,
			     "symlink target blob outside the volume root (not used)");
		}
		break;
	case VEIL_WALK_FOREIGN:
		if (e->err == -EEXIST)
			emit(r, VEIL_FSCK_EV_NOTE, VEIL_FSCK_CONFLICT, e->cpath, true, -1, 0,
			     "conflict copy made by a sync tool, hidden by the entry it is named after");
		else
			emit(r, VEIL_FSCK_EV_NOTE, VEIL_FSCK_FOREIGN, e->cpath, true, -1, 0,
			     "foreign file (not part of the volume)");
		break;
	default:
		break; /* dir IVs, sidecars, the header: checked through their owners */
	}
	if (ret < 0)
		return ret;
	if (object || descend) {
		r->s->objects++;
		if (S_ISLNK(e->st.st_mode)) {
			char raw[VEIL_LONGNAME_LEN + 2];
			char *target = malloc(VEIL_LINK_TARGET_MAX + 1);
			ssize_t n = readlinkat(e->dfd, e->cname, raw, sizeof(raw) - 1);
			long t;

			if (n > 0) {
				raw[n] = '\0';
				if (veil_entry_classify(raw) == VEIL_ENTRY_LINKBLOB &&
				    !push_str(&r->refblobs, &r->nref, &r->capref, raw)) {
					free(target);
					return -ENOMEM;
				}
			}
			t = target ? veil_readlink_at(r->v, e->dfd, e->cname, target) : -ENOMEM;
			if (t >= 0)
				veil_wipe(target, (size_t)t);
			free(target);
			if (t == -ENOMEM)
				return -ENOMEM;
			if (t < 0)
				emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_SYMLINK, disp, cipher, -1, 0,
				     "symlink target %s",
				     t == -EBADMSG ? "does not decrypt (or its blob is missing)"
						   : strerror((int)-t));
		} else {
			int fd = -1;

			/* A file is opened once, for its xattrs and its contents. */
			if (S_ISREG(e->st.st_mode)) {
				ret = open_file(r, e, &fd);
				if (ret < 0)
					return ret;
			}
			check_xattrs(r, e, disp,
				     S_ISDIR(e->st.st_mode) && e->sub_fd >= 0 ? e->sub_fd : fd);
			if (S_ISREG(e->st.st_mode)) {
				ret = check_file(r, e, disp, fd);
				if (ret < 0)
					return ret;
			}
		}
		if (S_ISDIR(e->st.st_mode) && e->sub_fd >= 0) {
			if (e->sub_iv_err < 0 && !is_damage(e->sub_iv_err)) {
				/* Its entries are not walked: they would all look nameless. */
				emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_IO, disp, cipher, -1, 0,
				     "dir IV cannot be read: %s; its entries were not checked",
				     strerror(-e->sub_iv_err));
				r->partial = true;
				progress(r);
				return 0;
			}
			if (e->sub_iv_err < 0) {
				bool missing = e->sub_iv_err == -ENOENT;
				enum veil_fsck_kind k =
					missing ? VEIL_FSCK_DIRIV_MISSING : VEIL_FSCK_DIRIV_DAMAGED;
				struct fix *f;

				emit(r, VEIL_FSCK_EV_PROBLEM, k, disp, cipher, -1, 0,
				     "dir IV %s: the names of its entries cannot be decrypted",
				     missing ? "is missing" : "is damaged");
				f = add_fix(r, FIX_DIRIV, k, e);
				if (!f)
					return -ENOMEM;
			}
			return VEIL_WALK_DESCEND;
		}
		if (S_ISDIR(e->st.st_mode))
			emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_IO, disp, cipher, -1, 0,
			     "directory cannot be opened: %s", strerror(-e->sub_iv_err));
	}
	progress(r);
	return 0;
}

static void fsck_dir_error(void *ctx, const char *path, const char *cpath, int err, void *cookie)
{
	struct run *r = ctx;

	(void)cookie;
	r->partial = true;
	emit(r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_IO, path ? path : cpath, !path, -1, 0,
	     "directory cannot be listed: %s", strerror(-err));
}

static const struct veil_walk_ops fsck_ops = {
	.visit = fsck_visit,
	.dir_error = fsck_dir_error,
};

static int count_visit(void *ctx, const struct veil_walk_entry *e, void **cookie)
{
	struct run *r = ctx;
	uint64_t size;

	(void)cookie;
	if (e->cls != VEIL_WALK_OBJECT)
		return 0;
	r->s->total_objects++;
	if (S_ISDIR(e->st.st_mode))
		return VEIL_WALK_DESCEND;
	if (S_ISREG(e->st.st_mode) && !r->o->quick &&
	    veil_content_plain_size((uint64_t)e->st.st_size, r->v->cc.bs, &size) == 0)
		r->s->total_bytes += size;
	return 0;
}

static const struct veil_walk_ops count_ops = { .visit = count_visit };

/* ------------------------------------------------------------ repairs */

/* Open the directory holding cipher path @cpath, never following a symlink. */
static int open_parent(const struct veil_volume *v, const char *cpath, const char **base)
{
	char *copy = strdup(cpath), *save = NULL, *comp, *next;
	int cur = dup(v->dirfd);

	if (!copy || cur < 0) {
		free(copy);
		if (cur >= 0)
			close(cur);
		return -ENOMEM;
	}
	*base = strrchr(cpath, '/') ? strrchr(cpath, '/') + 1 : cpath;
	comp = strtok_r(copy, "/", &save);
	while (comp && (next = strtok_r(NULL, "/", &save))) {
		int nfd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		close(cur);
		if (nfd < 0) {
			free(copy);
			return -errno;
		}
		cur = nfd;
		comp = next;
	}
	free(copy);
	return cur;
}

/* lost+found/ at the plaintext root, created on first use. */
static int lf_open(struct run *r)
{
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1];
	uint8_t riv[VEIL_DIRIV_BYTES];
	struct stat st;
	int ret;

	if (r->lf_fd >= 0)
		return 0;
	ret = veil_diriv_read(r->v->dirfd, riv);
	if (ret < 0)
		return ret;
	ret = veil_name_to_backing(r->v, riv, LOST_FOUND, enc, backing);
	if (ret < 0)
		return ret;
	if (fstatat(r->v->dirfd, backing, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -errno;
		ret = veil_mkdir_diriv(r->v->dirfd, backing, 0700, r->lf_iv);
		if (ret < 0)
			return ret;
	} else if (!S_ISDIR(st.st_mode)) {
		return -ENOTDIR;
	}
	r->lf_fd = openat(r->v->dirfd, backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r->lf_fd < 0)
		return -errno;
	ret = veil_diriv_read(r->lf_fd, r->lf_iv);
	if (ret < 0) {
		close(r->lf_fd);
		r->lf_fd = -1;
	}
	return ret;
}

/*
 * Pick a free name in lost+found starting from @base (".1", ".2"... on a
 * clash), writing the plaintext name to @name and backing name to
 * @backing; stores the sidecar of a long name. 0 or -errno.
 */
static int lf_name(struct run *r, const char *base, const char *suffix, char *name, char *backing)
{
	char enc[VEIL_ENCNAME_MAX + 1];
	struct stat st;
	int ret = lf_open(r);

	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < 10000; i++) {
		if (i == 0)
			snprintf(name, VEIL_NAME_MAX + 1, "%.200s%s", base, suffix);
		else
			snprintf(name, VEIL_NAME_MAX + 1, "%.200s%s.%u", base, suffix, i);
		ret = veil_name_to_backing(r->v, r->lf_iv, name, enc, backing);
		if (ret < 0)
			return ret;
		if (fstatat(r->lf_fd, backing, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			continue;
		return ret == 1 ? veil_longname_store(r->lf_fd, backing, enc) : 0;
	}
	return -EEXIST;
}

/* Move cipher object @f->cpath into lost+found; its new name goes to @name. */
static int move_to_lf(struct run *r, struct fix *f, char *name)
{
	char backing[VEIL_ENCNAME_MAX + 1];
	const char *base;
	int pfd, ret;

	ret = lf_name(r, f->lfname, "", name, backing);
	if (ret < 0)
		return ret;
	pfd = open_parent(r->v, f->cpath, &base);
	if (pfd < 0)
		return pfd;
	if (renameat2(pfd, base, r->lf_fd, backing, RENAME_NOREPLACE) < 0) {
		ret = -errno;
		(void)!veil_longname_remove(r->lf_fd, backing);
		close(pfd);
		return ret;
	}
	if (f->is_long)
		(void)!veil_longname_remove(pfd, base);
	ret = veil_fsync_dir(pfd);
	if (ret == 0)
		ret = veil_fsync_dir(r->lf_fd);
	close(pfd);
	return ret;
}

static int pwrite_full(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Read block @idx (cipher length @clen), open it as @was_last, reseal it as @last. */
static int reseal(struct run *r, int fd, const uint8_t *hdr, uint64_t idx, size_t clen,
		  bool was_last, bool last)
{
	uint32_t bs = r->v->cc.bs;
	uint8_t nonce[VEIL_BLOCK_NONCE_BYTES];
	uint64_t off = veil_content_block_offset(idx, bs);
	size_t got;
	int ret = veil_pread_full(fd, r->cbuf, clen, off, &got);

	if (ret < 0)
		return ret;
	if (got != clen ||
	    veil_content_open(r->v->keys->content, hdr, idx, was_last, r->cbuf, clen, r->pbuf) < 0)
		return -EBADMSG;
	veil_nonce(nonce);
	veil_content_seal(r->v->keys->content, hdr, idx, last, nonce, r->pbuf,
			  clen - VEIL_BLOCK_OVERHEAD, r->cbuf);
	veil_wipe(r->pbuf, bs);
	return pwrite_full(fd, r->cbuf, clen, off);
}

/* Seal @len zero bytes as block @idx. */
static int seal_zeros(struct run *r, int fd, const uint8_t *hdr, uint64_t idx, size_t len,
		      bool last)
{
	uint8_t nonce[VEIL_BLOCK_NONCE_BYTES];

	memset(r->pbuf, 0, len);
	veil_nonce(nonce);
	veil_content_seal(r->v->keys->content, hdr, idx, last, nonce, r->pbuf, len, r->cbuf);
	return pwrite_full(fd, r->cbuf, len + VEIL_BLOCK_OVERHEAD,
			   veil_content_block_offset(idx, r->v->cc.bs));
}

static bool is_bad(const struct fix *f, uint64_t idx, enum veil_block_fault *fl)
{
	for (size_t i = 0; i < f->nbad; i++)
		if (f->bad[i].idx == idx) {
			if (fl)
				*fl = f->bad[i].f;
			return true;
		}
	return false;
}

/* Write the list of damaged byte ranges next to a file moved to lost+found. */
static int write_damage_list(struct run *r, const struct fix *f, const char *name,
			     uint64_t psize, char *lname)
{
	char backing[VEIL_ENCNAME_MAX + 1];
	struct veil_fstate st = { 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	uint32_t bs = r->v->cc.bs;
	int fd, ret;

	if (!m)
		return -ENOMEM;
	fprintf(m, "veilfs fsck: %s%s was damaged and moved here as %s.\n",
		f->cipher ? "the cipher file " : "", f->disp, name);
	fprintf(m, "These byte ranges could not be read; they now read as zeros:\n");
	if (f->header_bad) {
		fprintf(m, "0-%llu (the whole file: its header was damaged)\n",
			(unsigned long long)psize);
	} else {
		for (size_t i = 0; i < f->nbad; i++) {
			uint64_t a = f->bad[i].idx * bs, b = a + bs;

			if (f->bad[i].f == VEIL_FAULT_TRUNCATED)
				continue;
			if (b > psize)
				b = psize;
			if (a >= b && !f->size_bad)
				continue;
			fprintf(m, "%llu-%llu (block %llu: %s)\n", (unsigned long long)a,
				(unsigned long long)b, (unsigned long long)f->bad[i].idx,
				veil_block_fault_str(f->bad[i].f));
		}
		if (f->size_bad)
			fprintf(m, "and an unknown number of bytes after %llu (the file was cut)\n",
				(unsigned long long)psize);
	}
	if (fclose(m) != 0) {
		free(text);
		return -ENOMEM;
	}
	ret = lf_name(r, name, ".damaged", lname, backing);
	if (ret < 0)
		goto out;
	fd = openat(r->lf_fd, backing, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	{
		ssize_t w = veil_file_write(&r->v->cc, fd, &st, text, len, 0);

		ret = w < 0 ? (int)w : 0;
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (ret == 0)
		ret = veil_fsync_dir(r->lf_fd);
out:
	free(text);
	return ret;
}

/*
 * Repair the contents of a file. *@move is set when it must go to
 * lost+found (its damaged blocks now read as zeros).
 */
static int fix_file(struct run *r, struct fix *f, bool *move, uint64_t *psize_out,
		    uint64_t *lost, char *msg, size_t msgsz)
{
	uint32_t bs = r->v->cc.bs;
	uint64_t cbs = (uint64_t)bs + VEIL_BLOCK_OVERHEAD;
	uint8_t hdr[VEIL_FILE_HEADER_BYTES];
	const char *base;
	uint64_t csize, n, psize, k = UINT64_MAX;
	struct stat st;
	size_t got;
	int pfd, fd, ret;

	*move = false;
	*lost = 0;
	pfd = open_parent(r->v, f->cpath, &base);
	if (pfd < 0)
		return pfd;
	fd = openat(pfd, base, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(pfd);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out;
	}
	csize = (uint64_t)st.st_size;
	if (f->header_bad) {
		/* Nothing is readable: keep the size, in zeros, and say so. */
		struct veil_fstate fs = { 0 };

		psize = 0;
		if (veil_content_plain_size(csize, bs, &psize) < 0)
			psize = csize > VEIL_FILE_HEADER_BYTES
					? (csize - VEIL_FILE_HEADER_BYTES) / cbs * bs
					: 0;
		ret = ftruncate(fd, 0) < 0 ? -errno : 0;
		if (ret == 0 && psize)
			ret = veil_file_truncate(&r->v->cc, fd, &fs, psize);
		*move = true;
		*psize_out = psize;
		*lost = psize;
		snprintf(msg, msgsz, "file header was damaged: all %llu bytes now read as zeros",
			 (unsigned long long)psize);
		goto sync;
	}
	ret = veil_pread_full(fd, hdr, sizeof(hdr), 0, &got);
	if (ret < 0)
		goto out;
	if (got != sizeof(hdr)) {
		ret = -EIO;
		goto out;
	}
	if (f->header_fixed) {
		/* The check found the blocks authenticate with these bytes restored. */
		ssize_t w;

		hdr[0] = (uint8_t)(VEIL_CONTENT_VERSION & 0xff);
		hdr[1] = (uint8_t)(VEIL_CONTENT_VERSION >> 8);
		memset(hdr + 2, 0, 6);
		w = pwrite(fd, hdr, 8, 0);
		if (w != 8) {
			ret = w < 0 ? -errno : -EIO;
			goto out;
		}
		snprintf(msg, msgsz,
			 "file header's version and reserved bytes restored; no data lost");
		if (!f->nbad && !f->nsealed && !f->size_bad) {
			ret = 0;
			goto sync;
		}
	}
	if (f->size_bad) {
		n = (csize - VEIL_FILE_HEADER_BYTES) / cbs;
		psize = n * bs;
	} else {
		(void)!veil_content_plain_size(csize, bs, &psize);
		n = veil_content_nblocks(psize, bs);
	}
	/* The first damaged block (a block sealed as middle at the end is not damage). */
	for (size_t i = 0; i < f->nbad; i++)
		if (f->bad[i].f != VEIL_FAULT_TRUNCATED && f->bad[i].idx < k)
			k = f->bad[i].idx;
	if (f->size_bad && n < k)
		k = n;
	if (k != UINT64_MAX && k > 0) {
		/* Damage only from block k on: cut the file at its last good block? */
		bool suffix = true;

		for (uint64_t i = k; i < n && suffix; i++) {
			enum veil_block_fault fl;

			suffix = is_bad(f, i, &fl) && fl != VEIL_FAULT_TRUNCATED;
		}
		if (suffix) {
			bool was_last = false;

			for (size_t i = 0; i < f->nsealed; i++)
				was_last |= f->sealed[i] == k - 1;
			ret = reseal(r, fd, hdr, k - 1, (size_t)cbs, was_last, true);
			if (ret == 0 && ftruncate(fd, (off_t)veil_content_block_offset(k, bs)) < 0)
				ret = -errno;
			for (size_t i = 0; ret == 0 && i < f->nsealed; i++)
				if (f->sealed[i] < k - 1)
					ret = reseal(r, fd, hdr, f->sealed[i], (size_t)cbs, true, false);
			*lost = psize > k * bs ? psize - k * bs : 0;
			snprintf(msg, msgsz,
				 "cut at the last good block (block %llu, %llu bytes kept); %llu "
				 "damaged bytes dropped%s",
				 (unsigned long long)(k - 1), (unsigned long long)(k * bs),
				 (unsigned long long)*lost,
				 f->size_bad ? " (and the cut fragment after them)" : "");
			goto sync;
		}
	}
	if (k == UINT64_MAX) {
		/* Nothing lost: reseal the end block as last and middle blocks as middle. */
		ret = 0;
		for (size_t i = 0; ret == 0 && i < f->nbad; i++) {
			uint64_t idx = f->bad[i].idx;
			size_t clen = (size_t)(idx + 1 == n ? csize - veil_content_block_offset(idx, bs)
							    : cbs);

			ret = reseal(r, fd, hdr, idx, clen, false, true);
		}
		for (size_t i = 0; ret == 0 && i < f->nsealed; i++)
			ret = reseal(r, fd, hdr, f->sealed[i], (size_t)cbs, true, false);
		snprintf(msg, msgsz, "%s",
			 f->nbad ? "end block resealed as the end (the file had been cut at a block "
				   "boundary: what followed it is unknown and lost)"
				 : "middle blocks sealed as last resealed as middle blocks; no data "
				   "lost");
		goto sync;
	}
	/* Damage in the middle: readable blocks stay, damaged ones become zeros. */
	if (f->size_bad) {
		if (ftruncate(fd, (off_t)veil_content_block_offset(n, bs)) < 0) {
			ret = -errno;
			goto out;
		}
		csize = veil_content_block_offset(n, bs);
	}
	ret = 0;
	for (uint64_t i = 0; ret == 0 && i < n; i++) {
		enum veil_block_fault fl = VEIL_FAULT_NONE;
		bool end = i + 1 == n;
		size_t clen = (size_t)(end ? csize - veil_content_block_offset(i, bs) : cbs);
		bool sealed_last = false;

		for (size_t j = 0; j < f->nsealed; j++)
			sealed_last |= f->sealed[j] == i;
		if (is_bad(f, i, &fl)) {
			if (fl == VEIL_FAULT_TRUNCATED)
				ret = reseal(r, fd, hdr, i, clen, false, true);
			else if (clen > VEIL_BLOCK_OVERHEAD)
				ret = seal_zeros(r, fd, hdr, i, clen - VEIL_BLOCK_OVERHEAD, end);
			else
				ret = -EIO;
			if (fl != VEIL_FAULT_TRUNCATED)
				*lost += clen - VEIL_BLOCK_OVERHEAD;
		} else if (sealed_last && !end) {
			ret = reseal(r, fd, hdr, i, clen, true, false);
		} else if (end && f->size_bad) {
			/* The old end was cut off: this block becomes the end. */
			ret = reseal(r, fd, hdr, i, clen, sealed_last, true);
		}
	}
	*move = true;
	*psize_out = psize;
	snprintf(msg, msgsz, "%llu damaged bytes now read as zeros", (unsigned long long)*lost);
sync:
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
out:
	close(fd);
	return ret;
}

/*
 * A leftover of an interrupted write: the rule of veilfs/temp.h, without
 * the staleness condition, since a repair holds the volume to itself.
 */
static int remove_temp(struct run *r, struct fix *f)
{
	const char *base;
	int pfd = open_parent(r->v, f->cpath, &base), ret;

	if (pfd < 0)
		return pfd;
	ret = veil_temp_remove(pfd, base, 0);
	if (ret == 0)
		ret = veil_fsync_dir(pfd);
	close(pfd);
	return ret;
}

static int new_diriv(struct run *r, struct fix *f)
{
	uint8_t iv[VEIL_DIRIV_BYTES];
	int dfd, ret;

	if (f->cpath[0]) {
		const char *base;
		int pfd = open_parent(r->v, f->cpath, &base);

		if (pfd < 0)
			return pfd;
		dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(pfd);
	} else {
		dfd = dup(r->v->dirfd);
	}
	if (dfd < 0)
		return -errno;
	/* The damaged file held no usable IV; a new one replaces it. */
	if (unlinkat(dfd, VEIL_DIRIV_NAME, 0) < 0 && errno != ENOENT) {
		ret = -errno;
	} else {
		veil_random(iv, sizeof(iv));
		ret = veil_diriv_write(dfd, iv);
	}
	close(dfd);
	return ret;
}

static int cmp_order(const void *a, const void *b)
{
	const struct fix *x = a, *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_depth(const void *a, const void *b)
{
	const struct fix *x = *(struct fix *const *)a, *y = *(struct fix *const *)b;

	return x->depth < y->depth ? 1 : x->depth > y->depth ? -1 : 0;
}

static void done(struct run *r, struct fix *f, int ret, uint64_t lost, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void done(struct run *r, struct fix *f, int ret, uint64_t lost, const char *fmt, ...)
{
	char what[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ret == 0) {
		r->s->corrected += f->nprobs;
		emit(r, VEIL_FSCK_EV_ACTION, f->kind, f->disp, f->cipher, -1, lost, "%s", what);
	} else {
		r->s->uncorrected += f->nprobs;
		emit(r, VEIL_FSCK_EV_FAILED, f->kind, f->disp, f->cipher, -1, 0, "%s failed: %s",
		     what, strerror(-ret));
	}
}

static int repair(struct run *r)
{
	struct fix **moves = NULL;
	size_t nmoves = 0;
	char name[VEIL_NAME_MAX + 1], lname[VEIL_NAME_MAX + 1];

	moves = calloc(r->nfix + 1, sizeof(*moves));
	if (!moves)
		return -ENOMEM;
	/* New dir IVs first (lost+found needs the root's). */
	for (size_t i = 0; i < r->nfix; i++) {
		struct fix *f = &r->fixes[i];

		if (f->type == FIX_DIRIV)
			done(r, f, new_diriv(r, f), 0,
			     "new dir IV written (its entries go to lost+found/ under placeholder "
			     "names)");
	}
	for (size_t i = 0; i < r->nfix; i++) {
		struct fix *f = &r->fixes[i];
		char msg[400];
		uint64_t lost = 0, psize = 0;
		bool move = false;
		const char *base;
		int ret, pfd;

		switch (f->type) {
		case FIX_FILE:
			ret = fix_file(r, f, &move, &psize, &lost, msg, sizeof(msg));
			if (ret < 0 || !move) {
				done(r, f, ret, lost, "%s", msg);
				break;
			}
			ret = move_to_lf(r, f, name);
			if (ret == 0) {
				f->moved = true;
				f->newname = strdup(name);
				ret = write_damage_list(r, f, name, psize, lname);
			}
			done(r, f, ret, lost,
			     "%s; moved to " LOST_FOUND "/%s, damaged ranges listed in " LOST_FOUND
			     "/%s",
			     msg, ret == 0 ? name : "?", ret == 0 ? lname : "?");
			break;
		case FIX_XATTR:
			pfd = open_parent(r->v, f->cpath, &base);
			ret = pfd;
			if (pfd >= 0) {
				char proc[64];
				int ofd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);

				snprintf(proc, sizeof(proc), "/proc/self/fd/%d", ofd);
				ret = ofd < 0 ? -errno : removexattr(proc, f->aux) < 0 ? -errno : 0;
				if (ofd >= 0)
					close(ofd);
				close(pfd);
			}
			done(r, f, ret, 0, "removed the xattr that does not decrypt (%s)", f->aux);
			break;
		case FIX_UNLINK:
			pfd = open_parent(r->v, f->cpath, &base);
			ret = pfd;
			if (pfd >= 0) {
				ret = unlinkat(pfd, base, 0) < 0 && errno != ENOENT ? -errno : 0;
				if (ret == 0)
					ret = veil_fsync_dir(pfd);
				close(pfd);
			}
			done(r, f, ret, 0, "removed the orphan sidecar");
			break;
		case FIX_TEMP:
			ret = remove_temp(r, f);
			done(r, f, ret, 0, "%s",
			     ret == -ENOTEMPTY ? "left in place: it holds more than leftovers"
					       : "removed");
			break;
		case FIX_BLOB:
			ret = lf_name(r, f->lfname, "", name, lname);
			if (ret == 0 && symlinkat(f->aux, r->lf_fd, lname) < 0)
				ret = -errno;
			if (ret == 0)
				ret = veil_fsync_dir(r->lf_fd);
			done(r, f, ret, 0, "kept as the symlink " LOST_FOUND "/%s",
			     ret == 0 ? name : "?");
			break;
		case FIX_MOVE:
			moves[nmoves++] = f;
			break;
		default:
			break;
		}
	}
	/* Deepest first, so the paths of what is still to move stay valid. */
	qsort(moves, nmoves, sizeof(*moves), cmp_depth);
	for (size_t i = 0; i < nmoves; i++) {
		const struct fix *done_by = NULL;
		int ret;

		/* A damaged file whose name is lost too went to lost+found above. */
		for (size_t j = 0; j < r->nfix && !done_by; j++)
			if (r->fixes[j].type == FIX_FILE && r->fixes[j].moved &&
			    !strcmp(r->fixes[j].cpath, moves[i]->cpath))
				done_by = &r->fixes[j];
		if (done_by) {
			done(r, moves[i], 0, 0, "moved to " LOST_FOUND "/%s with its contents (above)",
			     done_by->newname ? done_by->newname : "?");
			continue;
		}
		ret = move_to_lf(r, moves[i], name);

		done(r, moves[i], ret, 0, "moved to " LOST_FOUND "/%s%s", ret == 0 ? name : "?",
		     moves[i]->kind == VEIL_FSCK_NAME || moves[i]->kind == VEIL_FSCK_NAME_NOIV ||
				     moves[i]->kind == VEIL_FSCK_NO_SIDECAR
			     ? " (placeholder name: the real one is lost)"
			     : "");
	}
	free(moves);
	return 0;
}

/* ------------------------------------------------------------ the run */

/* Resolve plaintext @path to its directory fd, dir IV and cipher path. */
static int resolve(const struct veil_volume *v, const char *path, int *pfd, uint8_t *iv,
		   char **cpath, char *backing)
{
	char enc[VEIL_ENCNAME_MAX + 1];
	char *copy = strdup(path), *save = NULL, *comp, *next, *cp = strdup("");
	int cur = dup(v->dirfd), ret;

	backing[0] = '\0';
	if (!copy || !cp || cur < 0) {
		ret = -ENOMEM;
		goto out;
	}
	ret = veil_diriv_read(cur, iv);
	comp = strtok_r(copy, "/", &save);
	while (ret == 0 && comp) {
		char *g;
		int nfd;

		next = strtok_r(NULL, "/", &save);
		ret = veil_name_to_backing(v, iv, comp, enc, backing);
		if (ret < 0)
			break;
		ret = 0;
		if (!next)
			break;
		nfd = openat(cur, backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			ret = -errno;
			break;
		}
		close(cur);
		cur = nfd;
		if (asprintf(&g, "%s%s%s", cp, cp[0] ? "/" : "", backing) < 0) {
			ret = -ENOMEM;
			break;
		}
		free(cp);
		cp = g;
		backing[0] = '\0';
		ret = veil_diriv_read(cur, iv);
		comp = next;
	}
out:
	free(copy);
	if (ret < 0) {
		if (cur >= 0)
			close(cur);
		free(cp);
		return ret;
	}
	*pfd = cur;
	*cpath = cp;
	return 0;
}

int veil_fsck_run(const struct veil_volume *v, const struct veil_fsck_opts *o,
		  struct veil_fsck_stats *s)
{
	struct run r = { .v = v, .o = o, .s = s, .lf_fd = -1 };
	const char *path = o->path ? o->path : "";
	char backing[VEIL_ENCNAME_MAX + 1];
	uint8_t iv[VEIL_DIRIV_BYTES];
	char *cpath = NULL, *ppath = NULL;
	int pfd = -1, ret;

	while (*path == '/')
		path++;
	memset(s, 0, sizeof(*s));
	clock_gettime(CLOCK_MONOTONIC, &r.t0);
	r.cbuf = malloc((size_t)v->cc.bs + VEIL_BLOCK_OVERHEAD);
	r.pbuf = veil_secure_alloc(v->cc.bs);
	r.q = verifier_new(v, o->quick ? 0 : ncores() - 1);
	if (!r.cbuf || !r.pbuf || !r.q) {
		ret = -ENOMEM;
		goto out;
	}
	r.whole = path[0] == '\0';
	if (r.whole) {
		const uint8_t *riv = iv;

		pfd = dup(v->dirfd);
		cpath = strdup("");
		if (pfd < 0 || !cpath) {
			ret = -ENOMEM;
			goto out;
		}
		ret = veil_diriv_read(pfd, iv);
		if (ret < 0 && !is_damage(ret)) {
			emit(&r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_IO, "/", false, -1, 0,
			     "dir IV of the root cannot be read: %s; nothing was checked",
			     strerror(-ret));
			r.partial = true;
			ret = 0;
			goto walked;
		}
		if (ret < 0) {
			struct fix *f;
			enum veil_fsck_kind k = ret == -ENOENT ? VEIL_FSCK_DIRIV_MISSING
							       : VEIL_FSCK_DIRIV_DAMAGED;

			emit(&r, VEIL_FSCK_EV_PROBLEM, k, "/", false, -1, 0,
			     "dir IV of the root %s: the names of its entries cannot be decrypted",
			     ret == -ENOENT ? "is missing" : "is damaged");
			f = add_fix(&r, FIX_DIRIV, k, NULL);
			if (!f || !(f->cpath = strdup("")) || !(f->disp = strdup("/"))) {
				ret = -ENOMEM;
				goto out;
			}
			riv = NULL;
		}
		if (o->count_first)
			(void)!veil_walk_dir(v, pfd, NULL, "", "", VEIL_WALK_NODECODE, &count_ops,
					     &r, NULL);
		ret = veil_walk_dir(v, pfd, riv, "", "", 0, &fsck_ops, &r, NULL);
walked:;
	} else {
		struct stat st;

		ret = resolve(v, path, &pfd, iv, &cpath, backing);
		if (ret < 0)
			goto out;
		if (fstatat(pfd, backing, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = -errno;
			goto out;
		}
		/* The parent's plaintext path: @path without its last component. */
		ppath = strdup(path);
		if (!ppath) {
			ret = -ENOMEM;
			goto out;
		}
		for (size_t n = strlen(ppath); n > 0 && ppath[n - 1] == '/'; n--)
			ppath[n - 1] = '\0';
		if (strrchr(ppath, '/'))
			*strrchr(ppath, '/') = '\0';
		else
			ppath[0] = '\0';
		if (o->count_first)
			(void)!veil_walk_one(v, pfd, iv, backing, ppath, cpath, VEIL_WALK_NODECODE,
					     &count_ops, &r, NULL);
		ret = veil_walk_one(v, pfd, iv, backing, ppath, cpath, 0, &fsck_ops, &r, NULL);
	}
	if (ret == 0)
		ret = vq_drain(&r);
	if (ret < 0)
		goto out;
	verifier_free(r.q);
	r.q = NULL;
	if (r.nfix > 1)
		qsort(r.fixes, r.nfix, sizeof(*r.fixes), cmp_order);
	/* Link blobs no symlink refers to. */
	for (size_t i = 0; i < r.nblobs && !r.partial; i++) {
		bool used = false;
		struct fix *f;

		for (size_t j = 0; j < r.nref && !used; j++)
			used = strcmp(r.blobs[i], r.refblobs[j]) == 0;
		if (used)
			continue;
		emit(&r, VEIL_FSCK_EV_PROBLEM, VEIL_FSCK_ORPHAN_BLOB, r.blobs[i], true, -1, 0,
		     "symlink target blob that no symlink refers to");
		f = add_fix(&r, FIX_BLOB, VEIL_FSCK_ORPHAN_BLOB, NULL);
		if (!f || !(f->cpath = strdup(r.blobs[i])) || !(f->disp = strdup(r.blobs[i])) ||
		    !(f->aux = strdup(r.blobs[i])) ||
		    asprintf(&f->lfname, "orphan-link-%.16s",
			     r.blobs[i] + sizeof(VEIL_LONGLINK_PREFIX) - 1) < 0) {
			ret = -ENOMEM;
			goto out;
		}
		f->cipher = true;
	}
	if (o->repair) {
		ret = repair(&r);
		if (ret < 0)
			goto out;
	}
	/* Problems no repair was recorded for, or that were not tried. */
	{
		uint64_t covered = 0;

		for (size_t i = 0; i < r.nfix; i++)
			covered += r.fixes[i].nprobs;
		if (o->repair)
			s->uncorrected += s->problems > covered ? s->problems - covered : 0;
		else
			s->uncorrected = s->problems;
	}
	ret = 0;
out:
	/* After a failure: what was found is still reported. */
	flush_deferred(&r, UINT64_MAX);
	free(r.def);
	s->seconds = since(&r.t0);
	for (size_t i = 0; i < r.nfix; i++) {
		free(r.fixes[i].cpath);
		free(r.fixes[i].disp);
		free(r.fixes[i].lfname);
		free(r.fixes[i].bad);
		free(r.fixes[i].sealed);
		free(r.fixes[i].aux);
		free(r.fixes[i].newname);
	}
	free(r.fixes);
	free(r.seen);
	for (size_t i = 0; i < r.nref; i++)
		free(r.refblobs[i]);
	for (size_t i = 0; i < r.nblobs; i++)
		free(r.blobs[i]);
	free(r.refblobs);
	free(r.blobs);
	verifier_free(r.q);
	veil_secure_free(r.pbuf);
	free(r.cbuf);
	free(cpath);
	free(ppath);
	if (pfd >= 0)
		close(pfd);
	if (r.lf_fd >= 0)
		close(r.lf_fd);
	return ret;
}

int veil_fsck_file(const struct veil_volume *v, int fd, const char *path,
		  const struct veil_fsck_opts *o, struct veil_fsck_stats *s)
{
	struct run r = { .v = v, .o = o, .s = s, .lf_fd = -1 };
	struct vfile f = { .fd = -1 };
	int ret = -ENOMEM;

	memset(s, 0, sizeof(*s));
	clock_gettime(CLOCK_MONOTONIC, &r.t0);
	r.cbuf = malloc((size_t)v->cc.bs + VEIL_BLOCK_OVERHEAD);
	r.pbuf = veil_secure_alloc(v->cc.bs);
	r.q = verifier_new(v, 0);
	f.disp = strdup(path);
	if (r.cbuf && r.pbuf && r.q && f.disp) {
		f.fd = dup(fd);
		if (f.fd < 0)
			f.open_err = errno;
		else
			prepare_file(&r, &f);
		ret = vq_push(&r, &f);
		if (ret == 0)
			ret = vq_drain(&r);
		if (ret == 0)
			ret = r.file_err;
	} else {
		free(f.disp);
	}
	flush_deferred(&r, UINT64_MAX);
	free(r.def);
	s->seconds = since(&r.t0);
	verifier_free(r.q);
	veil_secure_free(r.pbuf);
	free(r.cbuf);
	return ret;
}
