/* SPDX-License-Identifier: MIT */
/* The reverse (plaintext → read-only ciphertext view) FUSE front end. */
#ifndef VEILFS_FS_REVERSE_H
#define VEILFS_FS_REVERSE_H

#include "fs.h"

struct rnode;

struct veil_rfs {
	struct veil_volume *v; /* dirfd = the plaintext directory */
	struct rnode *root;
	uint8_t *conf;         /* header bytes shown as veilfs.conf */
	size_t conf_len;
	double timeout;
	char **exclude;
	int nexclude;
	/*
	 * PLAINDIR's file system. Without @cross_mounts, a directory of
	 * another one (a mount point, a btrfs subvolume) is shown empty; with
	 * it, files of other file systems are shown as single-link files (an
	 * inode number is unique only within one file system).
	 */
	dev_t dev;
	bool cross_mounts;
	dev_t *seen_devs; /* mount points already logged */
	size_t nseen_devs;
	struct veil_handles handles; /* open file and directory handles */
};

extern const struct fuse_lowlevel_ops veil_rfs_ops;

int veil_rfs_init(struct veil_rfs *rfs, struct veil_volume *v);
void veil_rfs_destroy(struct veil_rfs *rfs);

#endif
