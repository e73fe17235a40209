/* SPDX-License-Identifier: MIT */
/* Shared between the fs_*.c files of the forward front end. */
#ifndef VEILFS_FS_PRIV_H
#define VEILFS_FS_PRIV_H

#include "fs.h"

/*
 * The plaintext path of @vn for a log line, valid to the end of the
 * enclosing block. Finding it decrypts every name on the way (I/O): it is
 * skipped ("?") while veil_log() suppresses lines anyway, so that a
 * damaged volume's flood of failures does not pay for it each time.
 */
#define path_of(fs, vn) \
	(veil_log_wanted() ? vnode_path((fs), (vn), (char[VEIL_LOG_PATH_MAX]){ 0 }) : "?")

int fs_backing_name(struct veil_fs *fs, struct vnode *dir, const char *name, char *enc,
		    char *backing);
int fs_existing_backing(struct veil_fs *fs, struct vnode *dir, const char *name, char *enc,
			char *backing);
int fs_fix_attr(struct veil_fs *fs, struct vnode *vn, struct stat *st);
int fs_stat(struct veil_fs *fs, struct vnode *vn, struct stat *st);
int fs_lookup_entry(struct veil_fs *fs, struct vnode *dir, const char *name,
		    struct fuse_entry_param *e);
/*
 * The same for an entry just read from @dir's listing: @backing is its
 * backing name there, one that decrypted under @dir's dir IV (so it is
 * what fs_existing_backing() would give for that name): no encryption,
 * and no open of an object the daemon knows already.
 */
int fs_lookup_listed(struct veil_fs *fs, struct vnode *dir, const char *backing,
		     struct fuse_entry_param *e);
bool fs_new_owner(fuse_req_t req, struct vnode *dir, uid_t *uid, gid_t *gid);
/* The mode to create an object with in @dir: the kernel's, masked as it must be. */
mode_t fs_new_mode(fuse_req_t req, struct vnode *dir, mode_t mode);

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi);
void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		     struct fuse_file_info *fi);

#endif
