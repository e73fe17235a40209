/* SPDX-License-Identifier: MIT */
/*
 * mount_daemon.h — what the mounted daemon does for the system around it:
 * tell a service manager it is ready (the sd_notify datagram), and unmount
 * itself after a stretch of idleness (--idle, -o idle=).
 */
#ifndef VEILFS_MOUNT_DAEMON_H
#define VEILFS_MOUNT_DAEMON_H

#include <pthread.h>
#include <stdbool.h>

/*
 * Send @state ("READY=1", ...) as one datagram to the AF_UNIX socket
 * @sock names ($NOTIFY_SOCKET: a path, or '@' for the abstract
 * namespace). Nothing to do when @sock is NULL or empty. 0 or -errno.
 */
int veil_notify(const char *sock, const char *state);

/*
 * The idle watcher: a thread that, once no request has reached the daemon
 * for @secs seconds, asks the kernel for a plain (not lazy) unmount of
 * @mnt. The kernel refuses that while any file is open, mapped, or a
 * process has its working or root directory inside: only it knows all of
 * them, so the daemon lets it decide, and tries again after another quiet
 * stretch.
 */
struct veil_idle {
	pthread_t thread;
	int wake[2]; /* closing wake[1] stops the watcher */
	const char *mnt;
	unsigned secs;
	bool started;
};
int veil_idle_start(struct veil_idle *id, const char *mnt, unsigned secs);
void veil_idle_stop(struct veil_idle *id);

#endif
