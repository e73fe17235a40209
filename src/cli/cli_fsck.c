/* SPDX-License-Identifier: MIT */
/*
 * veilfs fsck [--repair] [--quick] [--json] CIPHERDIR [PATH]
 *
 * Exit status as fsck(8): 0 clean, 1 problems corrected, 4 problems left
 * uncorrected, 8 operational error, 16 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "lib/fsck.h"

enum {
	FSCK_EXIT_OK = 0,
	FSCK_EXIT_CORRECTED = 1,
	FSCK_EXIT_UNCORRECTED = 4,
	FSCK_EXIT_ERROR = 8,
	FSCK_EXIT_USAGE = 16,
};

enum { OPT_PASSFILE = 1000, OPT_EXTPASS, OPT_CONFIG, OPT_HELP, OPT_REPAIR, OPT_QUICK, OPT_JSON };

static const char *use = "fsck [--repair] [--quick] [--json] [--config FILE] "
			 "[--passfile FILE | --extpass CMD] CIPHERDIR [PATH]";

struct out {
	bool json, tty;
	bool progress_shown;
	double last;
};

/* A JSON string: escapes quotes, backslashes and control bytes. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void clear_progress(struct out *o)
{
	if (o->progress_shown) {
		fputs("\r\033[K", stderr);
		o->progress_shown = false;
	}
}

static const char *evtype_name(enum veil_fsck_evtype t, bool json)
{
	switch (t) {
	case VEIL_FSCK_EV_PROBLEM:
		return "problem";
	case VEIL_FSCK_EV_NOTE:
		return "note";
	case VEIL_FSCK_EV_ACTION:
		return json ? "repaired" : "repaired";
	case VEIL_FSCK_EV_FAILED:
		return json ? "not-repaired" : "NOT repaired";
	}
	return "?";
}

static void on_event(void *ctx, const struct veil_fsck_event *ev)
{
	struct out *o = ctx;
	/* Names may come from whoever can write the cipher directory: escaped. */
	size_t psz = 4 * strlen(ev->path) + 1, wsz = 4 * strlen(ev->what) + 1;
	char *path = malloc(psz), *what = malloc(wsz);

	clear_progress(o);
	if (!path || !what) {
		free(path);
		free(what);
		return;
	}
	veil_escape(path, psz, ev->path);
	veil_escape(what, wsz, ev->what);
	if (o->json) {
		printf("{\"type\":\"%s\",\"kind\":\"%s\",\"path\":", evtype_name(ev->type, true),
		       veil_fsck_kind_name(ev->kind));
		json_str(stdout, path);
		printf(",\"cipher_path\":%s", ev->cipher ? "true" : "false");
		if (ev->block >= 0)
			printf(",\"block\":%lld", (long long)ev->block);
		if (ev->type == VEIL_FSCK_EV_ACTION)
			printf(",\"bytes_lost\":%llu", (unsigned long long)ev->bytes_lost);
		printf(",\"message\":");
		json_str(stdout, what);
		printf("}\n");
	} else {
		const char *tag = ev->type == VEIL_FSCK_EV_PROBLEM ? "" : evtype_name(ev->type, false);

		printf("%s%s: %s%s%s\n", ev->cipher ? "[cipher] " : "", path, tag, tag[0] ? ": " : "",
		       what);
	}
	fflush(stdout);
	free(path);
	free(what);
}

static void on_progress(void *ctx, const struct veil_fsck_stats *s)
{
	struct out *o = ctx;
	double rate;

	if (!o->tty || s->seconds - o->last < 0.25)
		return;
	o->last = s->seconds;
	rate = s->seconds > 0 ? (double)s->bytes / s->seconds : 0;
	fprintf(stderr, "\r\033[K%llu", (unsigned long long)s->objects);
	if (s->total_objects)
		fprintf(stderr, "/%llu", (unsigned long long)s->total_objects);
	fprintf(stderr, " objects, %.1f", (double)s->bytes / 1e6);
	if (s->total_bytes)
		fprintf(stderr, "/%.1f", (double)s->total_bytes / 1e6);
	fprintf(stderr, " MB, %.1f MB/s", rate / 1e6);
	if (rate > 0 && s->total_bytes > s->bytes)
		fprintf(stderr, ", %.0f s left", (double)(s->total_bytes - s->bytes) / rate);
	o->progress_shown = true;
}

static void summary(const struct out *o, const struct veil_fsck_stats *s, bool repair, int code)
{
	double mbs = s->seconds > 0 ? (double)s->bytes / 1e6 / s->seconds : 0;

	if (o->json) {
		bool first = true;

		printf("{\"type\":\"summary\",\"objects\":%llu,\"bytes\":%llu,\"seconds\":%.3f,"
		       "\"mb_per_s\":%.1f,\"problems\":%llu,\"corrected\":%llu,\"uncorrected\":%llu,"
		       "\"notes\":%llu,\"by_kind\":{",
		       (unsigned long long)s->objects, (unsigned long long)s->bytes, s->seconds, mbs,
		       (unsigned long long)s->problems, (unsigned long long)s->corrected,
		       (unsigned long long)s->uncorrected, (unsigned long long)s->notes);
		for (int k = 0; k < VEIL_FSCK_NKINDS; k++)
			if (s->by_kind[k]) {
				printf("%s\"%s\":%llu", first ? "" : ",",
				       veil_fsck_kind_name((enum veil_fsck_kind)k),
				       (unsigned long long)s->by_kind[k]);
				first = false;
			}
		printf("},\"exit\":%d}\n", code);
		return;
	}
	printf("veilfs fsck: %llu objects, %llu bytes checked in %.2f s (%.1f MB/s)\n",
	       (unsigned long long)s->objects, (unsigned long long)s->bytes, s->seconds, mbs);
	if (s->problems) {
		bool first = true;

		printf("veilfs fsck: %llu problem(s):", (unsigned long long)s->problems);
		for (int k = 0; k < VEIL_FSCK_CONFLICT; k++)
			if (s->by_kind[k]) {
				printf("%s %s %llu", first ? "" : ",",
				       veil_fsck_kind_name((enum veil_fsck_kind)k),
				       (unsigned long long)s->by_kind[k]);
				first = false;
			}
		if (repair)
			printf("; %llu corrected, %llu left\n", (unsigned long long)s->corrected,
			       (unsigned long long)s->uncorrected);
		else
			printf("; run 'veilfs fsck --repair' to repair them\n");
	} else {
		printf("veilfs fsck: no problems found\n");
	}
	if (s->notes)
		printf("veilfs fsck: listed, not errors: %llu conflict cop%s, %llu foreign file(s)\n",
		       (unsigned long long)s->by_kind[VEIL_FSCK_CONFLICT],
		       s->by_kind[VEIL_FSCK_CONFLICT] == 1 ? "y" : "ies",
		       (unsigned long long)s->by_kind[VEIL_FSCK_FOREIGN]);
}

int veil_cmd_fsck(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "passfile", required_argument, NULL, OPT_PASSFILE },
		{ "extpass", required_argument, NULL, OPT_EXTPASS },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "repair", no_argument, NULL, OPT_REPAIR },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct veil_passsrc src = { 0 };
	struct veil_fsck_opts fo = { 0 };
	struct veil_fsck_stats s;
	struct veil_volume *v = NULL;
	struct out o = { 0 };
	const char *config = NULL;
	int ret, lockfd = -1;

	optind = 1;
	opterr = 0;
	for (;;) {
		int before = optind, c = getopt_long(argc, argv, "+", lo, NULL);

		if (c == -1)
			break;
		switch (c) {
		case OPT_PASSFILE:
			src.passfile = optarg;
			break;
		case OPT_EXTPASS:
			src.extpass = optarg;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_REPAIR:
			fo.repair = true;
			break;
		case OPT_QUICK:
			fo.quick = true;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_HELP:
			printf("usage: veilfs %s\n", use);
			return FSCK_EXIT_OK;
		default:
			veil_err("fsck: unknown or incomplete option '%s' (usage: veilfs %s)",
				 argv[before], use);
			return FSCK_EXIT_USAGE;
		}
	}
	if (src.passfile && src.extpass) {
		veil_err("--passfile and --extpass cannot be used together");
		return FSCK_EXIT_USAGE;
	}
	if (argc - optind < 1 || argc - optind > 2) {
		veil_err("fsck: wrong number of arguments (usage: veilfs %s)", use);
		return FSCK_EXIT_USAGE;
	}
	/*
	 * Every mount holds a shared lock on the cipher directory: a repair
	 * needs it exclusively (and keeps it, so no mount starts meanwhile).
	 */
	lockfd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lockfd >= 0 && flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (fo.repair) {
			veil_err("fsck: %s is mounted (or being repaired); refusing to repair it: "
				 "unmount it first",
				 argv[optind]);
			close(lockfd);
			return FSCK_EXIT_ERROR;
		}
		fprintf(stderr, "veilfs: fsck: %s is mounted: checking read-only; files written "
				"meanwhile may be reported\n",
			argv[optind]);
	} else if (lockfd >= 0 && !fo.repair) {
		flock(lockfd, LOCK_UN);
	}
	ret = veil_cli_open(argv[optind], config, &src, &v);
	if (ret != 0) {
		if (lockfd >= 0)
			close(lockfd);
		/* A damaged header is a problem of the volume that fsck cannot repair. */
		return ret == VEIL_EXIT_CORRUPT ? FSCK_EXIT_UNCORRECTED : FSCK_EXIT_ERROR;
	}
	if (v->reverse) {
		veil_err("fsck: %s is a plaintext folder prepared for reverse mode; nothing to check",
			 argv[optind]);
		ret = FSCK_EXIT_USAGE;
		goto out;
	}
	o.tty = isatty(STDERR_FILENO);
	fo.path = argc - optind == 2 ? argv[optind + 1] : "";
	fo.count_first = o.tty;
	fo.event = on_event;
	fo.progress = on_progress;
	fo.ctx = &o;
	ret = veil_fsck_run(v, &fo, &s);
	clear_progress(&o);
	if (ret < 0) {
		veil_err("fsck: %s%s%s: %s", argv[optind], fo.path[0] ? ": " : "", fo.path,
			 strerror(-ret));
		ret = FSCK_EXIT_ERROR;
		summary(&o, &s, fo.repair, ret);
		goto out;
	}
	if (s.problems == 0)
		ret = FSCK_EXIT_OK;
	else if (fo.repair && s.uncorrected == 0)
		ret = FSCK_EXIT_CORRECTED;
	else
		ret = FSCK_EXIT_UNCORRECTED;
	summary(&o, &s, fo.repair, ret);
out:
	fflush(stdout);
	veil_volume_close(v);
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}
