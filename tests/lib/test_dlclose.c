/* SPDX-License-Identifier: MIT */
/*
 * libveilfs in a program that loads it with dlopen() (a plugin, a language
 * binding) and unloads it with dlclose() while a thread that read a file
 * through it still runs: the thread's exit must not call into unmapped
 * code (the library keeps per-thread read buffers with a destructor).
 * argv[1]: libveilfs.so, argv[2]: the committed example volume.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include <veilfs/veilfs.h>

#include "../tap.h"

#define PASS "veilfs-fixture-v1"

typedef int open_fn(const char *, const char *, const char *, size_t, struct veilfs_volume **);
typedef int close_fn(struct veilfs_volume *);
typedef int fopen_fn(struct veilfs_volume *, const char *, struct veilfs_file **);
typedef ssize_t pread_fn(struct veilfs_file *, void *, size_t, uint64_t);
typedef void fclose_fn(struct veilfs_file *);

static struct {
	fopen_fn *fopen;
	pread_fn *pread;
	fclose_fn *fclose;
	struct veilfs_volume *vol;
	ssize_t got;
	int stage; /* 1: the thread has read; 2: the library is unloaded */
	pthread_mutex_t mu;
	pthread_cond_t cv;
} g = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* dlsym's object pointer as a function pointer (ISO C has no cast between them). */
#define SYM(h, name, fnp)                                  \
	do {                                               \
		void *p_ = dlsym((h), (name));             \
		_Static_assert(sizeof(p_) == sizeof(*(fnp)), "");  \
		memcpy((fnp), &p_, sizeof(p_));            \
	} while (0)

static void set_stage(int s)
{
	pthread_mutex_lock(&g.mu);
	g.stage = s;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

static void wait_stage(int s)
{
	pthread_mutex_lock(&g.mu);
	while (g.stage < s)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
}

static void *reader(void *arg)
{
	struct veilfs_file *f = NULL;
	char buf[4096];

	(void)arg;
	g.got = -1;
	if (g.fopen(g.vol, "hundred-k.bin", &f) == 0) {
		g.got = g.pread(f, buf, sizeof(buf), 0);
		g.fclose(f);
	}
	set_stage(1);
	wait_stage(2);
	return NULL; /* the thread's exit runs the destructors of its keys */
}

int main(int argc, char **argv)
{
	void *h;
	open_fn *vopen;
	close_fn *vclose;
	pthread_t t;
	int e;

	if (argc != 3) {
		fprintf(stderr, "usage: test_dlclose LIBVEILFS.so FIXTURE-DIR\n");
		return 2;
	}
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!ok(h != NULL, "dlopen %s", argv[1])) {
		diag("%s", dlerror());
		return tap_done();
	}
	SYM(h, "veilfs_open", &vopen);
	SYM(h, "veilfs_close", &vclose);
	SYM(h, "veilfs_file_open", &g.fopen);
	SYM(h, "veilfs_file_pread", &g.pread);
	SYM(h, "veilfs_file_close", &g.fclose);
	if (!ok(vopen && vclose && g.fopen && g.pread && g.fclose, "dlsym finds the API"))
		return tap_done();
	e = vopen(argv[2], NULL, PASS, strlen(PASS), &g.vol);
	if (!ok(e == 0, "veilfs_open on the fixture (%d)", e))
		return tap_done();
	e = pthread_create(&t, NULL, reader, NULL);
	if (!ok(e == 0, "a reading thread starts"))
		return tap_done();
	wait_stage(1);
	ok(g.got == 4096, "the thread read 4096 bytes (%zd)", g.got);
	e = vclose(g.vol);
	ok(e == 0, "veilfs_close (%d)", e);
	ok(dlclose(h) == 0, "dlclose");
	set_stage(2);
	/* Without the library pinned in memory this thread's exit crashes. */
	ok(pthread_join(t, NULL) == 0, "the thread exits and is joined after dlclose");
	return tap_done();
}
