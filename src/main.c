/* SPDX-License-Identifier: MIT */
/* veilfs command line: a table of subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand commands[] = {
	{ "init", veil_cmd_init, "create an encrypted volume in CIPHERDIR" },
	{ "mount", veil_cmd_mount, "mount CIPHERDIR at MOUNTPOINT (plaintext view)" },
	{ "passwd", veil_cmd_passwd, "change the passphrase of a volume" },
	{ "info", veil_cmd_info, "show the volume header (no secrets)" },
	{ "ls", veil_cmd_ls, "list a directory of a volume without mounting" },
	{ "cat", veil_cmd_cat, "decrypt one file of a volume to standard output" },
	{ "export", veil_cmd_export, "decrypt a volume or a subtree to a plain directory" },
	{ "fsck", veil_cmd_fsck, "verify a volume; --repair repairs it (exit codes as fsck(8))" },
	{ "path", veil_cmd_path, "map a plaintext path to its cipher path (--decrypt: back)" },
	{ "speed", veil_cmd_speed, "measure this machine's cipher throughput (one core)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: veilfs COMMAND [OPTIONS] ARGS\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'veilfs COMMAND --help' describes a command; man page: docs/veilfs.1\n");
}

int main(int argc, char **argv)
{
	if (veil_crypto_init() < 0) {
		veil_err("cannot initialise libsodium");
		return VEIL_EXIT_ERROR;
	}
	veil_harden_process();
	if (argc < 2) {
		usage(stderr);
		return VEIL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return VEIL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("veilfs %s (format version %d)\n", VEILFS_VERSION, VEIL_FORMAT_VERSION);
		return VEIL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	veil_err("unknown command '%s' (try 'veilfs --help')", argv[1]);
	return VEIL_EXIT_USAGE;
}
