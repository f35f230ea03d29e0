/*
 * Small shared helpers: a growable byte buffer with a ceiling, hex and
 * SHA-256, JSON string quoting, UTF-8 checking, time formatting.
 */
#ifndef PF_UTIL_H
#define PF_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

#define PF_SHA256_LEN 32
#define PF_SHA256_HEX (2 * PF_SHA256_LEN + 1)

/* A growable buffer.  data is malloc'd and owned by the buffer; it is kept
 * NUL-terminated after every successful append (the NUL is not in len). */
struct pf_buf {
	char *data;		/* malloc'd, or NULL while empty */
	size_t len;		/* bytes used, excluding the terminating NUL */
	size_t cap;		/* bytes allocated */
	size_t max;		/* ceiling for len; 0 means SIZE_MAX/2 */
	int secret;		/* holds a secret: growing wipes the old
				 * block (see also pf_buf_wipe) */
};

struct pf_error *pf_buf_add(struct pf_buf *b, const void *p, size_t n);
struct pf_error *pf_buf_addstr(struct pf_buf *b, const char *s);
/* Make room for n more bytes. */
struct pf_error *pf_buf_reserve(struct pf_buf *b, size_t n);
struct pf_error *pf_buf_printf(struct pf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal, quotes included. */
struct pf_error *pf_buf_json_str(struct pf_buf *b, const char *s, size_t n);
/* Append s with control characters written out ("\\n", "\\x1b",
 * "\\u009b"), so that data quoted in a message cannot start a line of its
 * own or drive a terminal; line feeds are kept if keep_nl is set. */
struct pf_error *pf_buf_visible(struct pf_buf *b, const char *s, int keep_nl);
void pf_buf_reset(struct pf_buf *b);	/* len = 0, keeps memory */
void pf_buf_free(struct pf_buf *b);	/* frees memory, zeroes the struct */
/* Like pf_buf_free but wipes the bytes first (for secrets). */
void pf_buf_wipe(struct pf_buf *b);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void pf_hex(const uint8_t *p, size_t n, char *out);
/* SHA-256 of n bytes. */
void pf_sha256(const void *p, size_t n, uint8_t out[PF_SHA256_LEN]);
void pf_sha256_hex(const void *p, size_t n, char out[PF_SHA256_HEX]);
/*
 * n random bytes from OpenSSL's CSPRNG (RAND_bytes), drawn ahead in 4 KiB
 * blocks per thread: the generator's per-call cost dominates for the 16
 * to 24 bytes a UUID or challenge takes.  Bytes handed out are wiped from
 * the pool.  0 on failure.  Not for use across fork(2).
 */
int pf_random(void *buf, size_t n);

/* Returns 1 if p[0..n) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF), else 0. */
int pf_utf8_valid(const char *p, size_t n);

/* ISO 8601 UTC, "2026-11-21T22:24:15Z", into out (at least 21 bytes). */
void pf_time_iso(time_t t, char *out, size_t outlen);

/* Parse a duration such as "14d", "36h", "90m", "3600s", "2w" or a bare
 * number of seconds.  Errors are PF_EX_USAGE naming the text. */
struct pf_error *pf_parse_duration(const char *s, long long *secs);

/* Copy of s, or NULL when out of memory. */
char *pf_strdup(const char *s);

#endif
