#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "util.h"

static struct pf_error *
reserve(struct pf_buf *b, size_t n)
{
	size_t max = b->max ? b->max : SIZE_MAX / 2;
	size_t need, cap;
	char *p;

	if (n > max || b->len > max - n)
		return pf_error_fmt(PF_EX_DATAERR,
		    "value longer than %zu bytes", max);
	need = b->len + n + 1;
	if (need <= b->cap)
		return NULL;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (b->secret && b->data != NULL) {
		/* no copy of a secret left behind in freed memory */
		if ((p = malloc(cap)) == NULL)
			return pf_error_nomem();
		memcpy(p, b->data, b->len + 1);
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	} else if ((p = realloc(b->data, cap)) == NULL)
		return pf_error_nomem();
	b->data = p;
	b->cap = cap;
	return NULL;
}

struct pf_error *
pf_buf_reserve(struct pf_buf *b, size_t n)
{
	return reserve(b, n);
}

struct pf_error *
pf_buf_add(struct pf_buf *b, const void *p, size_t n)
{
	struct pf_error *err;

	if ((err = reserve(b, n)) != NULL)
		return err;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return NULL;
}

struct pf_error *
pf_buf_addstr(struct pf_buf *b, const char *s)
{
	return pf_buf_add(b, s, strlen(s));
}

struct pf_error *
pf_buf_printf(struct pf_buf *b, const char *fmt, ...)
{
	struct pf_error *err;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return pf_error_fmt(PF_EX_SOFTWARE, "bad format");
	if ((err = reserve(b, (size_t)n)) != NULL)
		return err;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return NULL;
}

struct pf_error *
pf_buf_json_str(struct pf_buf *b, const char *s, size_t n)
{
	struct pf_error *err;
	size_t i, start = 0;
	char esc[8];

	if ((err = pf_buf_add(b, "\"", 1)) != NULL)
		return err;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *e = NULL;

		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		default:
			if (c < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				e = esc;
			}
		}
		if (e == NULL)
			continue;
		if ((err = pf_buf_add(b, s + start, i - start)) != NULL ||
		    (err = pf_buf_addstr(b, e)) != NULL)
			return err;
		start = i + 1;
	}
	if ((err = pf_buf_add(b, s + start, n - start)) != NULL)
		return err;
	return pf_buf_add(b, "\"", 1);
}

struct pf_error *
pf_buf_visible(struct pf_buf *b, const char *s, int keep_nl)
{
	struct pf_error *err;
	const unsigned char *p = (const unsigned char *)s;
	size_t i, start = 0, skip;
	char esc[8];

	for (i = 0; p[i] != '\0'; i++) {
		skip = 1;
		if (p[i] == '\n' && keep_nl)
			continue;
		if (p[i] == '\n')
			snprintf(esc, sizeof(esc), "\\n");
		else if (p[i] == '\r')
			snprintf(esc, sizeof(esc), "\\r");
		else if (p[i] == '\t')
			snprintf(esc, sizeof(esc), "\\t");
		else if (p[i] < 0x20 || p[i] == 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
		else if (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
			/* a C1 control: some terminals obey U+009B */
			snprintf(esc, sizeof(esc), "\\u%04x", p[i + 1]);
			skip = 2;
		} else
			continue;
		if ((err = pf_buf_add(b, s + start, i - start)) != NULL ||
		    (err = pf_buf_addstr(b, esc)) != NULL)
			return err;
		i += skip - 1;
		start = i + 1;
	}
	return pf_buf_add(b, s + start, i - start);
}

void
pf_buf_reset(struct pf_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
pf_buf_free(struct pf_buf *b)
{
	size_t max = b->max;

	free(b->data);
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
pf_buf_wipe(struct pf_buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	pf_buf_free(b);
}

void
pf_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static EVP_MD *sha256_md;	/* fetched once, shared by all threads */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
pf_sha256(const void *p, size_t n, uint8_t out[PF_SHA256_LEN])
{
	pthread_once(&sha256_once, sha256_fetch);
	/* The one-shot SHA256() looks the algorithm up on every call. */
	if (sha256_md == NULL ||
	    EVP_Digest(p, n, out, NULL, sha256_md, NULL) != 1)
		SHA256(p, n, out);
}

void
pf_sha256_hex(const void *p, size_t n, char out[PF_SHA256_HEX])
{
	uint8_t md[PF_SHA256_LEN];

	pf_sha256(p, n, md);
	pf_hex(md, sizeof(md), out);
}

int
pf_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		unsigned int cp;
		size_t len, k;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else
			return 0;
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

void
pf_time_iso(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct pf_error *
pf_parse_duration(const char *s, long long *secs)
{
	char *end;
	long long n, mul = 1;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (end == s || errno != 0 || n < 0)
		goto bad;
	if (*end != '\0') {
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		case 'w': mul = 7 * 86400; break;
		default: goto bad;
		}
		if (end[1] != '\0')
			goto bad;
	}
	if (n > (long long)(100LL * 366 * 86400) / mul)
		goto bad;
	*secs = n * mul;
	return NULL;
bad:
	return pf_error_fmt(PF_EX_USAGE,
	    "\"%s\": not a duration (e.g. 14d, 36h, 90m, 3600s)", s);
}

char *
pf_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

#define RANDOM_POOL	4096

static _Thread_local struct {
	unsigned char b[RANDOM_POOL];
	size_t pos;		/* bytes before pos are used (and wiped) */
	int filled;
} pool;

int
pf_random(void *buf, size_t n)
{
	unsigned char *out = buf;
	size_t k;

	if (n > RANDOM_POOL / 4)
		return RAND_bytes(out, (int)n) == 1;
	while (n > 0) {
		if (!pool.filled || pool.pos == RANDOM_POOL) {
			if (RAND_bytes(pool.b, RANDOM_POOL) != 1)
				return 0;
			pool.pos = 0;
			pool.filled = 1;
		}
		k = RANDOM_POOL - pool.pos;
		if (k > n)
			k = n;
		memcpy(out, pool.b + pool.pos, k);
		OPENSSL_cleanse(pool.b + pool.pos, k);
		pool.pos += k;
		out += k;
		n -= k;
	}
	return 1;
}
