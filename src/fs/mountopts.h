/* SPDX-License-Identifier: MIT */
/*
 * mountopts.h — the one table of "-o" options veilfs mount accepts, what
 * each means for veilfs, and the parser that applies it. mount(8), fstab
 * and mount helpers pass many options as a matter of course; each is
 * passed to the kernel, applied by the daemon, or accepted and ignored,
 * never rejected. Anything not in the table goes to libfuse, which knows
 * its own options (allow_other, max_read, ...) and refuses the rest.
 */
#ifndef VEILFS_MOUNTOPTS_H
#define VEILFS_MOUNTOPTS_H

#include <stdbool.h>

enum veil_atime {
	VEIL_ATIME_BACKING, /* relatime/strictatime/atime: the backing filesystem's own rule */
	VEIL_ATIME_NONE,    /* noatime: reads through the mount never change atime */
};

struct veil_mountopts {
	bool ro;             /* ro (rw turns it off again; --ro wins) */
	bool allow_other;    /* also turns on default_permissions */
	enum veil_atime atime;
	bool nodiratime;     /* listing a directory does not change its atime */
	/* Options of veilfs mount that fstab can only give as -o NAME=VALUE; malloc'd. */
	char *passfile;      /* passfile=FILE is --passfile FILE */
	char *extpass;       /* extpass=CMD is --extpass CMD */
	char *config;        /* config=FILE is --config FILE */
	unsigned idle;       /* idle=DURATION is --idle DURATION (seconds; 0: never) */
	size_t fd_cache;     /* fd_cache=N is --fd-cache N (0: the default) */
	char *fuse;          /* what is left for libfuse, comma-separated; malloc'd */
	char *bad;           /* after -EINVAL: the option whose value is wrong; malloc'd */
};

/*
 * Parse one comma-separated -o argument ("\," is a literal comma) into
 * @mo; options accumulate over calls and later ones win. 0, -ENOMEM, or
 * -EINVAL for a bad value (idle=, fd_cache=), named in @mo->bad.
 */
int veil_mountopts_parse(struct veil_mountopts *mo, const char *arg);
void veil_mountopts_free(struct veil_mountopts *mo);

/* --fd-cache N / fd_cache=N: 16 up to 100,000,000. 0 or -EINVAL. */
int veil_fd_cache_parse(const char *s, size_t *n);

#endif
