#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "mime.h"

#define FOLD_AT		78	/* RFC 5322: lines SHOULD stay within 78 */
#define EW_LINE		76	/* RFC 2047: a line holding encoded-words */
#define EW_MAX		75	/* RFC 2047: one encoded-word */
#define EW_OVERHEAD	12	/* "=?UTF-8?B?" and "?=" */
#define WORD_MAX	60	/* longest plain word written as it is */
#define FALLBACK_MAX	200	/* bytes of the ASCII fallback file name */

static const char hexdig[] = "0123456789ABCDEF";

/* Length of the valid UTF-8 character at p[0..n), or 0. */
static size_t
u8len(const char *p, size_t n)
{
	unsigned char c = (unsigned char)p[0];
	size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

	if (len > n || !pf_utf8_valid(p, len))
		return 0;
	return len;
}

/* RFC 5322 atext. */
static int
is_atext(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
is_ldh(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

int
pf_mime_addr_ok(const char *addr)
{
	const char *at = strchr(addr, '@'), *d;
	size_t i, n = strlen(addr), label = 0, labels = 0;
	int dot = 1;

	if (at == NULL || n > PF_MIME_ADDR_MAX || at == addr ||
	    at - addr > 64)
		return 0;
	for (i = 0; addr + i < at; i++) {
		if (addr[i] == '.') {
			if (dot)
				return 0;	/* leading or double dot */
			dot = 1;
		} else if (is_atext((unsigned char)addr[i]))
			dot = 0;
		else
			return 0;
	}
	if (dot)
		return 0;			/* trailing dot */
	d = at + 1;
	if (*d == '\0' || strlen(d) > 253)
		return 0;
	for (i = 0; d[i] != '\0'; i++) {
		if (d[i] == '.') {
			if (label == 0 || d[i - 1] == '-')
				return 0;
			labels++;
			label = 0;
		} else if (is_ldh((unsigned char)d[i])) {
			if ((label == 0 && d[i] == '-') || ++label > 63)
				return 0;
		} else
			return 0;
	}
	if (label == 0 || d[i - 1] == '-')
		return 0;
	return labels + 1 >= 2;
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static char *
copy(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

struct pf_error *
pf_mime_mailbox_split(const char *s, char **name, char **addr)
{
	const char *lt, *nm;
	size_t n = strlen(s), nn, i, o;
	int quoted;

	*name = *addr = NULL;
	trim(&s, &n);
	if (n == 0 || s[n - 1] != '>') {
		if (memchr(s, '<', n) != NULL || memchr(s, '>', n) != NULL)
			return pf_error_fmt(PF_EX_USAGE, "\"%s\": unbalanced "
			    "\"<\" or \">\"", s);
		if ((*addr = copy(s, n)) == NULL)
			return pf_error_nomem();
		return NULL;
	}
	for (lt = s + n - 1; lt > s && *lt != '<'; lt--)
		;
	if (*lt != '<')
		return pf_error_fmt(PF_EX_USAGE, "\"%s\": \">\" without \"<\"",
		    s);
	nm = s;
	nn = (size_t)(lt - s);
	trim(&nm, &nn);
	if ((*addr = copy(lt + 1, (size_t)(s + n - 1 - lt - 1))) == NULL)
		return pf_error_nomem();
	if (nn == 0)
		return NULL;
	if ((quoted = nm[0] == '"')) {
		if (nn < 2 || nm[nn - 1] != '"') {
			free(*addr);
			*addr = NULL;
			return pf_error_fmt(PF_EX_USAGE, "\"%s\": unbalanced "
			    "quote", s);
		}
		nm++;
		nn -= 2;
	}
	if ((*name = malloc(nn + 1)) == NULL) {
		free(*addr);
		*addr = NULL;
		return pf_error_nomem();
	}
	/* A quoted name may escape a quote or a backslash. */
	for (i = o = 0; i < nn; i++) {
		if (quoted && nm[i] == '\\' && i + 1 < nn)
			i++;
		(*name)[o++] = nm[i];
	}
	(*name)[o] = '\0';
	return NULL;
}

/*
 * One line of text as a header may carry it: control characters (C0, DEL
 * and C1, CR and LF among them) become spaces, invalid UTF-8 U+FFFD,
 * spaces at both ends go.
 */
static struct pf_error *
clean_line(struct pf_buf *out, const char *s)
{
	static const char repl[] = "\xef\xbf\xbd";
	struct pf_error *err;
	const char *p;
	size_t i, n = strlen(s), len;

	pf_buf_reset(out);
	for (i = 0; i < n; i += len) {
		unsigned char c = (unsigned char)s[i];

		if ((len = u8len(s + i, n - i)) == 0) {
			len = 1;
			err = pf_buf_add(out, repl, 3);
		} else if (c < 0x20 || c == 0x7f || (c == 0xc2 &&
		    (unsigned char)s[i + 1] < 0xa0))
			err = pf_buf_add(out, " ", 1);
		else
			err = pf_buf_add(out, s + i, len);
		if (err != NULL)
			return err;
	}
	if ((err = pf_buf_add(out, "", 0)) != NULL)	/* data != NULL */
		return err;
	p = out->data;
	n = out->len;
	trim(&p, &n);
	memmove(out->data, p, n);
	out->len = n;
	out->data[n] = '\0';
	return NULL;
}

/*
 * Plain text a header can carry as it is: printable ASCII, nothing a
 * reader would take for an encoded-word, words short enough to fold
 * between.  With atoms, only atext and spaces (a display name that needs
 * no quotes).
 */
static int
plain(const char *s, size_t n, int atoms)
{
	size_t i, word = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e || (atoms && c != ' ' &&
		    !is_atext(c)))
			return 0;
		if (c == '=' && i + 1 < n && s[i + 1] == '?')
			return 0;
		word = c == ' ' ? 0 : word + 1;
		if (word > WORD_MAX)
			return 0;
	}
	return 1;
}

/* A header field being written: where the line is, to fold it. */
struct hw {
	struct pf_buf *b;	/* borrowed */
	size_t col;		/* characters on the current line */
	size_t min;		/* "Field:": never fold before this */
};

static struct pf_error *
hw_start(struct hw *h, struct pf_buf *b, const char *field)
{
	h->b = b;
	h->col = h->min = strlen(field) + 1;
	return pf_buf_printf(b, "%s:", field);
}

/* " " and the token, folding before the space when the line would pass
 * limit. */
static struct pf_error *
hw_token(struct hw *h, const char *t, size_t n, size_t limit)
{
	struct pf_error *err;

	if (h->col > h->min && h->col + 1 + n > limit) {
		if ((err = pf_buf_add(h->b, "\r\n", 2)) != NULL)
			return err;
		h->col = 0;
	}
	if ((err = pf_buf_add(h->b, " ", 1)) != NULL ||
	    (err = pf_buf_add(h->b, t, n)) != NULL)
		return err;
	h->col += 1 + n;
	return NULL;
}

/* Space-separated words, folded between them. */
static struct pf_error *
hw_words(struct hw *h, const char *s, size_t n, int skip_empty)
{
	struct pf_error *err;
	size_t i = 0, j;

	while (i <= n) {
		for (j = i; j < n && s[j] != ' '; j++)
			;
		if ((j > i || !skip_empty) &&
		    (err = hw_token(h, s + i, j - i, FOLD_AT)) != NULL)
			return err;
		i = j + 1;
	}
	return NULL;
}

/* UTF-8 text as RFC 2047 "B" encoded-words of whole characters, each line
 * within EW_LINE.  s must be valid UTF-8. */
static struct pf_error *
hw_encoded(struct hw *h, const char *s, size_t n)
{
	struct pf_error *err;
	unsigned char b64[EW_MAX];
	char word[EW_MAX + 1];
	size_t i = 0, room, max, take, len;

	while (i < n) {
		room = h->col + 1 < EW_LINE ? EW_LINE - h->col - 1 : 0;
		if (room < EW_OVERHEAD + 8)
			room = EW_MAX;		/* hw_token folds first */
		if (room > EW_MAX)
			room = EW_MAX;
		max = (room - EW_OVERHEAD) / 4 * 3;
		for (take = 0; i + take < n; take += len) {
			if ((len = u8len(s + i + take, n - i - take)) == 0)
				len = 1;
			if (take + len > max)
				break;
		}
		if (take == 0)
			take = len;
		EVP_EncodeBlock(b64, (const unsigned char *)s + i, (int)take);
		len = (size_t)snprintf(word, sizeof(word), "=?UTF-8?B?%s?=",
		    (const char *)b64);
		if ((err = hw_token(h, word, len, EW_LINE)) != NULL)
			return err;
		i += take;
	}
	return NULL;
}

static struct pf_error *
hw_end(struct hw *h)
{
	return pf_buf_add(h->b, "\r\n", 2);
}

struct pf_error *
pf_mime_header_text(struct pf_buf *b, const char *field, const char *text)
{
	struct pf_buf c = { 0 };
	struct pf_error *err;
	struct hw h;
	size_t i, k;

	if ((err = clean_line(&c, text)) != NULL ||
	    (err = hw_start(&h, b, field)) != NULL)
		goto done;
	/* Runs of spaces collapse: folded, they could make a line of
	 * spaces only, obsolete syntax (RFC 5322, 4.2). */
	for (i = 0, k = 0; i < c.len; i++)
		if (c.data[i] != ' ' || k == 0 || c.data[k - 1] != ' ')
			c.data[k++] = c.data[i];
	c.len = k;
	if (c.len > 0) {
		if (plain(c.data, c.len, 0))
			err = hw_words(&h, c.data, c.len, 0);
		else
			err = hw_encoded(&h, c.data, c.len);
		if (err != NULL)
			goto done;
	}
	err = hw_end(&h);
done:
	pf_buf_free(&c);
	return err;
}

struct pf_error *
pf_mime_header_mailbox(struct pf_buf *b, const char *field, const char *name,
    const char *addr)
{
	struct pf_buf c = { 0 }, q = { 0 };
	struct pf_error *err;
	struct hw h;
	size_t i;

	if ((err = clean_line(&c, name != NULL ? name : "")) != NULL ||
	    (err = hw_start(&h, b, field)) != NULL)
		goto done;
	if (c.len == 0) {
		err = hw_token(&h, addr, strlen(addr), FOLD_AT);
		goto end;
	}
	if (plain(c.data, c.len, 1))
		err = hw_words(&h, c.data, c.len, 1);
	else if (plain(c.data, c.len, 0) && c.len + 2 + h.col < FOLD_AT) {
		/* Printable ASCII with specials: a quoted-string. */
		err = pf_buf_add(&q, "\"", 1);
		for (i = 0; err == NULL && i < c.len; i++) {
			if (c.data[i] == '"' || c.data[i] == '\\')
				err = pf_buf_add(&q, "\\", 1);
			if (err == NULL)
				err = pf_buf_add(&q, c.data + i, 1);
		}
		if (err == NULL && (err = pf_buf_add(&q, "\"", 1)) == NULL)
			err = hw_token(&h, q.data, q.len, FOLD_AT);
	} else
		err = hw_encoded(&h, c.data, c.len);
	if (err != NULL)
		goto done;
	pf_buf_reset(&q);
	if ((err = pf_buf_printf(&q, "<%s>", addr)) != NULL)
		goto done;
	err = hw_token(&h, q.data, q.len, FOLD_AT);
end:
	if (err == NULL)
		err = hw_end(&h);
done:
	pf_buf_free(&c);
	pf_buf_free(&q);
	return err;
}

struct pf_error *
pf_mime_qp(struct pf_buf *b, const char *text, size_t len)
{
	struct pf_error *err;
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		char enc[3];
		int lit, eol;

		if (c == '\r' || c == '\n') {
			if (c == '\r' && i + 1 < len && text[i + 1] == '\n')
				i++;
			if ((err = pf_buf_add(b, "\r\n", 2)) != NULL)
				return err;
			col = 0;
			continue;
		}
		eol = i + 1 == len || text[i + 1] == '\r' ||
		    text[i + 1] == '\n';
		lit = (c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !eol);
		if (col + (lit ? 1 : 3) > 75) {
			if ((err = pf_buf_add(b, "=\r\n", 3)) != NULL)
				return err;
			col = 0;
		}
		/* A lone "." ends an SMTP message; "From " gets mangled in
		 * mbox files. */
		if (col == 0 && (c == '.' || (c == 'F' && len - i >= 5 &&
		    memcmp(text + i, "From ", 5) == 0)))
			lit = 0;
		if (lit)
			err = pf_buf_add(b, text + i, 1);
		else {
			enc[0] = '=';
			enc[1] = hexdig[c >> 4];
			enc[2] = hexdig[c & 0xf];
			err = pf_buf_add(b, enc, 3);
		}
		if (err != NULL)
			return err;
		col += lit ? 1 : 3;
	}
	if (len == 0 || (text[len - 1] != '\n' && text[len - 1] != '\r'))
		return pf_buf_add(b, "\r\n", 2);
	return NULL;
}

struct pf_error *
pf_mime_base64(struct pf_buf *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned char line[77];
	struct pf_error *err;
	size_t n;
	int w;

	while (len > 0) {
		n = len < 57 ? len : 57;	/* 57 bytes: 76 characters */
		w = EVP_EncodeBlock(line, p, (int)n);
		if ((err = pf_buf_add(b, line, (size_t)w)) != NULL ||
		    (err = pf_buf_add(b, "\r\n", 2)) != NULL)
			return err;
		p += n;
		len -= n;
	}
	return NULL;
}

/* RFC 5987 attr-char: what an RFC 2231 value keeps unencoded. */
static int
is_attr_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$&+-.^_`|~", c) != NULL);
}

/* Bytes p[0..n) percent-encoded as an RFC 2231 value; *len gets the
 * length it has (written to b only when b is not NULL). */
static struct pf_error *
pct(struct pf_buf *b, const char *p, size_t n, size_t *len)
{
	struct pf_error *err = NULL;
	size_t i;

	*len = 0;
	for (i = 0; i < n && err == NULL; i++) {
		unsigned char c = (unsigned char)p[i];

		*len += is_attr_char(c) ? 1 : 3;
		if (b == NULL)
			continue;
		if (is_attr_char(c))
			err = pf_buf_add(b, p + i, 1);
		else
			err = pf_buf_printf(b, "%%%c%c", hexdig[c >> 4],
			    hexdig[c & 0xf]);
	}
	return err;
}

/*
 * The attachment's name parameter: name (Content-Type) or filename
 * (Content-Disposition) as a quoted ASCII fallback, each non-ASCII
 * character, control, quote or backslash an underscore.  With ext, a
 * name that needed that goes first as RFC 2231 "filename*" in UTF-8, in
 * continuations of whole characters when long.  First, because parsers
 * that keep only the first of the two (Python's email package) then take
 * the UTF-8 name, and those that know no RFC 2231 the fallback.
 */
static struct pf_error *
name_params(struct pf_buf *b, const char *param, const char *name, int ext)
{
	struct pf_buf fb = { 0 };
	struct pf_error *err = NULL;
	size_t i, n = strlen(name), len, total, col, k = 0;
	int changed = 0, first;

	for (i = 0; i < n && err == NULL; i += len) {
		unsigned char c = (unsigned char)name[i];

		if ((len = u8len(name + i, n - i)) == 0)
			len = 1;
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			changed = 1;
			err = pf_buf_add(&fb, "_", 1);
		} else
			err = pf_buf_add(&fb, name + i, 1);
	}
	if (err == NULL)
		err = pf_buf_add(&fb, "", 0);
	if (err != NULL || !ext || !changed)
		goto fallback;
	/* " filename*=UTF-8''" and the value, then ";" within FOLD_AT. */
	(void)pct(NULL, name, n, &total);
	if (strlen(param) + 12 + total < FOLD_AT) {
		if ((err = pf_buf_printf(b, ";\r\n %s*=UTF-8''", param)) ==
		    NULL)
			err = pct(b, name, n, &len);
		if (err != NULL)
			goto done;
		goto fallback;
	}
	if ((err = pf_buf_printf(b, ";\r\n %s*0*=UTF-8''", param)) != NULL)
		goto done;
	col = strlen(param) + 12;
	for (i = 0, first = 1; i < n; i += len, first = 0) {
		size_t elen;

		if ((len = u8len(name + i, n - i)) == 0)
			len = 1;
		(void)pct(NULL, name + i, len, &elen);
		if (!first && col + elen >= FOLD_AT) {
			size_t before = b->len;

			if ((err = pf_buf_printf(b, ";\r\n %s*%zu*=", param,
			    ++k)) != NULL)
				goto done;
			col = b->len - before - 3;
			first = 1;
		}
		if ((err = pct(b, name + i, len, &elen)) != NULL)
			goto done;
		col += elen;
	}
fallback:
	/* Keep the end, where the extension is. */
	if (err == NULL) {
		i = fb.len > FALLBACK_MAX ? fb.len - FALLBACK_MAX : 0;
		err = pf_buf_printf(b, ";\r\n %s=\"%s\"", param,
		    fb.data + i);
	}
done:
	pf_buf_free(&fb);
	return err;
}

/* Occurrences of "--" boundary in b. */
static int
boundary_count(const struct pf_buf *b, const char *boundary)
{
	char delim[64];
	const char *p = b->data, *end = b->data + b->len;
	size_t n;
	int count = 0;

	n = (size_t)snprintf(delim, sizeof(delim), "--%s", boundary);
	while ((p = memmem(p, (size_t)(end - p), delim, n)) != NULL) {
		count++;
		p += n;
	}
	return count;
}

struct pf_error *
pf_mime_build(struct pf_buf *out, const struct pf_mime_msg *m, char *msgid,
    size_t msgidlen)
{
	struct pf_error *err = NULL;
	uint8_t raw[16];
	char hex[33], boundary[40], date[64];
	const char *domain = strrchr(m->from_addr, '@');
	struct tm tm;
	int tries;

	if (!pf_random(raw, sizeof(raw)))
		return pf_error_ssl(PF_EX_SOFTWARE, "random Message-ID");
	pf_hex(raw, sizeof(raw), hex);
	snprintf(msgid, msgidlen, "<%s.%lld@%s>", hex, (long long)m->date,
	    domain != NULL ? domain + 1 : "localhost");
	localtime_r(&m->date, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);

	for (tries = 0; tries < 8; tries++) {
		if (!pf_random(raw, sizeof(raw)))
			return pf_error_ssl(PF_EX_SOFTWARE, "random boundary");
		pf_hex(raw, sizeof(raw), hex);
		snprintf(boundary, sizeof(boundary), "=_pf_%s", hex);
		pf_buf_reset(out);
		if ((err = pf_mime_header_mailbox(out, "From", m->from_name,
		    m->from_addr)) != NULL ||
		    (err = pf_mime_header_mailbox(out, "To", m->to_name,
		    m->to_addr)) != NULL ||
		    (err = pf_mime_header_text(out, "Subject",
		    m->subject)) != NULL ||
		    (err = pf_buf_printf(out, "Date: %s\r\nMessage-ID: %s\r\n"
		    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n"
		    " boundary=\"%s\"\r\n\r\n"
		    "This is a MIME message: a text and an attachment.\r\n"
		    "\r\n--%s\r\n"
		    "Content-Type: text/plain; charset=UTF-8\r\n"
		    "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
		    date, msgid, boundary, boundary)) != NULL ||
		    (err = pf_mime_qp(out, m->text, m->text_len)) != NULL ||
		    (err = pf_buf_printf(out, "\r\n--%s\r\nContent-Type: %s",
		    boundary, m->attach_type)) != NULL ||
		    (err = name_params(out, "name", m->attach_name, 0)) !=
		    NULL ||
		    (err = pf_buf_addstr(out, "\r\nContent-Disposition: "
		    "attachment")) != NULL ||
		    (err = name_params(out, "filename", m->attach_name, 1)) !=
		    NULL ||
		    (err = pf_buf_addstr(out, "\r\nContent-Transfer-Encoding: "
		    "base64\r\n\r\n")) != NULL ||
		    (err = pf_mime_base64(out, m->attach,
		    m->attach_len)) != NULL ||
		    (err = pf_buf_printf(out, "\r\n--%s--\r\n", boundary)) !=
		    NULL)
			return err;
		/* Two delimiters and the close: the boundary is nowhere in
		 * the content. */
		if (boundary_count(out, boundary) == 3)
			return NULL;
	}
	return pf_error_fmt(PF_EX_SOFTWARE, "no MIME boundary free of the "
	    "message's content");
}
