/* SPDX-License-Identifier: MIT */
/*
 * fs.h — the forward FUSE front end (low-level, inode-based API).
 *
 * Every kernel node id is a struct vnode pointer (the root is the static
 * fs->root). A vnode holds an O_PATH fd on the backing object and is keyed
 * by the backing (st_dev, st_ino), so hard links share one vnode, one
 * content lock and one file-header cache. While its O_PATH fd is open it
 * pins the backing inode, whose number then cannot be reused. Directories
 * keep theirs for life. A non-directory often has none: a listing gives
 * the files it finds a vnode without an fd (reopened by name when first
 * used), and a file's fd may be closed when too many are open (eviction,
 * see struct vnode). Such a vnode pins nothing; it is reopened by name and
 * accepted only if the name still holds the same (st_dev, st_ino) and file
 * type. An object this daemon unlinks or renames over is pinned first, so
 * only a change made by another program can free such a vnode's inode.
 * If its number is then reused for an object of the same type at the same
 * name, the vnode serves the new object, as a local file system would
 * after the same delete and create. If it is reused for an object of
 * another type (anywhere), the old vnode is made stale when a lookup finds
 * the new object: no lookup returns it again, its operations fail with
 * ESTALE, and the new object gets a vnode of its own.
 */
#ifndef VEILFS_FS_H
#define VEILFS_FS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "lib/safe.h"
#include "lib/volume.h"

/*
 * The content state of a regular file: allocated the first time the file
 * is opened or its size changed (vnode_content()), kept until the vnode is
 * freed. A vnode the kernel only looked up (a listing, a stat) has none,
 * which keeps a tree of a million looked-up files small.
 */
struct vcontent {
	/* Content lock: shared for reads, exclusive for anything that changes size or blocks. */
	pthread_rwlock_t io;
	struct veil_fstate fst; /* changed only under io held exclusively */
	/*
	 * The backing file as this daemon last left it (after its own writes):
	 * an open may keep the kernel's page cache if it is still the same.
	 * Under the vnode's lock.
	 */
	bool stamp_valid;
	bool changed_outside; /* seen changed by someone else: drop the page cache */
	struct timespec stamp_mtime, stamp_ctime;
	off_t stamp_size;
	uint64_t logged_block; /* last damaged block logged, +1 (0: none); vnode's lock */
	time_t logged_at;
};

struct vnode {
	struct vnode *next; /* hash chain, under fs->mutex */
	/*
	 * Non-directories: where the object was last seen, @bname in @parent
	 * (the parent holds a reference, @refs, for it). Used to reopen an
	 * evicted fd and to name the file in log lines (vnode_path()); a
	 * directory's own path comes from its fd. Under fs->mutex.
	 */
	struct vnode *parent;
	char *bname;
	struct vnode *lru_prev, *lru_next; /* evictable vnodes with an open fd */
	ino_t ino;
	uint64_t nlookup; /* under fs->mutex */
	/* Regular files: NULL until needed; set once, under vnode_lock() (vnode_content()). */
	struct vcontent *_Atomic content;
	/*
	 * The backing st_dev: Linux's stat() reports a 32-bit device number
	 * (12-bit major, 20-bit minor), so 32 bits hold it exactly.
	 */
	uint32_t dev;
	/*
	 * O_PATH | O_NOFOLLOW fd on the backing object. Directories keep theirs
	 * for life. Other objects may have it closed when too many are open
	 * (fd == -1); it is reopened through @parent and @bname, checked
	 * against (dev, ino). An object whose name is gone (unlinked, renamed
	 * over) is pinned: its fd stays open until the vnode is forgotten.
	 * Use vnode_fd_get()/vnode_fd_put(); all of these fields are under
	 * fs->mutex.
	 */
	int fd;
	uint32_t refs;  /* children that name this vnode as their parent */
	int opens;      /* under vnode_lock() */
	uint16_t uses;  /* borrowers of fd right now (at most one per request in flight) */
	uint16_t type;  /* S_IFMT bits */
	bool pinned;
	bool iv_valid;
	/*
	 * Its inode number now names an object of another type: no lookup
	 * finds it (it stays hashed until FORGET frees it), vnode_fd_get()
	 * gives -ESTALE. Under fs->mutex.
	 */
	bool stale;
	/*
	 * Directories: whether a sync tool left a second dir IV here (a
	 * directory created on two machines before they synced; format.md §7),
	 * so names may be under that IV too. Learnt by the first failed lookup
	 * and by listings. Under vnode_lock().
	 */
	unsigned char alt; /* VN_ALT_* */
	uint8_t iv[VEIL_DIRIV_BYTES]; /* under vnode_lock() */
};
enum { VN_ALT_UNKNOWN, VN_ALT_NONE, VN_ALT_SOME };

/*
 * An open file or directory handle of either front end (the first member
 * of its fs_io.c or fs_reverse.c struct), on its file system's list until
 * released: the kernel need not send RELEASE before the session ends
 * (fs_handle.c).
 */
struct veil_handle {
	struct veil_handle *prev, *next;
	void (*close)(struct veil_handle *h); /* closes and frees the handle */
};

struct veil_handles {
	pthread_mutex_t lock;
	struct veil_handle head; /* circular, a sentinel */
};

void veil_handles_init(struct veil_handles *l);
/* Put @h on @l; @close will close and free it if it is still there at the end. */
void veil_handle_add(struct veil_handles *l, struct veil_handle *h,
		     void (*close)(struct veil_handle *h));
/* Take @h off @l (its RELEASE came); the caller closes and frees it. */
void veil_handle_del(struct veil_handles *l, struct veil_handle *h);
/* After the session: close and free every handle left on @l. */
void veil_handles_destroy(struct veil_handles *l);

/*
 * Answer GETXATTR or LISTXATTR with the @len bytes at @val (fs_reply.c): the
 * length when the caller asked for it (@size 0), ERANGE when they do not
 * fit in @size, else the bytes.
 */
void veil_reply_xattr(fuse_req_t req, const void *val, size_t len, size_t size);

#define VN_LOCKS 256

struct veil_fs {
	struct veil_volume *v;
	struct vnode root;
	pthread_mutex_t mutex;
	/*
	 * The vnodes' own locks (iv, alt, open count, creation of content,
	 * the content stamps), striped: a mutex in every vnode would be 40 of
	 * its bytes. vnode_lock() picks one by address. Never hold two.
	 */
	pthread_mutex_t vlocks[VN_LOCKS];
	struct vnode **buckets; /* nbuckets (a power of two) chains, under mutex */
	size_t nbuckets;
	size_t count;
	size_t freed; /* vnodes freed since the last malloc_trim() */
	/*
	 * What freed directory vnodes had learnt (no second dir IV: a scan of
	 * the whole directory) and how the directory looked then, so that a
	 * new vnode of an unchanged directory starts knowing it (fs_inode.c);
	 * NULL until a directory vnode is freed. Under mutex.
	 */
	struct dirnote *dirnotes;
	double timeout;
	bool readonly;
	bool is_root; /* daemon runs as uid 0: give new files to the caller */
	/*
	 * Log plaintext names of entries anyone who can write the cipher
	 * directory can make appear (conflict copies, foreign names): only
	 * with -d, whose FUSE trace shows every name anyway.
	 */
	bool log_names;
	bool noatime, nodiratime; /* -o noatime / nodiratime: open backing objects O_NOATIME */
	bool posix_acl; /* the kernel enforces POSIX ACLs (negotiated at init) */
	bool dont_mask; /* the kernel leaves the umask of new objects to us */
	/* Open fds of non-directory vnodes, in use order (head: most recent). */
	struct vnode *lru_head, *lru_tail;
	size_t open_fds;
	size_t fd_cache; /* how many of those may stay open */
	struct veil_inval *inval; /* fs_loop.c; NULL until veil_inval_start() */
	struct veil_handles handles; /* open file and directory handles */
};

extern const struct fuse_lowlevel_ops veil_fs_ops;

/*
 * Serve requests until unmount or a signal: quick requests on the calling
 * thread, data-carrying ones on @nworkers threads (fs_loop.c). 0 or -errno.
 */
int veil_session_loop(struct fuse_session *se, int nworkers, struct veil_fs *fs);
/*
 * The request counters as text (docs/veilfs.1, "REQUEST COUNTERS"): a line
 * "veilfs-counters 1", with @fs "nodes N" and "fds N", then one line
 * "op NAME COUNT NS" per opcode seen. Returns the length it needed (as
 * snprintf); @buf is always terminated when @cap > 0.
 */
size_t veil_counters_format(struct veil_fs *fs, char *buf, size_t cap);
/*
 * The whole text in a malloc'd buffer (terminated; its length without the
 * terminator in *@lenp), never cut short; NULL when out of memory.
 */
char *veil_counters_text(struct veil_fs *fs, size_t *lenp);
/* The root's virtual xattr that holds them (veilfs info --mounted). */
#define VEIL_COUNTERS_XATTR "veilfs.counters"
/* Log them (stderr in the foreground, syslog otherwise), one line each. */
void veil_counters_log(struct veil_fs *fs);
/*
 * Catch SIGUSR1 from now on (the daemon path calls it first): a signal
 * before veil_session_loop() runs is logged once the loop starts instead
 * of killing the process. 0 or -errno.
 */
int veil_counters_signal_init(void);
/* How many requests veil_session_loop() has received (for the idle watcher). */
unsigned long veil_session_requests(void);

/*
 * Direct-I/O writes bypass the kernel's page cache, so pages it holds for
 * the range (read by others before or while the write ran) would be stale.
 * veil_inval_reply_write() answers the write of @len bytes at @off only
 * after a thread of its own has invalidated that range of @ino; it takes
 * @j, allocated with malloc() before the write was done.
 */
struct veil_inval_job {
	fuse_req_t req;
	fuse_ino_t ino;
	off_t off;
	size_t len;
	struct veil_inval_job *next;
};
int veil_inval_start(struct veil_fs *fs, struct fuse_session *se);
void veil_inval_stop(struct veil_fs *fs);
void veil_inval_reply_write(struct veil_fs *fs, struct veil_inval_job *j, fuse_req_t req,
			    fuse_ino_t ino, off_t off, size_t len);
/* Make the kernel fetch the attributes of @ino again (set-id bits cleared). */
void veil_inval_attr(struct veil_fs *fs, fuse_ino_t ino);

/* Logging: stderr in the foreground, syslog in the background. */
void veil_log_init(bool foreground);
void veil_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Whether a veil_log() line now would be written, not suppressed by its
 * rate limit (20 lines a second): checked before work done only for a
 * line, such as finding a file's path (path_of()).
 */
bool veil_log_wanted(void);
/* One line of the daemon's own text: neither escaped nor rate-limited. */
void veil_log_raw(int prio, const char *line);

/* @fd_cache: how many fds of files (not directories) may stay open. */
int veil_fs_init(struct veil_fs *fs, struct veil_volume *v, bool readonly, size_t fd_cache);
void veil_fs_destroy(struct veil_fs *fs);
/*
 * The session has nothing to do: shrink the vnode table if it is mostly
 * empty and give freed memory back to the system after many vnodes went.
 */
void veil_fs_idle(struct veil_fs *fs);

/* Inode table (fs_inode.c). */
struct vnode *vnode_of(fuse_req_t req, fuse_ino_t ino);
struct veil_fs *fs_of(fuse_req_t req);
/* Find or insert the vnode for backing fd @fd (takes ownership of @fd). */
struct vnode *vnode_get(struct veil_fs *fs, int fd, const struct stat *st, int *err);
/*
 * Find the vnode of the object @st describes, which the caller found as
 * @bname in directory @dir (fstatat) without opening it, and take a lookup
 * reference; if there is none, insert one for it with no fd (as if evicted:
 * opened through @dir and @bname when first used, and accepted only if that
 * is still the same object), and set *@fresh. Not for a new directory
 * (EINVAL: directories keep their fd; use vnode_get()). NULL with *@err set
 * on failure.
 */
struct vnode *vnode_get_named(struct veil_fs *fs, struct vnode *dir, const char *bname,
			      const struct stat *st, bool *fresh, int *err);
void vnode_forget(struct veil_fs *fs, struct vnode *vn, uint64_t n);
/*
 * The lock of @vn: one of fs->vlocks, shared with other vnodes, so a
 * thread holding it takes no other vnode's lock.
 */
pthread_mutex_t *vnode_lock(struct veil_fs *fs, const struct vnode *vn);
/*
 * The plaintext path of @vn ("/dir/file"), for log lines only: built
 * when asked from the backing path of its directory (which the kernel
 * keeps current through renames) and its last known name, by decrypting
 * each component; "?" for a component that does not decrypt. Reads the
 * backing store: call it only to log, and without holding any lock.
 */
#define VEIL_LOG_PATH_MAX 4096
const char *vnode_path(struct veil_fs *fs, struct vnode *vn, char buf[static VEIL_LOG_PATH_MAX]);
/* Borrow the backing fd of @vn (reopened if it was closed); -errno on failure. */
int vnode_fd_get(struct veil_fs *fs, struct vnode *vn);
void vnode_fd_put(struct veil_fs *fs, struct vnode *vn);
/* @vn is (now) reachable as @bname in directory @dir. */
void vnode_set_name(struct veil_fs *fs, struct vnode *vn, struct vnode *dir, const char *bname);
/*
 * The backing name @bname in @dir is about to stop naming object (dev, ino):
 * if a vnode records that name, open its fd and pin it. Call before the
 * unlink or rename that removes the name.
 */
void vnode_name_going(struct veil_fs *fs, struct vnode *dir, const char *bname, dev_t dev,
		      ino_t ino);
/*
 * Object (dev, ino) was renamed from @bname in @dir to @nbname in @ndir:
 * if its vnode knew it by the old name, it now knows the new one.
 */
void vnode_renamed(struct veil_fs *fs, dev_t dev, ino_t ino, struct vnode *dir,
		   const char *bname, struct vnode *ndir, const char *nbname);
int vnode_iv(struct veil_fs *fs, struct vnode *vn, uint8_t iv[static VEIL_DIRIV_BYTES]);
/* The content state of regular file @vn, made on first use; NULL when out of memory. */
struct vcontent *vnode_content(struct veil_fs *fs, struct vnode *vn);
/* The content state of @vn if it has one (NULL otherwise); never allocates. */
struct vcontent *vnode_content_peek(struct vnode *vn);
/* -ESTALE if @fd (of @vn) was deleted or replaced behind our back, else 0. */
int vnode_check_live(struct veil_fs *fs, struct vnode *vn, int fd);
/* Open the backing object of @vn with @flags through /proc/self/fd. */
int vnode_open(struct veil_fs *fs, struct vnode *vn, int flags);
/* "/proc/self/fd/N" of a borrowed fd, for *xattr, chmod and utimensat. */
void fd_proc_path(int fd, char buf[static 64]);

#endif
