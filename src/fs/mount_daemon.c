/* SPDX-License-Identifier: MIT */
/* Readiness notification and idle unmount of the daemon: see mount_daemon.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "mount_daemon.h"

extern char **environ;

int veil_notify(const char *sock, const char *state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd, ret = 0;

	if (!sock || !*sock)
		return 0;
	len = strlen(sock);
	/* '@' names the abstract namespace, a path must be absolute. */
	if ((sock[0] != '/' && sock[0] != '@') || len >= sizeof(sa.sun_path) || len < 2)
		return -EINVAL;
	memcpy(sa.sun_path, sock, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* An abstract name's length is exact: no terminating NUL belongs to it. */
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (sock[0] == '/'))) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* One plain unmount attempt; 0 when the mount is gone. */
static int try_unmount(const char *mnt)
{
	char *argv[] = { "fusermount3", "-u", "-q", "--", (char *)mnt, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, ret;

	if (geteuid() == 0)
		return umount2(mnt, UMOUNT_NOFOLLOW) == 0 ? 0 : -errno;
	/* Not root: the setuid helper may unmount what this user mounted. */
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	ret = posix_spawnp(&pid, "fusermount3", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret != 0)
		return -ret;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EBUSY;
}

static void *idle_main(void *arg)
{
	struct veil_idle *id = arg;
	unsigned long seen = veil_session_requests();
	struct timespec quiet_since, now;
	struct pollfd pfd = { .fd = id->wake[0], .events = POLLIN };

	clock_gettime(CLOCK_MONOTONIC, &quiet_since);
	/* Look once a second (a relative wait): precise enough for durations in seconds. */
	while (poll(&pfd, 1, 1000) == 0 || (pfd.revents == 0 && errno == EINTR)) {
		unsigned long n = veil_session_requests();

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (n != seen) {
			seen = n;
			quiet_since = now;
			continue;
		}
		if (now.tv_sec - quiet_since.tv_sec < (time_t)id->secs)
			continue;
		if (try_unmount(id->mnt) == 0) {
			veil_log(LOG_INFO, "idle for %us: unmounted", id->secs);
			break; /* the session loop ends on its own */
		}
		/* Busy: an open file or a cwd inside. Wait for another quiet stretch. */
		clock_gettime(CLOCK_MONOTONIC, &quiet_since);
		seen = veil_session_requests();
	}
	return NULL;
}

int veil_idle_start(struct veil_idle *id, const char *mnt, unsigned secs)
{
	sigset_t all, old;
	int ret;

	id->mnt = mnt;
	id->secs = secs;
	if (pipe2(id->wake, O_CLOEXEC) < 0)
		return -errno;
	/* SIGTERM and SIGINT are for the session loop's thread, never this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&id->thread, NULL, idle_main, id);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	id->started = ret == 0;
	if (ret < 0) {
		close(id->wake[0]);
		close(id->wake[1]);
	}
	return ret;
}

void veil_idle_stop(struct veil_idle *id)
{
	if (!id->started)
		return;
	/* Closing the write end wakes the watcher's poll() for good. */
	close(id->wake[1]);
	pthread_join(id->thread, NULL);
	close(id->wake[0]);
	id->started = false;
}
