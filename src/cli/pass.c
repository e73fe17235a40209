/* SPDX-License-Identifier: MIT */
/* Passphrase input: terminal with echo off, stdin, --passfile, --extpass. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lib/duration.h"

#define PASS_MAX 4096

/* How long --extpass may take to print its line and exit, unless told otherwise. */
#define EXTPASS_TIMEOUT 120

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

/* Milliseconds left until @deadline (CLOCK_MONOTONIC), at least 0. */
static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 1000000000 ? 1000000000 : (int)ms;
}

/*
 * Read line number @line (0-based) from @fd into @buf, byte by byte so that
 * nothing past the line is consumed, giving up at @deadline if not NULL.
 * Returns the length, -1 on EOF before the line, -2 if too long, -3 on a
 * read error, -7 at the deadline.
 */
static long read_line_until(int fd, char *buf, size_t cap, int line,
			    const struct timespec *deadline)
{
	size_t n = 0;
	int cur = 0;
	char c;

	for (;;) {
		ssize_t r;

		if (deadline) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int p = poll(&pfd, 1, ms_left(deadline));

			if (p < 0 && errno == EINTR)
				continue;
			if (p == 0)
				return -7;
		}
		r = read(fd, &c, 1);

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

static long read_line(int fd, char *buf, size_t cap, int line)
{
	return read_line_until(fd, buf, cap, line, NULL);
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

/* The bound on --extpass: $VEILFS_EXTPASS_TIMEOUT (a duration) or EXTPASS_TIMEOUT seconds. */
static unsigned extpass_timeout(void)
{
	const char *e = getenv("VEILFS_EXTPASS_TIMEOUT");
	unsigned secs;

	if (e && *e && veil_duration_parse(e, &secs) == 0)
		return secs;
	if (e && *e)
		veil_err("ignoring VEILFS_EXTPASS_TIMEOUT=%s: not a duration such as 30s or 5m", e);
	return EXTPASS_TIMEOUT;
}

static int extpass_status; /* wait status of the last --extpass command, for messages */
static unsigned extpass_secs;

/*
 * Run @cmd with sh -c and read line @line of its output. It must print
 * that line and exit 0 within extpass_timeout(): a command that hangs
 * (waiting for an agent, a prompt no one sees) is killed, -7.
 */
static long run_extpass(const char *cmd, char *buf, size_t cap, int line)
{
	struct timespec deadline;
	int pfd[2];
	pid_t pid;
	long n;
	int status = 0, own_group = !isatty(STDIN_FILENO);

	extpass_secs = extpass_timeout();
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += extpass_secs;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -3;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -3;
	}
	if (pid == 0) {
		/*
		 * Off a terminal the command gets a process group of its own, so
		 * that a timeout stops all it started. On a terminal it stays in
		 * the foreground group: it may have to ask there (pinentry).
		 */
		if (own_group)
			setpgid(0, 0);
		dup2(pfd[1], STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (own_group)
		setpgid(pid, pid); /* also here: the kill below may come first */
	close(pfd[1]);
	n = read_line_until(pfd[0], buf, cap, line, &deadline);
	close(pfd[0]);
	/* It has had its say; it must also finish in time. */
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			break;
		if (r == 0 && ms_left(&deadline) == 0) {
			kill(own_group ? -pid : pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			n = -7;
			break;
		}
		if (r == 0)
			poll(NULL, 0, 10);
	}
	extpass_status = status;
	if (n == -7)
		return n;
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
		struct stat st;
		long n;

		if (fd < 0)
			return -5;
		/*
		 * A secret others can read is no secret, one they can write is not
		 * the owner's. Pipes and devices (<(cmd), /dev/stdin) are the
		 * caller's business.
		 */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) ||
		     (st.st_uid != geteuid() && st.st_uid != 0))) {
			close(fd);
			return -6;
		}
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
	if (n == -6) {
		veil_err("passphrase file %s may be read or written by other users: "
			 "it must be yours (or root's) and not readable or writable by group or "
			 "others (chmod 600 %s)", src->passfile, src->passfile);
		goto fail;
	}
	if (n == -4) {
		if (WIFSIGNALED(extpass_status))
			veil_err("the --extpass command was killed by signal %d",
				 WTERMSIG(extpass_status));
		else
			veil_err("the --extpass command failed (exit status %d)",
				 WEXITSTATUS(extpass_status));
		goto fail;
	}
	if (n == -7) {
		veil_err("the --extpass command did not print a passphrase and exit within %u s: "
			 "stopped (VEILFS_EXTPASS_TIMEOUT sets the limit)", extpass_secs);
		goto fail;
	}
	if (n == -2) {
		veil_err("passphrase from %s is longer than %d bytes", source_name(src),
			 PASS_MAX - 1);
		goto fail;
	}
	if (n == -1 && src->extpass) {
		veil_err("the --extpass command exited without printing a passphrase");
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
