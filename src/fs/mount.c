/* SPDX-License-Identifier: MIT */
/*
 * veilfs mount: check everything that can be checked, unlock the volume,
 * mount, and only then detach into the background. The parent's exit code
 * says whether the filesystem is really mounted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cli/cli.h"
#include "fs.h"
#include "fs_reverse.h"
#include "mount_daemon.h"
#include "mountopts.h"
#include "lib/temp.h"

/* Undo the octal escapes of /proc/self/mountinfo in place. */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*d++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

static int is_mounted(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		char mp[PATH_MAX + 1];

		if (sscanf(line, "%*s %*s %*s %*s %4096s", mp) == 1) {
			unescape(mp);
			if (strcmp(mp, path) == 0) {
				found = 1;
				break;
			}
		}
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * The kernel caps FUSE readahead at 128 KiB whatever max_readahead says;
 * a larger window keeps several 1 MiB reads in flight, which lets both
 * cores decrypt. Best effort: the mount works the same without it. The
 * device number comes from mountinfo, since stat() of the mount point
 * would wait for this very daemon.
 */
static void raise_readahead(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char mp[PATH_MAX + 1], dev[32], sys[96];
		FILE *ra;

		if (sscanf(line, "%*s %*s %31s %*s %4096s", dev, mp) != 2)
			continue;
		unescape(mp);
		if (strcmp(mp, path) != 0)
			continue;
		snprintf(sys, sizeof(sys), "/sys/class/bdi/%s/read_ahead_kb", dev);
		ra = fopen(sys, "we");
		if (ra) {
			fputs("4096\n", ra);
			fclose(ra);
		}
	}
	free(line);
	fclose(f);
}

/*
 * Every inode the kernel remembers holds one O_PATH fd in the daemon, so a
 * tree of 100,000 files needs 100,000 fds. Take the system maximum
 * (fs.nr_open) when allowed to raise the hard limit, else the hard limit.
 */
static void raise_nofile(void)
{
	struct rlimit rl;
	unsigned long nr_open = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 0;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (nr_open > rl.rlim_max) {
		struct rlimit want = { nr_open, nr_open };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* Half the fd limit for file fds; directories and open files need the rest. */
static size_t default_fd_cache(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 4096;
	return (size_t)(rl.rlim_cur / 2);
}

static int check_mountpoint(const char *mnt, char *real)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (stat(mnt, &st) < 0) {
		if (errno == ENOTCONN) {
			veil_err("mount: %s: a dead FUSE mount is still there (run fusermount3 -u %s)",
				 mnt, mnt);
			return VEIL_EXIT_MOUNT;
		}
		veil_err("mount: mount point %s: %s", mnt, strerror(errno));
		return VEIL_EXIT_MOUNT;
	}
	if (!S_ISDIR(st.st_mode)) {
		veil_err("mount: mount point %s is not a directory", mnt);
		return VEIL_EXIT_MOUNT;
	}
	if (!realpath(mnt, real)) {
		veil_err("mount: mount point %s: %s", mnt, strerror(errno));
		return VEIL_EXIT_MOUNT;
	}
	if (is_mounted(real)) {
		veil_err("mount: %s is already a mount point", mnt);
		return VEIL_EXIT_MOUNT;
	}
	d = opendir(mnt);
	if (!d) {
		veil_err("mount: mount point %s: %s", mnt, strerror(errno));
		return VEIL_EXIT_MOUNT;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			closedir(d);
			veil_err("mount: mount point %s is not empty", mnt);
			return VEIL_EXIT_MOUNT;
		}
	closedir(d);
	return 0;
}

/*
 * fuse_session_new() reports bad options on stderr itself; catch its text
 * so the user gets one line in veilfs' own words.
 */
static struct fuse_session *new_session(struct fuse_args *args,
					const struct fuse_lowlevel_ops *ops, void *data)
{
	struct fuse_session *se;
	char msg[512] = "";
	FILE *tmp = tmpfile();
	int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
	size_t n = 0;

	/* Every descriptor of ours is close-on-exec: no child may inherit one. */
	if (tmp)
		(void)!fcntl(fileno(tmp), F_SETFD, FD_CLOEXEC);
	fflush(stderr);
	if (tmp && saved >= 0)
		dup2(fileno(tmp), STDERR_FILENO);
	se = fuse_session_new(args, ops, sizeof(*ops), data);
	fflush(stderr);
	if (tmp && saved >= 0) {
		dup2(saved, STDERR_FILENO);
		rewind(tmp);
		n = fread(msg, 1, sizeof(msg) - 1, tmp);
	}
	msg[n] = '\0';
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (!se)
		veil_err("mount: %s", n ? (strncmp(msg, "fuse: ", 6) ? msg : msg + 6)
					: "invalid mount options");
	else if (n)
		fprintf(stderr, "%s\n", msg); /* warnings (-d output comes later) */
	if (saved >= 0)
		close(saved);
	if (tmp)
		fclose(tmp);
	return se;
}

static int add_arg(struct fuse_args *a, const char *s)
{
	if (fuse_opt_add_arg(a, s) != 0) {
		veil_err("mount: out of memory");
		return VEIL_EXIT_ERROR;
	}
	return 0;
}

/* What one mount needs between its steps. */
struct mount {
	const struct veil_args *a;
	const char *cipherdir, *mnt, *config;
	bool ro;
	char real[PATH_MAX];
	char *rconf;
	struct veil_volume *v;
	struct fuse_args args;
	char *fsname, *mount_opts;
	struct veil_fs fs;
	struct veil_rfs rfs;
	bool fs_ready, rfs_ready;
	struct fuse_session *se;
	struct veil_mountopts mo; /* the -o options */
	struct veil_passsrc src;  /* --passfile/--extpass, else passfile=/extpass= */
	size_t fd_cache;          /* --fd-cache, else fd_cache= */
	unsigned idle;            /* --idle, else idle= (seconds; 0: never) */
	struct veil_idle idler;
	char *notify;             /* $NOTIFY_SOCKET, hidden from --extpass */
};

/* Everything that can fail cheaply is checked before the passphrase. */
static int mount_check(struct mount *m)
{
	const struct veil_args *a = m->a;
	int ret, fuse_fd;

	if (a->mount_opts && (ret = veil_mountopts_parse(&m->mo, a->mount_opts)) < 0) {
		if (ret != -EINVAL)
			return VEIL_EXIT_ERROR;
		veil_err("mount: -o %s: give %s", m->mo.bad,
			 strncmp(m->mo.bad, "idle=", 5) == 0 ? "a duration such as 90s, 15m or 1h"
							     : "a number from 16 up");
		return VEIL_EXIT_USAGE;
	}
	/* -o NAME=VALUE (fstab) stands for the long option the command line did not give. */
	m->src = a->src;
	if (!m->src.passfile && !m->src.extpass) {
		m->src.passfile = m->mo.passfile;
		m->src.extpass = m->mo.extpass;
	}
	if (m->src.passfile && m->src.extpass) {
		veil_err("mount: passfile= and extpass= cannot be used together");
		return VEIL_EXIT_USAGE;
	}
	if (!m->config)
		m->config = m->mo.config;
	m->idle = a->idle ? a->idle : m->mo.idle;
	m->fd_cache = a->fd_cache ? a->fd_cache : m->mo.fd_cache;
	if (m->mo.ro)
		m->ro = true; /* -o ro is --ro: the daemon refuses changes too */
	if ((a->nexclude || a->cross_mounts) && !a->reverse) {
		veil_err("mount: %s needs --reverse", a->nexclude ? "--exclude" : "--cross-mounts");
		return VEIL_EXIT_USAGE;
	}
	if (a->reverse) {
		/* The view is read-only; the header lives inside PLAINDIR by default. */
		m->ro = true;
		if (!m->config) {
			if (asprintf(&m->rconf, "%s/%s", m->cipherdir, VEIL_REVERSE_CONF) < 0) {
				m->rconf = NULL;
				return VEIL_EXIT_ERROR;
			}
			m->config = m->rconf;
		}
	}
	ret = check_mountpoint(m->mnt, m->real);
	if (ret != 0)
		return ret;
	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd < 0) {
		veil_err("mount: cannot open /dev/fuse: %s", strerror(errno));
		return VEIL_EXIT_MOUNT;
	}
	close(fuse_fd);
	ret = veil_volume_open(m->cipherdir, m->config, &m->v);
	if (ret < 0)
		return veil_cli_open_error(m->cipherdir, ret);
	veil_volume_close(m->v);
	m->v = NULL;
	return 0;
}

/*
 * Hard links need a backing store that keeps them: one inode under both
 * names. sshfs cannot (SFTP has no inode numbers): it shows each name as an
 * inode of its own with a link count of 1 and caches each name's size on its
 * own, so after a write through one name the other reads a cut-off cipher
 * file (EIO). Such a store is refused unless it refuses links itself
 * (sshfs -o disable_hardlink; veilfs then answers link(2) with EPERM).
 * The probe is a temporary (format.md §13) linked and removed again.
 */
static int probe_hardlinks(int dfd, const char *cipherdir)
{
	char a[VEIL_TEMP_NAME_MAX], b[VEIL_TEMP_NAME_MAX];
	struct stat sa, sb;
	bool broken = false;
	int fd;

	veil_temp_new(a, "probe");
	veil_temp_new(b, "probe");
	fd = openat(dfd, a, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		if (linkat(dfd, a, dfd, b, 0) == 0) {
			broken = fstatat(dfd, a, &sa, AT_SYMLINK_NOFOLLOW) < 0 ||
				 fstatat(dfd, b, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
				 sa.st_dev != sb.st_dev || sa.st_ino != sb.st_ino || sa.st_nlink != 2;
			unlinkat(dfd, b, 0);
		}
		unlinkat(dfd, a, 0);
	} /* else a read-only store: nothing will be linked */
	veil_temp_release(a);
	veil_temp_release(b);
	if (!broken)
		return 0;
	veil_err("mount: %s: its filesystem keeps a hard link as a separate inode (as sshfs "
		 "does); mount it with 'sshfs -o disable_hardlink' or use another store",
		 cipherdir);
	return -1;
}

/*
 * Every mount holds a shared lock on the cipher directory for its
 * lifetime; fsck --repair takes it exclusively, so neither can start
 * while the other runs.
 */
static int mount_lock(struct mount *m)
{
	if (!m->a->reverse && flock(m->v->dirfd, LOCK_SH | LOCK_NB) < 0) {
		veil_err("mount: %s is being repaired by 'veilfs fsck --repair'; mount it when "
			 "that is done",
			 m->cipherdir);
		return VEIL_EXIT_MOUNT;
	}
	return 0;
}

/* The libfuse argument vector: fsname, subtype, the implied options, -o values. */
static int mount_fuse_args(struct mount *m)
{
	const struct veil_args *a = m->a;
	int ret;

	/* The path goes into an option string: escape ',' and '\\' so it cannot add options. */
	if (asprintf(&m->fsname, "fsname=veilfs:%s", m->cipherdir) < 0) {
		m->fsname = NULL;
		return VEIL_EXIT_ERROR;
	}
	if (add_arg(&m->args, "veilfs") || fuse_opt_add_opt_escaped(&m->mount_opts, m->fsname) != 0 ||
	    fuse_opt_add_opt(&m->mount_opts, "subtype=veilfs") != 0)
		return VEIL_EXIT_ERROR;
	/* allow_other without permission checks would let every user read every file. */
	if ((m->mo.allow_other && (ret = add_arg(&m->args, "-odefault_permissions"))) ||
	    (m->ro && (ret = add_arg(&m->args, "-oro"))) ||
	    (a->debug && (ret = add_arg(&m->args, "-d"))))
		return ret;
	if (m->mo.fuse && fuse_opt_add_opt(&m->mount_opts, m->mo.fuse) != 0)
		return VEIL_EXIT_ERROR;
	if (add_arg(&m->args, "-o") || add_arg(&m->args, m->mount_opts))
		return VEIL_EXIT_ERROR;
	return 0;
}

/* Set up the forward or reverse front end on the unlocked volume. */
static int mount_frontend(struct mount *m)
{
	const struct veil_args *a = m->a;
	int ret;

	umask(0); /* modes come from the kernel already masked: apply them exactly */
	raise_nofile();
	if (a->reverse) {
		ret = veil_rfs_init(&m->rfs, m->v);
		m->rfs.exclude = (char **)a->exclude;
		m->rfs.nexclude = a->nexclude;
		m->rfs.cross_mounts = a->cross_mounts;
		m->rfs_ready = true;
	} else {
		ret = veil_fs_init(&m->fs, m->v, m->ro,
				   m->fd_cache ? m->fd_cache : default_fd_cache());
		m->fs.log_names = a->debug;
		m->fs.log_names = a->debug;
		m->fs.noatime = m->mo.atime == VEIL_ATIME_NONE;
		m->fs.nodiratime = m->fs.noatime || m->mo.nodiratime;
		m->fs_ready = true;
	}
	if (ret < 0) {
		veil_err("mount: %s: %s", m->cipherdir, strerror(-ret));
		return VEIL_EXIT_ERROR;
	}
	return 0;
}

/*
 * Whether the cipher dir's file system may accept a write and report its
 * failure (ENOSPC, EDQUOT, EIO) only at close: NFS, SMB/CIFS, FUSE (sshfs,
 * sync clients), overlay and anything not known. Only local file systems
 * known to fail the write itself are on the list; on them veilfs has no
 * FLUSH handler (one round trip less per close).
 */
static bool flush_needed(int dirfd)
{
	static const unsigned long local[] = {
		0xEF53,     /* ext2, ext3, ext4 */
		0x58465342, /* xfs */
		0x9123683E, /* btrfs */
		0x01021994, /* tmpfs */
		0xF2F52010, /* f2fs */
	};
	struct statfs sf;

	if (fstatfs(dirfd, &sf) < 0)
		return true;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if ((unsigned long)sf.f_type == local[i])
			return false;
	return true;
}

/* Mount, detach unless -f, and serve until unmounted. */
static int mount_serve(struct mount *m)
{
	const struct veil_args *a = m->a;
	int ret;

	struct fuse_lowlevel_ops ops = a->reverse ? veil_rfs_ops : veil_fs_ops;

	veil_log_init(true);
	/* fuse_session_new() copies the table. */
	if (!a->reverse && !flush_needed(m->v->dirfd))
		ops.flush = NULL;
	m->se = new_session(&m->args, &ops, a->reverse ? (void *)&m->rfs : (void *)&m->fs);
	if (!m->se)
		return VEIL_EXIT_USAGE;
	if (fuse_set_signal_handlers(m->se) != 0)
		return VEIL_EXIT_ERROR;
	if (fuse_session_mount(m->se, m->real) != 0) {
		veil_err("mount: mounting %s failed", m->mnt);
		ret = VEIL_EXIT_MOUNT;
		goto out_handlers;
	}
	raise_readahead(m->real);
	/* Mounted: now the parent may report success and leave. */
	if (!a->foreground) {
		veil_log_init(false);
		if (fuse_daemonize(0) != 0) {
			ret = VEIL_EXIT_ERROR;
			goto out_unmount;
		}
		/* Locks are not inherited across fork: lock the keys again. */
		veil_keys_relock(m->v->keys);
	} else {
		veil_err("mounted %s at %s", m->cipherdir, m->real);
	}
	if (m->notify) {
		char msg[64];
		int err;

		/* From the process that stays: Type=notify learns its pid too. */
		snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld", (long)getpid());
		err = veil_notify(m->notify, msg);
		if (err < 0)
			veil_log(LOG_WARNING, "cannot notify $NOTIFY_SOCKET: %s", strerror(-err));
	}
	if (m->idle && (ret = veil_idle_start(&m->idler, m->real, m->idle)) < 0) {
		veil_log(LOG_ERR, "cannot start a thread: %s", strerror(-ret));
		ret = VEIL_EXIT_ERROR;
		goto out_unmount;
	}
	/* Threads are started after fuse_daemonize(): a fork keeps only the caller. */
	if (!a->reverse && (ret = veil_inval_start(&m->fs, m->se)) < 0) {
		veil_log(LOG_ERR, "cannot start a thread: %s", strerror(-ret));
		ret = VEIL_EXIT_ERROR;
		goto out_unmount;
	}
	ret = veil_session_loop(m->se, 2, a->reverse ? NULL : &m->fs) == 0 ? VEIL_EXIT_OK
										: VEIL_EXIT_ERROR;
	if (a->debug)
		veil_counters_log(a->reverse ? NULL : &m->fs);
	if (!a->reverse)
		veil_inval_stop(&m->fs); /* answers what it still holds */
out_unmount:
	veil_idle_stop(&m->idler);
	veil_notify(m->notify, "STOPPING=1");
	fuse_session_unmount(m->se);
out_handlers:
	fuse_remove_signal_handlers(m->se);
	return ret;
}

int veil_cmd_mount(const struct veil_command *cmd, struct veil_args *a)
{
	struct mount m;
	int ret;

	(void)cmd;
	/* Before the passphrase, the KDF and the mount: SIGUSR1 must not kill us. */
	if (veil_counters_signal_init() < 0) {
		veil_err("mount: cannot set up SIGUSR1: %s", strerror(errno));
		return VEIL_EXIT_ERROR;
	}
	memset(&m, 0, sizeof(m));
	m.a = a;
	m.args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	m.cipherdir = a->argv[0];
	m.mnt = a->argv[1];
	m.config = a->config;
	m.ro = a->ro;
	/* For the daemon alone: commands run by --extpass must not see it. */
	if (getenv("NOTIFY_SOCKET")) {
		m.notify = strdup(getenv("NOTIFY_SOCKET"));
		unsetenv("NOTIFY_SOCKET");
	}
	ret = mount_check(&m);
	if (ret == 0)
		ret = veil_cli_open(m.cipherdir, m.config, &m.src, &m.v);
	if (ret == 0)
		ret = mount_lock(&m);
	if (ret == 0 && !m.a->reverse && !m.ro && probe_hardlinks(m.v->dirfd, m.cipherdir) < 0)
		ret = VEIL_EXIT_MOUNT;
	if (ret == 0)
		ret = mount_fuse_args(&m);
	if (ret == 0)
		ret = mount_frontend(&m);
	if (ret == 0)
		ret = mount_serve(&m);
	if (m.se)
		fuse_session_destroy(m.se);
	if (m.fs_ready)
		veil_fs_destroy(&m.fs);
	if (m.rfs_ready)
		veil_rfs_destroy(&m.rfs);
	free(m.rconf);
	fuse_opt_free_args(&m.args);
	veil_volume_close(m.v);
	veil_mountopts_free(&m.mo);
	free(m.fsname);
	free(m.mount_opts);
	free(m.notify);
	return ret;
}

/*
 * The filesystem type ("fuse.veilfs") of the topmost mount at @path into
 * @type; -ENOENT when nothing is mounted there.
 */
static int mount_type(const char *path, char *type, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t len = 0;
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &len, f) > 0) {
		char mp[PATH_MAX + 1], fstype[64];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4096s", mp) != 1 ||
		    sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		unescape(mp);
		if (strcmp(mp, path) == 0) {
			snprintf(type, cap, "%s", fstype);
			ret = 0; /* keep looking: a later line is mounted on top */
		}
	}
	free(line);
	fclose(f);
	return ret;
}

/* veilfs info --mounted MOUNTPOINT: the daemon's request counters. */
int veil_info_mounted(const char *mnt)
{
	char real[PATH_MAX + 1], type[64], buf[8192];
	ssize_t n;

	if (!realpath(mnt, real)) {
		veil_err("info: %s: %s", mnt, strerror(errno));
		return VEIL_EXIT_ERROR;
	}
	if (mount_type(real, type, sizeof(type)) < 0) {
		veil_err("info: %s is not mounted", mnt);
		return VEIL_EXIT_MOUNT;
	}
	if (strcmp(type, "fuse.veilfs") != 0) {
		veil_err("info: %s is not a veilfs mount (it is %s)", mnt, type);
		return VEIL_EXIT_USAGE;
	}
	n = getxattr(real, VEIL_COUNTERS_XATTR, buf, sizeof(buf) - 1);
	if (n < 0) {
		if (errno == ENODATA || errno == ENOTSUP)
			veil_err("info: %s: this daemon has no request counters (reverse mode or an "
				 "older veilfs)", mnt);
		else
			veil_err("info: %s: %s", mnt, strerror(errno));
		return VEIL_EXIT_ERROR;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	return fflush(stdout) == 0 ? VEIL_EXIT_OK : VEIL_EXIT_ERROR;
}

int veil_cmd_umount(const struct veil_command *cmd, struct veil_args *a)
{
	const char *mnt = a->argv[0];
	char real[2 * PATH_MAX + 2], type[64];
	bool lazy = a->lazy;

	(void)cmd;
	/* A dead mount cannot be resolved (ENOTCONN): then take the path as given. */
	if (!realpath(mnt, real)) {
		char cwd[PATH_MAX];

		if (mnt[0] == '/')
			snprintf(real, sizeof(real), "%s", mnt);
		else if (getcwd(cwd, sizeof(cwd)))
			snprintf(real, sizeof(real), "%s/%s", cwd, mnt);
		else
			snprintf(real, sizeof(real), "%s", mnt);
	}
	if (mount_type(real, type, sizeof(type)) < 0) {
		veil_err("umount: %s is not mounted", mnt);
		return VEIL_EXIT_MOUNT;
	}
	if (strcmp(type, "fuse.veilfs") != 0) {
		veil_err("umount: %s is not a veilfs mount (it is %s)", mnt, type);
		return VEIL_EXIT_USAGE;
	}
	if (geteuid() == 0) {
		if (umount2(real, (lazy ? MNT_DETACH : 0) | UMOUNT_NOFOLLOW) == 0)
			return VEIL_EXIT_OK;
		if (errno == EBUSY)
			veil_err("umount: %s is busy: a file is open or a process works inside "
				 "('veilfs umount -z' detaches it now, gone once unused)", mnt);
		else
			veil_err("umount: %s: %s", mnt, strerror(errno));
		return VEIL_EXIT_MOUNT;
	} else {
		/* The setuid helper checks that this user mounted it. */
		char *args[] = { "fusermount3", "-u", "--", real, NULL, NULL };
		pid_t pid;
		int status;

		if (lazy) {
			args[2] = "-z";
			args[3] = "--";
			args[4] = real;
		}
		pid = fork();
		if (pid < 0) {
			veil_err("umount: %s", strerror(errno));
			return VEIL_EXIT_ERROR;
		}
		if (pid == 0) {
			execvp(args[0], args);
			_exit(127);
		}
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				return VEIL_EXIT_ERROR;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return VEIL_EXIT_OK;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			veil_err("umount: cannot run fusermount3 (is fuse3 installed?)");
		return VEIL_EXIT_MOUNT;
	}
}
