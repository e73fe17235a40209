/* SPDX-License-Identifier: MIT */
/* The -o options of veilfs mount: see mountopts.h and docs/veilfs.1. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <fuse_opt.h>

#include "lib/duration.h"
#include "mount_daemon.h"
#include "mountopts.h"

enum action {
	PASS,        /* a kernel mount flag libfuse knows: hand it on */
	IGNORE,      /* meaningful to mount(8), fstab or systemd only */
	RO,
	RW,
	NOATIME,
	BACKING_ATIME, /* relatime, strictatime: see docs/veilfs.1 */
	NODIRATIME,
	DIRATIME,
	ALLOW_OTHER,
	PASSFILE,    /* NAME=VALUE options of veilfs mount itself */
	EXTPASS,
	CONFIG,
	IDLE,
	FD_CACHE,
};

static const struct {
	const char *name;
	bool prefix; /* matches name* (x-..., comment=...) */
	enum action act;
} options[] = {
	{ "ro", false, RO },
	{ "rw", false, RW },
	{ "noatime", false, NOATIME },
	{ "atime", false, BACKING_ATIME },
	{ "relatime", false, BACKING_ATIME },
	{ "norelatime", false, BACKING_ATIME },
	{ "strictatime", false, BACKING_ATIME },
	{ "nostrictatime", false, BACKING_ATIME },
	{ "lazytime", false, IGNORE },
	{ "nolazytime", false, IGNORE },
	{ "nodiratime", false, NODIRATIME },
	{ "diratime", false, DIRATIME },
	/* The kernel applies these to the FUSE mount itself. */
	{ "nodev", false, PASS },
	{ "dev", false, PASS },
	{ "nosuid", false, PASS },
	{ "suid", false, PASS },
	{ "noexec", false, PASS },
	{ "exec", false, PASS },
	{ "sync", false, PASS },
	{ "async", false, PASS },
	{ "dirsync", false, PASS },
	{ "allow_other", false, ALLOW_OTHER },
	/* veilfs' own: the long options of veilfs mount, for fstab. */
	{ "passfile=", true, PASSFILE },
	{ "extpass=", true, EXTPASS },
	{ "config=", true, CONFIG },
	{ "idle=", true, IDLE },
	{ "fd_cache=", true, FD_CACHE },
	/* For mount(8), fstab and systemd, not for the filesystem. */
	{ "defaults", false, IGNORE },
	{ "auto", false, IGNORE },
	{ "noauto", false, IGNORE },
	{ "user", false, IGNORE },
	{ "nouser", false, IGNORE },
	{ "users", false, IGNORE },
	{ "owner", false, IGNORE },
	{ "group", false, IGNORE },
	{ "nofail", false, IGNORE },
	{ "_netdev", false, IGNORE },
	{ "x-", true, IGNORE },
	{ "comment=", true, IGNORE },
	{ "loop", false, IGNORE },
};

/* Copy the next option of @*s (up to an unescaped ',') into @out, unescaped. */
static void next_opt(const char **s, char *out)
{
	const char *p = *s;

	while (*p && *p != ',') {
		if (*p == '\\' && p[1])
			p++;
		*out++ = *p++;
	}
	*out = '\0';
	*s = *p ? p + 1 : p;
}

int veil_fd_cache_parse(const char *s, size_t *n)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 16 || v > 100000000)
		return -EINVAL;
	*n = v;
	return 0;
}

/* Replace *@dst by a copy of @val. 0 or -ENOMEM. */
static int set_str(char **dst, const char *val)
{
	char *c = strdup(val);

	if (!c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

int veil_mountopts_parse(struct veil_mountopts *mo, const char *arg)
{
	char *opt = malloc(strlen(arg) + 1);
	const char *s = arg;
	int ret = 0;

	if (!opt)
		return -ENOMEM;
	while (*s) {
		enum action act = PASS;
		bool known = false;

		next_opt(&s, opt);
		if (!opt[0])
			continue; /* "a,,b": nothing to say about nothing */
		for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
			if (options[i].prefix ? strncmp(opt, options[i].name, strlen(options[i].name)) == 0
					      : strcmp(opt, options[i].name) == 0) {
				act = options[i].act;
				known = true;
				break;
			}
		}
		switch (act) {
		case RO:
			mo->ro = true;
			break;
		case RW:
			mo->ro = false;
			break;
		case NOATIME:
			mo->atime = VEIL_ATIME_NONE;
			break;
		case BACKING_ATIME:
			mo->atime = VEIL_ATIME_BACKING;
			break;
		case NODIRATIME:
			mo->nodiratime = true;
			break;
		case DIRATIME:
			mo->nodiratime = false;
			break;
		case ALLOW_OTHER:
			mo->allow_other = true;
			break;
		case PASSFILE:
			ret = set_str(&mo->passfile, opt + strlen("passfile="));
			break;
		case EXTPASS:
			ret = set_str(&mo->extpass, opt + strlen("extpass="));
			break;
		case CONFIG:
			ret = set_str(&mo->config, opt + strlen("config="));
			break;
		case IDLE:
			if (veil_duration_parse(opt + strlen("idle="), &mo->idle) < 0)
				ret = set_str(&mo->bad, opt) ? -ENOMEM : -EINVAL;
			break;
		case FD_CACHE:
			if (veil_fd_cache_parse(opt + strlen("fd_cache="), &mo->fd_cache) < 0)
				ret = set_str(&mo->bad, opt) ? -ENOMEM : -EINVAL;
			break;
		case IGNORE:
		case PASS:
			break;
		}
		if (ret < 0)
			break;
		/* Unknown options go to libfuse too: it has its own, and refuses the rest. */
		if ((act == PASS || act == ALLOW_OTHER || act == NOATIME || !known) &&
		    fuse_opt_add_opt_escaped(&mo->fuse, opt) != 0) {
			ret = -ENOMEM;
			break;
		}
	}
	free(opt);
	return ret;
}

void veil_mountopts_free(struct veil_mountopts *mo)
{
	free(mo->fuse);
	free(mo->passfile);
	free(mo->extpass);
	free(mo->config);
	free(mo->bad);
	mo->bad = NULL;
	mo->fuse = mo->passfile = mo->extpass = mo->config = NULL;
}
