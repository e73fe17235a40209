/* SPDX-License-Identifier: MIT */
/* Handling what an attacker may have put in a directory: veilfs/safe.h. */
#include "safe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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
	if (st)
		*st = sb;
	if (!S_ISREG(sb.st_mode)) {
		ret = S_ISDIR(sb.st_mode) ? -EISDIR : S_ISLNK(sb.st_mode) ? -ELOOP : -EBADMSG;
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
	ret = fd;
out:
	close(pfd);
	return ret;
}

/* Length of the printable character at @p (1-4 bytes), or 0. */
static size_t printable_len(const unsigned char *p)
{
	uint32_t cp;
	size_t n;

	if (p[0] < 0x80)
		return p[0] >= 0x20 && p[0] < 0x7f;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07u;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0; /* overlong or out of range */
	if (cp < 0xa0 || (cp >= 0xd800 && cp <= 0xdfff))
		return 0; /* C1 controls, surrogates */
	if (cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069))
		return 0; /* line separators and bidirectional controls */
	return n;
}

char *veil_escape(char *out, size_t outsz, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0, fit = 0;

	if (outsz == 0)
		return out;
	while (*p) {
		char piece[8];
		size_t k = printable_len(p), plen;

		if (k > 0 && *p != '\\') {
			memcpy(piece, p, k);
			plen = k;
		} else if (*p == '\\') {
			memcpy(piece, "\\\\", 2);
			plen = 2;
			k = 1;
		} else {
			piece[0] = '\\';
			piece[1] = 'x';
			piece[2] = hex[*p >> 4];
			piece[3] = hex[*p & 15];
			plen = 4;
			k = 1;
		}
		if (o + plen + 1 > outsz) {
			/* Cut after the last whole piece that leaves room for "...". */
			o = fit;
			if (o + 4 <= outsz) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, piece, plen);
		o += plen;
		p += k;
		if (o + 4 <= outsz)
			fit = o;
	}
	out[o] = '\0';
	return out;
}

bool veil_printable(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t k = printable_len(p);

		if (k == 0)
			return false;
		p += k;
	}
	return true;
}
