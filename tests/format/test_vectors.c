/* SPDX-License-Identifier: MIT */
/*
 * Known-answer test of the on-disk format: reads docs/format.md, extracts
 * every ```vector block, recomputes each output from the block's inputs with
 * the core library and checks the bytes match. The doc is the reference; a
 * mismatch means the code or the doc changed the format.
 *
 *   test_vectors DOC               check (TAP)
 *   test_vectors --regenerate DOC  print DOC with every output recomputed
 *
 * --regenerate exists to write the vectors of a NEW construction once. Never
 * use it to make a failing check pass: a failure means the format changed.
 *
 * Block syntax (docs/format.md §Test vectors): one "key = value" per line;
 * a line starting with whitespace continues the previous one. A value is a
 * concatenation "a || b || ..." of terms: lowercase hex (spaces allowed),
 * "text" (bytes of the ASCII text, no escapes), zero(N), pattern(N) (byte i
 * is i mod 251) or repeat(TERM, N). Integer inputs are decimal. A key ending
 * in ".b2" holds the unkeyed BLAKE2b-256 of the output it names.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/content.h"
#include "lib/crypto.h"
#include "lib/file.h"
#include "lib/header.h"
#include "lib/keys.h"
#include "lib/names.h"
#include "lib/reverse.h"
#include "lib/recovery.h"
#include "lib/volume.h"

#include "../tap.h"

/* Deleting a vector from the doc must fail the test. */
#define EXPECTED_VECTORS 19
#define EXPECTED_OUTPUTS 80

#define MAX_VECTORS 64
#define MAX_KV 48
#define MAX_OUT 48
#define KEY_LEN 48
#define HEX_WRAP 64
#define TEXT_WRAP 60

enum out_fmt { OUT_HEX, OUT_TEXT, OUT_B2, OUT_U64 };

struct kv {
	char key[KEY_LEN];
	char *raw;      /* value with continuation lines joined */
	int first_line; /* 0-based line numbers in the doc */
	int last_line;
	bool used;      /* consumed as an input */
	bool checked;   /* compared as an output */
};

struct out {
	char key[KEY_LEN];
	enum out_fmt fmt;
	uint8_t *bytes; /* for OUT_B2: the 32-byte hash */
	size_t len;
	uint64_t u;
};

struct vec {
	int open_line, close_line;
	char kind[KEY_LEN];
	int nkv;
	struct kv kv[MAX_KV];
	int nout;
	struct out out[MAX_OUT];
	bool bad; /* an input was missing or malformed */
};

static char **lines;
static int nlines;
static struct vec vecs[MAX_VECTORS];
static int nvecs;
static int checked_outputs;

__attribute__((format(printf, 2, 3))) static void vfail(struct vec *v, const char *fmt, ...)
{
	va_list ap;

	v->bad = true;
	printf("# vector at line %d: ", v->open_line + 1);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int read_doc(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int max = 0;

	if (!f)
		return -errno;
	while ((n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (nlines == max) {
			max = max ? 2 * max : 1024;
			lines = realloc(lines, (size_t)max * sizeof(*lines));
			if (!lines)
				abort();
		}
		lines[nlines++] = strdup(line);
	}
	free(line);
	fclose(f);
	return 0;
}

static char *skip_ws(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static void rtrim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static char *join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *r = malloc(na + nb + 2);

	if (!r)
		abort();
	memcpy(r, a, na);
	r[na] = ' ';
	memcpy(r + na + 1, b, nb + 1);
	return r;
}

/* Split the doc into vector blocks of key = value lines. */
static int parse_vectors(void)
{
	struct vec *v = NULL;

	for (int i = 0; i < nlines; i++) {
		char *l = lines[i];

		if (!v) {
			if (strcmp(l, "```vector") == 0) {
				if (nvecs == MAX_VECTORS)
					return -1;
				v = &vecs[nvecs++];
				v->open_line = i;
			}
			continue;
		}
		if (strcmp(l, "```") == 0) {
			v->close_line = i;
			v = NULL;
			continue;
		}
		if (*l == '\0')
			continue;
		if (*l == ' ' || *l == '\t') {
			struct kv *p;
			char *r;

			if (v->nkv == 0) {
				vfail(v, "continuation line %d without a key", i + 1);
				continue;
			}
			p = &v->kv[v->nkv - 1];
			r = join(p->raw, skip_ws(l));
			free(p->raw);
			p->raw = r;
			rtrim(p->raw);
			p->last_line = i;
			continue;
		}
		char *eq = strstr(l, " = ");
		struct kv *p;

		if (!eq || eq - l >= KEY_LEN || v->nkv == MAX_KV) {
			vfail(v, "line %d is not 'key = value'", i + 1);
			continue;
		}
		p = &v->kv[v->nkv++];
		memcpy(p->key, l, (size_t)(eq - l));
		p->key[eq - l] = '\0';
		p->raw = strdup(skip_ws(eq + 3));
		rtrim(p->raw);
		p->first_line = p->last_line = i;
	}
	return v ? -1 : 0;
}

static struct kv *find_kv(struct vec *v, const char *key)
{
	for (int i = 0; i < v->nkv; i++)
		if (strcmp(v->kv[i].key, key) == 0)
			return &v->kv[i];
	return NULL;
}

/* A growable byte buffer for the value parser. */
struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_expr(const char **s, struct buf *b);

static int parse_count(const char **s, size_t *n)
{
	char *end;

	errno = 0;
	*n = (size_t)strtoull(*s, &end, 10);
	if (end == *s || errno)
		return -1;
	*s = end;
	return 0;
}

static int expect(const char **s, char c)
{
	*s = skip_ws((char *)*s);
	if (**s != c)
		return -1;
	(*s)++;
	return 0;
}

static int parse_term(const char **s, struct buf *b)
{
	const char *p = skip_ws((char *)*s);
	size_t n;

	if (*p == '"') {
		const char *q = strchr(p + 1, '"');

		if (!q)
			return -1;
		buf_put(b, p + 1, (size_t)(q - p - 1));
		*s = q + 1;
		return 0;
	}
	if (strncmp(p, "zero(", 5) == 0 || strncmp(p, "pattern(", 8) == 0) {
		bool zero = *p == 'z';

		p = strchr(p, '(') + 1;
		if (parse_count(&p, &n) < 0 || expect(&p, ')') < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			uint8_t c = zero ? 0 : (uint8_t)(i % 251);

			buf_put(b, &c, 1);
		}
		*s = p;
		return 0;
	}
	if (strncmp(p, "repeat(", 7) == 0) {
		struct buf one = { 0 };

		p += 7;
		if (parse_term(&p, &one) < 0 || expect(&p, ',') < 0) {
			free(one.p);
			return -1;
		}
		p = skip_ws((char *)p);
		if (parse_count(&p, &n) < 0 || expect(&p, ')') < 0) {
			free(one.p);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			buf_put(b, one.p, one.n);
		free(one.p);
		*s = p;
		return 0;
	}
	if (hexval(*p) < 0)
		return -1;
	for (;;) {
		while (*p == ' ')
			p++;
		if (hexval(p[0]) < 0)
			break;
		if (hexval(p[1]) < 0)
			return -1; /* odd number of digits */
		uint8_t c = (uint8_t)(hexval(p[0]) << 4 | hexval(p[1]));

		buf_put(b, &c, 1);
		p += 2;
	}
	*s = p;
	return 0;
}

static int parse_expr(const char **s, struct buf *b)
{
	for (;;) {
		if (parse_term(s, b) < 0)
			return -1;
		*s = skip_ws((char *)*s);
		if (strncmp(*s, "||", 2) != 0)
			break;
		*s += 2;
	}
	return **s == '\0' ? 0 : -1;
}

static int value_bytes(const char *raw, struct buf *b)
{
	const char *s = raw;

	b->n = 0;
	return parse_expr(&s, b);
}

/* Inputs. Each marks its key used; a missing or malformed key fails the vector. */
static uint8_t *in_bytes(struct vec *v, const char *key, size_t *len)
{
	struct kv *p = find_kv(v, key);
	struct buf b = { 0 };

	if (!p) {
		vfail(v, "missing input '%s'", key);
		return NULL;
	}
	p->used = true;
	if (value_bytes(p->raw, &b) < 0) {
		vfail(v, "input '%s' is not a valid value", key);
		free(b.p);
		return NULL;
	}
	buf_put(&b, "", 1); /* NUL so text inputs can be used as C strings */
	*len = b.n - 1;
	return b.p;
}

static bool in_fixed(struct vec *v, const char *key, uint8_t *out, size_t len)
{
	size_t n = 0;
	uint8_t *p = in_bytes(v, key, &n);
	bool good = p && n == len;

	if (p && n != len)
		vfail(v, "input '%s' has %zu bytes, expected %zu", key, n, len);
	if (good)
		memcpy(out, p, len);
	free(p);
	return good;
}

static bool in_u64(struct vec *v, const char *key, uint64_t *u)
{
	struct kv *p = find_kv(v, key);
	char *end;

	if (!p) {
		vfail(v, "missing input '%s'", key);
		return false;
	}
	p->used = true;
	errno = 0;
	*u = strtoull(p->raw, &end, 10);
	if (end == p->raw || *end || errno) {
		vfail(v, "input '%s' is not a decimal integer", key);
		return false;
	}
	return true;
}

/* Outputs: recorded, then compared with (or written into) the doc. */
static struct out *new_out(struct vec *v, const char *key, enum out_fmt fmt)
{
	struct out *o;

	if (v->nout == MAX_OUT)
		abort();
	o = &v->out[v->nout++];
	snprintf(o->key, sizeof(o->key), "%s%s", key, fmt == OUT_B2 ? ".b2" : "");
	o->fmt = fmt;
	return o;
}

static void out_bytes(struct vec *v, const char *key, enum out_fmt fmt, const void *p,
		      size_t len)
{
	struct out *o = new_out(v, key, fmt);

	if (fmt == OUT_B2) {
		o->bytes = malloc(VEIL_HASH_BYTES);
		veil_hash(o->bytes, VEIL_HASH_BYTES, NULL, 0, p, len, NULL, 0, NULL, 0);
		o->len = VEIL_HASH_BYTES;
		return;
	}
	o->bytes = malloc(len + 1);
	memcpy(o->bytes, p, len);
	o->len = len;
}

/* Long binary outputs are given as their hash, short ones in full. */
static void out_auto(struct vec *v, const char *key, const void *p, size_t len)
{
	out_bytes(v, key, len > 256 ? OUT_B2 : OUT_HEX, p, len);
}

static void out_u64(struct vec *v, const char *key, uint64_t u)
{
	new_out(v, key, OUT_U64)->u = u;
}

static struct veil_keys *keys_from(struct vec *v)
{
	uint8_t master[VEIL_KEY_BYTES];
	struct veil_keys *k;

	if (!in_fixed(v, "master", master, sizeof(master)))
		return NULL;
	k = veil_keys_new(master);
	veil_wipe(master, sizeof(master));
	if (!k)
		vfail(v, "cannot derive subkeys");
	return k;
}

static void do_subkeys(struct vec *v)
{
	uint8_t master[VEIL_KEY_BYTES], sk[VEIL_KEY_BYTES];
	char key[KEY_LEN];

	if (!in_fixed(v, "master", master, sizeof(master)))
		return;
	for (int id = VEIL_SUBKEY_CONTENT; id <= VEIL_SUBKEY_REVERSE_NONCE; id++) {
		if (veil_kdf_subkey(sk, (enum veil_subkey_id)id, master) < 0) {
			vfail(v, "subkey %d failed", id);
			return;
		}
		snprintf(key, sizeof(key), "subkey.%d", id);
		out_bytes(v, key, OUT_HEX, sk, sizeof(sk));
	}
}

/* Plaintext sizes of the worked examples; the doc gives each cipher size. */
static const uint64_t example_sizes[] = { 0, 1, 4095, 4096, 4097, 8192, 1048576 };

static void do_sizes(struct vec *v)
{
	uint64_t bs, hi, p, run = 0;
	char key[KEY_LEN], text[512] = "";
	size_t tl = 0;
	bool in_run = false;

	if (!in_u64(v, "block_size", &bs))
		return;
	for (size_t i = 0; i < sizeof(example_sizes) / sizeof(example_sizes[0]); i++) {
		uint64_t c = veil_content_cipher_size(example_sizes[i], (uint32_t)bs);

		snprintf(key, sizeof(key), "cipher.%llu", (unsigned long long)example_sizes[i]);
		out_u64(v, key, c);
		ok(veil_content_plain_size(c, (uint32_t)bs, &p) == 0 && p == example_sizes[i],
		   "sizes: cipher size %llu maps back to plaintext size %llu",
		   (unsigned long long)c, (unsigned long long)example_sizes[i]);
	}
	for (uint64_t i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "block_offset.%llu", (unsigned long long)i);
		out_u64(v, key, veil_content_block_offset(i, (uint32_t)bs));
	}
	/* Every impossible cipher size up to three blocks, as ranges a..b. */
	hi = veil_content_block_offset(3, (uint32_t)bs);
	for (uint64_t c = 0; c <= hi; c++) {
		bool bad = veil_content_plain_size(c, (uint32_t)bs, &p) < 0;

		if (bad && !in_run) {
			run = c;
			in_run = true;
		} else if (!bad && in_run) {
			tl += (size_t)snprintf(text + tl, sizeof(text) - tl, "%s%llu..%llu",
					       tl ? " " : "", (unsigned long long)run,
					       (unsigned long long)(c - 1));
			in_run = false;
		}
	}
	snprintf(key, sizeof(key), "impossible.upto.%llu", (unsigned long long)hi);
	out_bytes(v, key, OUT_TEXT, text, tl);
}

static bool file_decrypts(const struct veil_keys *k, uint32_t bs, const uint8_t *file,
			  size_t flen, const uint8_t *pt, size_t ptlen)
{
	struct veil_content_ctx c = { .keys = k, .bs = bs };
	struct veil_fstate st = { 0 };
	char path[] = "/tmp/veilfs-vector-XXXXXX";
	uint8_t *got = malloc(ptlen + 1);
	uint64_t size = 0;
	bool good = false;
	int fd = mkstemp(path);

	if (fd < 0 || !got)
		goto out;
	unlink(path);
	if (write(fd, file, flen) != (ssize_t)flen)
		goto out;
	good = veil_file_size(fd, bs, &size) == 0 && size == ptlen &&
	       veil_file_read(&c, fd, &st, got, ptlen + 1, 0) == (ssize_t)ptlen &&
	       memcmp(got, pt, ptlen) == 0;
out:
	if (fd >= 0)
		close(fd);
	free(got);
	return good;
}

static void do_file(struct vec *v)
{
	uint8_t hdr[VEIL_FILE_HEADER_BYTES], nonce[VEIL_BLOCK_NONCE_BYTES];
	uint8_t ad[VEIL_BLOCK_AD_BYTES];
	struct veil_keys *k = keys_from(v);
	uint8_t *pt = NULL, *file = NULL;
	uint64_t bs, nb;
	size_t ptlen = 0, flen;
	char key[KEY_LEN];

	if (!k || !in_u64(v, "block_size", &bs) || !in_fixed(v, "file_header", hdr, sizeof(hdr)))
		goto out;
	pt = in_bytes(v, "plaintext", &ptlen);
	if (!pt)
		goto out;
	nb = veil_content_nblocks(ptlen, (uint32_t)bs);
	flen = (size_t)veil_content_cipher_size(ptlen, (uint32_t)bs);
	file = calloc(1, flen + 1);
	memcpy(file, hdr, sizeof(hdr));
	for (uint64_t i = 0; i < nb; i++) {
		size_t off = (size_t)(i * bs);
		size_t len = ptlen - off < bs ? ptlen - off : (size_t)bs;
		uint8_t *blk = file + veil_content_block_offset(i, (uint32_t)bs);
		bool last = i + 1 == nb;

		snprintf(key, sizeof(key), "nonce.%llu", (unsigned long long)i);
		if (!in_fixed(v, key, nonce, sizeof(nonce)))
			goto out;
		veil_content_seal(k->content, hdr, i, last, nonce, pt + off, len, blk);
		/* The AD as format.md spells it out, for implementers. */
		memcpy(ad, hdr, sizeof(hdr));
		for (int b = 0; b < 8; b++)
			ad[32 + b] = (uint8_t)(i >> (8 * b));
		ad[40] = last;
		snprintf(key, sizeof(key), "ad.%llu", (unsigned long long)i);
		out_bytes(v, key, OUT_HEX, ad, sizeof(ad));
		snprintf(key, sizeof(key), "block.%llu", (unsigned long long)i);
		out_auto(v, key, blk, len + VEIL_BLOCK_OVERHEAD);
	}
	out_u64(v, "cipher_size", flen);
	out_auto(v, "file", file, flen);
	ok(file_decrypts(k, (uint32_t)bs, file, flen, pt, ptlen),
	   "file vector at line %d: veil_file_read returns the plaintext", v->open_line + 1);
out:
	free(pt);
	free(file);
	veil_keys_free(k);
}

/* The SIV name construction written out from format.md, without names.c. */
static size_t siv_by_hand(const uint8_t *mac_key, const uint8_t *stream_key, const uint8_t *iv,
			  const uint8_t *name, size_t len, uint8_t *out)
{
	uint8_t padded[256], nonce[VEIL_AEAD_NONCE_BYTES] = { 0 };
	size_t plen = (len / 16 + 1) * 16;

	memcpy(padded, name, len);
	memset(padded + len, (int)(plen - len), plen - len);
	veil_hash(out, VEIL_SIV_BYTES, mac_key, VEIL_KEY_BYTES, iv, VEIL_DIRIV_BYTES, padded, plen,
		  NULL, 0);
	memcpy(nonce, out, VEIL_SIV_BYTES);
	veil_stream_xor(out + VEIL_SIV_BYTES, padded, plen, nonce, stream_key);
	return VEIL_SIV_BYTES + plen;
}

static void do_name(struct vec *v)
{
	uint8_t iv[VEIL_DIRIV_BYTES], raw[VEIL_SIV_BYTES + 256];
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1], hand[VEIL_ENCNAME_MAX + 1];
	char dec[VEIL_NAME_MAX + 1];
	struct veil_keys *k = keys_from(v);
	uint8_t *name = NULL;
	size_t len = 0, rl;
	long n;
	bool lng;

	if (!k || !in_fixed(v, "dir_iv", iv, sizeof(iv)))
		goto out;
	name = in_bytes(v, "name", &len);
	if (!name)
		goto out;
	n = veil_name_encrypt(k, iv, (const char *)name, len, enc);
	if (n < 0) {
		vfail(v, "veil_name_encrypt: %s", strerror((int)-n));
		goto out;
	}
	rl = siv_by_hand(k->name_mac, k->name_stream, iv, name, len, raw);
	veil_b64_encode(hand, sizeof(hand), raw, rl);
	ok(strcmp(hand, enc) == 0, "name vector at line %d: construction by hand matches names.c",
	   v->open_line + 1);
	out_bytes(v, "siv", OUT_HEX, raw, VEIL_SIV_BYTES);
	out_bytes(v, "encrypted", OUT_TEXT, enc, (size_t)n);
	lng = veil_name_backing(enc, (size_t)n, backing);
	out_bytes(v, "backing", OUT_TEXT, backing, strlen(backing));
	ok(veil_entry_classify(backing) == (lng ? VEIL_ENTRY_LONG : VEIL_ENTRY_NAME),
	   "name vector at line %d: backing name classifies as %s", v->open_line + 1,
	   lng ? "long name" : "name");
	ok(veil_name_decrypt(k, iv, enc, (size_t)n, dec) == (long)len && memcmp(dec, name, len) == 0,
	   "name vector at line %d: decrypts back", v->open_line + 1);
out:
	free(name);
	veil_keys_free(k);
}

static int write_at(int dfd, const char *name, const void *p, size_t n)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, p, n);
	close(fd);
	return w == (ssize_t)n ? 0 : -EIO;
}

/*
 * A sync tool's conflict copy next to the backing name of "name": what a
 * decoder shows for "entry" (format.md §2.1), in a scratch directory that
 * holds the sidecar when the name is long.
 */
static void do_conflict(struct vec *v)
{
	uint8_t iv[VEIL_DIRIV_BYTES];
	char enc[VEIL_ENCNAME_MAX + 1], backing[VEIL_ENCNAME_MAX + 1], shown[VEIL_NAME_MAX + 1];
	char dir[] = "/tmp/veilfs-vector-XXXXXX", entry[VEIL_ENCNAME_MAX + 64];
	struct veil_volume vol = { .dirfd = -1, .conf_dirfd = -1 };
	uint8_t *name = NULL, *ent = NULL, siv[VEIL_DIRIV_BYTES], niv[VEIL_DIRIV_BYTES];
	char secname[256] = "";
	size_t len = 0, elen = 0, slen = 0;
	int dfd = -1;
	bool lng = false;
	long n;

	vol.keys = keys_from(v);
	if (!vol.keys || !in_fixed(v, "dir_iv", iv, sizeof(iv)))
		goto out;
	name = in_bytes(v, "name", &len);
	if (!find_kv(v, "secondary"))
		ent = in_bytes(v, "entry", &elen);
	else
		ent = (uint8_t *)strdup("");
	if (!name || !ent)
		goto out;
	if (elen >= sizeof(entry)) {
		vfail(v, "entry too long");
		goto out;
	}
	memcpy(entry, ent, elen);
	entry[elen] = '\0';
	if (find_kv(v, "secondary")) {
		/* A secondary dir IV (format.md §7): names are made under it. */
		uint8_t *sname = in_bytes(v, "secondary", &slen);

		if (!sname || slen >= sizeof(secname) ||
		    !in_fixed(v, "secondary_iv", siv, sizeof(siv))) {
			free(sname);
			goto out;
		}
		memcpy(secname, sname, slen);
		secname[slen] = '\0';
		free(sname);
		memcpy(niv, siv, sizeof(niv));
	} else {
		memcpy(niv, iv, sizeof(niv));
	}
	n = veil_name_encrypt(vol.keys, niv, (const char *)name, len, enc);
	if (n < 0 || !mkdtemp(dir)) {
		vfail(v, "setup: %s", n < 0 ? strerror((int)-n) : strerror(errno));
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	lng = veil_name_backing(enc, (size_t)n, backing);
	if (dfd < 0 || (lng && veil_longname_store(dfd, backing, enc) < 0) ||
	    veil_diriv_write(dfd, iv) < 0 || (secname[0] && write_at(dfd, secname, siv, 16) < 0)) {
		vfail(v, "cannot prepare %s", dir);
		goto out;
	}
	if (secname[0]) {
		/* The entry is the backing name under the secondary IV. */
		out_bytes(v, "entry", OUT_TEXT, backing, strlen(backing));
		snprintf(entry, sizeof(entry), "%s", backing);
		ok(veil_diriv_conflict_name(secname), "conflict vector at line %d: %s is a secondary "
		   "dir IV", v->open_line + 1, secname);
	}
	ok(veil_entry_classify(entry) == (secname[0] ? VEIL_ENTRY_NAME : VEIL_ENTRY_FOREIGN),
	   "conflict vector at line %d: the entry is %s", v->open_line + 1,
	   secname[0] ? "an encoded name" : "foreign");
	n = veil_entry_decode(&vol, dfd, iv, entry, shown);
	if (n < 0)
		vfail(v, "veil_entry_decode: %s", strerror((int)-n));
	else
		out_bytes(v, "shown", OUT_TEXT, shown, (size_t)n);
out:
	if (dfd >= 0) {
		if (lng) {
			char side[VEIL_ENCNAME_MAX + 8];

			snprintf(side, sizeof(side), "%s%s", backing, VEIL_LONGNAME_SUFFIX);
			unlinkat(dfd, side, 0);
		}
		unlinkat(dfd, VEIL_DIRIV_NAME, 0);
		if (secname[0])
			unlinkat(dfd, secname, 0);
		close(dfd);
		rmdir(dir);
	}
	free(name);
	free(ent);
	veil_keys_free(vol.keys);
}

static void do_link(struct vec *v)
{
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES];
	struct veil_keys *k = keys_from(v);
	uint8_t *target = NULL, *raw = NULL;
	char *enc = NULL, dec[VEIL_LINK_TARGET_MAX + 1];
	char blob[VEIL_LONGNAME_LEN + 1];
	size_t tlen = 0, rl, el;

	if (!k || !in_fixed(v, "nonce", nonce, sizeof(nonce)))
		goto out;
	target = in_bytes(v, "target", &tlen);
	if (!target)
		goto out;
	rl = VEIL_AEAD_NONCE_BYTES + tlen + VEIL_AEAD_TAG_BYTES;
	el = veil_b64_encoded_len(rl);
	raw = malloc(rl);
	enc = malloc(el + 1);
	memcpy(raw, nonce, sizeof(nonce));
	veil_aead_seal(raw + VEIL_AEAD_NONCE_BYTES, target, tlen, NULL, 0, nonce, k->link);
	veil_b64_encode(enc, el + 1, raw, rl);
	ok(el == veil_link_encrypted_len(tlen), "link vector at line %d: encoded length %zu",
	   v->open_line + 1, el);
	out_u64(v, "encoded_len", el);
	if (el <= VEIL_LINK_INLINE_MAX) {
		out_bytes(v, "encoded", OUT_TEXT, enc, el);
	} else {
		out_bytes(v, "encoded", OUT_B2, enc, el);
		veil_link_blob_name(enc, el, blob);
		out_bytes(v, "blob_name", OUT_TEXT, blob, strlen(blob));
		ok(veil_entry_classify(blob) == VEIL_ENTRY_LINKBLOB,
		   "link vector at line %d: blob name classifies as a link blob", v->open_line + 1);
	}
	ok(veil_link_decrypt(k, enc, el, dec) == (long)tlen && memcmp(dec, target, tlen) == 0,
	   "link vector at line %d: veil_link_decrypt returns the target", v->open_line + 1);
out:
	free(target);
	free(raw);
	free(enc);
	veil_keys_free(k);
}

static void do_xattr(struct vec *v)
{
	static const uint8_t zero_iv[VEIL_DIRIV_BYTES];
	uint8_t nonce[VEIL_AEAD_NONCE_BYTES], raw[VEIL_SIV_BYTES + 256];
	char cname[256], hand[256], dec[256];
	struct veil_keys *k = keys_from(v);
	uint8_t *name = NULL, *val = NULL, *ct = NULL, *back = NULL;
	size_t nlen = 0, vlen = 0, rl;
	long n;

	if (!k || !in_fixed(v, "nonce", nonce, sizeof(nonce)))
		goto out;
	name = in_bytes(v, "name", &nlen);
	val = name ? in_bytes(v, "value", &vlen) : NULL;
	if (!val)
		goto out;
	n = veil_xattr_name_encrypt(k, (const char *)name, cname);
	if (n < 0) {
		vfail(v, "veil_xattr_name_encrypt: %s", strerror((int)-n));
		goto out;
	}
	rl = siv_by_hand(k->xattr_name_mac, k->xattr_name_stream, zero_iv, name + 5, nlen - 5,
			 raw);
	memcpy(hand, VEIL_XATTR_CIPHER_PREFIX, 12);
	veil_b64_encode(hand + 12, sizeof(hand) - 12, raw, rl);
	ok(strcmp(hand, cname) == 0, "xattr vector at line %d: name by hand matches names.c",
	   v->open_line + 1);
	out_bytes(v, "backing_name", OUT_TEXT, cname, (size_t)n);
	ct = malloc(vlen + VEIL_BLOCK_OVERHEAD_X);
	back = malloc(vlen + 1);
	memcpy(ct, nonce, sizeof(nonce));
	veil_aead_seal(ct + VEIL_AEAD_NONCE_BYTES, val, vlen, (const uint8_t *)cname, (size_t)n,
		       nonce, k->xattr_value);
	out_bytes(v, "backing_value", OUT_HEX, ct, vlen + VEIL_BLOCK_OVERHEAD_X);
	ok(veil_xattr_name_decrypt(k, cname, dec) == (long)nlen && strcmp(dec, (char *)name) == 0,
	   "xattr vector at line %d: name decrypts back", v->open_line + 1);
	ok(veil_xattr_value_decrypt(k, cname, ct, vlen + VEIL_BLOCK_OVERHEAD_X, back) ==
			   (long)vlen &&
		   memcmp(back, val, vlen) == 0,
	   "xattr vector at line %d: value decrypts back", v->open_line + 1);
out:
	free(name);
	free(val);
	free(ct);
	free(back);
	veil_keys_free(k);
}

/*
 * Reverse mode (§14.2): the derived dir IVs, file header, block nonce,
 * symlink nonce and xattr nonce of paths below PLAINDIR, nested ones
 * included. Each derivation is computed twice: by reverse_core.c and by
 * hand from the formula in the doc, and both must agree.
 */
static void reverse_tagged(uint8_t *out, size_t outlen, const uint8_t *key, const char *tag,
			   const void *p2, size_t n2, const void *p3, size_t n3)
{
	/* "tag\0" || p2 || p3 under @key: strlen(tag) + 1 includes the one NUL. */
	veil_hash(out, outlen, key, VEIL_KEY_BYTES, tag, strlen(tag) + 1, p2, n2, p3, n3);
}

static void do_reverse(struct vec *v)
{
	uint8_t iv[VEIL_DIRIV_BYTES], hand[VEIL_HASH_BYTES], hdr[VEIL_FILE_HEADER_BYTES];
	uint8_t inner[VEIL_HASH_BYTES], meta[VEIL_FILE_HEADER_BYTES + 9];
	uint8_t raw[VEIL_AEAD_NONCE_BYTES + 256 + VEIL_AEAD_TAG_BYTES];
	char enc[VEIL_ENCNAME_MAX + 1], *lenc = NULL, cname[256];
	struct veil_keys *k = keys_from(v);
	uint8_t *dir = NULL, *name = NULL, *file = NULL, *pt = NULL, *link = NULL, *target = NULL;
	uint8_t *xpath = NULL, *xname = NULL, *xval = NULL, *cipher = NULL, *xout = NULL;
	size_t dlen = 0, nlen = 0, flen = 0, ptlen = 0, llen = 0, tlen = 0, xplen = 0, xnlen = 0,
	       xvlen = 0, clen, el;
	uint64_t bs;
	int line = v->open_line + 1, fd = -1;
	long n;

	if (!k || !in_u64(v, "block_size", &bs))
		goto out;
	dir = in_bytes(v, "dir", &dlen);
	name = dir ? in_bytes(v, "name", &nlen) : NULL;
	file = name ? in_bytes(v, "file", &flen) : NULL;
	pt = file ? in_bytes(v, "plaintext", &ptlen) : NULL;
	link = pt ? in_bytes(v, "link", &llen) : NULL;
	target = link ? in_bytes(v, "target", &tlen) : NULL;
	xpath = target ? in_bytes(v, "xattr_path", &xplen) : NULL;
	xname = xpath ? in_bytes(v, "xattr_name", &xnlen) : NULL;
	xval = xname ? in_bytes(v, "xattr_value", &xvlen) : NULL;
	if (!xval)
		goto out;
	if (ptlen == 0 || ptlen > bs || tlen == 0 || tlen > 200) {
		vfail(v, "plaintext must be 1..block_size bytes, target 1..200");
		goto out;
	}

	/* Dir IVs: the root (empty path) and the nested directory. */
	veil_reverse_diriv(k, "", iv);
	reverse_tagged(hand, VEIL_DIRIV_BYTES, k->reverse_id, "veilfs-diriv", "", 0, NULL, 0);
	ok(memcmp(hand, iv, VEIL_DIRIV_BYTES) == 0,
	   "reverse vector at line %d: root dir IV by hand matches reverse_core.c", line);
	out_bytes(v, "root_dir_iv", OUT_HEX, iv, sizeof(iv));
	veil_reverse_diriv(k, (const char *)dir, iv);
	reverse_tagged(hand, VEIL_DIRIV_BYTES, k->reverse_id, "veilfs-diriv", dir, dlen, NULL, 0);
	ok(memcmp(hand, iv, VEIL_DIRIV_BYTES) == 0,
	   "reverse vector at line %d: nested dir IV by hand matches reverse_core.c", line);
	out_bytes(v, "dir_iv", OUT_HEX, iv, sizeof(iv));
	n = veil_name_encrypt(k, iv, (const char *)name, nlen, enc);
	if (n < 0) {
		vfail(v, "veil_name_encrypt: %s", strerror((int)-n));
		goto out;
	}
	out_bytes(v, "name_backing", OUT_TEXT, enc, (size_t)n);

	/* File header (a single-link file) and its only block, sealed as last. */
	veil_reverse_file_header(k, (const char *)file, 1, 0, hdr);
	reverse_tagged(hand, VEIL_FILE_ID_BYTES, k->reverse_id, "veilfs-path", file, flen, NULL,
		       0);
	ok(memcmp(hand, hdr + 8, VEIL_FILE_ID_BYTES) == 0,
	   "reverse vector at line %d: file ID by hand matches reverse_core.c", line);
	out_bytes(v, "file_header", OUT_HEX, hdr, sizeof(hdr));
	fd = memfd_create("veilfs-vector", MFD_CLOEXEC);
	if (fd < 0 || write(fd, pt, ptlen) != (ssize_t)ptlen) {
		vfail(v, "memfd: %s", strerror(errno));
		goto out;
	}
	clen = (size_t)veil_content_cipher_size(ptlen, (uint32_t)bs);
	cipher = malloc(clen);
	if (veil_reverse_read(k, (uint32_t)bs, fd, hdr, ptlen, cipher, clen, 0) != (ssize_t)clen) {
		vfail(v, "veil_reverse_read failed");
		goto out;
	}
	memcpy(meta, hdr, VEIL_FILE_HEADER_BYTES);
	memset(meta + VEIL_FILE_HEADER_BYTES, 0, 8); /* LE64(0) */
	meta[VEIL_FILE_HEADER_BYTES + 8] = 1;       /* last */
	veil_hash(hand, VEIL_AEAD_NONCE_BYTES, k->reverse_nonce, VEIL_KEY_BYTES, meta,
		  sizeof(meta), pt, ptlen, NULL, 0);
	ok(memcmp(hand, cipher + VEIL_FILE_HEADER_BYTES, VEIL_AEAD_NONCE_BYTES) == 0,
	   "reverse vector at line %d: block nonce by hand matches reverse_core.c", line);
	out_bytes(v, "nonce.0", OUT_HEX, cipher + VEIL_FILE_HEADER_BYTES, VEIL_AEAD_NONCE_BYTES);
	out_auto(v, "cipher", cipher, clen);

	/* Symlink: nonce = BLAKE2b-24(N, "veilfs-link\0" || P || "\0" || target). */
	el = veil_link_encrypted_len(tlen);
	lenc = malloc(el + 1);
	veil_reverse_link(k, (const char *)link, (const char *)target, tlen, lenc);
	/* in_bytes() leaves a NUL after every input: llen + 1 is P and its one NUL. */
	reverse_tagged(hand, VEIL_AEAD_NONCE_BYTES, k->reverse_nonce, "veilfs-link", link, llen + 1,
		       target, tlen);
	n = veil_b64_decode(raw, sizeof(raw), lenc, el);
	ok(n == (long)(tlen + VEIL_BLOCK_OVERHEAD_X) &&
		   memcmp(raw, hand, VEIL_AEAD_NONCE_BYTES) == 0,
	   "reverse vector at line %d: symlink nonce by hand matches reverse_core.c", line);
	out_bytes(v, "link_nonce", OUT_HEX, raw, VEIL_AEAD_NONCE_BYTES);
	out_bytes(v, "link_encoded", OUT_TEXT, lenc, el);

	/*
	 * Xattr value: inner = BLAKE2b-256(P || "\0" || cname || "\0"), unkeyed;
	 * nonce = BLAKE2b-24(N, "veilfs-xattr\0" || inner || value).
	 */
	n = veil_xattr_name_encrypt(k, (const char *)xname, cname);
	if (n < 0) {
		vfail(v, "veil_xattr_name_encrypt: %s", strerror((int)-n));
		goto out;
	}
	out_bytes(v, "xattr_backing_name", OUT_TEXT, cname, (size_t)n);
	veil_hash(inner, sizeof(inner), NULL, 0, xpath, xplen + 1, cname, (size_t)n + 1, NULL, 0);
	out_bytes(v, "xattr_inner", OUT_HEX, inner, sizeof(inner));
	reverse_tagged(hand, VEIL_AEAD_NONCE_BYTES, k->reverse_nonce, "veilfs-xattr", inner,
		       sizeof(inner), xval, xvlen);
	xout = malloc(xvlen + VEIL_BLOCK_OVERHEAD_X);
	veil_reverse_xattr(k, (const char *)xpath, cname, xval, xvlen, xout);
	ok(memcmp(xout, hand, VEIL_AEAD_NONCE_BYTES) == 0,
	   "reverse vector at line %d: xattr nonce by hand matches reverse_core.c", line);
	out_bytes(v, "xattr_nonce", OUT_HEX, xout, VEIL_AEAD_NONCE_BYTES);
	out_bytes(v, "xattr_backing_value", OUT_HEX, xout, xvlen + VEIL_BLOCK_OVERHEAD_X);
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	free(name);
	free(file);
	free(pt);
	free(link);
	free(target);
	free(xpath);
	free(xname);
	free(xval);
	free(cipher);
	free(lenc);
	free(xout);
	veil_keys_free(k);
}

/* Rewrite the checksum after editing a serialized header. */
static void fix_checksum(uint8_t *h, size_t n)
{
	veil_hash(h + n - VEIL_HASH_BYTES, VEIL_HASH_BYTES, NULL, 0, h, n - VEIL_HASH_BYTES, NULL, 0,
		  NULL, 0);
}

static void header_rules(const uint8_t *img, size_t n, const char *pass, size_t plen,
			 const uint8_t *master)
{
	uint8_t t[VEIL_HEADER_MAX_BYTES];
	uint8_t *got = veil_secure_alloc(VEIL_KEY_BYTES);
	struct veil_header h;
	int slot = -1;

	ok(veil_header_parse(img, n, &h) == 0 &&
		   veil_header_unlock(&h, pass, plen, got, &slot) == 0 && slot == 0 &&
		   memcmp(got, master, VEIL_KEY_BYTES) == 0,
	   "header: unlocks with the passphrase to the master key in slot 0");
	ok(veil_header_parse(img, n, &h) == 0 &&
		   veil_header_unlock(&h, "wrong", 5, got, NULL) == -EACCES,
	   "header: wrong passphrase is -EACCES");
	memcpy(t, img, n);
	t[n - 40] ^= 1; /* inside the MAC, checksum recomputed: a forgery */
	fix_checksum(t, n);
	ok(veil_header_parse(t, n, &h) == 0 &&
		   veil_header_unlock(&h, pass, plen, got, NULL) == -EBADMSG,
	   "header: altered MAC with valid checksum fails unlock with -EBADMSG");
	memcpy(t, img, n);
	t[30] ^= 1; /* a slot byte, checksum left as it was: accidental damage */
	ok(veil_header_parse(t, n, &h) == -EBADMSG, "header: damage caught by the checksum");
	memcpy(t, img, n);
	t[8] = 2;
	fix_checksum(t, n);
	ok(veil_header_parse(t, n, &h) == -EPROTONOSUPPORT, "header: version 2 is refused");
	memcpy(t, img, n);
	t[12] = 1;
	fix_checksum(t, n);
	ok(veil_header_parse(t, n, &h) == -ENOTSUP, "header: unknown feature flag is refused");
	memcpy(t, img, n);
	t[0] ^= 0x20;
	ok(veil_header_parse(t, n, &h) == -EMEDIUMTYPE, "header: foreign magic is -EMEDIUMTYPE");
	veil_secure_free(got);
}

static void do_header(struct vec *v)
{
	uint8_t master[VEIL_KEY_BYTES], kek[VEIL_KEY_BYTES], sk[VEIL_KEY_BYTES];
	uint8_t img[VEIL_HEADER_MAX_BYTES], ad[60];
	struct veil_header h = { 0 };
	struct veil_slot *s = &h.slots[0];
	uint8_t *pass = NULL;
	uint64_t ops, mem, bs;
	size_t plen = 0, n;

	if (!in_fixed(v, "master", master, sizeof(master)) || !in_u64(v, "opslimit", &ops) ||
	    !in_u64(v, "memlimit", &mem) || !in_u64(v, "block_size", &bs) ||
	    !in_fixed(v, "salt", s->salt, sizeof(s->salt)) ||
	    !in_fixed(v, "nonce", s->nonce, sizeof(s->nonce)))
		goto out;
	pass = in_bytes(v, "passphrase", &plen);
	if (!pass)
		goto out;
	h.version = VEIL_FORMAT_VERSION;
	h.block_size = (uint32_t)bs;
	h.nslots = 1;
	s->alg = VEIL_KDF_ARGON2ID13;
	s->ops = ops;
	s->mem = mem;
	if (veil_kdf_derive(kek, (const char *)pass, plen, s->salt, ops, mem) < 0 ||
	    veil_slot_wrap(&h, s, master, (const char *)pass, plen) < 0 ||
	    veil_header_reseal(&h, master) < 0 || veil_kdf_subkey(sk, VEIL_SUBKEY_HEADER_MAC, master)) {
		vfail(v, "cannot build the header");
		goto out;
	}
	n = veil_header_serialize(&h, img);
	out_bytes(v, "kek", OUT_HEX, kek, sizeof(kek));
	memcpy(ad, img, 20);
	memcpy(ad + 20, img + 24, 40);
	out_bytes(v, "slot_ad", OUT_HEX, ad, sizeof(ad));
	out_bytes(v, "wrapped_key", OUT_HEX, s->wrapped, sizeof(s->wrapped));
	out_bytes(v, "header_mac", OUT_HEX, img + n - 64, VEIL_HASH_BYTES);
	out_bytes(v, "checksum", OUT_HEX, img + n - 32, VEIL_HASH_BYTES);
	out_u64(v, "header_len", n);
	out_bytes(v, "header", OUT_HEX, img, n);
	header_rules(img, n, (const char *)pass, plen, master);
out:
	free(pass);
	veil_wipe(master, sizeof(master));
	veil_wipe(kek, sizeof(kek));
}

/*
 * A reverse-mode file header (§14.2): inputs path, nlink, ino; the file ID
 * comes from the path for one link and from the inode number for more.
 */
static void do_reverse_file(struct vec *v)
{
	static const char path_tag[] = "veilfs-path", inode_tag[] = "veilfs-inode";
	uint8_t hdr[VEIL_FILE_HEADER_BYTES], id[VEIL_FILE_ID_BYTES], le[8];
	struct veil_keys *k = keys_from(v);
	uint64_t nlink, ino;
	uint8_t *path = NULL;
	size_t plen = 0;

	if (!k || !in_u64(v, "nlink", &nlink) || !in_u64(v, "ino", &ino) ||
	    !(path = in_bytes(v, "path", &plen)))
		goto out;
	veil_reverse_file_header(k, (const char *)path, (nlink_t)nlink, (ino_t)ino, hdr);
	/* By hand, from the table of §14.2. */
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(ino >> (8 * i));
	if (nlink > 1)
		veil_hash(id, sizeof(id), k->reverse_id, VEIL_KEY_BYTES, inode_tag, sizeof(inode_tag),
			  le, sizeof(le), NULL, 0);
	else
		veil_hash(id, sizeof(id), k->reverse_id, VEIL_KEY_BYTES, path_tag, sizeof(path_tag),
			  path, plen, NULL, 0);
	ok(memcmp(hdr + 8, id, sizeof(id)) == 0 && hdr[0] == 1 && hdr[1] == 0,
	   "reverse_file vector at line %d: file ID by hand matches reverse_core.c",
	   v->open_line + 1);
	out_bytes(v, "file_id", OUT_HEX, hdr + 8, VEIL_FILE_ID_BYTES);
	out_bytes(v, "file_header", OUT_HEX, hdr, sizeof(hdr));
out:
	free(path);
	veil_keys_free(k);
}

/*
 * A header with the slot info table: slot 0 a passphrase with a label,
 * slot 1 the recovery slot (§3.7).
 */
static void do_header_slots(struct vec *v)
{
	uint8_t master[VEIL_KEY_BYTES], rkek[VEIL_KEY_BYTES];
	uint8_t img[VEIL_HEADER_MAX_BYTES];
	uint8_t *got = veil_secure_alloc(VEIL_KEY_BYTES);
	struct veil_header h = { 0 }, p;
	struct veil_slot *s = &h.slots[0], *r = &h.slots[1];
	uint8_t *pass = NULL, *label = NULL;
	uint64_t ops, mem, bs, c0, c1;
	size_t plen = 0, llen = 0, n;
	int slot = -1;

	if (!in_fixed(v, "master", master, sizeof(master)) || !in_u64(v, "opslimit", &ops) ||
	    !in_u64(v, "memlimit", &mem) || !in_u64(v, "block_size", &bs) ||
	    !in_fixed(v, "salt.0", s->salt, sizeof(s->salt)) ||
	    !in_fixed(v, "nonce.0", s->nonce, sizeof(s->nonce)) || !in_u64(v, "created.0", &c0) ||
	    !in_fixed(v, "salt.1", r->salt, sizeof(r->salt)) ||
	    !in_fixed(v, "nonce.1", r->nonce, sizeof(r->nonce)) || !in_u64(v, "created.1", &c1))
		goto out;
	pass = in_bytes(v, "passphrase", &plen);
	label = in_bytes(v, "label.0", &llen);
	if (!pass || !label || llen > VEIL_LABEL_MAX || !got)
		goto out;
	h.version = VEIL_FORMAT_VERSION;
	h.block_size = (uint32_t)bs;
	h.nslots = 2;
	h.info = 1;
	s->alg = VEIL_KDF_ARGON2ID13;
	s->kind = VEIL_SLOT_PASSPHRASE;
	s->ops = ops;
	s->mem = mem;
	s->created = c0;
	s->label_len = (uint8_t)llen;
	memcpy(s->label, label, llen);
	r->alg = VEIL_KDF_RECOVERY;
	r->kind = VEIL_SLOT_RECOVERY;
	r->created = c1;
	if (veil_slot_wrap(&h, s, master, (const char *)pass, plen) < 0 ||
	    veil_slot_wrap(&h, r, master, (const char *)master, VEIL_KEY_BYTES) < 0 ||
	    veil_header_reseal(&h, master) < 0 ||
	    veil_kdf_subkey(rkek, VEIL_SUBKEY_RECOVERY, master) < 0) {
		vfail(v, "cannot build the header");
		goto out;
	}
	n = veil_header_serialize(&h, img);
	out_bytes(v, "recovery_kek", OUT_HEX, rkek, sizeof(rkek));
	out_bytes(v, "wrapped_key.1", OUT_HEX, r->wrapped, sizeof(r->wrapped));
	out_bytes(v, "info_table", OUT_HEX, img + 24 + 2 * VEIL_SLOT_BYTES,
		  2 * VEIL_SLOT_INFO_BYTES);
	out_bytes(v, "header_mac", OUT_HEX, img + n - 64, VEIL_HASH_BYTES);
	out_u64(v, "header_len", n);
	out_bytes(v, "header", OUT_HEX, img, n);
	ok(veil_header_parse(img, n, &p) == 0 && p.info == 1 && p.slots[1].kind == VEIL_SLOT_RECOVERY &&
		   strcmp(p.slots[0].label, (const char *)label) == 0 && p.slots[0].created == c0,
	   "header with slot info: parses back with kinds, label and time");
	ok(veil_header_unlock(&p, (const char *)pass, plen, got, &slot) == 0 && slot == 0 &&
		   memcmp(got, master, VEIL_KEY_BYTES) == 0,
	   "header with slot info: the passphrase opens slot 0");
	ok(veil_header_check_master(&p, master) == 0 && veil_header_recovery_slot(&p) == 1,
	   "header with slot info: the master key (a recovery key) checks against it");
out:
	free(pass);
	free(label);
	veil_secure_free(got);
	veil_wipe(master, sizeof(master));
	veil_wipe(rkek, sizeof(rkek));
}

/* The recovery key (§3.8): payload and text, then the decoder's rules. */
static void do_recovery(struct vec *v)
{
	struct veil_recovery *rk = veil_secure_alloc(sizeof(*rk)), *back = veil_secure_alloc(sizeof(*rk));
	char text[VEIL_RECOVERY_CHARS + 1], t[VEIL_RECOVERY_CHARS + 8];
	enum veil_recovery_fault f;
	uint64_t ver, bs, flags;
	int g, bad = 0;

	if (!rk || !back || !in_fixed(v, "master", rk->master, VEIL_KEY_BYTES) ||
	    !in_u64(v, "format_version", &ver) || !in_u64(v, "block_size", &bs) ||
	    !in_u64(v, "flags", &flags))
		goto out;
	rk->version = (uint16_t)ver;
	rk->block_size = (uint32_t)bs;
	rk->flags = (uint32_t)flags;
	veil_recovery_encode(rk, text);
	out_bytes(v, "recovery_key", OUT_TEXT, text, strlen(text));
	ok(veil_recovery_decode(text, strlen(text), back, &f, &g) == 0 &&
		   memcmp(back->master, rk->master, VEIL_KEY_BYTES) == 0 && back->version == ver &&
		   back->block_size == bs && back->flags == flags,
	   "recovery: decodes back to the master key and fields");
	ok(veil_recovery_looks_like(text, strlen(text)), "recovery: has the recovery key form");
	/* Every single changed character is caught and its group named. */
	for (size_t i = 0; i < strlen(text); i++) {
		const char *alpha = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

		if (text[i] == '-')
			continue;
		for (const char *a = alpha; *a; a++) {
			if (*a == text[i])
				continue;
			memcpy(t, text, sizeof(text));
			t[i] = *a;
			if (veil_recovery_decode(t, strlen(t), back, &f, &g) != -EINVAL ||
			    f != VEIL_RK_GROUP || g != (int)(i / 6) + 1)
				bad++;
		}
	}
	ok(bad == 0, "recovery: every single changed character names its group (%d did not)", bad);
	bad = 0;
	for (int k = 0; k < VEIL_RECOVERY_GROUPS; k++) {
		/* Group k + 1 left out. */
		size_t at = (size_t)k * 6, len = strlen(text);

		if (k == VEIL_RECOVERY_GROUPS - 1) {
			memcpy(t, text, at - 1);
			t[at - 1] = '\0';
		} else {
			memcpy(t, text, at);
			memcpy(t + at, text + at + 6, len - at - 6 + 1);
		}
		if (veil_recovery_decode(t, strlen(t), back, &f, &g) != -EINVAL ||
		    f != VEIL_RK_MISSING || g != k + 1)
			bad++;
	}
	ok(bad == 0, "recovery: every left-out group is named as missing (%d were not)", bad);
out:
	veil_secure_free(rk);
	veil_secure_free(back);
}

static const struct {
	const char *kind;
	void (*fn)(struct vec *v);
} kinds[] = {
	{ "subkeys", do_subkeys }, { "sizes", do_sizes }, { "file", do_file },
	{ "name", do_name },       { "link", do_link },   { "xattr", do_xattr },
	{ "header", do_header },   { "reverse_file", do_reverse_file },
	{ "reverse", do_reverse },
	{ "header_slots", do_header_slots }, { "recovery", do_recovery },
	{ "conflict", do_conflict },
};

static void compute(struct vec *v)
{
	struct kv *p = find_kv(v, "kind");

	if (!p) {
		vfail(v, "no 'kind'");
		return;
	}
	p->used = true;
	snprintf(v->kind, sizeof(v->kind), "%s", p->raw);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kinds[i].kind, v->kind) == 0) {
			kinds[i].fn(v);
			return;
		}
	}
	vfail(v, "unknown kind '%s'", v->kind);
}

static void check(struct vec *v)
{
	struct buf b = { 0 };

	for (int i = 0; i < v->nout; i++) {
		struct out *o = &v->out[i];
		struct kv *p = find_kv(v, o->key);
		bool same = false;

		if (!p) {
			ok(0, "vector at line %d (%s): output '%s' is in the doc",
			   v->open_line + 1, v->kind, o->key);
			continue;
		}
		p->checked = true;
		if (o->fmt == OUT_U64) {
			char *end;

			same = strtoull(p->raw, &end, 10) == o->u && *end == '\0';
		} else if (value_bytes(p->raw, &b) == 0) {
			same = b.n == o->len && memcmp(b.p, o->bytes, o->len) == 0;
		}
		checked_outputs++;
		ok(same, "vector at line %d (%s): %s", v->open_line + 1, v->kind, o->key);
	}
	for (int i = 0; i < v->nkv; i++) {
		struct kv *p = &v->kv[i];

		if (!p->used && !p->checked)
			ok(0, "vector at line %d: key '%s' (line %d) is neither input nor output",
			   v->open_line + 1, p->key, p->first_line + 1);
	}
	free(b.p);
}

static void print_hex(const char *key, const uint8_t *p, size_t n)
{
	printf("%s =", key);
	for (size_t i = 0; i < n; i++) {
		if (i % (HEX_WRAP / 2) == 0)
			printf(i ? "\n    " : " ");
		printf("%02x", p[i]);
	}
	printf("\n");
}

static void print_text(const char *key, const uint8_t *p, size_t n)
{
	printf("%s = ", key);
	for (size_t i = 0; i < n || i == 0; i += TEXT_WRAP) {
		size_t m = n - i < TEXT_WRAP ? n - i : TEXT_WRAP;

		printf("%s\"%.*s\"", i ? " ||\n    " : "", (int)m, (const char *)p + i);
	}
	printf("\n");
}

static void print_out(const struct out *o)
{
	switch (o->fmt) {
	case OUT_U64:
		printf("%s = %llu\n", o->key, (unsigned long long)o->u);
		break;
	case OUT_TEXT:
		print_text(o->key, o->bytes, o->len);
		break;
	default:
		print_hex(o->key, o->bytes, o->len);
		break;
	}
}

/* Print the doc with each vector's outputs replaced by the computed ones. */
static void regenerate(void)
{
	int vi = 0;

	for (int i = 0; i < nlines; i++) {
		struct vec *v = vi < nvecs ? &vecs[vi] : NULL;
		bool skip = false;

		if (v && i > v->open_line && i < v->close_line) {
			for (int j = 0; j < v->nkv; j++)
				if (!v->kv[j].used && i >= v->kv[j].first_line &&
				    i <= v->kv[j].last_line)
					skip = true;
			if (lines[i][0] == '\0')
				skip = true;
		}
		if (v && i == v->close_line) {
			for (int j = 0; j < v->nout; j++)
				print_out(&v->out[j]);
			vi++;
		}
		if (!skip)
			printf("%s\n", lines[i]);
	}
}

int main(int argc, char **argv)
{
	bool regen = argc == 3 && strcmp(argv[1], "--regenerate") == 0;
	const char *doc = argv[argc - 1];

	if (argc != 2 && !regen) {
		fprintf(stderr, "usage: test_vectors [--regenerate] docs/format.md\n");
		return 2;
	}
	if (veil_crypto_init() < 0) {
		printf("Bail out! cannot initialise libsodium\n");
		return 1;
	}
	if (read_doc(doc) < 0) {
		printf("Bail out! cannot read %s: %s\n", doc, strerror(errno));
		return 1;
	}
	if (parse_vectors() < 0) {
		printf("Bail out! unterminated or too many vector blocks in %s\n", doc);
		return 1;
	}
	if (regen) {
		fprintf(stderr, "regenerating outputs: only for NEW vectors, never to fix a failure\n");
		/* The round-trip checks print TAP lines: send them to stderr. */
		fflush(stdout);
		int saved = dup(STDOUT_FILENO);

		if (saved < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			return 1;
		for (int i = 0; i < nvecs; i++)
			compute(&vecs[i]);
		fflush(stdout);
		if (dup2(saved, STDOUT_FILENO) < 0)
			return 1;
		close(saved);
		regenerate();
		return 0;
	}
	diag("%s: %d vector blocks", doc, nvecs);
	for (int i = 0; i < nvecs; i++) {
		compute(&vecs[i]);
		ok(!vecs[i].bad, "vector at line %d (%s): inputs complete and well-formed",
		   vecs[i].open_line + 1, vecs[i].kind);
		check(&vecs[i]);
	}
	ok(nvecs == EXPECTED_VECTORS, "found %d vector blocks, expected %d", nvecs,
	   EXPECTED_VECTORS);
	ok(checked_outputs == EXPECTED_OUTPUTS, "checked %d outputs, expected %d", checked_outputs,
	   EXPECTED_OUTPUTS);
	return tap_done();
}
