/* SPDX-License-Identifier: MIT */
/* duration.h — durations as users write them (--idle, idle=, VEILFS_EXTPASS_TIMEOUT). */
#ifndef VEILFS_DURATION_H
#define VEILFS_DURATION_H

/*
 * Parse a duration: a whole number with an optional unit s, m or h
 * ("90s", "15m", "1h", "90"), from 1 s to 31 days. 0 or -EINVAL.
 */
int veil_duration_parse(const char *s, unsigned *secs);

#endif
