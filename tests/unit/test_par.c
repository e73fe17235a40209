/* SPDX-License-Identifier: MIT */
/*
 * The helper thread of veil_par_for (src/lib/par.c), which large reads run
 * on inside any application that links libveilfs: every index is run once,
 * the helper runs with every signal blocked, and a fork() from another
 * thread while loops are running never leaves the child stuck: the child's
 * first large loop completes (with a helper of its own when there are two
 * cores).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/par.h"

#include "../tap.h"

#define N 64

struct job {
	atomic_int hits[N];
	pthread_t caller;
	atomic_bool other_thread;     /* some index ran on another thread */
	atomic_bool other_unblocked;  /* ...whose mask let SIGINT/SIGTERM in */
};

static void one(void *ctx, size_t i)
{
	struct job *j = ctx;

	atomic_fetch_add(&j->hits[i], 1);
	if (!pthread_equal(pthread_self(), j->caller)) {
		sigset_t cur;

		atomic_store(&j->other_thread, true);
		if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0 || !sigismember(&cur, SIGINT) ||
		    !sigismember(&cur, SIGTERM) || !sigismember(&cur, SIGUSR1))
			atomic_store(&j->other_unblocked, true);
	}
}

/* One loop of N; true when every index ran exactly once. */
static bool run(struct job *j)
{
	memset(j, 0, sizeof(*j));
	j->caller = pthread_self();
	veil_par_for(N, one, j);
	for (int i = 0; i < N; i++)
		if (atomic_load(&j->hits[i]) != 1)
			return false;
	return true;
}

static atomic_bool stop;

/* Large loops back to back: the lock is taken and released all the time. */
static void *spin(void *arg)
{
	struct job j;

	(void)arg;
	while (!atomic_load(&stop))
		if (!run(&j))
			return (void *)1;
	return NULL;
}

int main(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct job j;
	sigset_t none;
	pthread_t t;
	void *spin_ret = NULL;
	int stuck = 0, bad = 0, forks = 200;
	bool helped = false;

	/* The caller lets every signal in; the helper must not. */
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	ok(run(&j), "a loop of %d runs every index exactly once", N);
	for (int k = 0; k < 50 && !helped; k++)
		helped = run(&j) && atomic_load(&j.other_thread);
	if (ncpu >= 2)
		ok(helped, "with %ld cores the helper thread takes part", ncpu);
	else
		ok(1, "# SKIP one core: no helper thread");
	ok(!atomic_load(&j.other_unblocked), "the helper runs with SIGINT, SIGTERM, SIGUSR1 blocked");

	/*
	 * Fork from this thread while another runs loops. Without the fork
	 * handlers a child can inherit the lock held by a thread it does not
	 * have and hang in its first loop: the alarm turns that into a failure.
	 */
	atomic_store(&stop, false);
	if (pthread_create(&t, NULL, spin, NULL) != 0) {
		ok(0, "start a thread that runs loops");
		return tap_done();
	}
	for (int k = 0; k < forks; k++) {
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			struct job cj;
			bool all = true, other = false;

			alarm(20);
			for (int r = 0; r < 20; r++) {
				all = all && run(&cj);
				other = other || atomic_load(&cj.other_thread);
			}
			/* 0: fine; 1: wrong result; 2: no helper in the child. */
			_exit(!all ? 1 : (ncpu >= 2 && !other) ? 2 : 0);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid) {
			bad++;
			continue;
		}
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
			stuck++;
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	}
	atomic_store(&stop, true);
	pthread_join(t, &spin_ret);
	ok(stuck == 0, "no child of %d forks hangs in its first loops (%d did)", forks, stuck);
	ok(bad == 0, "every child's loops run every index once, with a helper of its own (%d failed)",
	   bad);
	ok(spin_ret == NULL, "the parent's loops stay right across the forks");
	ok(run(&j), "the parent's own loops go on after the forks");
	return tap_done();
}
