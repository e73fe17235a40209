/* SPDX-License-Identifier: MIT */
/* Shared pieces of the command-line front end. */
#ifndef VEILFS_CLI_H
#define VEILFS_CLI_H

#include <stddef.h>

#include "veilfs/safe.h"
#include "veilfs/volume.h"

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

/* Print "veilfs: <fmt>" to stderr. */
void veil_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open and unlock a volume, printing one message and returning an exit code. */
int veil_cli_open(const char *cipherdir, const char *conf, const struct veil_passsrc *src,
		  struct veil_volume **out);
/* Map an error from veil_volume_open to an exit code, printing a message. */
int veil_cli_open_error(const char *what, int err);

int veil_cmd_init(int argc, char **argv);
int veil_cmd_passwd(int argc, char **argv);
int veil_cmd_info(int argc, char **argv);
int veil_cmd_ls(int argc, char **argv);
int veil_cmd_cat(int argc, char **argv);
int veil_cmd_mount(int argc, char **argv);
int veil_cmd_export(int argc, char **argv);
int veil_cmd_path(int argc, char **argv);
int veil_cmd_speed(int argc, char **argv);
int veil_cmd_fsck(int argc, char **argv);

#endif
