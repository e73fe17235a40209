/* SPDX-License-Identifier: MIT */
/* Shared pieces of the command-line front end. */
#ifndef VEILFS_CLI_H
#define VEILFS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lib/safe.h"
#include "lib/volume.h"

/* Exit codes (documented in docs/veilfs.1 and README.md). */
enum veil_exit {
	VEIL_EXIT_OK = 0,
	VEIL_EXIT_ERROR = 1,      /* I/O or other failure */
	VEIL_EXIT_USAGE = 2,      /* bad arguments */
	VEIL_EXIT_NOTVOL = 3,     /* not a veilfs volume */
	VEIL_EXIT_CORRUPT = 4,    /* damaged or altered header */
	VEIL_EXIT_PASS = 5,       /* wrong passphrase */
	VEIL_EXIT_VERSION = 6,    /* unsupported format version or feature */
	VEIL_EXIT_MOUNT = 7,      /* mount failed */
	VEIL_EXIT_INTEGRITY = 8,  /* file content failed authentication */
};

/* Where a passphrase comes from (never argv, never the environment). */
struct veil_passsrc {
	const char *passfile;
	const char *extpass;
};

/* A passphrase in secure memory. */
struct veil_pass {
	char *buf;
	size_t len;
};

/*
 * Read one passphrase. @prompt is shown on a terminal; @confirm asks twice
 * on a terminal. @line selects the line for stdin input (0-based).
 * Returns 0 or an exit code after printing one message.
 */
int veil_pass_read(const struct veil_passsrc *src, const char *prompt, int confirm, int line,
		   struct veil_pass *out);
void veil_pass_free(struct veil_pass *p);

struct veil_args;

/* Print "veilfs: <fmt>" to stderr. */
void veil_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open and unlock a volume, printing one message and returning an exit code. */
int veil_cli_open(const char *cipherdir, const char *conf, const struct veil_passsrc *src,
		  struct veil_volume **out);
/* Map an error from veil_volume_open to an exit code, printing a message. */
int veil_cli_open_error(const char *what, int err);
/* The one line for a failed veil_header_replace of @dir's header; an exit code. */
int veil_cli_replace_error(const char *cmd, const char *dir, int err, int in_place);

/*
 * Unlock header @h with @secret, a passphrase or a recovery key (told
 * apart by its form). @master (secure memory) receives the master key,
 * @slot the slot that opened (-1: a recovery key and no recovery slot),
 * @recovery whether it was a recovery key. Returns 0 or an exit code after
 * one message naming @what.
 */
int veil_cli_unlock(const char *what, const struct veil_header *h, const struct veil_pass *secret,
		    uint8_t *master, int *slot, bool *recovery);

/* Map a header unlock error to an exit code, printing a message. */
int veil_cli_unlock_error(const char *what, int err);

/*
 * Read a new passphrase (line @line; asked twice on a terminal); refuses
 * one that has the form of a recovery key. 0 or an exit code.
 */
int veil_cli_new_pass(const struct veil_passsrc *src, int line, struct veil_pass *out);

/* The KDF parameters of --kdf (@fallback when absent); 0 or an exit code. */
int veil_cli_kdf(const char *cmd, const char *name, enum veil_kdf_profile fallback,
		 struct veil_kdf_params *out);

/*
 * Before anything is written: --recovery-key-file must not exist yet.
 * 0 or an exit code.
 */
int veil_cli_recovery_precheck(const char *cmd, const struct veil_args *a);

/*
 * Give the user the recovery key of @h / @master: on standard output with
 * a warning, or alone on the first line of --recovery-key-file (mode 0600,
 * never overwritten). 0 or an exit code.
 */
int veil_cli_recovery_emit(const char *cmd, const struct veil_args *a,
			   const struct veil_header *h, const uint8_t *master);

/*
 * A new header for @pass under a fresh random master key (into @master,
 * secure memory): slot 0 with its creation time in the slot info table,
 * then the recovery slot unless --no-recovery-key (@a->no_rk); sealed.
 * 0 or -errno.
 */
int veil_cli_new_header(const struct veil_args *a, struct veil_header *h, uint8_t *master,
			uint32_t block_size, const struct veil_pass *pass,
			const struct veil_kdf_params *kdf);

/*
 * How many entries other than "." and ".." directory @dir holds, counting
 * no further than @max (1: is it empty?); -errno if it cannot be read.
 */
int veil_cli_dir_entries(const char *dir, int max);

/*
 * The options of every command, parsed by one parser (cmd.c) from one
 * table. A command's entry lists the options it takes (VEIL_OPT_BIT).
 */
enum veil_opt {
	VEIL_OPT_REVERSE,
	VEIL_OPT_EXCLUDE,
	VEIL_OPT_CROSS_MOUNTS,
	VEIL_OPT_FOREGROUND,
	VEIL_OPT_DEBUG,
	VEIL_OPT_RO,
	VEIL_OPT_O,
	VEIL_OPT_FDCACHE,
	VEIL_OPT_IDLE,
	VEIL_OPT_LAZY,
	VEIL_OPT_DECRYPT,
	VEIL_OPT_OWNERS,
	VEIL_OPT_DEVICES,
	VEIL_OPT_SETID,
	VEIL_OPT_UNSAFE_DEST,
	VEIL_OPT_RECOVERY,
	VEIL_OPT_LABEL,
	VEIL_OPT_KDF,
	VEIL_OPT_RKFILE,
	VEIL_OPT_NORK,
	VEIL_OPT_JSON,
	VEIL_OPT_CONFIG,
	VEIL_OPT_MOUNTED,
	VEIL_OPT_PASSFILE,
	VEIL_OPT_EXTPASS,
	VEIL_OPT_COUNT
};
#define VEIL_OPT_BIT(o) (1u << VEIL_OPT_##o)
/* --passfile and --extpass: every command that asks for a passphrase. */
#define VEIL_OPTS_PASS (VEIL_OPT_BIT(PASSFILE) | VEIL_OPT_BIT(EXTPASS))

/* The parsed command line of one command. */
struct veil_args {
	struct veil_passsrc src;
	const char *config;
	const char *kdf;
	const char *label;  /* key add: the new slot's label */
	const char *rkfile; /* --recovery-key-file */
	bool recovery, no_rk;
	bool json; /* info --json */
	bool reverse, cross_mounts, decrypt, devices, setid, owners, unsafe_dest, foreground,
		debug, ro, lazy, mounted;
	unsigned idle;        /* --idle, seconds (0: never) */
	char *mount_opts;     /* every -o value, joined by ',' (malloc'd) */
	const char **exclude; /* --exclude patterns (malloc'd array) */
	int nexclude;
	size_t fd_cache;
	int argc;    /* operands (after the options) */
	char **argv; /* argv[0] is the first operand */
};

struct veil_command {
	const char *name;
	const char *operands; /* e.g. "CIPHERDIR [PATH]" */
	const char *summary;
	unsigned opts;         /* VEIL_OPT_BIT()s it takes */
	unsigned ignored;      /* accepted and ignored (not in the synopsis) */
	int min_args, max_args; /* operand count */
	int (*run)(const struct veil_command *cmd, struct veil_args *a);
	/* A command that parses its own options: called with its argc/argv. */
	int (*raw)(int argc, char **argv);
};

/* "usage: veilfs NAME [OPTIONS] OPERANDS", from the command's entry. */
void veil_cmd_usage(const struct veil_command *cmd, FILE *f);
/* Print "NAME: wrong number of arguments (usage: ...)"; returns VEIL_EXIT_USAGE. */
int veil_cmd_usage_err(const struct veil_command *cmd);

int veil_cmd_init(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_passwd(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_info(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_ls(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_cat(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_mount(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_umount(const struct veil_command *cmd, struct veil_args *a);
/* info --mounted: print the request counters of the veilfs mount at @mnt. */
int veil_info_mounted(const char *mnt);
int veil_cmd_export(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_path(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_speed(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_key_list(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_key_add(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_key_remove(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_recover(const struct veil_command *cmd, struct veil_args *a);
int veil_cmd_rekey(const struct veil_command *cmd, struct veil_args *a);
/* Commands that still parse their own options (see main.c). */
int veil_cmd_fsck(int argc, char **argv);

#endif
