/* SPDX-License-Identifier: MIT */
/*
 * The session loop. One thread receives every request and handles the
 * quick ones (lookups, attributes, creates, renames...) itself: a request
 * handed to another thread costs a wake-up, and on a serial workload such
 * as untar that doubles the time per request (measured: 8952 files in
 * 2.9-3.6 s with libfuse's multithreaded loop, 1.5-1.7 s on one thread).
 * Requests that carry data or may take long (read, write, fsync,
 * fallocate) go to a pool of workers together with the buffer they
 * arrived in (no copy), so large I/O still runs on every core and a slow
 * read never holds up a stat.
 *
 * A third kind of thread, the invalidator, drops the kernel's cached pages
 * of a range written with direct I/O before that write is answered (see
 * veil_inval_reply_write()).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fs.h"

struct veil_inval {
	struct fuse_session *se;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct veil_inval_job *head, *tail;
	bool stop;
};

/* How long the receiving thread polls for the next request before sleeping. */
#define SPIN_NS 50000L

/* Reads and writes up to this size are served on the receiving thread. */
#define INLINE_IO_MAX (16 * 1024)

/* Requests received so far: the idle watcher (mount_daemon.c) samples it. */
static atomic_ulong requests;

unsigned long veil_session_requests(void)
{
	return atomic_load_explicit(&requests, memory_order_relaxed);
}

/*
 * Request counters: per FUSE opcode, how many requests were handled and
 * the time spent handling them (monotonic ns, from the start of the
 * handler to its return; a write answered later by the invalidator counts
 * until it was handed over). Relaxed atomics: two clock reads and two
 * uncontended adds per request, against a round trip of tens of µs.
 * Opcodes beyond the table are counted in slot 0 ("OTHER").
 */
#define NSLOTS 64
static struct {
	atomic_uint_fast64_t count, ns;
} opstat[NSLOTS];

static const char *const opnames[NSLOTS] = {
	[0] = "OTHER",
	[FUSE_LOOKUP] = "LOOKUP",
	[FUSE_FORGET] = "FORGET",
	[FUSE_GETATTR] = "GETATTR",
	[FUSE_SETATTR] = "SETATTR",
	[FUSE_READLINK] = "READLINK",
	[FUSE_SYMLINK] = "SYMLINK",
	[FUSE_MKNOD] = "MKNOD",
	[FUSE_MKDIR] = "MKDIR",
	[FUSE_UNLINK] = "UNLINK",
	[FUSE_RMDIR] = "RMDIR",
	[FUSE_RENAME] = "RENAME",
	[FUSE_LINK] = "LINK",
	[FUSE_OPEN] = "OPEN",
	[FUSE_READ] = "READ",
	[FUSE_WRITE] = "WRITE",
	[FUSE_STATFS] = "STATFS",
	[FUSE_RELEASE] = "RELEASE",
	[FUSE_FSYNC] = "FSYNC",
	[FUSE_SETXATTR] = "SETXATTR",
	[FUSE_GETXATTR] = "GETXATTR",
	[FUSE_LISTXATTR] = "LISTXATTR",
	[FUSE_REMOVEXATTR] = "REMOVEXATTR",
	[FUSE_FLUSH] = "FLUSH",
	[FUSE_INIT] = "INIT",
	[FUSE_OPENDIR] = "OPENDIR",
	[FUSE_READDIR] = "READDIR",
	[FUSE_RELEASEDIR] = "RELEASEDIR",
	[FUSE_FSYNCDIR] = "FSYNCDIR",
	[FUSE_GETLK] = "GETLK",
	[FUSE_SETLK] = "SETLK",
	[FUSE_SETLKW] = "SETLKW",
	[FUSE_ACCESS] = "ACCESS",
	[FUSE_CREATE] = "CREATE",
	[FUSE_INTERRUPT] = "INTERRUPT",
	[FUSE_BMAP] = "BMAP",
	[FUSE_DESTROY] = "DESTROY",
	[FUSE_IOCTL] = "IOCTL",
	[FUSE_POLL] = "POLL",
	[FUSE_NOTIFY_REPLY] = "NOTIFY_REPLY",
	[FUSE_BATCH_FORGET] = "BATCH_FORGET",
	[FUSE_FALLOCATE] = "FALLOCATE",
	[FUSE_READDIRPLUS] = "READDIRPLUS",
	[FUSE_RENAME2] = "RENAME2",
	[FUSE_LSEEK] = "LSEEK",
	[FUSE_COPY_FILE_RANGE] = "COPY_FILE_RANGE",
	/* Newer than some kernel headers: by number. */
	[48] = "SETUPMAPPING",
	[49] = "REMOVEMAPPING",
	[50] = "SYNCFS",
	[51] = "TMPFILE",
	[52] = "STATX",
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Handle one request, counting it. */
static void process(struct fuse_session *se, struct fuse_buf *buf)
{
	const struct fuse_in_header *h = buf->mem;
	unsigned slot = 0;
	uint64_t t0;

	if (!(buf->flags & FUSE_BUF_IS_FD) && buf->size >= sizeof(*h) && h->opcode < NSLOTS)
		slot = h->opcode;
	t0 = now_ns();
	fuse_session_process_buf(se, buf);
	atomic_fetch_add_explicit(&opstat[slot].count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&opstat[slot].ns, now_ns() - t0, memory_order_relaxed);
}

size_t veil_counters_format(struct veil_fs *fs, char *buf, size_t cap)
{
	size_t len = 0;
	int n;

#define PUT(...)                                                                  \
	do {                                                                      \
		n = snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0, \
			     __VA_ARGS__);                                        \
		if (n > 0)                                                        \
			len += (size_t)n;                                         \
	} while (0)
	PUT("veilfs-counters 1\n");
	if (fs) {
		size_t nodes, fds;

		pthread_mutex_lock(&fs->mutex);
		nodes = fs->count;
		fds = fs->open_fds;
		pthread_mutex_unlock(&fs->mutex);
		PUT("nodes %zu\n", nodes);
		PUT("fds %zu\n", fds);
	}
	for (unsigned i = 0; i < NSLOTS; i++) {
		uint64_t c = atomic_load_explicit(&opstat[i].count, memory_order_relaxed);
		uint64_t ns = atomic_load_explicit(&opstat[i].ns, memory_order_relaxed);
		char name[16];

		if (!c)
			continue;
		if (opnames[i])
			snprintf(name, sizeof(name), "%s", opnames[i]);
		else
			snprintf(name, sizeof(name), "OP%u", i);
		PUT("op %s %llu %llu\n", name, (unsigned long long)c, (unsigned long long)ns);
	}
#undef PUT
	if (cap)
		buf[len < cap ? len : cap - 1] = '\0';
	return len;
}

char *veil_counters_text(struct veil_fs *fs, size_t *lenp)
{
	size_t cap = 4096, len;
	char *buf = NULL;

	/* Counters may gain a line (or digits) between two runs: try again. */
	for (int tries = 0; tries < 8; tries++) {
		char *nb = realloc(buf, cap);

		if (!nb)
			break;
		buf = nb;
		len = veil_counters_format(fs, buf, cap);
		if (len < cap) {
			*lenp = len;
			return buf;
		}
		cap = len + 1024;
	}
	free(buf);
	return NULL;
}

void veil_counters_log(struct veil_fs *fs)
{
	size_t len;
	char *buf = veil_counters_text(fs, &len);
	char *line, *save = NULL;

	if (!buf) {
		veil_log(LOG_ERR, "cannot log the request counters: %s", strerror(ENOMEM));
		return;
	}
	/* Our own text (no names from anyone): one log line per counter line. */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		veil_log_raw(LOG_INFO, line);
	free(buf);
}

static volatile sig_atomic_t dump_wanted;

static void on_usr1(int sig)
{
	(void)sig;
	dump_wanted = 1;
}

/*
 * A handler, not SIG_IGN or a blocked mask: exec resets a caught signal to
 * its default action and leaves the mask alone, so commands run by
 * --extpass and fusermount3 start with the ordinary SIGUSR1. SA_RESTART
 * keeps a request's syscalls from failing with EINTR; poll() is never
 * restarted (signal(7)), so the loop still wakes up to log.
 */
static int usr1_install(struct sigaction *old)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	return sigaction(SIGUSR1, &sa, old);
}

int veil_counters_signal_init(void)
{
	return usr1_install(NULL) == 0 ? 0 : -errno;
}

struct job {
	struct fuse_buf buf;
	struct job *next;
};

struct loop {
	struct fuse_session *se;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail; /* queued requests */
	struct job *free;        /* spare buffers */
	size_t nfree;
	bool stop;
	int nworkers;
	pthread_t *workers;
};

static bool to_worker(const struct fuse_buf *buf)
{
	const struct fuse_in_header *h = buf->mem;

	if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof(*h))
		return false;
	switch (h->opcode) {
	case FUSE_READ: {
		const struct fuse_read_in *in = (const void *)(h + 1);

		/* A small read is cheaper here than a wake-up (4 KiB random reads). */
		return buf->size < sizeof(*h) + sizeof(*in) || in->size > INLINE_IO_MAX;
	}
	case FUSE_WRITE:
		return h->len > sizeof(*h) + sizeof(struct fuse_write_in) + INLINE_IO_MAX;
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
	case FUSE_FALLOCATE:
		return true;
	default:
		return false;
	}
}

static void job_release(struct loop *l, struct job *j)
{
	pthread_mutex_lock(&l->mu);
	if (l->nfree < 8) {
		j->next = l->free;
		l->free = j;
		l->nfree++;
		j = NULL;
	}
	pthread_mutex_unlock(&l->mu);
	if (j) {
		free(j->buf.mem);
		free(j);
	}
}

static struct job *job_get(struct loop *l)
{
	struct job *j;

	pthread_mutex_lock(&l->mu);
	j = l->free;
	if (j) {
		l->free = j->next;
		l->nfree--;
	}
	pthread_mutex_unlock(&l->mu);
	if (!j)
		j = calloc(1, sizeof(*j)); /* buf.mem NULL: libfuse allocates it */
	return j;
}

static void *worker(void *arg)
{
	struct loop *l = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&l->mu);
		while (!l->head && !l->stop)
			pthread_cond_wait(&l->cv, &l->mu);
		j = l->head;
		if (!j) {
			pthread_mutex_unlock(&l->mu);
			return NULL; /* stopping and drained */
		}
		l->head = j->next;
		if (!l->head)
			l->tail = NULL;
		pthread_mutex_unlock(&l->mu);
		process(l->se, &j->buf);
		job_release(l, j);
	}
}

int veil_session_loop(struct fuse_session *se, int nworkers, struct veil_fs *fs)
{
	struct loop l = { .se = se, .nworkers = nworkers };
	struct job *j = NULL;
	int res = 0, started = 0;
	struct timespec spin_start = { 0, 0 };
	bool spinning = false;
	int fl = fcntl(fuse_session_fd(se), F_GETFL);
	sigset_t all, old;
	struct sigaction old_usr1;

	if (fl >= 0)
		fcntl(fuse_session_fd(se), F_SETFL, fl | O_NONBLOCK);
	/* SIGUSR1: log the request counters (also set by veil_cmd_mount()). */
	usr1_install(&old_usr1);

	pthread_mutex_init(&l.mu, NULL);
	pthread_cond_init(&l.cv, NULL);
	l.workers = calloc((size_t)nworkers, sizeof(*l.workers));
	/*
	 * SIGTERM, SIGINT and SIGHUP must wake this thread out of poll() to end
	 * the loop: the workers never take them.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; l.workers && i < nworkers; i++)
		if (pthread_create(&l.workers[i], NULL, worker, &l) == 0)
			started++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	while (!fuse_session_exited(se)) {
		if (dump_wanted) {
			dump_wanted = 0;
			veil_counters_log(fs);
		}
		if (!j)
			j = job_get(&l);
		if (!j) {
			res = -ENOMEM;
			break;
		}
		j->buf.flags = 0;
		res = fuse_session_receive_buf(se, &j->buf);
		if (res == -EINTR)
			continue;
		if (res == -EAGAIN) {
			/*
			 * Nothing yet. A serial client sends its next request within
			 * microseconds: look again for a short while before sleeping.
			 */
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (!spinning) {
				spin_start = now;
				spinning = true;
			}
			if ((now.tv_sec - spin_start.tv_sec) * 1000000000L + now.tv_nsec -
				    spin_start.tv_nsec <
			    SPIN_NS)
				continue;
			{
				struct pollfd pfd = { .fd = fuse_session_fd(se), .events = POLLIN };
				sigset_t wake, during;

				if (fs)
					veil_fs_idle(fs);
				/*
				 * A signal that came after the checks at the top of the
				 * loop (during the spin or veil_fs_idle()) must not be
				 * slept through: block the ones this loop acts on, look
				 * at their flags once more, and let ppoll() unblock them
				 * atomically while it waits.
				 */
				sigemptyset(&wake);
				sigaddset(&wake, SIGUSR1);
				sigaddset(&wake, SIGTERM);
				sigaddset(&wake, SIGINT);
				sigaddset(&wake, SIGHUP);
				pthread_sigmask(SIG_BLOCK, &wake, &during);
				if (!dump_wanted && !fuse_session_exited(se))
					ppoll(&pfd, 1, NULL, &during);
				pthread_sigmask(SIG_SETMASK, &during, NULL);
			}
			spinning = false;
			continue;
		}
		spinning = false;
		if (res <= 0)
			break;
		atomic_fetch_add_explicit(&requests, 1, memory_order_relaxed);
		if (started && to_worker(&j->buf)) {
			pthread_mutex_lock(&l.mu);
			j->next = NULL;
			if (l.tail)
				l.tail->next = j;
			else
				l.head = j;
			l.tail = j;
			pthread_cond_signal(&l.cv);
			pthread_mutex_unlock(&l.mu);
			j = NULL;
		} else {
			process(se, &j->buf);
		}
	}
	pthread_mutex_lock(&l.mu);
	l.stop = true;
	pthread_cond_broadcast(&l.cv);
	pthread_mutex_unlock(&l.mu);
	for (int i = 0; i < started; i++)
		pthread_join(l.workers[i], NULL);
	if (j) {
		free(j->buf.mem);
		free(j);
	}
	while (l.free) {
		struct job *n = l.free->next;

		free(l.free->buf.mem);
		free(l.free);
		l.free = n;
	}
	free(l.workers);
	sigaction(SIGUSR1, &old_usr1, NULL);
	pthread_cond_destroy(&l.cv);
	pthread_mutex_destroy(&l.mu);
	/* Ended by unmount (0, -ENODEV) or by a signal: both are a clean exit. */
	if (res == -ENODEV || fuse_session_exited(se))
		res = 0;
	return res;
}

/*
 * Invalidate, then answer. The notification waits for every page of the
 * range that is locked for a read in flight, and that read is answered by
 * the receiving thread or a worker: done on either of them, it could wait
 * for itself. This thread serves nothing else, so it never does.
 */
static void *invalidator(void *arg)
{
	struct veil_inval *iv = arg;

	for (;;) {
		struct veil_inval_job *j;

		pthread_mutex_lock(&iv->mu);
		while (!iv->head && !iv->stop)
			pthread_cond_wait(&iv->cv, &iv->mu);
		j = iv->head;
		if (!j) {
			pthread_mutex_unlock(&iv->mu);
			return NULL; /* stopping and drained */
		}
		iv->head = j->next;
		if (!iv->head)
			iv->tail = NULL;
		pthread_mutex_unlock(&iv->mu);
		/* -ENOENT: the kernel holds no inode, so no pages either. */
		(void)fuse_lowlevel_notify_inval_inode(iv->se, j->ino, j->off, (off_t)j->len);
		fuse_reply_write(j->req, j->len);
		free(j);
	}
}

int veil_inval_start(struct veil_fs *fs, struct fuse_session *se)
{
	struct veil_inval *iv = calloc(1, sizeof(*iv));
	sigset_t all, old;
	int err;

	if (!iv)
		return -ENOMEM;
	iv->se = se;
	pthread_mutex_init(&iv->mu, NULL);
	pthread_cond_init(&iv->cv, NULL);
	sigfillset(&all); /* signals are the session loop's (see veil_session_loop()) */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&iv->thread, NULL, invalidator, iv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_cond_destroy(&iv->cv);
		pthread_mutex_destroy(&iv->mu);
		free(iv);
		return -err;
	}
	fs->inval = iv;
	return 0;
}

void veil_inval_stop(struct veil_fs *fs)
{
	struct veil_inval *iv = fs->inval;

	if (!iv)
		return;
	pthread_mutex_lock(&iv->mu);
	iv->stop = true;
	pthread_cond_broadcast(&iv->cv);
	pthread_mutex_unlock(&iv->mu);
	pthread_join(iv->thread, NULL);
	pthread_cond_destroy(&iv->cv);
	pthread_mutex_destroy(&iv->mu);
	free(iv);
	fs->inval = NULL;
}

void veil_inval_reply_write(struct veil_fs *fs, struct veil_inval_job *j, fuse_req_t req,
			    fuse_ino_t ino, off_t off, size_t len)
{
	struct veil_inval *iv = fs->inval;

	if (!iv || len == 0) {
		/* Nothing written, or not mounted by mount.c (no kernel cache to drop). */
		free(j);
		fuse_reply_write(req, len);
		return;
	}
	*j = (struct veil_inval_job){ .req = req, .ino = ino, .off = off, .len = len };
	pthread_mutex_lock(&iv->mu);
	if (iv->tail)
		iv->tail->next = j;
	else
		iv->head = j;
	iv->tail = j;
	pthread_cond_signal(&iv->cv);
	pthread_mutex_unlock(&iv->mu);
}

void veil_inval_attr(struct veil_fs *fs, fuse_ino_t ino)
{
	/* Attributes only (negative offset): no page lock, safe on any thread. */
	if (fs->inval)
		(void)fuse_lowlevel_notify_inval_inode(fs->inval->se, ino, -1, 0);
}
