/* SPDX-License-Identifier: MIT */
/*
 * par.h — split a loop over [0, n) between the calling thread and one
 * helper thread, so one large request can use two cores. If the helper is
 * busy with another request the caller simply does all the work itself.
 */
#ifndef VEILFS_PAR_H
#define VEILFS_PAR_H

#include <stddef.h>

/* Run fn(ctx, i) for every i in [0, n); returns when all are done. */
void veil_par_for(size_t n, void (*fn)(void *ctx, size_t i), void *ctx);

#endif
