/* SPDX-License-Identifier: MIT */
/*
 * A tiny TAP producer for meson's 'tap' protocol. A failed point and the
 * diag() lines that follow it go to stderr as well, so a failed test never
 * shows an empty stderr in meson's error log.
 */
#ifndef VEILFS_TAP_H
#define VEILFS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed, tap_last_failed;

__attribute__((format(printf, 2, 0))) static inline void tap_vok(int cond, const char *fmt,
									  va_list ap)
{
	va_list ap2;

	tap_n++;
	tap_last_failed = !cond;
	if (!cond)
		tap_failed++;
	va_copy(ap2, ap);
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	if (!cond) {
		fprintf(stderr, "not ok %d - ", tap_n);
		vfprintf(stderr, fmt, ap2);
		fprintf(stderr, "\n");
	}
	va_end(ap2);
}

/* Record one test point; returns @cond so callers can bail out. */
__attribute__((format(printf, 2, 3))) static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vok(cond, fmt, ap);
	va_end(ap);
	return cond;
}

__attribute__((format(printf, 1, 2))) static inline void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (tap_last_failed) {
		fprintf(stderr, "# ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fprintf(stderr, "\n");
	}
}

/* Print the plan and return the process exit status. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	if (tap_failed)
		fprintf(stderr, "%d of %d test points failed\n", tap_failed, tap_n);
	return tap_failed ? 1 : 0;
}

/*
 * Skip the whole test program. meson 1.0 reads a TAP test's "1..0 # SKIP"
 * plan as skipped only when the exit status is 0 (77 counts as an error).
 */
static inline void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

#endif
