/* SPDX-License-Identifier: MIT */
/*
 * veilfs command line: one table of subcommands, one table of options and
 * one option parser. --help, the synopsis lines (docs/veilfs.1) and the
 * shell completion script are all printed from these tables.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lib/duration.h"
#include "fs/mountopts.h"

struct optdef {
	const char *name; /* long name, or NULL */
	char shortc;      /* short letter, or 0 */
	const char *arg;  /* argument name, or NULL for a flag */
	const char *help; /* a few words, for the zsh completion */
};

/* In synopsis order. */
static const struct optdef optdefs[VEIL_OPT_COUNT] = {
	[VEIL_OPT_REVERSE] = { "reverse", 0, NULL,
		"reverse mode: encrypted view of a plain directory" },
	[VEIL_OPT_EXCLUDE] = { "exclude", 0, "PATTERN",
		"reverse mode: leave out the paths matching a pattern" },
	[VEIL_OPT_CROSS_MOUNTS] = { "cross-mounts", 0, NULL,
		"reverse mode: descend into other filesystems" },
	[VEIL_OPT_FOREGROUND] = { NULL, 'f', NULL, "stay in the foreground" },
	[VEIL_OPT_DEBUG] = { NULL, 'd', NULL, "stay in the foreground and print FUSE requests" },
	[VEIL_OPT_RO] = { "ro", 0, NULL, "mount read-only" },
	[VEIL_OPT_O] = { NULL, 'o', "OPT[,OPT...]", "mount options, as in fstab" },
	[VEIL_OPT_IDLE] = { "idle", 0, "DURATION", "unmount after this long unused" },
	[VEIL_OPT_LAZY] = { NULL, 'z', NULL, "detach now, unmount once unused" },
	[VEIL_OPT_FDCACHE] = { "fd-cache", 0, "N",
		"how many file descriptors the daemon keeps open" },
	[VEIL_OPT_DECRYPT] = { "decrypt", 0, NULL, "map a cipher path back to its plaintext path" },
	[VEIL_OPT_OWNERS] = { "owners", 0, NULL, "restore the stored owners (root only)" },
	[VEIL_OPT_DEVICES] = { "devices", 0, NULL, "recreate device nodes" },
	[VEIL_OPT_SETID] = { "setid", 0, NULL, "keep the set-uid and set-gid bits" },
	[VEIL_OPT_UNSAFE_DEST] = { "unsafe-destdir", 0, NULL,
		"write into a directory another user may write to" },
	[VEIL_OPT_RECOVERY] = { "recovery", 0, NULL, "add the recovery slot" },
	[VEIL_OPT_LABEL] = { "label", 0, "TEXT", "a label for the new slot" },
	[VEIL_OPT_KDF] = { "kdf", 0, "interactive|moderate|sensitive",
		"Argon2id cost of a new key slot" },
	[VEIL_OPT_RKFILE] = { "recovery-key-file", 0, "FILE",
		"write the recovery key to a new file" },
	[VEIL_OPT_NORK] = { "no-recovery-key", 0, NULL, "make no recovery key" },
	[VEIL_OPT_JSON] = { "json", 0, NULL, "print one JSON object" },
	[VEIL_OPT_CONFIG] = { "config", 0, "FILE", "the volume header file" },
	[VEIL_OPT_MOUNTED] = { "mounted", 0, NULL,
		"info: a mount's request counters, not the header" },
	[VEIL_OPT_PASSFILE] = { "passfile", 0, "FILE",
		"read the passphrase from a file (mode 0600)" },
	[VEIL_OPT_EXTPASS] = { "extpass", 0, "CMD", "run a command that prints the passphrase" },
};

/*
 * Commands that need no passphrase still accept --passfile/--extpass (and
 * ignore them), so one script can pass the same options to every command.
 */
#define O(x) VEIL_OPT_BIT(x)
static const struct veil_command commands[] = {
	{ "init", "DIR", "create an encrypted volume in CIPHERDIR (prints its recovery key)",
	  O(REVERSE) | O(KDF) | O(RKFILE) | O(NORK) | O(CONFIG) | VEIL_OPTS_PASS, 0, 1, 1,
	  veil_cmd_init },
	{ "mount", "DIR MOUNTPOINT", "mount CIPHERDIR at MOUNTPOINT (plaintext view)",
	  O(REVERSE) | O(EXCLUDE) | O(CROSS_MOUNTS) | O(FOREGROUND) | O(DEBUG) | O(RO) | O(O) | O(FDCACHE) |
		  O(IDLE) | O(CONFIG) | VEIL_OPTS_PASS,
	  0, 2, 2, veil_cmd_mount },
	{ "umount", "MOUNTPOINT", "unmount a veilfs mount (-z: detach now, gone once unused)",
	  O(LAZY), 0, 1, 1, veil_cmd_umount },
	{ "passwd", "CIPHERDIR", "change the passphrase of a volume",
	  O(KDF) | O(CONFIG) | VEIL_OPTS_PASS, 0, 1, 1, veil_cmd_passwd },
	{ "key list", "CIPHERDIR", "list the key slots (no secrets, no passphrase needed)",
	  O(CONFIG), VEIL_OPTS_PASS, 1, 1, veil_cmd_key_list },
	{ "key add", "CIPHERDIR", "add a passphrase (--recovery: a recovery key) to a free slot",
	  O(RECOVERY) | O(LABEL) | O(KDF) | O(RKFILE) | O(CONFIG) | VEIL_OPTS_PASS, 0, 1, 1,
	  veil_cmd_key_add },
	{ "key remove", "CIPHERDIR SLOT", "remove a key slot, overwriting its bytes",
	  O(CONFIG) | VEIL_OPTS_PASS, 0, 2, 2, veil_cmd_key_remove },
	{ "recover", "CIPHERDIR", "write a new header from the recovery key",
	  O(KDF) | O(CONFIG) | VEIL_OPTS_PASS, 0, 1, 1, veil_cmd_recover },
	{ "rekey", "CIPHERDIR NEWDIR | --reverse PLAINDIR",
	  "copy a volume under a new master key (--reverse: new key for PLAINDIR)",
	  O(REVERSE) | O(KDF) | O(RKFILE) | O(NORK) | O(CONFIG) | VEIL_OPTS_PASS, 0, 1, 2,
	  veil_cmd_rekey },
	{ "info", "CIPHERDIR | --mounted MOUNTPOINT",
	  "show the volume header (no secrets); --mounted: a mount's request counters",
	  O(JSON) | O(CONFIG) | O(MOUNTED), VEIL_OPTS_PASS, 1, 1, veil_cmd_info },
	{ "ls", "CIPHERDIR [PATH]", "list a directory of a volume without mounting",
	  O(CONFIG) | VEIL_OPTS_PASS, 0, 1, 2, veil_cmd_ls },
	{ "cat", "CIPHERDIR PATH", "decrypt one file of a volume to standard output",
	  O(CONFIG) | VEIL_OPTS_PASS, 0, 2, 2, veil_cmd_cat },
	{ "export", "CIPHERDIR [PATH] DESTDIR",
	  "decrypt a volume or a subtree to a plain directory",
	  O(OWNERS) | O(DEVICES) | O(SETID) | O(UNSAFE_DEST) | O(CONFIG) | VEIL_OPTS_PASS, 0,
	  2, 3, veil_cmd_export },
	/* fsck keeps its own parser: its usage errors exit 16, as fsck(8)'s do. */
	{ "fsck", "[--repair] [--quick] [--json] [--config FILE] [--passfile FILE | --extpass CMD] "
		  "CIPHERDIR [PATH]",
	  "verify a volume; --repair repairs it (exit codes as fsck(8))", 0, 0, 0, 0, NULL,
	  veil_cmd_fsck },
	{ "path", "CIPHERDIR PATH", "map a plaintext path to its cipher path (--decrypt: back)",
	  O(DECRYPT) | O(CONFIG) | VEIL_OPTS_PASS, 0, 2, 2, veil_cmd_path },
	{ "speed", "", "measure this machine's cipher throughput (one core)", 0, 0, 0, 0,
	  veil_cmd_speed },
};
#undef O
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void synopsis(const struct veil_command *cmd, FILE *f)
{
	fputs(cmd->name, f);
	for (int i = 0; i < VEIL_OPT_COUNT; i++) {
		const struct optdef *d = &optdefs[i];

		if (!(cmd->opts & (1u << i)) || i == VEIL_OPT_EXTPASS)
			continue;
		if (d->name)
			fprintf(f, " [--%s", d->name);
		else
			fprintf(f, " [-%c", d->shortc);
		if (d->arg)
			fprintf(f, " %s", d->arg);
		if (i == VEIL_OPT_PASSFILE && (cmd->opts & VEIL_OPT_BIT(EXTPASS)))
			fprintf(f, " | --%s %s", optdefs[VEIL_OPT_EXTPASS].name,
				optdefs[VEIL_OPT_EXTPASS].arg);
		fputs(i == VEIL_OPT_EXCLUDE ? "]..." : "]", f);
	}
	if (cmd->operands[0])
		fprintf(f, " %s", cmd->operands);
}

void veil_cmd_usage(const struct veil_command *cmd, FILE *f)
{
	fputs("usage: veilfs ", f);
	synopsis(cmd, f);
	fputc('\n', f);
}

static void usage_msg(const struct veil_command *cmd, const char *what, const char *arg)
{
	fprintf(stderr, "veilfs: %s: %s%s%s%s (usage: veilfs ", cmd->name, what,
		arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
	synopsis(cmd, stderr);
	fputs(")\n", stderr);
}

int veil_cmd_usage_err(const struct veil_command *cmd)
{
	usage_msg(cmd, "wrong number of arguments", NULL);
	return VEIL_EXIT_USAGE;
}

static void args_release(struct veil_args *a)
{
	free(a->mount_opts);
	free(a->exclude);
	memset(a, 0, sizeof(*a));
}

/* Append one -o value to a->mount_opts. */
static int add_mount_opt(struct veil_args *a, const char *val)
{
	char *n;

	if (asprintf(&n, "%s%s%s", a->mount_opts ? a->mount_opts : "", a->mount_opts ? "," : "",
		     val) < 0)
		return -1;
	free(a->mount_opts);
	a->mount_opts = n;
	return 0;
}

/* Parse the options @cmd takes; returns -1 to go on, else an exit code. */
static int parse(const struct veil_command *cmd, int argc, char **argv, struct veil_args *a)
{
	struct option lo[VEIL_OPT_COUNT + 2];
	char shorts[16] = "+";
	size_t nlo = 0, ns = 1;

	for (int i = 0; i < VEIL_OPT_COUNT; i++) {
		const struct optdef *d = &optdefs[i];

		if (!((cmd->opts | cmd->ignored) & (1u << i)))
			continue;
		if (d->name)
			lo[nlo++] = (struct option){ d->name, d->arg ? required_argument : no_argument,
						     NULL, 1000 + i };
		if (d->shortc) {
			shorts[ns++] = d->shortc;
			if (d->arg)
				shorts[ns++] = ':';
		}
	}
	lo[nlo++] = (struct option){ "help", no_argument, NULL, 999 };
	lo[nlo] = (struct option){ NULL, 0, NULL, 0 };
	shorts[ns] = '\0';

	memset(a, 0, sizeof(*a));
	optind = 1;
	opterr = 0;
	for (;;) {
		int before = optind, o = getopt_long(argc, argv, shorts, lo, NULL), id = -1;

		if (o == -1)
			break;
		if (o == 999) {
			veil_cmd_usage(cmd, stdout);
			return VEIL_EXIT_OK;
		}
		for (int i = 0; i < VEIL_OPT_COUNT; i++)
			if (((cmd->opts | cmd->ignored) & (1u << i)) &&
			    (o == 1000 + i || (optdefs[i].shortc && o == optdefs[i].shortc)))
				id = i;
		if (id >= 0 && (cmd->ignored & (1u << id)))
			continue;
		switch (id) {
		case VEIL_OPT_REVERSE:
			a->reverse = true;
			break;
		case VEIL_OPT_EXCLUDE: {
			const char **g = realloc(a->exclude, (size_t)(a->nexclude + 1) * sizeof(*g));

			if (!g)
				return VEIL_EXIT_ERROR;
			a->exclude = g;
			a->exclude[a->nexclude++] = optarg;
			break;
		}
		case VEIL_OPT_CROSS_MOUNTS:
			a->cross_mounts = true;
			break;
		case VEIL_OPT_FOREGROUND:
			a->foreground = true;
			break;
		case VEIL_OPT_DEBUG:
			a->debug = a->foreground = true;
			break;
		case VEIL_OPT_RO:
			a->ro = true;
			break;
		case VEIL_OPT_O:
			if (add_mount_opt(a, optarg) < 0)
				return VEIL_EXIT_ERROR;
			break;
		case VEIL_OPT_FDCACHE:
			if (veil_fd_cache_parse(optarg, &a->fd_cache) < 0) {
				veil_err("%s: --fd-cache takes a number from 16 up", cmd->name);
				return VEIL_EXIT_USAGE;
			}
			break;
		case VEIL_OPT_IDLE:
			if (veil_duration_parse(optarg, &a->idle) < 0) {
				veil_err("%s: --idle takes a duration such as 90s, 15m or 1h", cmd->name);
				return VEIL_EXIT_USAGE;
			}
			break;
		case VEIL_OPT_LAZY:
			a->lazy = true;
			break;
		case VEIL_OPT_DECRYPT:
			a->decrypt = true;
			break;
		case VEIL_OPT_DEVICES:
			a->devices = true;
			break;
		case VEIL_OPT_SETID:
			a->setid = true;
			break;
		case VEIL_OPT_OWNERS:
			a->owners = true;
			break;
		case VEIL_OPT_UNSAFE_DEST:
			a->unsafe_dest = true;
			break;
		case VEIL_OPT_KDF:
			a->kdf = optarg;
			break;
		case VEIL_OPT_RECOVERY:
			a->recovery = true;
			break;
		case VEIL_OPT_LABEL:
			a->label = optarg;
			break;
		case VEIL_OPT_RKFILE:
			a->rkfile = optarg;
			break;
		case VEIL_OPT_NORK:
			a->no_rk = true;
			break;
		case VEIL_OPT_JSON:
			a->json = true;
			break;
		case VEIL_OPT_CONFIG:
			a->config = optarg;
			break;
		case VEIL_OPT_MOUNTED:
			a->mounted = true;
			break;
		case VEIL_OPT_PASSFILE:
			a->src.passfile = optarg;
			break;
		case VEIL_OPT_EXTPASS:
			a->src.extpass = optarg;
			break;
		default:
			usage_msg(cmd, "unknown or incomplete option", argv[before]);
			return VEIL_EXIT_USAGE;
		}
	}
	if (a->src.passfile && a->src.extpass) {
		veil_err("--passfile and --extpass cannot be used together");
		return VEIL_EXIT_USAGE;
	}
	if (a->rkfile && a->no_rk) {
		veil_err("--recovery-key-file and --no-recovery-key cannot be used together");
		return VEIL_EXIT_USAGE;
	}
	a->argc = argc - optind;
	a->argv = argv + optind;
	if (a->argc < cmd->min_args || a->argc > cmd->max_args)
		return veil_cmd_usage_err(cmd);
	return -1;
}

/*
 * mount(8) with -t fuse.veilfs (fstab too) runs mount.fuse3, which runs
 * "veilfs SOURCE MOUNTPOINT -o OPTIONS": that is "veilfs mount -o OPTIONS
 * SOURCE MOUNTPOINT". Only -o may follow the two paths; stdin is
 * /dev/null there, so the passphrase comes from passfile= or extpass=.
 */
static int mount_helper(int argc, char **argv)
{
	const struct veil_command *mount = NULL;
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	struct veil_args a;
	int n = 0, ret;

	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, "mount") == 0)
			mount = &commands[i];
	if (!args || !mount) {
		free(args);
		veil_err("out of memory");
		return VEIL_EXIT_ERROR;
	}
	args[n++] = "mount";
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "-o") != 0 || i + 1 == argc) {
			veil_err("as a mount helper, veilfs takes SOURCE MOUNTPOINT [-o OPTIONS]; "
				 "'%s' is not that (try 'veilfs --help')", argv[i]);
			free(args);
			return VEIL_EXIT_USAGE;
		}
		args[n++] = argv[i++];
		args[n++] = argv[i];
	}
	args[n++] = argv[1];
	args[n++] = argv[2];
	ret = parse(mount, n, args, &a);
	if (ret < 0)
		ret = mount->run(mount, &a);
	args_release(&a);
	free(args);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: veilfs COMMAND [OPTIONS] ARGS\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'veilfs COMMAND --help' describes a command; man page: docs/veilfs.1\n");
}

/* Every command's synopsis, one per line (docs/veilfs.1 is checked against it). */
static void all_synopses(void)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		fputs("veilfs ", stdout);
		synopsis(&commands[i], stdout);
		fputc('\n', stdout);
	}
}

/*
 * Shell completion, made from the tables above. What an option's argument
 * completes to follows from its name: a list "a|b|c" to its words (the KDF
 * profiles), FILE to file names, CMD to command names, anything else to
 * nothing. An operand whose name ends in DIR, and MOUNTPOINT, completes to
 * directories; other operands (a PATH inside a volume, a SLOT) to nothing.
 */
enum argkind { ARG_NONE, ARG_WORDS, ARG_FILE, ARG_CMD };

static enum argkind arg_kind(const char *arg)
{
	if (strchr(arg, '|'))
		return ARG_WORDS;
	if (strcmp(arg, "FILE") == 0)
		return ARG_FILE;
	if (strcmp(arg, "CMD") == 0)
		return ARG_CMD;
	return ARG_NONE;
}

static bool is_dir_operand(const char *w, size_t n)
{
	return (n >= 3 && strncmp(w + n - 3, "DIR", 3) == 0) ||
	       (n == 10 && strncmp(w, "MOUNTPOINT", 10) == 0);
}

/*
 * The words of an operands string (or of a raw command's synopsis) one by
 * one: *w and *n the word without its brackets, *opt whether it stands in
 * the option part, *optional whether it is in brackets. Stops at "|" outside
 * brackets (the alternative of rekey). Returns false at the end.
 */
struct opwalk {
	const char *p;
	int depth;
	bool in_opt;
};

static bool opwalk_next(struct opwalk *o, const char **w, size_t *n, bool *opt, bool *optional)
{
	for (;;) {
		size_t len;
		int depth;

		o->p += strspn(o->p, " ");
		if (!*o->p)
			return false;
		len = strcspn(o->p, " ");
		*w = o->p;
		o->p += len;
		depth = o->depth;
		while (len && **w == '[') {
			(*w)++, len--, depth++;
			o->depth++;
		}
		while (len && (*w)[len - 1] == ']') {
			len--;
			o->depth--;
		}
		if (len == 1 && **w == '|') {
			if (depth == 0)
				return false;
			continue;
		}
		if (len >= 2 && strncmp(*w, "--", 2) == 0)
			o->in_opt = true;
		else if (depth == 0 || !o->in_opt)
			o->in_opt = false;
		*opt = o->in_opt;
		*optional = depth > 0;
		*n = len;
		if (o->depth <= 0) {
			o->depth = 0;
			o->in_opt = false;
		}
		return true;
	}
}

/* Print s for a single-quoted shell word. */
static void put_quoted(const char *s, size_t n, bool brackets)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		if (s[i] == '\'')
			fputs("'\\''", stdout);
		else if (brackets && (s[i] == '[' || s[i] == ']'))
			printf("\\%c", s[i]);
		else
			putchar(s[i]);
	}
}

static bool all_dir_operands(const struct veil_command *c)
{
	struct opwalk o = { c->operands, 0, false };
	const char *w;
	size_t n;
	bool opt, optional, any = false;

	while (opwalk_next(&o, &w, &n, &opt, &optional)) {
		if (opt)
			continue;
		if (!is_dir_operand(w, n))
			return false;
		any = true;
	}
	return any;
}

/*
 * Two-word commands share their first word, which a completion lists
 * once: whether command @i (first word ending at @sp, or NULL for a
 * one-word command) starts with the word its predecessor already listed.
 */
static bool first_word_listed(size_t i, const char *sp)
{
	return sp && i &&
	       strncmp(commands[i - 1].name, commands[i].name, (size_t)(sp - commands[i].name) + 1) == 0;
}

/* A bash completion script: commands, each command's options and operands. */
static void completion_bash(void)
{
	static const char *const kinds[] = { [ARG_FILE] = "-f", [ARG_CMD] = "-c" };

	printf("# bash completion for veilfs (generated by 'veilfs --completion bash')\n"
	       "_veilfs() {\n"
	       "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	       "\tlocal cmd=${COMP_WORDS[1]} words dirs=\n"
	       "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n"
	       "\t\tCOMPREPLY=($(compgen -W '");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *sp = strchr(commands[i].name, ' ');

		if (first_word_listed(i, sp))
			continue;
		printf("%s%.*s", i ? " " : "", sp ? (int)(sp - commands[i].name) : 64,
		       commands[i].name);
	}
	printf(" --help --version' -- \"$cur\"))\n\t\treturn\n\tfi\n"
	       "\tif [ \"$cmd\" = key ]; then\n"
	       "\t\tif [ \"$COMP_CWORD\" -eq 2 ]; then\n"
	       "\t\t\tCOMPREPLY=($(compgen -W '");
	for (size_t i = 0, n = 0; i < NCOMMANDS; i++)
		if (strncmp(commands[i].name, "key ", 4) == 0)
			printf("%s%s", n++ ? " " : "", commands[i].name + 4);
	printf("' -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n"
	       "\t\tcmd=\"key ${COMP_WORDS[2]}\"\n\tfi\n"
	       "\tcase $cmd in\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		printf("\t'%s') words='--help", commands[i].name);
		for (int j = 0; j < VEIL_OPT_COUNT; j++) {
			if (!(commands[i].opts & (1u << j)))
				continue;
			if (optdefs[j].name)
				printf(" --%s", optdefs[j].name);
			else
				printf(" -%c", optdefs[j].shortc);
		}
		/* A command with its own parser: the options its synopsis names. */
		for (const char *o = commands[i].raw ? commands[i].operands : ""; (o = strstr(o, "--"));) {
			size_t n = strspn(o + 2, "abcdefghijklmnopqrstuvwxyz-");

			printf(" %.*s", (int)n + 2, o);
			o += n + 2;
		}
		printf("'%s ;;\n", all_dir_operands(&commands[i]) ? "; dirs=1" : "");
	}
	printf("\tesac\n\tcase $prev in\n");
	/* An option's argument, by its kind. */
	for (int k = ARG_NONE; k <= ARG_CMD; k++) {
		int n = 0;

		for (int j = 0; j < VEIL_OPT_COUNT; j++) {
			if (!optdefs[j].arg || (int)arg_kind(optdefs[j].arg) != k)
				continue;
			if (optdefs[j].name)
				printf("%s--%s", n++ ? "|" : "\t", optdefs[j].name);
			else
				printf("%s-%c", n++ ? "|" : "\t", optdefs[j].shortc);
		}
		if (!n)
			continue;
		if (k == ARG_NONE) {
			printf(") COMPREPLY=(); return ;;\n");
		} else if (k == ARG_WORDS) {
			printf(") COMPREPLY=($(compgen -W '");
			for (int j = 0; j < VEIL_OPT_COUNT; j++)
				if (optdefs[j].arg && arg_kind(optdefs[j].arg) == ARG_WORDS)
					for (const char *a = optdefs[j].arg; *a; a++)
						putchar(*a == '|' ? ' ' : *a);
			printf("' -- \"$cur\")); return ;;\n");
		} else {
			printf(") COMPREPLY=($(compgen %s -- \"$cur\")); return ;;\n", kinds[k]);
		}
	}
	printf("\tesac\n"
	       "\tcase $cur in\n"
	       "\t-*) COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")) ;;\n"
	       "\t*) if [ -n \"$dirs\" ]; then COMPREPLY=($(compgen -d -- \"$cur\"))\n"
	       "\t   else COMPREPLY=($(compgen -f -- \"$cur\")); fi ;;\n"
	       "\tesac\n"
	       "}\n"
	       "complete -o filenames -F _veilfs veilfs\n");
}

/* One _arguments spec of an option: 'NAME[HELP]:ARG:ACTION'. */
static void zsh_option(const char *name, size_t nlen, const char *help, const char *arg,
		       size_t alen, const char *exclude)
{
	char a[64];

	/* --exclude may be given more than once. */
	printf("\t\t'%s%s", exclude ? exclude : "",
	       nlen == 7 && strncmp(name, "exclude", nlen) == 0 ? "*" : "");
	printf("%s%.*s", nlen == 1 ? "-" : "--", (int)nlen, name);
	if (*help) {
		printf("[");
		put_quoted(help, strlen(help), true);
		printf("]");
	}
	if (arg) {
		snprintf(a, sizeof(a), "%.*s", (int)alen, arg);
		/* The message: the argument's name ("opt" of OPT[,OPT...]), or
		 * for a list of words the option's name. */
		printf(":");
		if (arg_kind(a) == ARG_WORDS)
			printf("%.*s", (int)nlen, name);
		else
			for (char *c = a; *c && *c != '['; c++)
				putchar(tolower((unsigned char)*c));
		switch (arg_kind(a)) {
		case ARG_WORDS:
			printf(":(");
			for (char *c = a; *c; c++)
				putchar(*c == '|' ? ' ' : *c);
			printf(")");
			break;
		case ARG_FILE:
			printf(":_files");
			break;
		case ARG_CMD:
			printf(":_command_names -e");
			break;
		case ARG_NONE:
			printf(": ");
			break;
		}
	}
	printf("'\n");
}

/* One _arguments spec of an operand: 'POS:NAME:ACTION', '*:NAME:ACTION' if pos is 0. */
static void zsh_operand(const char *w, size_t n, int pos, bool optional)
{
	if (pos)
		printf("\t\t'%d:%s", pos, optional ? ":" : "");
	else
		printf("\t\t'*:");
	for (size_t k = 0; k < n; k++)
		putchar(tolower((unsigned char)w[k]));
	printf(":%s'\n", is_dir_operand(w, n) ? "_files -/" : " ");
}

/* A zsh completion function (#compdef veilfs). */
static void completion_zsh(void)
{
	printf("#compdef veilfs\n"
	       "# zsh completion for veilfs (generated by 'veilfs --completion zsh')\n\n"
	       "_veilfs() {\n"
	       "\tlocal -a cmds args\n"
	       "\tlocal cmd\n"
	       "\tif (( CURRENT == 2 )); then\n"
	       "\t\tcmds=(\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *sp = strchr(commands[i].name, ' ');

		if (first_word_listed(i, sp))
			continue;
		if (sp) {
			printf("\t\t\t'%.*s:", (int)(sp - commands[i].name), commands[i].name);
			printf("key slots (");
			for (size_t j = i, n = 0; j < NCOMMANDS; j++)
				if (strncmp(commands[j].name, commands[i].name,
					    (size_t)(sp - commands[i].name) + 1) == 0)
					printf("%s%s", n++ ? ", " : "", strchr(commands[j].name, ' ') + 1);
			printf(")'\n");
			continue;
		}
		printf("\t\t\t'%s:", commands[i].name);
		put_quoted(commands[i].summary, strlen(commands[i].summary), false);
		printf("'\n");
	}
	printf("\t\t)\n"
	       "\t\t_describe -t commands 'veilfs command' cmds\n"
	       "\t\t[[ $PREFIX == -* ]] && compadd -- --help --version\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tcmd=$words[2]\n"
	       "\tif [[ $cmd == key ]]; then\n"
	       "\t\tif (( CURRENT == 3 )); then\n"
	       "\t\t\tcmds=(\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strncmp(commands[i].name, "key ", 4) == 0) {
			printf("\t\t\t\t'%s:", commands[i].name + 4);
			put_quoted(commands[i].summary, strlen(commands[i].summary), false);
			printf("'\n");
		}
	printf("\t\t\t)\n"
	       "\t\t\t_describe -t commands 'veilfs key command' cmds\n"
	       "\t\t\treturn\n"
	       "\t\tfi\n"
	       "\t\tcmd=\"key $words[3]\"\n"
	       "\t\tshift words\n"
	       "\t\t(( CURRENT-- ))\n"
	       "\tfi\n"
	       "\tshift words\n"
	       "\t(( CURRENT-- ))\n"
	       "\tcase $cmd in\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct veil_command *c = &commands[i];
		struct opwalk o = { c->operands, 0, false };
		const char *w, *optname = NULL;
		size_t n, optlen = 0;
		const char *rest = NULL;
		size_t restlen = 0;
		bool opt, optional;
		int pos = 0;

		printf("\t('%s')\n\t\targs=(\n\t\t'--help[show the usage]'\n", c->name);
		for (int j = 0; j < VEIL_OPT_COUNT; j++) {
			const struct optdef *d = &optdefs[j];
			const char *ex = NULL;

			if (!(c->opts & (1u << j)))
				continue;
			if (j == VEIL_OPT_PASSFILE && (c->opts & VEIL_OPT_BIT(EXTPASS)))
				ex = "(--extpass)";
			if (j == VEIL_OPT_EXTPASS && (c->opts & VEIL_OPT_BIT(PASSFILE)))
				ex = "(--passfile)";
			if (d->name)
				zsh_option(d->name, strlen(d->name), d->help, d->arg,
					   d->arg ? strlen(d->arg) : 0, ex);
			else
				zsh_option(&d->shortc, 1, d->help, d->arg, d->arg ? strlen(d->arg) : 0,
					   ex);
		}
		/* The options a raw command's synopsis names, then every operand. */
		while (opwalk_next(&o, &w, &n, &opt, &optional)) {
			if (opt && n >= 2 && strncmp(w, "--", 2) == 0) {
				if (optname)
					zsh_option(optname + 2, optlen - 2, "", NULL, 0, NULL);
				optname = w, optlen = n;
				continue;
			}
			if (opt) {
				if (optname)
					zsh_option(optname + 2, optlen - 2, "", w, n, NULL);
				optname = NULL;
				continue;
			}
			if (optname)
				zsh_option(optname + 2, optlen - 2, "", NULL, 0, NULL);
			optname = NULL;
			/* An optional operand that is not the last (export's [PATH]
			 * DESTDIR) makes the positions of the rest unknown: it is left
			 * out and the rest complete as the last one does. */
			if (optional && !rest) {
				rest = w;
				restlen = n;
				continue;
			}
			zsh_operand(w, n, rest ? 0 : ++pos, false);
			if (rest)
				rest = "";
		}
		if (rest && *rest)
			zsh_operand(rest, restlen, ++pos, true);
		if (optname)
			zsh_option(optname + 2, optlen - 2, "", NULL, 0, NULL);
		printf("\t\t) ;;\n");
	}
	printf("\t(*)\n\t\t_message 'no such veilfs command'\n\t\treturn 1 ;;\n"
	       "\tesac\n"
	       "\t_arguments -s -S $args\n"
	       "}\n\n"
	       "_veilfs \"$@\"\n");
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
	if (strcmp(argv[1], "--synopsis") == 0) {
		all_synopses();
		return VEIL_EXIT_OK;
	}
	/* --completion [bash|zsh]: a completion script (bash if not named). */
	if (strcmp(argv[1], "--completion") == 0) {
		if (argc == 2 || (argc == 3 && strcmp(argv[2], "bash") == 0)) {
			completion_bash();
			return VEIL_EXIT_OK;
		}
		if (argc == 3 && strcmp(argv[2], "zsh") == 0) {
			completion_zsh();
			return VEIL_EXIT_OK;
		}
		veil_err("--completion takes bash or zsh");
		return VEIL_EXIT_USAGE;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *name = commands[i].name, *sp = strchr(name, ' ');
		struct veil_args a;
		int ret, words = 1;

		/* "key add": two words. */
		if (sp) {
			if (strncmp(argv[1], name, (size_t)(sp - name)) != 0 ||
			    argv[1][sp - name] != '\0')
				continue;
			if (argc < 3 || strcmp(argv[2], sp + 1) != 0)
				continue;
			words = 2;
		} else if (strcmp(argv[1], name) != 0) {
			continue;
		}
		if (commands[i].raw)
			return commands[i].raw(argc - words, argv + words);
		ret = parse(&commands[i], argc - words, argv + words, &a);
		if (ret < 0)
			ret = commands[i].run(&commands[i], &a);
		args_release(&a);
		return ret;
	}
	if (strcmp(argv[1], "key") == 0) {
		veil_err("key: %s%s%s (usage: veilfs key list|add|remove ...)",
			 argc < 3 ? "which one" : "unknown key command '", argc < 3 ? "" : argv[2],
			 argc < 3 ? "?" : "'");
		return VEIL_EXIT_USAGE;
	}
	if (argc >= 3 && argv[1][0] != '-' && strchr(argv[1], '/'))
		return mount_helper(argc, argv);
	veil_err("unknown command '%s' (try 'veilfs --help')", argv[1]);
	return VEIL_EXIT_USAGE;
}
