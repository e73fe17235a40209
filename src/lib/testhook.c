/* SPDX-License-Identifier: MIT */
/* Test-only pause points (see testhook.h); compiled with -Dtest_hooks=true only. */
#include "testhook.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void veil_test_pause(const char *point)
{
	const char *want = getenv("VEILFS_TEST_PAUSE");
	const char *mark = getenv("VEILFS_TEST_PAUSE_FILE");

	if (!want || strcmp(want, point) != 0)
		return;
	if (mark) {
		int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0)
			close(fd);
	}
	for (;;)
		pause();
}

void veil_test_wait(const char *point)
{
	const char *want = getenv("VEILFS_TEST_WAIT");
	const char *mark = getenv("VEILFS_TEST_PAUSE_FILE");
	const char *go = getenv("VEILFS_TEST_WAIT_GO");

	if (!want || strcmp(want, point) != 0 || !go)
		return;
	if (mark) {
		int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0)
			close(fd);
	}
	while (access(go, F_OK) != 0)
		usleep(10000);
}
