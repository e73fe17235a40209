/* SPDX-License-Identifier: MIT */
/* Handling what an attacker may have put in a directory: veilfs/safe.h. */
#include "veilfs/safe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int veil_open_regular(int dfd, const char *name, int flags, struct stat *st)
{
	struct stat sb, rb;
	char proc[64];
	int pfd, fd, ret;

	pfd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &sb) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		ret = S_ISDIR(sb.st_mode) ? -EISDIR : -EBADMSG;
		goto out;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, (flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		/* No /proc: open by name again, non-blocking, and check it is the same file. */
		fd = openat(dfd, name,
			    (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
				    O_NOCTTY);
		if (fd >= 0 && (fstat(fd, &rb) < 0 || rb.st_dev != sb.st_dev ||
				rb.st_ino != sb.st_ino)) {
			close(fd);
			ret = -EAGAIN;
			goto out;
		}
		if (fd >= 0 && !(flags & O_NONBLOCK))
			(void)!fcntl(fd, F_SETFL, flags & ~(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC));
	}
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (st)
		*st = sb;
	ret = fd;
out:
	close(pfd);
	return ret;
}
