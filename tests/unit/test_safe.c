/* SPDX-License-Identifier: MIT */
/*
 * veilfs/safe.h: the one escaping of printed and logged names, and the
 * open of a file that may have been replaced by a FIFO or device node.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/safe.h"

#include "../tap.h"

static void esc(const char *in, size_t outsz, const char *want, const char *what)
{
	char out[256];

	veil_escape(out, outsz, in);
	ok(strcmp(out, want) == 0, "escape %s: '%s'", what, out);
}

int main(void)
{
	char big[1200];
	char out[4 * sizeof(big) + 1];

	esc("report.txt", 256, "report.txt", "plain ASCII kept");
	esc("gr\xc3\xbc\xc3\x9f" "e-\xe6\x97\xa5\xe6\x9c\xac.txt", 256,
	    "gr\xc3\xbc\xc3\x9f" "e-\xe6\x97\xa5\xe6\x9c\xac.txt", "UTF-8 letters kept");
	esc("a\nveilfs: forged", 256, "a\\x0aveilfs: forged", "newline (a forged log line)");
	esc("x\x1b[2Jy", 256, "x\\x1b[2Jy", "ESC (a terminal escape sequence)");
	esc("a\\x0ab", 256, "a\\\\x0ab", "backslash doubled (unambiguous)");
	esc("\t\r\x7f", 256, "\\x09\\x0d\\x7f", "tab, CR, DEL");
	esc("c\xc2\x9b" "2J", 256, "c\\xc2\\x9b2J", "C1 control U+009B (CSI)");
	esc("\xff\xfe", 256, "\\xff\\xfe", "bytes that are never UTF-8");
	esc("\xc0\xaf", 256, "\\xc0\\xaf", "overlong encoding");
	esc("\xed\xa0\x80", 256, "\\xed\\xa0\\x80", "UTF-16 surrogate");
	esc("\xe6\x97", 256, "\\xe6\\x97", "truncated sequence");
	esc("ab\xe2\x80\xae" "exe.txt", 256, "ab\\xe2\\x80\\xae" "exe.txt", "bidi override U+202E");
	esc("a\xe2\x80\xa8" "b", 256, "a\\xe2\\x80\\xa8b", "line separator U+2028");
	esc("abcdefgh", 9, "abcdefgh", "exact fit is not cut");
	esc("abcdefghi", 9, "abcde...", "too long: cut with ...");
	esc("ab\x1b" "cdef", 9, "ab...", "cut never splits an escape");
	esc("a\xe6\x97\xa5\xe6\x9c\xac", 7, "a...", "cut never splits a character");
	memset(big, '\x01', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	veil_escape(out, sizeof(out), big);
	ok(strlen(out) == 4 * (sizeof(big) - 1), "4 * strlen + 1 bytes are never cut");

	ok(veil_printable("report (conflicted copy 2026-01-01)"), "printable: a conflict suffix");
	ok(veil_printable(" (J\xc3\xbcrgen's conflicted copy)"), "printable: UTF-8 letters");
	ok(veil_printable("a\\b"), "printable: a backslash");
	ok(!veil_printable(" (conflicted copy\n)"), "not printable: a newline");
	ok(!veil_printable(" (conflict \x1b[31m)"), "not printable: ESC");
	ok(!veil_printable(" (conflict \xc2\x9b)"), "not printable: a C1 control");
	ok(!veil_printable(" (conflict \xff)"), "not printable: malformed UTF-8");

	{
		char dir[] = "/tmp/veilfs-safe.XXXXXX";
		int dfd, fd;
		struct stat st;

		if (!mkdtemp(dir) || (dfd = open(dir, O_PATH | O_DIRECTORY)) < 0) {
			ok(0, "temporary directory");
			return tap_done();
		}
		close(openat(dfd, "file", O_CREAT | O_WRONLY, 0600));
		mkfifoat(dfd, "fifo", 0600);
		mkdirat(dfd, "dir", 0700);
		symlinkat("file", dfd, "link");
		fd = veil_open_regular(dfd, "file", O_RDONLY, &st);
		ok(fd >= 0 && S_ISREG(st.st_mode) && (fcntl(fd, F_GETFD) & FD_CLOEXEC),
		   "open_regular: a file opens, close-on-exec");
		if (fd >= 0)
			close(fd);
		/* A FIFO opened for reading would block: it is never opened. */
		ok(veil_open_regular(dfd, "fifo", O_RDONLY, NULL) == -EBADMSG,
		   "open_regular: a FIFO is refused without blocking");
		ok(veil_open_regular(dfd, "dir", O_RDONLY, NULL) == -EISDIR,
		   "open_regular: a directory is -EISDIR");
		ok(veil_open_regular(dfd, "link", O_RDONLY, NULL) == -ELOOP,
		   "open_regular: a symlink is not followed");
		ok(veil_open_regular(dfd, "none", O_RDONLY, NULL) == -ENOENT,
		   "open_regular: a missing name is -ENOENT");
		unlinkat(dfd, "file", 0);
		unlinkat(dfd, "fifo", 0);
		unlinkat(dfd, "link", 0);
		unlinkat(dfd, "dir", AT_REMOVEDIR);
		close(dfd);
		rmdir(dir);
	}
	return tap_done();
}
