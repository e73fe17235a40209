/* SPDX-License-Identifier: MIT */
/* One helper thread that takes the upper half of a loop (see par.h). */
#include "par.h"

#include <pthread.h>
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

	pthread_mutex_lock(&mu);
	/* A forked child has no helper thread, whatever the flags say. */
	if (started && owner_pid != getpid())
		unusable = true;
	if (!started && !unusable) {
		pthread_t t;
		pthread_attr_t a;

		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || pthread_create(&t, &a, helper, NULL) != 0)
			unusable = true;
		else {
			started = true;
			owner_pid = getpid();
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

	if (n < 16 || !claim()) {
		for (size_t i = 0; i < n; i++)
			fn(ctx, i);
		return;
	}
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
}
