/* SPDX-License-Identifier: MIT */
/* Durations on the command line: see duration.h. */
#include <errno.h>

#include "duration.h"

int veil_duration_parse(const char *s, unsigned *secs)
{
	unsigned long n = 0, unit = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned long)(*p - '0');
		if (n > 31UL * 86400)
			return -EINVAL;
	}
	if (*p == 's')
		p++;
	else if (*p == 'm')
		unit = 60, p++;
	else if (*p == 'h')
		unit = 3600, p++;
	if (*p || n == 0 || n * unit > 31UL * 86400)
		return -EINVAL;
	*secs = (unsigned)(n * unit);
	return 0;
}
