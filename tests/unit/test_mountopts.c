/* SPDX-License-Identifier: MIT */
/* src/fs/mountopts.c: what each -o option does, and what is left for libfuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/mountopts.h"

#include "../tap.h"

static struct veil_mountopts parse(const char *const *args, int n)
{
	struct veil_mountopts mo = { 0 };

	for (int i = 0; i < n; i++)
		if (veil_mountopts_parse(&mo, args[i]) != 0)
			ok(0, "parse '%s'", args[i]);
	return mo;
}

static void fuse_left(const char *arg, const char *want)
{
	const char *args[] = { arg };
	struct veil_mountopts mo = parse(args, 1);
	const char *got = mo.fuse ? mo.fuse : "";

	ok(strcmp(got, want) == 0, "-o '%s' leaves '%s' for libfuse", arg, want);
	if (strcmp(got, want) != 0)
		diag("got '%s'", got);
	veil_mountopts_free(&mo);
}

int main(void)
{
	/* mount(8)/fstab/systemd-only options and atime variants never reach libfuse. */
	fuse_left("defaults,auto,noauto,user,nouser,users,owner,group,nofail,_netdev,loop", "");
	fuse_left("x-systemd.automount,x-gvfs-show,comment=systemd.foo", "");
	fuse_left("relatime,strictatime,norelatime,nostrictatime,lazytime,nolazytime", "");
	fuse_left("nodiratime,diratime", "");
	fuse_left("rw,ro", "");
	/* Kernel flags and unknown options go on, in order. */
	fuse_left("nodev,nosuid,noexec,sync,dirsync,noatime", "nodev,nosuid,noexec,sync,dirsync,noatime");
	fuse_left("allow_other,max_read=65536,bogus", "allow_other,max_read=65536,bogus");
	/* Empty entries are nothing; an escaped comma stays inside its option. */
	fuse_left(",,nodev,,", "nodev");
	fuse_left("fsname=a\\,b,nodev", "fsname=a\\,b,nodev");
	fuse_left("x-foo=a\\,b,nodev", "nodev");

	{
		const char *a[] = { "ro", "noatime" };
		struct veil_mountopts mo = parse(a, 2);

		ok(mo.ro && mo.atime == VEIL_ATIME_NONE && !mo.allow_other, "ro and noatime recorded");
		veil_mountopts_free(&mo);
	}
	{
		const char *a[] = { "ro,noatime", "rw,relatime,allow_other,nodiratime" };
		struct veil_mountopts mo = parse(a, 2);

		ok(!mo.ro && mo.atime == VEIL_ATIME_BACKING && mo.allow_other && mo.nodiratime,
		   "later options win across -o arguments (rw after ro, relatime after noatime)");
		veil_mountopts_free(&mo);
	}
	{
		const char *a[] = { "strictatime,noatime" };
		struct veil_mountopts mo = parse(a, 1);

		ok(mo.atime == VEIL_ATIME_NONE, "noatime after strictatime holds");
		veil_mountopts_free(&mo);
	}
	return tap_done();
}
