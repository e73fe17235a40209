/* SPDX-License-Identifier: MIT */
/*
 * Offline restore and name mapping, without FUSE:
 *   veilfs export CIPHERDIR [PATH] DESTDIR
 *   veilfs path [--decrypt] CIPHERDIR PATH
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_PASSFILE = 1000, OPT_EXTPASS, OPT_CONFIG, OPT_DECRYPT, OPT_HELP, OPT_DEVICES, OPT_SETID };

struct opts {
	struct veil_passsrc src;
	const char *config;
	int decrypt;
	int devices; /* export: recreate device nodes */
	int setid;   /* export: keep set-uid/set-gid bits of files */
};

static int parse(int argc, char **argv, const char *use, int allow_decrypt, struct opts *o)
{
	static const struct option lo[] = {
		{ "passfile", required_argument, NULL, OPT_PASSFILE },
		{ "extpass", required_argument, NULL, OPT_EXTPASS },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "decrypt", no_argument, NULL, OPT_DECRYPT },
		{ "devices", no_argument, NULL, OPT_DEVICES },
		{ "setid", no_argument, NULL, OPT_SETID },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	for (;;) {
		int before = optind, c = getopt_long(argc, argv, "+", lo, NULL);

		if (c == -1)
			break;
		switch (c) {
		case OPT_PASSFILE:
			o->src.passfile = optarg;
			break;
		case OPT_EXTPASS:
			o->src.extpass = optarg;
			break;
		case OPT_CONFIG:
			o->config = optarg;
			break;
		case OPT_DECRYPT:
			if (allow_decrypt != 1)
				goto bad;
			o->decrypt = 1;
			break;
		case OPT_DEVICES:
		case OPT_SETID:
			if (allow_decrypt != 2)
				goto bad;
			*(c == OPT_DEVICES ? &o->devices : &o->setid) = 1;
			break;
		case OPT_HELP:
			printf("usage: veilfs %s\n", use);
			return VEIL_EXIT_OK;
		default:
bad:
			veil_err("%s: unknown or incomplete option '%s' (usage: veilfs %s)", argv[0],
				 argv[before], use);
			return VEIL_EXIT_USAGE;
		}
	}
	if (o->src.passfile && o->src.extpass) {
		veil_err("--passfile and --extpass cannot be used together");
		return VEIL_EXIT_USAGE;
	}
	return -1;
}

/* Hard links already restored: cipher (dev, ino) -> restored path. */
struct link_ent {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct export {
	struct veil_volume *v;
	int errors;
	uint64_t files, bytes, total_bytes, total_files;
	struct link_ent *links;
	size_t nlinks, caplinks;
	int progress;
	struct timespec start;
	uint8_t *buf;
	size_t bufsz;
	int is_root;
	int devices, setid; /* see struct opts */
	int held_back;      /* device nodes and set-id bits not restored */
};

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress(struct export *x, int final)
{
	static double last;
	double el = since(&x->start), rate;

	if (!x->progress || (!final && el - last < 0.2))
		return;
	last = el;
	rate = el > 0 ? (double)x->bytes / el : 0;
	fprintf(stderr, "\r%llu/%llu files, %.1f/%.1f MiB, %.1f MiB/s",
		(unsigned long long)x->files, (unsigned long long)x->total_files,
		(double)x->bytes / 1048576.0, (double)x->total_bytes / 1048576.0, rate / 1048576.0);
	if (rate > 0 && !final)
		fprintf(stderr, ", ETA %.0f s   ",
			(double)(x->total_bytes - (x->bytes < x->total_bytes ? x->bytes : x->total_bytes)) /
				rate);
	else
		fputs("             ", stderr);
	if (final)
		fputc('\n', stderr);
}

static void report(struct export *x, const char *path, const char *what)
{
	if (x->progress)
		fputc('\n', stderr);
	veil_err("export: %s: %s; skipped", path, what);
	x->errors++;
}

static char *join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s%s%s", a, a[0] ? "/" : "", b) < 0)
		return NULL;
	return p;
}

static void set_meta(struct export *x, int dfd, const char *name, const struct stat *st, int is_link)
{
	struct timespec tv[2] = { st->st_atim, st->st_mtim };
	int flags = is_link ? AT_SYMLINK_NOFOLLOW : 0;

	mode_t mode = st->st_mode & 07777;

	/*
	 * Owners and modes are not authenticated (format.md §12): set-id bits
	 * on files are restored only on request, so a tampered copy cannot
	 * plant a set-uid program.
	 */
	if (S_ISREG(st->st_mode) && (mode & (S_ISUID | S_ISGID)) && !x->setid) {
		mode &= (mode_t)~(S_ISUID | S_ISGID);
		x->held_back++;
	}
	if (x->is_root)
		(void)!fchownat(dfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
	if (!is_link)
		(void)!fchmodat(dfd, name, mode, 0);
	(void)!utimensat(dfd, name, tv, flags);
}

/* Decrypt the user xattrs of cipher file @sname onto restored file @dname. */
static void copy_xattrs(struct export *x, int sdir, const char *sname, int ddir, const char *dname,
			const char *path)
{
	char sp[64], dp[64], plain[256];
	int sfd = openat(sdir, sname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int dfd = openat(ddir, dname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	char *list = NULL;
	uint8_t *cval = NULL, *val = NULL;
	ssize_t len;

	if (sfd < 0 || dfd < 0)
		goto out;
	snprintf(sp, sizeof(sp), "/proc/self/fd/%d", sfd);
	snprintf(dp, sizeof(dp), "/proc/self/fd/%d", dfd);
	len = listxattr(sp, NULL, 0);
	if (len <= 0)
		goto out;
	list = malloc((size_t)len);
	cval = malloc(65536);
	val = malloc(65536);
	if (!list || !cval || !val || (len = listxattr(sp, list, (size_t)len)) < 0)
		goto out;
	for (char *p = list; p < list + len; p += strlen(p) + 1) {
		ssize_t cl;
		long vl;

		if (veil_xattr_name_decrypt(x->v->keys, p, plain) < 0)
			continue;
		cl = getxattr(sp, p, cval, 65536);
		vl = cl < 0 ? -EIO : veil_xattr_value_decrypt(x->v->keys, p, cval, (size_t)cl, val);
		if (vl < 0) {
			char msg[300];

			snprintf(msg, sizeof(msg), "xattr %s does not authenticate", plain);
			report(x, path, msg);
			continue;
		}
		if (setxattr(dp, plain, val, (size_t)vl, 0) < 0 && errno != ENOTSUP)
			report(x, path, strerror(errno));
	}
out:
	if (val)
		veil_wipe(val, 65536);
	free(list);
	free(cval);
	free(val);
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
}

static int copy_file(struct export *x, int sdir, const char *sname, int ddir, const char *dname,
		     const char *path)
{
	struct veil_fstate st = { 0 };
	uint64_t off = 0;
	int in, out, ret = 0;

	in = openat(sdir, sname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0) {
		report(x, path, strerror(errno));
		return 0;
	}
	{
		struct stat sb;

		if (fstat(in, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			report(x, path, "changed into something other than a file");
			close(in);
			return -1;
		}
	}
	out = openat(ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		report(x, path, strerror(errno));
		close(in);
		return 0;
	}
	for (;;) {
		ssize_t r = veil_file_read(&x->v->cc, in, &st, x->buf, x->bufsz, off);

		if (r == -EBADMSG) {
			char msg[200];

			snprintf(msg, sizeof(msg), "block %llu: %s", (unsigned long long)st.bad_block,
				 veil_block_fault_str(st.fault));
			ret = -1;
			report(x, path, msg);
			break;
		}
		if (r < 0) {
			ret = -1;
			report(x, path, strerror((int)-r));
			break;
		}
		if (r == 0)
			break;
		for (ssize_t w = 0; w < r;) {
			ssize_t n = write(out, x->buf + w, (size_t)(r - w));

			if (n < 0) {
				if (errno == EINTR)
					continue;
				report(x, path, strerror(errno));
				ret = -1;
				goto done;
			}
			w += n;
		}
		off += (uint64_t)r;
		x->bytes += (uint64_t)r;
		progress(x, 0);
	}
done:
	veil_wipe(x->buf, x->bufsz);
	close(in);
	if (close(out) < 0 && ret == 0) {
		report(x, path, strerror(errno));
		ret = -1;
	}
	/* Never leave a partial or unauthenticated file behind. */
	if (ret < 0)
		unlinkat(ddir, dname, 0);
	return ret;
}

static int export_dir(struct export *x, int sdir, const uint8_t iv[VEIL_DIRIV_BYTES], int ddir,
		      const char *path);

static void export_entry(struct export *x, int sdir, const uint8_t iv[VEIL_DIRIV_BYTES],
			 const char *cname, int ddir, const char *path)
{
	char name[VEIL_NAME_MAX + 1];
	struct stat st;
	char *p;
	long n = veil_entry_decode(x->v, sdir, iv, cname, name);

	if (n == -ENOENT)
		return;
	if (n < 0) {
		char *cp = join(path, cname);

		report(x, cp ? cp : cname, "name does not decrypt (not a file of this volume)");
		free(cp);
		return;
	}
	p = join(path, name);
	if (!p)
		return;
	if (fstatat(sdir, cname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		report(x, p, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		uint8_t civ[VEIL_DIRIV_BYTES];
		int s2 = openat(sdir, cname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), d2;

		if (s2 < 0 || veil_diriv_read(s2, civ) < 0) {
			report(x, p, "directory without a readable dir IV");
			if (s2 >= 0)
				close(s2);
			goto out;
		}
		if (mkdirat(ddir, name, 0700) < 0 ||
		    (d2 = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			report(x, p, strerror(errno));
			close(s2);
			goto out;
		}
		export_dir(x, s2, civ, d2, p);
		close(s2);
		close(d2);
		copy_xattrs(x, sdir, cname, ddir, name, p);
		set_meta(x, ddir, name, &st, 0);
	} else if (S_ISREG(st.st_mode)) {
		if (st.st_nlink > 1) {
			for (size_t i = 0; i < x->nlinks; i++)
				if (x->links[i].dev == st.st_dev && x->links[i].ino == st.st_ino) {
					if (linkat(AT_FDCWD, x->links[i].path, ddir, name, 0) < 0)
						report(x, p, strerror(errno));
					goto out;
				}
		}
		if (copy_file(x, sdir, cname, ddir, name, p) == 0) {
			copy_xattrs(x, sdir, cname, ddir, name, p);
			set_meta(x, ddir, name, &st, 0);
			x->files++;
			if (st.st_nlink > 1 && x->nlinks < 1000000) {
				char real[PATH_MAX], procp[64];
				int fd = openat(ddir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
				ssize_t r;

				snprintf(procp, sizeof(procp), "/proc/self/fd/%d", fd);
				r = fd >= 0 ? readlink(procp, real, sizeof(real) - 1) : -1;
				if (fd >= 0)
					close(fd);
				if (r > 0 && x->nlinks == x->caplinks) {
					struct link_ent *g = realloc(
						x->links, (x->caplinks = x->caplinks ? x->caplinks * 2 : 64) *
								  sizeof(*g));

					if (g)
						x->links = g;
					else
						r = -1;
				}
				if (r > 0 && x->nlinks < x->caplinks) {
					real[r] = '\0';
					x->links[x->nlinks].dev = st.st_dev;
					x->links[x->nlinks].ino = st.st_ino;
					x->links[x->nlinks].path = strdup(real);
					if (x->links[x->nlinks].path)
						x->nlinks++;
				}
			}
		}
	} else if (S_ISLNK(st.st_mode)) {
		char *target = malloc(VEIL_LINK_TARGET_MAX + 1);
		long t = target ? veil_readlink_at(x->v, sdir, cname, target) : -ENOMEM;

		if (t < 0)
			report(x, p, t == -EBADMSG ? "symlink target does not authenticate"
						   : strerror((int)-t));
		else if (symlinkat(target, ddir, name) < 0)
			report(x, p, strerror(errno));
		else
			set_meta(x, ddir, name, &st, 1);
		free(target);
	} else if ((S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && !x->devices) {
		x->held_back++; /* a device node from unauthenticated metadata: only on request */
	} else {
		if (mknodat(ddir, name, st.st_mode, st.st_rdev) < 0)
			report(x, p, strerror(errno));
		else
			set_meta(x, ddir, name, &st, 0);
	}
out:
	free(p);
}

static int export_dir(struct export *x, int sdir, const uint8_t iv[VEIL_DIRIV_BYTES], int ddir,
		      const char *path)
{
	int fd = openat(sdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		report(x, path[0] ? path : "/", strerror(errno));
		return -1;
	}
	while ((de = readdir(d)))
		export_entry(x, sdir, iv, de->d_name, ddir, path);
	closedir(d);
	return 0;
}

/* Count files and bytes for the progress line (only on a terminal). */
static void count_tree(struct export *x, int sdir)
{
	int fd = openat(sdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		enum veil_entry_kind k = veil_entry_classify(de->d_name);
		struct stat st;

		if ((k != VEIL_ENTRY_NAME && k != VEIL_ENTRY_LONG) ||
		    fstatat(sdir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int s2 = openat(sdir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (s2 >= 0) {
				count_tree(x, s2);
				close(s2);
			}
		} else if (S_ISREG(st.st_mode)) {
			uint64_t size;

			x->total_files++;
			if (veil_content_plain_size((uint64_t)st.st_size, x->v->cc.bs, &size) == 0)
				x->total_bytes += size;
		}
	}
	closedir(d);
}

int veil_cmd_export(int argc, char **argv)
{
	static const char *use = "export [--devices] [--setid] [--config FILE] "
				 "[--passfile FILE | --extpass CMD] CIPHERDIR [PATH] DESTDIR";
	struct export x;
	struct opts o;
	const char *path, *dest;
	char backing[VEIL_ENCNAME_MAX + 1];
	uint8_t iv[VEIL_DIRIV_BYTES];
	int ret, pfd = -1, sdir = -1, ddir = -1, e;
	DIR *dd;

	memset(&x, 0, sizeof(x));
	ret = parse(argc, argv, use, 2, &o);
	if (ret >= 0)
		return ret;
	x.devices = o.devices;
	x.setid = o.setid;
	if (argc - optind < 2 || argc - optind > 3) {
		veil_err("export: wrong number of arguments (usage: veilfs %s)", use);
		return VEIL_EXIT_USAGE;
	}
	path = argc - optind == 3 ? argv[optind + 1] : "";
	dest = argv[argc - 1];
	if (mkdir(dest, 0700) < 0 && errno != EEXIST) {
		veil_err("export: cannot create %s: %s", dest, strerror(errno));
		return VEIL_EXIT_ERROR;
	}
	dd = opendir(dest);
	if (!dd) {
		veil_err("export: %s: %s", dest, strerror(errno));
		return VEIL_EXIT_ERROR;
	}
	for (struct dirent *de; (de = readdir(dd));)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(dd);
			veil_err("export: %s is not empty; refusing to write into it", dest);
			return VEIL_EXIT_USAGE;
		}
	closedir(dd);
	ret = veil_cli_open(argv[optind], o.config, &o.src, &x.v);
	if (ret != 0)
		return ret;
	x.is_root = geteuid() == 0;
	x.bufsz = 1 << 20;
	x.buf = malloc(x.bufsz);
	x.progress = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &x.start);
	ddir = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	e = x.buf && ddir >= 0 ? veil_path_resolve(x.v, path, &pfd, iv, backing) : -ENOMEM;
	if (e < 0) {
		veil_err("export: %s: %s", *path ? path : "/", strerror(-e));
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	if (!backing[0]) {
		sdir = pfd;
		pfd = -1;
	} else {
		struct stat st;

		if (fstatat(pfd, backing, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			veil_err("export: %s: %s", path, strerror(errno));
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			/* A single file (or link) goes into DESTDIR under its own name. */
			x.total_files = 1;
			export_entry(&x, pfd, iv, backing, ddir, "");
			goto done;
		}
		sdir = openat(pfd, backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sdir < 0 || veil_diriv_read(sdir, iv) < 0) {
			veil_err("export: %s: cannot open the directory", path);
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
	}
	if (x.progress)
		count_tree(&x, sdir);
	export_dir(&x, sdir, iv, ddir, "");
done:
	progress(&x, 1);
	if (x.held_back)
		fprintf(stderr, "veilfs: export: %d device node(s) or set-id bit(s) not restored "
				"(use --devices / --setid)\n",
			x.held_back);
	if (x.errors) {
		veil_err("export: %d item(s) could not be restored (listed above)", x.errors);
		ret = VEIL_EXIT_INTEGRITY;
	} else {
		ret = VEIL_EXIT_OK;
	}
out:
	for (size_t i = 0; i < x.nlinks; i++)
		free(x.links[i].path);
	free(x.links);
	if (x.buf) {
		veil_wipe(x.buf, x.bufsz);
		free(x.buf);
	}
	if (pfd >= 0)
		close(pfd);
	if (sdir >= 0)
		close(sdir);
	if (ddir >= 0)
		close(ddir);
	veil_volume_close(x.v);
	return ret;
}

int veil_cmd_path(int argc, char **argv)
{
	static const char *use = "path [--decrypt] [--config FILE] [--passfile FILE | --extpass CMD] "
				 "CIPHERDIR PATH";
	struct veil_volume *v = NULL;
	struct opts o;
	char *copy = NULL, *save = NULL, *comp, *out = NULL;
	size_t outlen = 0;
	uint8_t iv[VEIL_DIRIV_BYTES];
	int ret, cur = -1, e = 0;

	ret = parse(argc, argv, use, 1, &o);
	if (ret >= 0)
		return ret;
	if (argc - optind != 2) {
		veil_err("path: wrong number of arguments (usage: veilfs %s)", use);
		return VEIL_EXIT_USAGE;
	}
	ret = veil_cli_open(argv[optind], o.config, &o.src, &v);
	if (ret != 0)
		return ret;
	copy = strdup(argv[optind + 1]);
	cur = dup(v->dirfd);
	if (!copy || cur < 0 || (e = veil_diriv_read(cur, iv)) < 0) {
		veil_err("path: %s: cannot read the root directory IV", argv[optind]);
		ret = VEIL_EXIT_ERROR;
		goto out;
	}
	for (comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		char enc[VEIL_ENCNAME_MAX + 1], name[VEIL_ENCNAME_MAX + 1];
		const char *piece, *next_backing;
		char *g;
		long n;

		if (o.decrypt) {
			n = veil_entry_decode(v, cur, iv, comp, name);
			if (n < 0) {
				veil_err("path: '%s' is not a name of this volume%s", comp,
					 n == -ENOENT ? " (a file of the format itself)" : "");
				ret = VEIL_EXIT_ERROR;
				goto out;
			}
			piece = name;
			next_backing = comp;
		} else {
			e = veil_name_to_backing(v, iv, comp, enc, name);
			if (e < 0) {
				veil_err("path: '%s': %s", comp, strerror(-e));
				ret = VEIL_EXIT_ERROR;
				goto out;
			}
			piece = name;
			next_backing = name;
		}
		g = realloc(out, outlen + strlen(piece) + 2);
		if (!g) {
			ret = VEIL_EXIT_ERROR;
			goto out;
		}
		out = g;
		if (outlen)
			out[outlen++] = '/';
		memcpy(out + outlen, piece, strlen(piece) + 1);
		outlen += strlen(piece);
		/* Descend for the next component's dir IV (the last need not exist). */
		if (save && *save) {
			int nfd = openat(cur, next_backing, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (nfd < 0 || veil_diriv_read(nfd, iv) < 0) {
				veil_err("path: %s: not a directory of this volume", out);
				if (nfd >= 0)
					close(nfd);
				ret = VEIL_EXIT_ERROR;
				goto out;
			}
			close(cur);
			cur = nfd;
		}
	}
	printf("%s\n", out ? out : "");
	ret = VEIL_EXIT_OK;
out:
	if (cur >= 0)
		close(cur);
	free(copy);
	free(out);
	veil_volume_close(v);
	return ret;
}
