/* SPDX-License-Identifier: MIT */
/* One helper thread that takes the upper half of a loop (see par.h). */
#include "par.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_job = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cv_done = PTHREAD_COND_INITIALIZER;
static bool started, busy, has_job, job_done, unusable;
static void (*job_fn)(void *, size_t);
static void *job_ctx;
static size_t job_lo, job_hi;
static pid_t owner_pid;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/*
 * fork() from any thread of the application: hold mu across it, so that
 * the child never inherits it locked by a thread it does not have (the
 * helper, or a reader inside veil_par_for).
 */
static void before_fork(void)
{
	pthread_mutex_lock(&mu);
}

static void parent_after_fork(void)
{
	pthread_mutex_unlock(&mu);
}

/*
 * The child has only the thread that forked: no helper, no job under way
 * (a job of another thread of the parent is that thread's, which the child
 * does not have either). Start afresh; the first large loop in the child
 * starts a helper of its own. The condition variables may hold the
 * parent's waiters: initialise them anew.
 */
static void child_after_fork(void)
{
	pthread_mutex_init(&mu, NULL);
	pthread_cond_init(&cv_job, NULL);
	pthread_cond_init(&cv_done, NULL);
	started = busy = has_job = job_done = unusable = false;
	job_fn = NULL;
	job_ctx = NULL;
	owner_pid = 0;
}

static void install_atfork(void)
{
	if (pthread_atfork(before_fork, parent_after_fork, child_after_fork) != 0)
		unusable = true; /* single-threaded, then: nothing to fork wrongly */
}

static void *helper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (!has_job)
			pthread_cond_wait(&cv_job, &mu);
		has_job = false;
		pthread_mutex_unlock(&mu);
		for (size_t i = job_lo; i < job_hi; i++)
			job_fn(job_ctx, i);
		pthread_mutex_lock(&mu);
		job_done = true;
		pthread_cond_signal(&cv_done);
	}
	return NULL;
}

/* Claim the helper, starting it on first use; false if busy or unavailable. */
static bool claim(void)
{
	bool ok = false;

	pthread_once(&atfork_once, install_atfork);
	pthread_mutex_lock(&mu);
	/* A child forked without the handlers (a raw clone): no helper. */
	if (started && owner_pid != getpid())
		unusable = true;
	if (!started && !unusable) {
		sigset_t all, old;
		pthread_t t;
		pthread_attr_t a;

		/*
		 * The helper inherits the signal mask: with every signal blocked
		 * it never runs a handler of the application's.
		 */
		sigfillset(&all);
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
			unusable = true;
		else {
			if (pthread_create(&t, &a, helper, NULL) != 0)
				unusable = true;
			else {
				started = true;
				owner_pid = getpid();
			}
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
		pthread_attr_destroy(&a);
	}
	if (started && !unusable && !busy) {
		busy = true;
		ok = true;
	}
	pthread_mutex_unlock(&mu);
	return ok;
}

void veil_par_for(size_t n, void (*fn)(void *ctx, size_t i), void *ctx)
{
	size_t half = n / 2;
	int cs;

	if (n < 16 || !claim()) {
		for (size_t i = 0; i < n; i++)
			fn(ctx, i);
		return;
	}
	/*
	 * The helper works on the caller's buffers until the job is done: the
	 * caller must not be cancelled in between (the wait below is a
	 * cancellation point).
	 */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	pthread_mutex_lock(&mu);
	job_fn = fn;
	job_ctx = ctx;
	job_lo = half;
	job_hi = n;
	job_done = false;
	has_job = true;
	pthread_cond_signal(&cv_job);
	pthread_mutex_unlock(&mu);
	for (size_t i = 0; i < half; i++)
		fn(ctx, i);
	pthread_mutex_lock(&mu);
	while (!job_done)
		pthread_cond_wait(&cv_done, &mu);
	busy = false;
	pthread_mutex_unlock(&mu);
	pthread_setcancelstate(cs, NULL);
}
