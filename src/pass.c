/* SPDX-License-Identifier: MIT */
/* Passphrase input: terminal with echo off, stdin, --passfile, --extpass. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#define PASS_MAX 4096

void veil_err(const char *fmt, ...)
{
	char msg[4096], esc[4 * sizeof(msg)];
	va_list ap;

	/* Names in messages may come from an attacker: the whole line is escaped. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "veilfs: %s\n", veil_escape(esc, sizeof(esc), msg));
}

void veil_pass_free(struct veil_pass *p)
{
	veil_secure_free(p->buf);
	p->buf = NULL;
	p->len = 0;
}

/*
 * Read line number @line (0-based) from @fd into @buf, byte by byte so that
 * nothing past the line is consumed. Returns the length, -1 on EOF before
 * the line, -2 if too long, -3 on a read error.
 */
static long read_line(int fd, char *buf, size_t cap, int line)
{
	size_t n = 0;
	int cur = 0;
	char c;

	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -3;
		}
		if (r == 0) {
			if (cur == line && n > 0)
				break;
			return -1;
		}
		if (c == '\n') {
			if (cur == line)
				break;
			cur++;
			continue;
		}
		if (cur != line)
			continue;
		if (n + 1 >= cap)
			return -2;
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (long)n;
}

static long read_tty(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	long n;

	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return -3;
	quiet = old;
	quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
		return -3;
	n = read_line(STDIN_FILENO, buf, cap, 0);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return n;
}

static long run_extpass(const char *cmd, char *buf, size_t cap, int line)
{
	int pfd[2];
	pid_t pid;
	long n;
	int status;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -3;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -3;
	}
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	n = read_line(pfd[0], buf, cap, line);
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -4;
	return n;
}

static long read_one(const struct veil_passsrc *src, const char *prompt, int line, char *buf,
		     size_t cap)
{
	if (src->extpass)
		return run_extpass(src->extpass, buf, cap, line);
	if (src->passfile) {
		int fd = open(src->passfile, O_RDONLY | O_CLOEXEC);
		long n;

		if (fd < 0)
			return -5;
		n = read_line(fd, buf, cap, line);
		close(fd);
		return n;
	}
	if (isatty(STDIN_FILENO))
		return read_tty(prompt, buf, cap);
	/* stdin is a stream: earlier lines were consumed by earlier calls. */
	return read_line(STDIN_FILENO, buf, cap, 0);
}

static const char *source_name(const struct veil_passsrc *src)
{
	if (src->extpass)
		return "the --extpass command";
	if (src->passfile)
		return src->passfile;
	return isatty(STDIN_FILENO) ? "the terminal" : "standard input";
}

int veil_pass_read(const struct veil_passsrc *src, const char *prompt, int confirm, int line,
		   struct veil_pass *out)
{
	char *again = NULL;
	long n;
	int ret = VEIL_EXIT_USAGE;

	out->buf = veil_secure_alloc(PASS_MAX);
	out->len = 0;
	if (!out->buf) {
		veil_err("cannot allocate secure memory for the passphrase");
		return VEIL_EXIT_ERROR;
	}
	n = read_one(src, prompt, line, out->buf, PASS_MAX);
	if (n == -5) {
		veil_err("cannot read passphrase file %s: %s", src->passfile, strerror(errno));
		goto fail;
	}
	if (n == -4) {
		veil_err("the --extpass command failed");
		goto fail;
	}
	if (n == -2) {
		veil_err("passphrase from %s is longer than %d bytes", source_name(src),
			 PASS_MAX - 1);
		goto fail;
	}
	if (n < 0) {
		veil_err("no passphrase given on %s", source_name(src));
		goto fail;
	}
	if (n == 0) {
		veil_err("empty passphrase refused");
		goto fail;
	}
	out->len = (size_t)n;
	if (confirm && !src->extpass && !src->passfile && isatty(STDIN_FILENO)) {
		again = veil_secure_alloc(PASS_MAX);
		if (!again) {
			ret = VEIL_EXIT_ERROR;
			goto fail;
		}
		n = read_tty("Repeat passphrase: ", again, PASS_MAX);
		if (n != (long)out->len || !veil_equal(again, out->buf, out->len)) {
			veil_err("passphrases do not match");
			goto fail;
		}
		veil_secure_free(again);
	}
	return 0;
fail:
	veil_secure_free(again);
	veil_pass_free(out);
	return ret;
}
