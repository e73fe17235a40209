/* SPDX-License-Identifier: MIT */
/*
 * veilfs mount: check everything that can be checked, unlock the volume,
 * mount, and only then detach into the background. The parent's exit code
 * says whether the filesystem is really mounted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fs.h"
#include "fs_reverse.h"
#include "mountopts.h"

enum {
	OPT_PASSFILE = 1000,
	OPT_EXTPASS,
	OPT_CONFIG,
	OPT_RO,
	OPT_HELP,
	OPT_REVERSE,
	OPT_EXCLUDE,
	OPT_FD_CACHE,
	OPT_CROSS_MOUNTS,
};

static const char *mount_use =
	"mount [--reverse [--exclude PATTERN]... [--cross-mounts]] [-f] [-d] [--ro] [-o OPT[,OPT...]] "
	"[--fd-cache N] [--passfile FILE | --extpass CMD] [--config FILE] DIR MOUNTPOINT";

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

int veil_cmd_mount(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "passfile", required_argument, NULL, OPT_PASSFILE },
		{ "extpass", required_argument, NULL, OPT_EXTPASS },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "ro", no_argument, NULL, OPT_RO },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "reverse", no_argument, NULL, OPT_REVERSE },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "cross-mounts", no_argument, NULL, OPT_CROSS_MOUNTS },
		{ "fd-cache", required_argument, NULL, OPT_FD_CACHE },
		{ NULL, 0, NULL, 0 },
	};
	struct veil_passsrc src = { 0 };
	const char *config = NULL, *cipherdir, *mnt;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct veil_volume *v = NULL;
	struct veil_fs fs;
	struct veil_rfs rfs;
	char real[PATH_MAX], *fsname = NULL, *rconf = NULL, *mount_opts = NULL;
	int foreground = 0, debug = 0, ro = 0, o, ret, fuse_fd, fs_ready = 0, rfs_ready = 0;
	int reverse = 0, cross_mounts = 0;
	struct veil_mountopts mo = { 0 };
	char **exclude = NULL;
	int nexclude = 0;
	size_t fd_cache = 0;

	optind = 1;
	opterr = 0;
	memset(&fs, 0, sizeof(fs));
	memset(&rfs, 0, sizeof(rfs));
	for (;;) {
		int before = optind;

		o = getopt_long(argc, argv, "+fdo:", opts, NULL);
		if (o == -1)
			break;
		switch (o) {
		case 'f':
			foreground = 1;
			break;
		case 'd':
			debug = foreground = 1;
			break;
		case 'o':
			if (veil_mountopts_parse(&mo, optarg) < 0) {
				ret = VEIL_EXIT_ERROR;
				goto out;
			}
			break;
		case OPT_PASSFILE:
			src.passfile = optarg;
			break;
		case OPT_EXTPASS:
			src.extpass = optarg;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_RO:
			ro = 1;
			break;
		case OPT_REVERSE:
			reverse = 1;
			break;
		case OPT_CROSS_MOUNTS:
			cross_mounts = 1;
			break;
		case OPT_FD_CACHE: {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);

			if (*optarg == '\0' || *end || n < 16 || n > 100000000) {
				veil_err("mount: --fd-cache takes a number from 16 up");
				ret = VEIL_EXIT_USAGE;
				goto out;
			}
			fd_cache = n;
			break;
		}
		case OPT_EXCLUDE: {
			char **g = realloc(exclude, (size_t)(nexclude + 1) * sizeof(*g));

			if (!g) {
				ret = VEIL_EXIT_ERROR;
				goto out;
			}
			exclude = g;
			exclude[nexclude++] = optarg;
			break;
		}
		case OPT_HELP:
			printf("usage: veilfs %s\n", mount_use);
			ret = VEIL_EXIT_OK;
			goto out;
		default:
			veil_err("mount: unknown or incomplete option '%s' (usage: veilfs %s)",
				 argv[before], mount_use);
			ret = VEIL_EXIT_USAGE;
			goto out;
		}
	}
	if (argc - optind != 2) {
		veil_err("mount: wrong number of arguments (usage: veilfs %s)", mount_use);
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	if (src.passfile && src.extpass) {
		veil_err("mount: --passfile and --extpass cannot be used together");
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	cipherdir = argv[optind];
	mnt = argv[optind + 1];
	if (mo.ro)
		ro = 1; /* -o ro is --ro: the daemon refuses changes too */
	if ((nexclude || cross_mounts) && !reverse) {
		veil_err("mount: %s needs --reverse", nexclude ? "--exclude" : "--cross-mounts");
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	if (reverse) {
		/* The view is read-only; the header lives inside PLAINDIR by default. */
		ro = 1;
		if (!config) {
			if (asprintf(&rconf, "%s/%s", cipherdir, VEIL_REVERSE_CONF) < 0) {
				ret = VEIL_EXIT_ERROR;
				goto out;
			}
			config = rconf;
		}
	}

	/* Everything that can fail cheaply is checked before the passphrase. */
	ret = check_mountpoint(mnt, real);
	if (ret != 0)
		goto out;
	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd < 0) {
		veil_err("mount: cannot open /dev/fuse: %s", strerror(errno));
		ret = VEIL_EXIT_MOUNT;
		goto out;
	}
	close(fuse_fd);
	ret = veil_volume_open(cipherdir, config, &v);
	if (ret < 0) {
		ret = veil_cli_open_error(cipherdir, ret);
		goto out;
	}
	veil_volume_close(v);
	v = NULL;
	ret = veil_cli_open(cipherdir, config, &src, &v);
	if (ret != 0)
		goto out;
	/*
	 * Every mount holds a shared lock on the cipher directory for its
	 * lifetime; fsck --repair takes it exclusively, so neither can start
	 * while the other runs.
	 */
	if (!reverse && flock(v->dirfd, LOCK_SH | LOCK_NB) < 0) {
		veil_err("mount: %s is being repaired by 'veilfs fsck --repair'; mount it when "
			 "that is done",
			 cipherdir);
		ret = VEIL_EXIT_MOUNT;
		goto out;
	}

	/* The path goes into an option string: escape ',' and '\\' so it cannot add options. */
	if (asprintf(&fsname, "fsname=veilfs:%s", cipherdir) < 0 || add_arg(&args, "veilfs") ||
	    fuse_opt_add_opt_escaped(&mount_opts, fsname) != 0 ||
	    fuse_opt_add_opt(&mount_opts, "subtype=veilfs") != 0) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	/* allow_other without permission checks would let every user read every file. */
	if ((mo.allow_other && (ret = add_arg(&args, "-odefault_permissions"))) ||
	    (ro && (ret = add_arg(&args, "-oro"))) || (debug && (ret = add_arg(&args, "-d"))))
		goto out;
	if (mo.fuse && fuse_opt_add_opt(&mount_opts, mo.fuse) != 0) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (add_arg(&args, "-o") || add_arg(&args, mount_opts)) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	umask(0); /* modes come from the kernel already masked: apply them exactly */
	raise_nofile();
	if (reverse) {
		ret = veil_rfs_init(&rfs, v);
		rfs.exclude = exclude;
		rfs.nexclude = nexclude;
		rfs.cross_mounts = cross_mounts;
		rfs_ready = 1;
	} else {
		ret = veil_fs_init(&fs, v, ro, fd_cache ? fd_cache : default_fd_cache());
		fs.log_names = debug;
		fs.noatime = mo.atime == VEIL_ATIME_NONE;
		fs.nodiratime = fs.noatime || mo.nodiratime;
		fs_ready = 1;
	}
	if (ret < 0) {
		veil_err("mount: %s: %s", cipherdir, strerror(-ret));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	veil_log_init(true);
	se = new_session(&args, reverse ? &veil_rfs_ops : &veil_fs_ops,
			 reverse ? (void *)&rfs : (void *)&fs);
	if (!se) {
		ret = VEIL_EXIT_USAGE;
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (fuse_session_mount(se, real) != 0) {
		veil_err("mount: mounting %s failed", mnt);
		ret = VEIL_EXIT_MOUNT;
		goto out_handlers;
	}
	raise_readahead(real);
	/* Mounted: now the parent may report success and leave. */
	if (!foreground) {
		veil_log_init(false);
		if (fuse_daemonize(0) != 0) {
			ret = VEIL_EXIT_ERROR;
			goto out_unmount;
		}
		/* Locks are not inherited across fork: lock the keys again. */
		veil_keys_relock(v->keys);
	} else {
		veil_err("mounted %s at %s", cipherdir, real);
	}
	/* Threads are started after fuse_daemonize(): a fork keeps only the caller. */
	if (!reverse && (ret = veil_inval_start(&fs, se)) < 0) {
		veil_log(LOG_ERR, "cannot start a thread: %s", strerror(-ret));
		ret = VEIL_EXIT_ERROR;
		goto out_unmount;
	}
	ret = veil_session_loop(se, 2) == 0 ? VEIL_EXIT_OK : VEIL_EXIT_ERROR;
	veil_inval_stop(&fs); /* answers what it still holds */
out_unmount:
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	if (fs_ready)
		veil_fs_destroy(&fs);
	if (rfs_ready)
		veil_rfs_destroy(&rfs);
	free(exclude);
	free(rconf);
	fuse_opt_free_args(&args);
	veil_volume_close(v);
	veil_mountopts_free(&mo);
	free(fsname);
	free(mount_opts);
	return ret;
}
